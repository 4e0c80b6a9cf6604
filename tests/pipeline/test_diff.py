"""mc.pipeline.diff and mc.pipeline.linecomments as plain functions: parsing a patch git
made, the side-by-side pairing, the cut of a patch over the cap, the notes a rework
carries and the brief that shows them."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mc.board import actions
from mc.board.board import Board
from mc.pipeline import diff, jobs, linecomments
from mc.pipeline.brief import render_brief


def _patch(tmp_path: Path) -> bytes:
    """A patch git itself made: modified (no newline at the end), added, removed,
    renamed and binary files."""
    repo = tmp_path / "r"

    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True).stdout

    repo.mkdir()
    git("init", "-q", "-b", "main")
    (repo / "a.txt").write_text("1\n2\n3\n")
    (repo / "old.txt").write_text("".join(f"{n}\n" for n in range(30)))
    (repo / "gone.txt").write_text("x\n")
    (repo / "b.bin").write_bytes(b"\x00\x01")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    (repo / "a.txt").write_text("1\nTWO\n3\n4")
    (repo / "old.txt").rename(repo / "new.txt")
    (repo / "gone.txt").unlink()
    (repo / "b.bin").write_bytes(b"\x00\x02")
    (repo / "made.txt").write_text("hi\n")
    git("add", "-A")
    git("commit", "-q", "-m", "two")
    return git("diff", "--find-renames", "HEAD~1..HEAD")


def test_a_patch_git_made_parses_into_files_hunks_and_numbered_lines(tmp_path: Path) -> None:
    files = {f.path: f for f in diff.parse(_patch(tmp_path))}
    assert {p: f.status for p, f in files.items()} == {
        "a.txt": "modified", "new.txt": "renamed", "gone.txt": "removed",
        "b.bin": "modified", "made.txt": "added",
    }  # fmt: skip
    assert files["new.txt"].old_path == "old.txt" and files["new.txt"].hunks == ()
    assert files["b.bin"].binary and not files["a.txt"].binary
    a = files["a.txt"]
    assert (a.added, a.removed) == (2, 1)
    assert [(ln.kind, ln.old, ln.new, ln.text) for ln in a.hunks[0].lines] == [
        (" ", 1, 1, "1"),
        ("-", 2, None, "2"),
        ("+", None, 2, "TWO"),
        (" ", 3, 3, "3"),
        ("+", None, 4, "4"),
    ]  # fmt: skip  ("\ No newline at end of file" is not a line)
    rows = diff.split_rows(a.hunks[0])
    assert [(r["old"] and r["old"]["text"], r["new"] and r["new"]["text"]) for r in rows] == [
        ("1", "1"), ("2", "TWO"), ("3", "3"), (None, "4"),
    ]  # fmt: skip


def test_a_cut_patch_keeps_only_whole_files(tmp_path: Path) -> None:
    raw = _patch(tmp_path)
    whole = diff.parse(raw)
    cut = diff.parse(raw[: raw.rindex(b"\ndiff --git ") + 20], cut=True)
    assert [f.path for f in cut] == [f.path for f in whole][:-1]


def _comment(path: str, side: str, start: int, end: int, quote: str, text: str) -> dict[str, Any]:
    return {"path": path, "side": side, "start_line": start, "end_line": end, "quote": quote,
            "text": text, "resolved_at": None}  # fmt: skip


def test_the_notes_name_file_and_lines_quote_the_code_and_skip_resolved_ones() -> None:
    notes = linecomments.change_request(
        [
            _comment("a.py", "new", 3, 3, "x = 1", "use a constant"),
            _comment("b.py", "old", 4, 6, "a\nb\nc", "keep these\nplease"),
            {**_comment("c.py", "new", 1, 1, "z", "done"), "resolved_at": dt.datetime.now()},
        ],
        "  General note.  ",
    )
    assert notes == (
        "General note.\n\n"
        "- a.py:3\n  ```\n  x = 1\n  ```\n  use a constant\n\n"
        "- b.py:4-6 (old side, before the change)\n  ```\n  a\n  b\n  c\n  ```\n"
        "  keep these\n  please"
    )


def test_many_comments_fit_the_feedback_field_and_say_how_many_were_left_out() -> None:
    many = [_comment("a.py", "new", n, n, "y" * 400, f"comment {n}") for n in range(1, 200)]
    notes = linecomments.change_request(many, "")
    assert len(notes) <= 20_000
    assert notes.endswith("more line comments on the project's page)")


def test_the_brief_of_the_reworked_project_has_the_requested_changes(board: Board) -> None:
    actions.new_project(board, "Fix", "coder", project_id="fix")
    actions.queue(board, "fix")
    actions.dispatch(board, "fix", "1")
    actions.complete(board, "fix", "1", {"changes.patch": b"x\n"})
    actions.record_review(board, "fix", "2", "pass", "ok", rework=False)
    notes = linecomments.change_request(
        [_comment("src/<b>.py", "new", 7, 8, "if x:\n    return '<script>'", "no")], "Again."
    )
    actions.rework(board, "fix", notes)
    now = dt.datetime.now(dt.UTC)
    job = jobs.Job(3, "fix", "work", "running", "coder", 3, 0, now, 0, 3, 0, 1, None, None,
                   False, None, None, None, "", now, None, None)  # fmt: skip
    brief = render_brief(board, "fix", job, [])
    assert (
        "## Requested changes (from the person)\n\nAgain.\n\n- src/<b>.py:7-8\n  ```\n"
        "  if x:\n      return '<script>'\n  ```\n  no\n"
    ) in brief


def test_files_past_the_cut_are_listed_from_git_numstat(tmp_path: Path) -> None:
    _patch(tmp_path)
    listing = subprocess.run(
        ["git", "diff", "--find-renames", "--numstat", "-z", "HEAD~1..HEAD"],
        cwd=tmp_path / "r", check=True, capture_output=True,
    ).stdout  # fmt: skip
    shown = diff.parse(_patch_of(tmp_path, "a.txt"))
    files = {f.path: f for f in diff.with_omitted(shown, listing)}
    assert not files["a.txt"].omitted and files["a.txt"].hunks
    assert files["new.txt"].omitted and files["new.txt"].old_path == "old.txt"
    assert files["new.txt"].status == "renamed"
    assert files["b.bin"].binary and files["made.txt"].added == 1
    assert files["gone.txt"].removed == 1 and len(files) == 5
    # A listing cut in the middle of a record ends the list there, without an error.
    assert len(diff.with_omitted((), listing[: listing.index(b"old.txt")])) < 5


def _patch_of(tmp_path: Path, path: str) -> bytes:
    return subprocess.run(
        ["git", "diff", "HEAD~1..HEAD", "--", path], cwd=tmp_path / "r", check=True,
        capture_output=True,
    ).stdout  # fmt: skip


def test_a_comment_on_lines_too_long_to_quote_is_refused_naming_the_field() -> None:
    from mc.errors import NotInDiff

    long = b"+" + b"x" * 15_000 + b"\n"
    patch = b"diff --git a/m.js b/m.js\n--- /dev/null\n+++ b/m.js\n@@ -0,0 +1,2 @@\n" + long * 2
    change = diff.Diff("branch", "b", "x", "c", diff.parse(patch), False)
    assert linecomments.comment_on(change, "m.js", "new", 1, 1, "ok").quote == "x" * 15_000
    with pytest.raises(NotInDiff, match=r"^end: lines 1-2 hold over 20000 characters"):
        linecomments.comment_on(change, "m.js", "new", 1, 2, "too much")
