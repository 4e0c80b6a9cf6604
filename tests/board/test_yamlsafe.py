"""mc.yamlsafe.parse: hostile and surprising YAML is refused with one clear, positioned line."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mc.board.yamlsafe import MAX_DEPTH, MAX_FILE_BYTES, Parsed, parse
from mc.errors import ConfigError, InvalidProjectFile, McError

NAME = "p.yaml"


@pytest.fixture(autouse=True, scope="module")
def git_env() -> Iterator[None]:
    """These are pure functions: skip conftest's per-test git config (keys, subprocesses)."""
    yield


def refused(
    data: bytes | str,
    error: type[McError] = InvalidProjectFile,
    name: str = NAME,
    **kw: str,
) -> str:
    """Parse ``data``, expect ``error``; return its message after checking it is one line."""
    with pytest.raises(error) as info:
        parse(data, name, error=error, **kw)
    message = str(info.value)
    assert message, "an empty error message"
    assert "\n" not in message and "\r" not in message, f"not one line: {message!r}"
    assert message.startswith(f"{name}:"), message
    return message


def position(message: str, name: str = NAME) -> tuple[int, int]:
    match = re.match(rf"{re.escape(name)}:(\d+):(\d+): ", message)
    assert match, f"no {name}:line:col: prefix in {message!r}"
    return int(match[1]), int(match[2])


# --------------------------------------------------------------------------- anchors, aliases

LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_is_refused_fast_at_the_first_anchor() -> None:
    start = time.perf_counter()
    message = refused(LAUGHS)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"took {elapsed:.3f}s"
    assert message == f"{NAME}:1:4: a: anchors (&name) are not allowed"


def test_billion_laughs_as_bytes_with_anchor_deep_inside_is_refused_fast() -> None:
    # The anchor is buried in a nested structure after harmless content; aliases expand 9^9.
    prefix = "title: ok\nx-pad:\n" + "".join(f"  - item {i}\n" for i in range(200))
    nested = "x-deep:\n  inner:\n    - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    expand = "".join(
        f"x-l{n}: &l{n} [{', '.join([f'*{prev}'] * 9)}]\n"
        for n, prev in enumerate(["a"] + [f"l{k}" for k in range(8)])
    )
    data = (prefix + nested + expand).encode()
    assert len(data) < MAX_FILE_BYTES
    start = time.perf_counter()
    message = refused(data)
    assert time.perf_counter() - start < 0.5
    assert position(message) == (205, 7)
    assert "x-deep.inner.0: anchors (&name) are not allowed" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb: *a\n", f"{NAME}:2:4: b: aliases (*name) are not allowed"),
        ("a: &x 1\n", f"{NAME}:1:4: a: anchors (&name) are not allowed"),
        ("a:\n  - &x 1\n", f"{NAME}:2:5: a.0: anchors (&name) are not allowed"),
        ("a: &m {b: 1}\n", f"{NAME}:1:4: a: anchors (&name) are not allowed"),
        ("&top\na: 1\n", f"{NAME}:1:1: anchors and tags are not allowed"),
        # A merge key pulling in an alias: refused at the alias, nothing is merged.
        ("x-a: {b: 1}\nx-c:\n  <<: *a\n", f"{NAME}:3:7: x-c.<<: aliases (*name) are not allowed"),
        # Anchors and aliases as keys.
        ("&k a: 1\n", f"{NAME}:1:1: keys must be plain names"),
        ("a: 1\n*a : 2\n", f"{NAME}:2:1: keys must be plain names"),
    ],
)
def test_anchors_and_aliases_are_refused(text: str, expected: str) -> None:
    assert refused(text) == expected


# --------------------------------------------------------------------------- duplicate keys


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "title: a\narchetype: b\ntitle: c\n",
            f"{NAME}:3:1: title: duplicate key (first at line 1)",
        ),
        (
            "x-a:\n  k: 1\n  other: 2\n  k: 3\n",
            f"{NAME}:4:3: x-a.k: duplicate key (first at line 2)",
        ),
        ("a: {b: 1, b: 2}\n", f"{NAME}:1:11: a.b: duplicate key (first at line 1)"),
        # Quoting does not make a different key.
        ('"a": 1\n\n\na: 2\n', f"{NAME}:4:1: a: duplicate key (first at line 1)"),
    ],
)
def test_duplicate_keys_name_the_first_line(text: str, expected: str) -> None:
    assert refused(text) == expected


# --------------------------------------------------------------------------- tags


