"""A small declarative schema for the YAML files people write (project files, mc.yaml).

A schema is a mapping of field name -> check; a check takes a loaded value and
returns it (normalised) or raises ``Invalid``. ``validate`` walks a loaded file
against it and raises the caller's error as ``file:line:col: field.path: reason``.

Why not pydantic: these checks run inside the pre-commit hook on every commit,
whose whole budget (60 ms, Python start included) is smaller than pydantic's import
time on the 2-core machines this runs on. The checks are plain functions, so the
schema stays one readable table per file kind.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mc.board.yamlsafe import Parsed, Path
from mc.errors import McError

Check = Callable[[Any], Any]

_SINGLE_LINE = re.compile(r"[^\r\n]*")


class Invalid(Exception):
    """A value does not fit its field; ``path`` is relative to the field."""

    def __init__(self, reason: str, path: Path = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


def kind(value: Any) -> str:
    """How a value reads to a person, for error messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, dt.datetime):
        return "a timestamp"
    if isinstance(value, dt.date):
        return "a date"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def text(max_len: int, single_line: bool = True, pattern: str | None = None) -> Check:
    compiled = re.compile(pattern) if pattern else None

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(f"expected text, got {kind(value)}")
        if not value.strip():
            raise Invalid("must not be empty")
        if len(value) > max_len:
            raise Invalid(f"longer than {max_len} characters")
        if single_line and not _SINGLE_LINE.fullmatch(value):
            raise Invalid("must be a single line")
        if compiled is not None and not compiled.fullmatch(value):
            raise Invalid(f"must match {pattern}")
        return value

    return check


def integer(lo: int, hi: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"expected a whole number {lo}..{hi}, got {kind(value)}")
        if not lo <= value <= hi:
            raise Invalid(f"must be between {lo} and {hi}")
        return value

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {kind(value)}")
    return value


def date_or_time(value: Any) -> dt.date | dt.datetime:
    if isinstance(value, dt.date):  # a datetime is a date too
        return value
    if isinstance(value, str):
        try:
            return (
                dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
            )
        except ValueError:
            pass
    raise Invalid(f"expected a date like 2026-12-01, got {kind(value)}")


def timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise Invalid(f"expected a timestamp like 2026-11-25T10:00:00Z, got {kind(value)}")


def job_id(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise Invalid(f"expected a job id, got {kind(value)}")
    return value


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise Invalid(f"expected one of {', '.join(choices)}")
        return str(value)

    return check


def list_of(item: Check, max_items: int) -> Check:
    def check(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise Invalid(f"expected a list, got {kind(value)}")
        if len(value) > max_items:
            raise Invalid(f"more than {max_items} items")
        out = []
        for i, v in enumerate(value):
            try:
                out.append(item(v))
            except Invalid as exc:
                raise Invalid(exc.reason, (i, *exc.path)) from None
        return out

    return check


def optional(check: Check) -> Check:
    def inner(value: Any) -> Any:
        return None if value is None else check(value)

    return inner


class Block:
    """A nested mapping: its fields and which must be present. Nulls mean "not set"."""

    __slots__ = ("extra", "fields", "required")

    def __init__(
        self,
        fields: Mapping[str, Check],
        required: frozenset[str] = frozenset(),
        extra: Check | None = None,  # check for keys not in ``fields`` (None: refuse them)
    ) -> None:
        self.fields = fields
        self.required = required
        self.extra = extra

    def __call__(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Invalid(f"expected a mapping, got {kind(value)}")
        out: dict[str, Any] = {}
        for key, v in value.items():
            check = self.fields.get(key)
            if check is None:
                if self.extra is None:
                    raise Invalid(unknown_key(key, self.fields), (key,))
                check = self.extra
            if v is None and key not in self.required:
                continue
            try:
                out[key] = check(v)
            except Invalid as exc:
                raise Invalid(exc.reason, (key, *exc.path)) from None
        missing = self.required - out.keys()
        if missing:
            raise Invalid(f"missing {', '.join(sorted(missing))}")
        return out


def unknown_key(key: str, known: Iterable[str]) -> str:
    import difflib  # only when explaining an error

    known = list(known)
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"unknown key; did you mean {close[0]}?"
    return f"unknown key (expected {', '.join(known)})"


def validate(
    parsed: Parsed,
    fields: Mapping[str, Check],
    required: Iterable[str],
    name: str,
    error: type[McError],
    extra_prefix: str = "x-",
) -> dict[str, Any]:
    """Check a loaded mapping against ``fields``; raise ``error`` at the first problem."""
    out: dict[str, Any] = {}

    def fail(path: Path, reason: str, at_key: bool = False) -> McError:
        table = parsed.key_positions if at_key else parsed.positions
        where = path
        while where and where not in table:
            where = where[:-1]
        line, col = table.get(where, (1, 1))
        dotted = ".".join(str(p) for p in path)
        return error(f"{name}:{line}:{col}: {dotted}: {reason}")

    for key, value in parsed.values.items():
        check = fields.get(key)
        if check is None:
            if key.startswith(extra_prefix):
                out[key] = value
                continue
            reason = unknown_key(key, fields) + f" (your own keys must start with {extra_prefix})"
            raise fail((key,), reason, at_key=True)
        if value is None:
            continue
        try:
            out[key] = check(value)
        except Invalid as exc:
            # Point at the key itself when the problem is an unknown nested key.
            at_key = exc.reason.startswith("unknown key")
            raise fail((key, *exc.path), exc.reason, at_key=at_key) from None
    for key in required:
        if key not in out:
            raise error(f"{name}:1:1: {key}: required")
    return out
