"""Safe YAML reading for files people write: project files and mc.yaml.

Parsed from libyaml's event stream (PyYAML's C parser) by a small composer that
refuses anchors, aliases, explicit tags, duplicate keys and the YAML 1.1
surprises (``no`` read as false, ``1:30`` read as 90, ``0755`` read as octal), caps
the size and nesting, and remembers where every key and value came from so that
errors read ``file:line:col: field: reason``. PyYAML's own loaders cannot do this:
they silently keep the last of duplicate keys and expand aliases without limit.

Stdlib + PyYAML only: the git hooks import this on every commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from mc.errors import InvalidProjectFile, McError

MAX_FILE_BYTES = 64 * 1024
MAX_DEPTH = 16

Position = tuple[int, int]  # 1-based line, column
Path = tuple[str | int, ...]


class Parsed(NamedTuple):
    """A loaded YAML mapping and where each of its values starts."""

    values: dict[str, Any]
    positions: dict[Path, Position]  # where each value starts
    key_positions: dict[Path, Position]  # where each mapping key starts


class LazyYaml:
    """PyYAML, imported on first use (~17 ms): a command whose project files are all in
    the parse cache never needs it. Attributes are kept once looked up."""

    def __getattr__(self, name: str) -> Any:
        import yaml as real

        value = getattr(real, name)
        setattr(self, name, value)
        return value


if TYPE_CHECKING:
    import yaml as yaml  # re-exported: the lazy module for projectfile
else:
    yaml = LazyYaml()


@cache
def _constructor() -> Any:
    return yaml.constructor.SafeConstructor()


@cache
def _resolver() -> Any:
    return yaml.resolver.Resolver()


_TAG = "tag:yaml.org,2002:"
_YAML11_BOOL = re.compile(r"(?i:y|n|yes|no|on|off)")
_OCTAL_LIKE = re.compile(r"[-+]?0[0-9_]+")


class _Refused(Exception):
    def __init__(self, mark: Any, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.mark = mark  # a libyaml Mark, or None for the start of the file
        self.path = path
        self.reason = reason


# libyaml also counts U+0085, U+2028 and U+2029 as line breaks; editors and git do not.
_ODD_BREAKS = re.compile("[\x85\u2028\u2029]")


def _locator(text: str) -> Callable[[Any], Position]:
    """mark -> (line, column), 1-based, counted as an editor counts them."""
    if not _ODD_BREAKS.search(text):
        return lambda mark: (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return lambda mark: position_of(text, mark.index) if mark else (1, 1)


def position_of(text: str, index: int) -> Position:
    """(line, column) of a character offset; only \\n ends a line."""
    return (text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1)


def _scalar(event: Any, path: Path) -> Any:
    value: str = event.value
    if not event.implicit[0]:  # quoted or block scalar: always text
        return value
    tag: str = _resolver().resolve(yaml.ScalarNode, value, (True, False))
    kind = tag[len(_TAG) :] if tag.startswith(_TAG) else ""
    if kind == "str":
        return value
    if kind == "null":
        return None
    if kind == "bool":
        if _YAML11_BOOL.fullmatch(value):
            raise _Refused(
                event.start_mark,
                path,
                f'`{value}` is read as a boolean by YAML 1.1; quote it ("{value}") '
                "if you mean the text, or write true/false",
            )
        return value.lower() == "true"
    node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
    if kind == "int":
        if ":" in value:
            raise _Refused(
                event.start_mark,
                path,
                f"`{value}` is read as a base-60 number by YAML 1.1; quote it",
            )
        if _OCTAL_LIKE.fullmatch(value):
            raise _Refused(
                event.start_mark,
                path,
                f"`{value}` is read as an octal number by YAML 1.1; quote it or drop the 0",
            )
        return _constructor().construct_yaml_int(node)
    if kind == "float":
        if ":" in value:
            raise _Refused(
                event.start_mark,
                path,
                f"`{value}` is read as a base-60 number by YAML 1.1; quote it",
            )
        return _constructor().construct_yaml_float(node)
    if kind == "timestamp":
        try:
            return _constructor().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise _Refused(event.start_mark, path, f"not a valid date: {exc}") from None
    # `=` (value) and `<<` (merge) and anything else exotic: refuse rather than guess.
    raise _Refused(event.start_mark, path, f"`{value}` is not a plain value; quote it")


class _Composer:
    """Builds plain Python values from libyaml events, refusing what a project file never needs."""

    def __init__(self, loader: Any, locate: Callable[[Any], Position]) -> None:
        self.loader = loader
        self.locate = locate
        # Marks while composing; turned into (line, column) once, at the end.
        self.positions: dict[Path, Any] = {}
        self.key_positions: dict[Path, Any] = {}

    def next(self) -> Any:
        return self.loader.get_event()

    def value(self, event: Any, path: Path, depth: int) -> Any:
        self.positions[path] = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(event.start_mark, path, "aliases (*name) are not allowed")
        if getattr(event, "anchor", None):
            raise _Refused(event.start_mark, path, "anchors (&name) are not allowed")
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise _Refused(event.start_mark, path, f"tags ({tag}) are not allowed")
        if depth > MAX_DEPTH:
            raise _Refused(event.start_mark, path, "nested too deeply")
        if isinstance(event, yaml.ScalarEvent):
            return _scalar(event, path)
        if isinstance(event, yaml.SequenceStartEvent):
            items: list[Any] = []
            while not isinstance(ev := self.next(), yaml.SequenceEndEvent):
                items.append(self.value(ev, (*path, len(items)), depth + 1))
            return items
        if isinstance(event, yaml.MappingStartEvent):
            return self.mapping(path, depth)
        raise _Refused(event.start_mark, path, "unexpected YAML structure")

    def mapping(self, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Any] = {}
        while not isinstance(ev := self.next(), yaml.MappingEndEvent):
            if not isinstance(ev, yaml.ScalarEvent) or ev.anchor or ev.tag is not None:
                raise _Refused(ev.start_mark, path, "keys must be plain names")
            key = ev.value
            where = ev.start_mark
            if key in seen:
                raise _Refused(
                    where,
                    (*path, key),
                    f"duplicate key (first at line {self.locate(seen[key])[0]})",
                )
            seen[key] = where
            self.key_positions[(*path, key)] = where
            result[key] = self.value(self.next(), (*path, key), depth + 1)
        return result


def parse(
    data: bytes | str,
    name: str = "<file>",
    what: str = "project file",
    error: type[McError] = InvalidProjectFile,
) -> Parsed:
    """Load a YAML mapping safely; raise ``error`` naming file:line:col and the reason."""
    if isinstance(data, str):
        text = data
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            line, col = position_of(text, exc.start)
            raise error(f"{name}:{line}:{col}: text is not valid UTF-8") from None
        if size > MAX_FILE_BYTES:
            raise error(f"{name}: file is larger than {MAX_FILE_BYTES // 1024} KiB")
    else:
        if len(data) > MAX_FILE_BYTES:
            raise error(
                f"{name}: file is {len(data) // 1024} KiB, larger than the "
                f"{MAX_FILE_BYTES // 1024} KiB a {what} may be"
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line_start = data.rfind(b"\n", 0, exc.start) + 1
            line = data.count(b"\n", 0, exc.start) + 1
            col = len(data[line_start : exc.start].decode("utf-8", "replace")) + 1
            raise error(f"{name}:{line}:{col}: file is not valid UTF-8") from None
    text = text.removeprefix("\ufeff")
    locate = _locator(text)
    loader: Any = yaml.CSafeLoader(text)
    composer = _Composer(loader, locate)
    try:
        composer.next()  # StreamStart
        event = composer.next()
        if isinstance(event, yaml.StreamEndEvent):
            raise _Refused(None, (), "the file is empty")
        event = composer.next()  # first node of the document
        if not isinstance(event, yaml.MappingStartEvent):
            raise _Refused(event.start_mark, (), f"a {what} must be a mapping of keys")
        if event.anchor or event.tag:
            raise _Refused(event.start_mark, (), "anchors and tags are not allowed")
        values = composer.mapping((), 1)
        composer.next()  # DocumentEnd
        event = composer.next()
        if not isinstance(event, yaml.StreamEndEvent):
            raise _Refused(event.start_mark, (), "only one YAML document is allowed")
    except _Refused as exc:
        where = ".".join(str(p) for p in exc.path)
        line, col = locate(exc.mark)
        prefix = f"{name}:{line}:{col}: "
        raise error(prefix + (f"{where}: " if where else "") + exc.reason) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = locate(mark)
        reason = " ".join((exc.problem or exc.context or "invalid YAML").split())
        raise error(f"{name}:{line}:{col}: {reason}") from None
    except yaml.reader.ReaderError as exc:
        line, col = position_of(text, exc.position)
        raise error(
            f"{name}:{line}:{col}: character #x{exc.character:04x} is not allowed in YAML"
        ) from None
    except yaml.YAMLError as exc:
        raise error(f"{name}: " + " ".join(str(exc).split())) from None
    finally:
        loader.dispose()
    return Parsed(
        values,
        {k: locate(m) for k, m in composer.positions.items()},
        {k: locate(m) for k, m in composer.key_positions.items()},
    )