def test_python_object_apply_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "created-by-yaml"
    text = f'a: !!python/object/apply:os.makedirs ["{marker}"]\n'
    message = refused(text)
    assert message == (
        f"{NAME}:1:4: a: tags (tag:yaml.org,2002:python/object/apply:os.makedirs) are not allowed"
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "where", "tag"),
    [
        (
            'a: !!python/object/apply:os.system ["echo hi"]\n',
            (1, 4),
            "python/object/apply:os.system",
        ),
        ("a: !!python/name:os.system ''\n", (1, 4), "python/name:os.system"),
        ("a: !!str 1\n", (1, 4), "tag:yaml.org,2002:str"),
        ("a: !!binary aGVsbG8=\n", (1, 4), "tag:yaml.org,2002:binary"),
        ("a: !!set {x, y}\n", (1, 4), "tag:yaml.org,2002:set"),
        ("a: !!omap [x: 1]\n", (1, 4), "tag:yaml.org,2002:omap"),
        ("a: !local thing\n", (1, 4), "!local"),
        ("a: !<tag:yaml.org,2002:int> 3\n", (1, 4), "tag:yaml.org,2002:int"),
        ("x:\n  - ok\n  - !!map {b: 1}\n", (3, 5), "tag:yaml.org,2002:map"),
        ("%TAG !e! tag:example.com,2000:\n---\na: !e!foo 1\n", (3, 4), "tag:example.com,2000:foo"),
    ],
)
def test_explicit_tags_are_refused(text: str, where: tuple[int, int], tag: str) -> None:
    message = refused(text)
    assert position(message) == where
    assert "tags (" in message and tag in message and "not allowed" in message


@pytest.mark.parametrize(
    "text",
    ["!!map\na: 1\n", '!!python/object/apply:os.system ["echo hi"]\n', "!!str a: 1\n"],
)
def test_tags_on_the_document_or_a_key_are_refused(text: str) -> None:
    assert position(refused(text)) == (1, 1)


# --------------------------------------------------------------------------- size


def test_ten_megabytes_is_refused_by_size_before_parsing() -> None:
    data = b"a: " + b"[" * (10 * 1024 * 1024) + b"\n"  # would also be nested far too deeply
    start = time.perf_counter()
    message = refused(data)
    assert time.perf_counter() - start < 0.5
    assert message == f"{NAME}: file is 10240 KiB, larger than the 64 KiB a project file may be"


def test_ten_megabytes_of_text_is_refused_by_size() -> None:
    start = time.perf_counter()
    message = refused("a: " + "x" * (10 * 1024 * 1024) + "\n")
    assert time.perf_counter() - start < 0.5
    assert "64 KiB" in message


def _exactly(size: int) -> str:
    text = "title: " + "a" * (size - len("title: ") - 1) + "\n"
    assert len(text.encode()) == size
    return text


def test_64_kib_boundary_for_bytes() -> None:
    assert MAX_FILE_BYTES == 65536
    parsed = parse(_exactly(65536).encode(), NAME)
    assert len(parsed.values["title"]) == 65536 - 8
    message = refused(_exactly(65537).encode())
    assert "larger than the 64 KiB a project file may be" in message


def test_64_kib_boundary_for_text() -> None:
    assert len(parse(_exactly(65536), NAME).values["title"]) == 65536 - 8
    assert "larger than 64 KiB" in refused(_exactly(65537))


def test_size_of_text_is_counted_in_utf8_bytes() -> None:
    # 30,000 characters, 90,000 bytes: over the limit although short in characters.
    text = "title: " + "\u20ac" * 30_000 + "\n"
    assert len(text) < MAX_FILE_BYTES < len(text.encode())
    assert "64 KiB" in refused(text)


def test_size_error_uses_the_callers_error_class_and_wording() -> None:
    message = refused(b"x" * 70_000, error=ConfigError, what="board config")
    assert message == f"{NAME}: file is 68 KiB, larger than the 64 KiB a board config may be"


# --------------------------------------------------------------------------- encoding


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"title: ok\nx: ab\xff\n", (2, 6)),
        (b"\xfe: 1\n", (1, 1)),
        (b"title: caf\xc3", (1, 11)),  # truncated multi-byte sequence at the end
        (b"a: 1\nb: 2\nc: \xc0\xaf\n", (3, 4)),  # overlong encoding of "/"
        (b"a: \xed\xa0\x80\n", (1, 4)),  # an encoded surrogate
    ],
)
def test_invalid_utf8_is_refused_with_its_position(data: bytes, where: tuple[int, int]) -> None:
    message = refused(data)
    assert position(message) == where
    assert message.endswith("file is not valid UTF-8")


