"""The project file (DESIGN §2): the only module that knows its fields and layout.

Reading goes through ``yamlsafe`` (strict, positioned errors) and the field table
below. Writing keeps the person's text: ``set_keys`` replaces only the lines of the
top-level keys it changes and appends new ones, so comments, key order and
formatting elsewhere stay byte for byte. (A round-trip library such as ruamel.yaml
would re-emit the whole document and costs ~50 ms to import on every write.)
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from functools import cache
from typing import Any, NamedTuple

from mc.board import schema as s
from mc.board.yamlsafe import Parsed, parse, yaml
from mc.errors import InvalidInput, InvalidProjectFile

# Bump when the fields or their checks change: parsed files are cached by blob under it.
SCHEMA_VERSION = 3

PERSON_KEYS = (
    "title",
    "archetype",
    "model",
    "description",
    "acceptance",
    "priority",
    "owner",
    "due",
    "labels",
    "workspace",
    "integrate",
    "feedback",
)
PIPELINE_KEYS = ("run", "review", "ready_for_human", "needs_human", "approved")
KEY_ORDER = PERSON_KEYS + PIPELINE_KEYS
REQUIRED = ("title", "archetype")
ARCHETYPE_PATTERN = r"[a-z][a-z0-9_-]{0,31}"
OUTCOMES = ("running", "succeeded", "failed", "timeout", "cancelled", "dead")
# What approving a coder project does with its branch (mc.pipeline.integrate).
INTEGRATE_MODES = ("merge", "squash", "pr", "none")
_SHA = s.text(40, pattern=r"[0-9a-f]{40}")
# A branch name as git allows it, and never one that reads as an option.
BRANCH_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}"

_NOTES = s.text(20_000, single_line=False)

# The schema: person-owned keys first, then the keys only the pipeline writes.
FIELDS: dict[str, s.Check] = {
    "title": s.text(200),
    "archetype": s.text(32, pattern=ARCHETYPE_PATTERN),
    "model": s.text(200),
    "description": s.text(32_000, single_line=False),
    "acceptance": s.list_of(s.text(2_000, single_line=False), 100),
    "priority": s.integer(1, 4),
    "owner": s.text(100),
    "due": s.date_or_time,
    "labels": s.list_of(s.text(40, pattern=r"[^\s,][^,\r\n]{0,39}"), 30),
    "workspace": s.text(1_000),
    # This project's way into its workspace on approval (default: its archetype's).
    "integrate": s.one_of(*INTEGRATE_MODES),
    # The person's notes for the next run (mc project rework ID --notes ...): in every brief.
    "feedback": _NOTES,
    "run": s.Block(
        {
            "job": s.job_id,
            "attempt": s.integer(1, 1000),
            "started_at": s.timestamp,
            "finished_at": s.timestamp,
            "outcome": s.one_of(*OUTCOMES),
            "error": _NOTES,
            # Coder work: the branch's head commit the run left (what review covers and
            # approve integrates), and the workspace branch the worktree was made from.
            "head": _SHA,
            "base": s.text(200, pattern=BRANCH_PATTERN),
        },
        frozenset({"job"}),
    ),
    "review": s.Block(
        {"job": s.job_id, "verdict": s.one_of("pass", "fail"), "notes": _NOTES, "at": s.timestamp},
        frozenset({"job", "verdict"}),
    ),
    "ready_for_human": s.boolean,
    "needs_human": s.Block({"reason": _NOTES, "at": s.timestamp}, frozenset({"reason"})),
    "approved": s.Block({"by": s.text(200), "at": s.timestamp}, frozenset({"by", "at"})),
}


class RunBlock(NamedTuple):
    """``run:``: the pipeline's latest work run."""

    job: str
    attempt: int | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    outcome: str | None = None  # one of OUTCOMES
    error: str | None = None
    head: str | None = None  # coder work: the branch head the run left
    base: str | None = None  # coder work: the branch its worktree was made from


class ReviewBlock(NamedTuple):
    """``review:``: the reviewer's verdict on the latest work."""

    job: str
    verdict: str  # pass or fail
    notes: str | None = None
    at: dt.datetime | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


class NeedsHuman(NamedTuple):
    """``needs_human:``: the pipeline gave up (attempts or review rounds spent)."""

    reason: str
    at: dt.datetime | None = None


class Approved(NamedTuple):
    """``approved:``: who approved it into done, and when (written by approve only)."""

    by: str
    at: dt.datetime