def test_invalid_utf8_column_counts_characters_like_every_other_position() -> None:
    # Every other position parse() reports counts characters; the UTF-8 error must too.
    # "title: é" is 8 characters (9 bytes): the bad byte is the 9th character.
    message = refused(b"title: \xc3\xa9\xff\n")
    assert position(message) == (1, 9)


def test_lone_surrogate_in_text_is_refused_not_crashed() -> None:
    # What os.fsdecode / surrogateescape make of undecodable bytes (e.g. command-line args).
    message = refused("title: ok\nx: a\udcffb\n")
    assert position(message) == (2, 5)


@pytest.mark.parametrize("data", [b"\xef\xbb\xbftitle: hi\n", "\ufefftitle: hi\n"])
def test_utf8_bom_is_accepted_and_positions_ignore_it(data: bytes | str) -> None:
    parsed = parse(data, NAME)
    assert parsed.values == {"title": "hi"}
    assert parsed.key_positions[("title",)] == (1, 1)
    assert parsed.positions[("title",)] == (1, 8)


def test_position_after_a_bom_is_unaffected() -> None:
    assert position(refused(b"\xef\xbb\xbfa: 1\nb: no\n")) == (2, 4)


@pytest.mark.parametrize(
    ("data", "where", "code"),
    [
        ("title: a\x00b\n", (1, 9), "#x0000"),
        (b"title: ok\nb: \x00\n", (2, 4), "#x0000"),
        ("a\x00: 1\n", (1, 2), "#x0000"),
        ("title: a\x07b\n", (1, 9), "#x0007"),
        ("x: 1\ntitle: \x1b[31mred\n", (2, 8), "#x001b"),
        ("title: a\x7fb\n", (1, 9), "#x007f"),
        ("title: a\x80b\n", (1, 9), "#x0080"),
        ("title: a\ufffeb\n", (1, 9), "#xfffe"),
    ],
)
def test_nul_and_control_characters_are_refused(
    data: bytes | str, where: tuple[int, int], code: str
) -> None:
    message = refused(data)
    assert position(message) == where
    assert f"character {code} is not allowed in YAML" in message


def test_line_numbers_count_newlines_as_an_editor_does() -> None:
    # U+2028 inside a quoted value is valid YAML text, but the file has one line break
    # before `b:`: a person (and git) call the bad value line 2, not line 3.
    message = refused('a: "x\u2028y"\nb: no\n')
    assert position(message) == (2, 4)


# --------------------------------------------------------------------------- YAML 1.1 surprises


@pytest.mark.parametrize("word", ["no", "yes", "on", "off", "Yes", "NO", "On", "OFF", "Off"])
def test_yaml11_booleans_as_plain_scalars_are_refused_with_a_quote_hint(word: str) -> None:
    message = refused(f"title: ok\nx-answer: {word}\n")
    assert message == (
        f'{NAME}:2:11: x-answer: `{word}` is read as a boolean by YAML 1.1; quote it ("{word}") '
        "if you mean the text, or write true/false"
    )


def test_yaml11_boolean_inside_a_flow_list_names_the_item() -> None:
    message = refused("labels: [ok, no]\n")
    assert message.startswith(f"{NAME}:1:14: labels.1: `no` is read as a boolean")


@pytest.mark.parametrize(
    "text", ['a: "no"\n', "a: 'no'\n", "a: |\n  no\n", "a: >-\n  no\n", 'a: "yes"\n']
)
def test_quoted_no_is_text(text: str) -> None:
    value = parse(text, NAME).values["a"]
    assert isinstance(value, str)
    assert value.strip() in ("no", "yes")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("false", False), ("True", True), ("FALSE", False)],
)
def test_true_and_false_are_booleans(text: str, expected: bool) -> None:
    assert parse(f"a: {text}\n", NAME).values["a"] is expected


@pytest.mark.parametrize("value", ["1:30", "-1:30", "12:30:00", "1:30.5"])
def test_sexagesimal_numbers_are_refused(value: str) -> None:
    message = refused(f"a: {value}\n")
    assert message == f"{NAME}:1:4: a: `{value}` is read as a base-60 number by YAML 1.1; quote it"


@pytest.mark.parametrize("value", ["0755", "-0755", "+0755", "00"])
def test_octal_looking_numbers_are_refused(value: str) -> None:
    message = refused(f"a: {value}\n")
    assert message == (
        f"{NAME}:1:4: a: `{value}` is read as an octal number by YAML 1.1; quote it or drop the 0"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"1:30"', "1:30"),
        ("'0755'", "0755"),
        ("0", 0),
        ("10", 10),
        ("1_000", 1000),
        ("-3", -3),
        ("1.5", 1.5),
        ("1e3", "1e3"),
        ("~", None),
        ("null", None),
        ("", None),
    ],
)
def test_ordinary_scalars(text: str, expected: object) -> None:
    value = parse(f"a: {text}\n", NAME).values["a"]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("value", ["=", "<<"])
def test_exotic_yaml11_value_types_are_refused(value: str) -> None:
    assert refused(f"a: {value}\n") == f"{NAME}:1:4: a: `{value}` is not a plain value; quote it"


# --------------------------------------------------------------------------- document shape


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: 1\n---\nb: 2\n", (2, 1)),
        ("---\na: 1\n...\n---\nb: 2\n", (4, 1)),
        ("a: 1\n---\n", (2, 1)),
    ],
)
def test_multiple_documents_are_refused(text: str, where: tuple[int, int]) -> None:
    message = refused(text)
    assert position(message) == where
    assert message.endswith("only one YAML document is allowed")


@pytest.mark.parametrize("text", ["---\na: 1\n", "a: 1\n...\n", "%YAML 1.1\n---\na: 1\n"])
def test_one_document_with_markers_is_accepted(text: str) -> None:
    assert parse(text, NAME).values == {"a": 1}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("- a\n- b\n", (1, 1)),
        ("hello\n", (1, 1)),
        ("42\n", (1, 1)),
        ("# note\n[a, b]\n", (2, 1)),
        ("---\n", (2, 1)),
    ],
)
def test_top_level_must_be_a_mapping(text: str, where: tuple[int, int]) -> None:
    message = refused(text)
    assert position(message) == where
    assert message.endswith("a project file must be a mapping of keys")


def test_top_level_message_names_what_the_caller_reads() -> None:
    message = refused("- a\n", error=ConfigError, what="board config")
    assert message == f"{NAME}:1:1: a board config must be a mapping of keys"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", b""])
def test_empty_file_is_refused(text: str | bytes) -> None:
    assert refused(text) == f"{NAME}:1:1: the file is empty"


def test_empty_flow_mapping_is_an_empty_mapping() -> None:
    assert parse("{}\n", NAME).values == {}


# --------------------------------------------------------------------------- nesting


def test_nesting_up_to_max_depth_is_accepted() -> None:
    # The top-level mapping is depth 1: `a:` holds MAX_DEPTH - 2 lists, the scalar is at MAX_DEPTH.
    n = MAX_DEPTH - 2
    value = parse("a: " + "[" * n + "1" + "]" * n + "\n", NAME).values["a"]
    for _ in range(n):
        assert isinstance(value, list)
        value = value[0]
    assert value == 1


def test_nesting_beyond_max_depth_is_refused() -> None:
    n = MAX_DEPTH - 1
    message = refused("a: " + "[" * n + "1" + "]" * n + "\n")
    assert position(message) == (1, 4 + n)
    assert message.endswith("nested too deeply")


def test_block_nesting_beyond_max_depth_is_refused() -> None:
    lines = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH))
    message = refused(lines + "  " * MAX_DEPTH + "v: 1\n")
    assert "nested too deeply" in message
    assert position(message)[0] == MAX_DEPTH + 1


def test_absurd_nesting_is_refused_fast() -> None:
    start = time.perf_counter()
    message = refused("a: " + "[" * 30_000 + "]" * 30_000 + "\n")
    assert time.perf_counter() - start < 0.5
    assert position(message)[0] == 1


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("? [a]\n: 1\n", (1, 3)),
        ("? [a]: 1\n", (1, 3)),
        ("{[a]: 1}\n", (1, 2)),
        ("? {a: 1}\n: 2\n", (1, 3)),
        ("x-a:\n  ? [b]\n  : 1\n", (2, 5)),
    ],
)
def test_non_scalar_keys_are_refused(text: str, where: tuple[int, int]) -> None:
    message = refused(text)
    assert position(message) == where
    assert message.endswith("keys must be plain names")


def test_keys_are_always_text() -> None:
    assert parse("1: a\nnull: b\ntrue: c\n", NAME).values == {"1": "a", "null": "b", "true": "c"}


# --------------------------------------------------------------------------- dates and times