def _block(data: Mapping[str, Any], key: str, names: tuple[str, ...]) -> dict[str, Any] | None:
    """The fields of pipeline block ``key`` of validated ``data`` (None: no block). The
    schema checked them, so they are what the block's type says (a job id as text)."""
    value = data.get(key)
    if not isinstance(value, Mapping):
        return None
    return {k: (str(v) if k == "job" else v) for k, v in value.items() if k in names}


def run_of(data: Mapping[str, Any]) -> RunBlock | None:
    fields = _block(data, "run", RunBlock._fields)
    return RunBlock(**fields) if fields is not None else None


def review_of(data: Mapping[str, Any]) -> ReviewBlock | None:
    fields = _block(data, "review", ReviewBlock._fields)
    return ReviewBlock(**fields) if fields is not None else None


def needs_human_of(data: Mapping[str, Any]) -> NeedsHuman | None:
    fields = _block(data, "needs_human", NeedsHuman._fields)
    return NeedsHuman(**fields) if fields is not None else None


def approved_of(data: Mapping[str, Any]) -> Approved | None:
    fields = _block(data, "approved", Approved._fields)
    return Approved(**fields) if fields is not None else None


class Project(NamedTuple):
    """A validated project file. ``data`` holds exactly the keys the file sets; the
    pipeline's blocks are read typed through the properties."""

    title: str
    archetype: str
    data: Mapping[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def ready_for_human(self) -> bool:
        return bool(self.data.get("ready_for_human", False))

    @property
    def run(self) -> RunBlock | None:
        return run_of(self.data)

    @property
    def review(self) -> ReviewBlock | None:
        return review_of(self.data)

    @property
    def needs_human(self) -> NeedsHuman | None:
        return needs_human_of(self.data)

    @property
    def approved(self) -> Approved | None:
        return approved_of(self.data)


def validate(parsed: Parsed, name: str = "<project>") -> Project:
    data = s.validate(parsed, FIELDS, REQUIRED, name, InvalidProjectFile)
    return Project(title=data["title"], archetype=data["archetype"], data=data)


def load(data: bytes | str, name: str = "<project>") -> Project:
    """Parse and validate a project file; errors read file:line:col: field: reason."""
    return validate(parse(data, name), name)


def check_value(key: str, value: Any) -> Any:
    """Validate one top-level value (for edits); raise InvalidInput naming the field."""
    check = FIELDS.get(key)
    if check is None:
        if key.startswith("x-"):
            return value
        raise InvalidInput(f"{key}: {s.unknown_key(key, FIELDS)}")
    try:
        return check(value)
    except s.Invalid as exc:
        raise InvalidInput(f"{'.'.join(str(p) for p in (key, *exc.path))}: {exc.reason}") from None


def to_json(value: Any) -> Any:
    """Project values as JSON-ready data (dates as ISO text)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


# --------------------------------------------------------------------------- writing


def _top_level_spans(text: str) -> tuple[dict[str, tuple[int, int]], bool]:
    """Character ranges [start, end) of each top-level entry, whole lines where possible.

    Offsets come from libyaml's character index (its line numbers also count U+2028
    and friends as breaks). The second value says whether targeted edits are possible
    (a block mapping whose keys start their lines).
    """

    def at_line_start(index: int) -> bool:
        return index == 0 or text[index - 1] == "\n"

    def line_end(index: int) -> int:
        found = text.find("\n", index)
        return len(text) if found < 0 else found + 1

    spans: dict[str, tuple[int, int]] = {}
    loader: Any = yaml.CSafeLoader(text)
    try:
        loader.get_event()  # stream start
        if isinstance(loader.peek_event(), yaml.StreamEndEvent):
            return spans, True
        loader.get_event()  # document start
        start = loader.get_event()
        if not isinstance(start, yaml.MappingStartEvent) or start.flow_style:
            return spans, False
        while not isinstance(key := loader.get_event(), yaml.MappingEndEvent):
            if not at_line_start(key.start_mark.index):
                return spans, False
            depth = 0
            last: Any = key
            while True:
                ev: Any = loader.get_event()
                if isinstance(ev, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                    depth += 1
                    if ev.flow_style:
                        last = ev
                elif isinstance(ev, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                    depth -= 1
                    # A flow collection ends at its bracket; a block one at the next
                    # token, which may be past the person's comments: keep the last item.
                    if ev.start_mark is not None and _is_flow_end(text, ev.start_mark.index):
                        last = ev
                else:
                    last = ev
                if depth == 0:
                    break
            begin = key.start_mark.index
            end = last.end_mark.index
            if not at_line_start(end):
                end = line_end(end)
            elif isinstance(last, yaml.ScalarEvent) and last.style in ("|", ">"):
                assert last.start_mark is not None  # events from the loader carry marks
                end = _drop_trailing_blank_lines(text, last.start_mark.index, end)
            spans[key.value] = (begin, max(end, begin))
    finally:
        loader.dispose()
    return spans, True


def _drop_trailing_blank_lines(text: str, scalar_start: int, end: int) -> int:
    """A block scalar's span ends after its blank lines; they belong to what follows.

    Except with the keep indicator (``|+``), where they are part of the value.
    """
    header = text[scalar_start : line_end_of(text, scalar_start)]
    if "+" in header.split("#", 1)[0]:
        return end
    while end > scalar_start:
        prev = text.rfind("\n", 0, end - 1) + 1
        if text[prev:end].strip():
            break
        end = prev
    return end


def line_end_of(text: str, index: int) -> int:
    found = text.find("\n", index)
    return len(text) if found < 0 else found


def _is_flow_end(text: str, at: int) -> bool:
    return at < len(text) and text[at] in "]}"


@cache
def _dumper() -> Any:
    """A SafeDumper that writes text libyaml would read back differently in double quotes.

    U+0085, U+2028 and U+2029 inside plain or single-quoted text read back as line
    breaks (or spaces); double quotes escape them as \\N, \\L, \\P.
    """

    class Dumper(yaml.SafeDumper):
        pass

    def represent_str(dumper: Any, value: str) -> Any:
        # Multi-line text as a literal block, as a person would write it (the emitter
        # falls back to a quoted style where a block cannot hold the value exactly).
        style = '"' if _ODD_BREAKS.search(value) else "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, represent_str)
    return Dumper


_ODD_BREAKS = re.compile("[\x85\u2028\u2029]")


def render_entry(key: str, value: Any) -> str:
    return yaml.dump(
        {key: _plain(value)},
        Dumper=_dumper(),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


DELETE = object()


def set_keys(text: str, updates: Mapping[str, Any]) -> str:
    """Set (or, with DELETE, remove) top-level keys, keeping every other byte of ``text``."""
    spans, editable = _top_level_spans(text)
    if not editable:
        # A flow-style or indented document: rewrite it whole (rare, and only for such files).
        values = dict(parse(text).values)
        for key, value in updates.items():
            if value is DELETE:
                values.pop(key, None)
            else:
                values[key] = value
        return "".join(render_entry(k, v) for k, v in values.items())
    edits: list[tuple[int, int, str]] = []
    appended: list[str] = []
    for key, value in updates.items():
        new = "" if value is DELETE else render_entry(key, value)
        if key in spans:
            begin, end = spans[key]
            if new and end > 0 and text[end - 1] != "\n":
                new = new.rstrip("\n")
            edits.append((begin, end, new))
        elif new:
            appended.append(new)
    out = text
    for begin, end, new in sorted(edits, reverse=True):
        out = out[:begin] + new + out[end:]
    if appended:
        insert_at = _append_point(out)
        head = out[:insert_at]
        if head and not head.endswith("\n"):
            head += "\n"
        out = head + "".join(appended) + out[insert_at:]
    return out


def _append_point(text: str) -> int:
    """Where new top-level keys go: after the last entry, before a trailing `...` or comments."""
    spans, _ = _top_level_spans(text)
    if not spans:
        return len(text)
    return max(end for _, end in spans.values())


def parse_cli_value(key: str, raw: str) -> Any:
    """Turn `--set key=value` text into a value of the field's type ("" unsets the key)."""
    if key not in FIELDS and not key.startswith("x-"):
        raise InvalidInput(f"--set {key}: {s.unknown_key(key, FIELDS)}")
    if raw == "":
        return DELETE
    if key in ("acceptance", "labels"):
        stripped = raw.strip()
        if stripped.startswith("["):
            return _yaml_value(key, stripped)
        return [part.strip() for part in stripped.split(",") if part.strip()]
    if key == "priority":
        try:
            return int(raw)
        except ValueError:
            raise InvalidInput(
                f"--set priority: expected a whole number 1..4, got {raw!r}"
            ) from None
    if key.startswith("x-"):
        return _yaml_value(key, raw)
    return raw  # text fields, and due (checked as an ISO date)


def _yaml_value(key: str, raw: str) -> Any:
    """A YAML value given on the command line, e.g. `[a, b]` or `3`."""
    if "\n" in raw or "\r" in raw:
        raise InvalidInput(f"--set {key}: a YAML value here must be one line")
    return parse(f"{key}: {raw}", f"--set {key}", error=InvalidInput).values[key]