def test_dates_are_dates() -> None:
    value = parse("due: 2026-12-01\n", NAME).values["due"]
    assert type(value) is dt.date
    assert value == dt.date(2026, 12, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T10:00:00Z", dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)),
        (
            "2026-11-25T10:00:00+02:00",
            dt.datetime(2026, 11, 25, 10, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        ),
        ("2026-11-25 10:00:00", dt.datetime(2026, 11, 25, 10)),
        ("2026-11-25T10:00:00.5Z", dt.datetime(2026, 11, 25, 10, 0, 0, 500_000, tzinfo=dt.UTC)),
    ],
)
def test_timestamps_are_datetimes(text: str, expected: dt.datetime) -> None:
    value = parse(f"at: {text}\n", NAME).values["at"]
    assert isinstance(value, dt.datetime)
    assert value == expected
    assert (value.utcoffset() is None) == (expected.utcoffset() is None)


def test_quoted_date_stays_text() -> None:
    assert parse("due: '2026-12-01'\n", NAME).values["due"] == "2026-12-01"


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01", "2026-02-30T10:00:00Z"])
def test_impossible_dates_are_refused(value: str) -> None:
    message = refused(f"title: x\ndue: {value}\n")
    assert position(message) == (2, 6)
    assert "due: not a valid date" in message


# --------------------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: [1, 2\n", (2, 1)),
        ("a:\n\tb: 1\n", (2, 1)),
        ("a: 1\nb\n", (3, 1)),
        ("a: 1\n- b\n", (2, 1)),
        ('a: "open\n', (2, 1)),
    ],
)
def test_syntax_errors_are_one_positioned_line(text: str, where: tuple[int, int]) -> None:
    assert position(refused(text)) == where


# --------------------------------------------------------------------------- error class


@pytest.mark.parametrize(
    "data",
    [
        "a: &x 1\n",
        "a: 1\na: 2\n",
        "a: !!str 1\n",
        "a: no\n",
        "",
        "- a\n",
        "a: [1\n",
        "a: \x00\n",
        b"a: \xff\n",
        b"a" * (MAX_FILE_BYTES + 1),
    ],
)
def test_the_callers_error_class_is_raised(data: str | bytes) -> None:
    with pytest.raises(ConfigError) as info:
        parse(data, "mc.yaml", what="board config", error=ConfigError)
    assert not isinstance(info.value, InvalidProjectFile)
    assert str(info.value).startswith("mc.yaml:")
    assert "\n" not in str(info.value)


def test_default_name_and_error() -> None:
    with pytest.raises(InvalidProjectFile) as info:
        parse("a: yes\n")
    assert str(info.value).startswith("<file>:1:4: a: ")


# --------------------------------------------------------------------------- positions

SMALL = """\
# a comment
title: Hello
archetype: coder
labels:
  - a
  - "b"
acceptance: [one, two]
review:
  job: 7
  verdict: pass
"""


def test_values_and_positions_of_a_small_file() -> None:
    parsed = parse(SMALL, NAME)
    assert isinstance(parsed, Parsed)
    assert parsed.values == {
        "title": "Hello",
        "archetype": "coder",
        "labels": ["a", "b"],
        "acceptance": ["one", "two"],
        "review": {"job": 7, "verdict": "pass"},
    }
    assert parsed.key_positions == {
        ("title",): (2, 1),
        ("archetype",): (3, 1),
        ("labels",): (4, 1),
        ("acceptance",): (7, 1),
        ("review",): (8, 1),
        ("review", "job"): (9, 3),
        ("review", "verdict"): (10, 3),
    }
    assert parsed.positions == {
        ("title",): (2, 8),
        ("archetype",): (3, 12),
        ("labels",): (5, 3),
        ("labels", 0): (5, 5),
        ("labels", 1): (6, 5),
        ("acceptance",): (7, 13),
        ("acceptance", 0): (7, 14),
        ("acceptance", 1): (7, 19),
        ("review",): (9, 3),
        ("review", "job"): (9, 8),
        ("review", "verdict"): (10, 12),
    }


def test_positions_count_characters_not_bytes() -> None:
    parsed = parse("title: \u00e9t\u00e9 \u2713\nowner: x\nx-e: {\u00e9: \u00e9}\n".encode(), NAME)
    assert parsed.positions[("owner",)] == (2, 8)
    assert parsed.positions[("x-e", "\u00e9")] == (3, 10)
    assert position(refused("title: \u00e9t\u00e9\nx: [\u00e9, no]\n")) == (2, 8)
