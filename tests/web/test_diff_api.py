"""The diff of a coder project and line comments over HTTP, against the real server,
daemon, database, board and workspace repository (the browser's side is in
test_diff_viewer.py)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from mc.board.board import Board
from mc.mirror import db
from mc.pipeline import brief, diff, jobs, linecomments

from ..conftest import git
from ..webfixtures import Running, web  # noqa: F401
from .diffsetup import coder_in_review, run, workspace

# ruff: noqa: F811  (the web fixture is imported by name)

HOSTILE = "<img src=x onerror=alert(1)>.py"
START = {
    "keep.py": b"".join(b"line %d\n" % n for n in range(1, 21)),
    "moved.txt": b"".join(b"row %d\n" % n for n in range(1, 41)),
    "gone.txt": b"bye\n",
    "blob.bin": b"\x00\x01\x02",
}


def first_edit(tree: Path) -> None:
    keep = (tree / "keep.py").read_text().replace("line 5\n", "line five = '<script>x</script>'\n")
    (tree / "keep.py").write_text(keep + "line 21\n")
    (tree / "moved.txt").rename(tree / "renamed.txt")
    (tree / "gone.txt").unlink()
    (tree / "blob.bin").write_bytes(b"\x00\x09\x09")
    (tree / HOSTILE).write_text("print('<b>bold</b>')\n")


@pytest.fixture
def project(web: Running, board_path: Path, tmp_path: Path, database_url: str) -> tuple[str, Path]:
    ws = workspace(tmp_path / "code", START)
    coder_in_review(board_path, "fix", ws, first_edit, tmp_path, database_url)
    web.wait_synced()
    return "fix", ws


def _post(web: Running, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    client, csrf = web.session()
    try:
        r = client.post(path, json=body, headers={"x-csrf-token": csrf, "origin": web.origin})
    finally:
        client.close()
    return r.status_code, (r.json() if r.content else {})


def test_the_diff_lists_added_removed_renamed_and_binary_files(
    web: Running, project: tuple[str, Path]
) -> None:
    with web.client(web.token("human")) as client:
        got = client.get("/api/projects/fix/diff").json()
    assert got["source"] == "branch" and got["pages"] == 1
    files = {f["path"]: f for f in got["files"]}
    assert set(files) == {"keep.py", "renamed.txt", "gone.txt", "blob.bin", HOSTILE}
    assert (files["keep.py"]["added"], files["keep.py"]["removed"]) == (2, 1)
    assert files["renamed.txt"]["status"] == "renamed"
    assert files["renamed.txt"]["old_path"] == "moved.txt"
    assert files["gone.txt"]["status"] == "removed" and files["gone.txt"]["removed"] == 1
    assert files["blob.bin"]["binary"] is True
    assert files[HOSTILE]["status"] == "added"
    keep = next(f for f in got["shown"] if f["path"] == "keep.py")
    lines = [ln for h in keep["hunks"] for ln in h["lines"]]
    removed = next(ln for ln in lines if ln["kind"] == "-")
    added = next(ln for ln in lines if ln["kind"] == "+")
    assert removed == {"kind": "-", "old": 5, "new": None, "text": "line 5"}
    assert added == {"kind": "+", "old": None, "new": 5, "text": "line five = '<script>x</script>'"}
    binary = next(f for f in got["shown"] if f["path"] == "blob.bin")
    assert binary["hunks"] is None


def test_the_split_view_pairs_removed_and_added_lines(
    web: Running, project: tuple[str, Path]
) -> None:
    with web.client(web.token("human")) as client:
        got = client.get("/api/projects/fix/diff", params={"view": "split"}).json()
        bad = client.get("/api/projects/fix/diff", params={"view": "<x>"})
    keep = next(f for f in got["shown"] if f["path"] == "keep.py")
    rows = [r for h in keep["hunks"] for r in h["rows"]]
    pair = next(r for r in rows if r["old"] and r["old"]["kind"] == "-")
    assert pair["old"]["text"] == "line 5" and pair["new"]["text"].startswith("line five")
    assert bad.status_code == 422 and bad.json()["error"].startswith("view:")


def test_the_committed_patch_is_used_when_the_workspace_is_gone(
    web: Running, project: tuple[str, Path]
) -> None:
    shutil.rmtree(project[1])
    with web.client(web.token("human")) as client:
        got = client.get("/api/projects/fix/diff").json()
    assert got["source"] == "artifact"
    assert {f["path"] for f in got["files"]} == {
        "keep.py", "renamed.txt", "gone.txt", "blob.bin", HOSTILE
    }  # fmt: skip


def test_a_large_change_is_paged_and_a_long_file_sent_only_when_asked(
    web: Running, board_path: Path, tmp_path: Path, database_url: str
) -> None:
    ws = workspace(tmp_path / "big", {"README": b"x\n"})

    def many(tree: Path) -> None:
        for n in range(30):  # 30 files of 300 lines: 3 pages of 3,000 lines
            (tree / f"f{n:02}.txt").write_text("".join(f"{n}-{i}\n" for i in range(300)))
        (tree / "huge.txt").write_text("".join(f"h{i}\n" for i in range(5000)))

    coder_in_review(board_path, "big", ws, many, tmp_path, database_url)
    web.wait_synced()
    with web.client(web.token("human")) as client:
        first = client.get("/api/projects/big/diff").json()
        last = client.get("/api/projects/big/diff", params={"page": first["pages"]}).json()
        huge = client.get("/api/projects/big/diff", params={"file": "huge.txt"}).json()
        beyond = client.get("/api/projects/big/diff", params={"page": 99})
    assert first["pages"] == 3 and len(first["files"]) == 31
    assert sum(len(h["lines"]) for f in first["shown"] for h in f["hunks"] or []) <= 3000
    assert {f["path"] for f in first["shown"]}.isdisjoint({f["path"] for f in last["shown"]})
    collapsed = next(f for p in (first, last) for f in p["shown"] if f["path"] == "huge.txt")
    assert collapsed["collapsed"] is True and collapsed["hunks"] is None
    assert sum(len(h["lines"]) for h in huge["shown"][0]["hunks"]) == 5000
    assert beyond.status_code == 422 and beyond.json()["error"].startswith("page:")


def test_a_patch_over_the_cap_is_cut_and_says_so(
    web: Running,
    board_path: Path,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(diff, "PATCH_MAX", 200_000)  # the server's cap, made small
    ws = workspace(tmp_path / "fat", {"README": b"x\n"})

    def fat(tree: Path) -> None:
        for n in range(20):  # 20 files of ~50 kB: 1 MB of patch
            (tree / f"f{n:02}.txt").write_text(f"{n}" * 99 + "\n" + "y" * 50_000 + "\n")

    coder_in_review(board_path, "fat", ws, fat, tmp_path, database_url)
    web.wait_synced()
    with web.client(web.token("human")) as client:
        got = client.get("/api/projects/fat/diff").json()
    assert got["truncated"] is True and "over" in got["notice"]
    shown = [f for f in got["files"] if not f["omitted"]]
    assert 0 < len(shown) < 20 and len(got["files"]) == 20  # whole files before the cut
    assert [f["path"] for f in got["files"]] == [f"f{n:02}.txt" for n in range(20)]
    shutil.rmtree(ws)  # the committed patch is read up to the cap as well
    with web.client(web.token("human", "again")) as client:
        patch = client.get("/api/projects/fat/diff").json()
    assert patch["source"] == "artifact" and patch["truncated"] is True
    assert 0 < len(patch["files"]) < 20


def test_a_line_comment_quotes_the_code_and_its_author_is_who_asks(
    web: Running, project: tuple[str, Path], database_url: str
) -> None:
    status, made = _post(
        web,
        "/api/projects/fix/diff/comments",
        {"path": "keep.py", "side": "new", "start": 4, "end": 5, "text": "why <b>this</b>?"},
    )
    assert status == 201, made
    with db.connect(database_url) as conn:
        row = conn.execute("SELECT * FROM diff_comments").fetchone()
    assert row is not None
    assert row["quote"] == "line 4\nline five = '<script>x</script>'"
    assert (row["start_line"], row["end_line"], row["side"]) == (4, 5, "new")
    assert row["author"] == "you" and row["role"] == "human"  # the login link's person
    assert row["commit"] == diff.project_diff(Board.open(web.board_path), "fix").head


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path": "keep.py", "start": 500, "text": "t"}, "start"),
        ({"path": "keep.py", "start": 4, "end": 14, "text": "t"}, "end"),
        ({"path": "../etc/passwd", "start": 1, "text": "t"}, "path"),
        ({"path": "nope.py", "start": 1, "text": "t"}, "path"),
        ({"path": "blob.bin", "start": 1, "text": "t"}, "path"),
        ({"path": "keep.py", "start": 5, "end": 4, "text": "t"}, "end"),
    ],
)
def test_a_comment_outside_the_diff_is_refused_naming_the_field(
    web: Running, project: tuple[str, Path], body: dict[str, object], field: str
) -> None:
    status, answer = _post(web, "/api/projects/fix/diff/comments", body)
    assert status == 400
    assert str(answer["error"]).startswith(f"{field}:")
    assert "\n" not in str(answer["error"])


def test_an_agent_token_cannot_comment_and_a_body_cannot_name_the_author(
    web: Running, project: tuple[str, Path], database_url: str
) -> None:
    body = {"path": "keep.py", "start": 5, "text": "from the agent"}
    with web.client(web.token("agent")) as client:
        refused = client.post("/api/projects/fix/diff/comments", json=body)
        also = client.post("/api/projects/fix/diff/request-changes", json={})
    with web.client(web.token("human")) as client:
        named = client.post("/api/projects/fix/diff/comments", json={**body, "author": "bob"})
    assert refused.status_code == 403 and also.status_code == 403
    assert named.status_code == 422 and named.json()["error"].startswith("author:")
    with db.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) AS n FROM diff_comments").fetchone() == {"n": 0}


def test_request_changes_sends_the_comments_and_a_next_run_resolves_the_changed_one(
    web: Running, project: tuple[str, Path], board_path: Path, tmp_path: Path, database_url: str
) -> None:
    for start, text in ((5, "use a constant"), (21, "leave this one")):
        status, _ = _post(
            web,
            "/api/projects/fix/diff/comments",
            {"path": "keep.py", "side": "new", "start": start, "text": text},
        )
        assert status == 201, _
    status, answer = _post(web, "/api/projects/fix/diff/request-changes", {"notes": "Almost."})
    assert status == 200, answer
    assert answer["lane"] == "up-next"
    with Board.open(board_path) as board:
        feedback = board.get("fix").project.data["feedback"]  # type: ignore[union-attr]
        assert feedback.startswith("Almost.")
        assert (
            "- keep.py:5\n  ```\n  line five = '<script>x</script>'\n  ```\n  use a constant"
            in feedback
        )
        now = dt.datetime.now(dt.UTC)
        job = jobs.Job(3, "fix", "work", "running", "coder", 3, 0, now, 0, 3, 0, 1, None, None,
                       False, None, None, None, "", now, None, None)  # fmt: skip
        text = brief.render_brief(board, "fix", job, [])
        assert "## Requested changes (from the person)\n\nAlmost." in text
        assert "keep.py:5" in text and "line five = '<script>x</script>'" in text

        def second(tree: Path) -> None:  # changes line 5 again, leaves line 21 alone
            keep = (tree / "keep.py").read_text()
            (tree / "keep.py").write_text(keep.replace("line five = '<script>x</script>'", "FIVE"))

        run(board, "fix", project[1], 4, second, tmp_path)
    web.wait_synced()
    with web.client(web.token("human")) as client:
        got = client.get("/api/projects/fix/diff/comments").json()["comments"]
    state = {c["start_line"]: (c["resolved_at"] is not None, c["resolved_by"]) for c in got}
    assert state == {5: (True, "run"), 21: (False, None)}


def test_the_resolution_rule_follows_shifted_lines() -> None:
    before = diff.parse(b"""diff --git a/a.py b/a.py
--- a/a.py
+++ b/a.py
@@ -1,2 +1,3 @@
 one
+two
 three
""")
    after = diff.parse(b"""diff --git a/a.py b/a.py
--- a/a.py
+++ b/a.py
@@ -1,2 +1,4 @@
 one
+zero
+two
 three
""")
    made = linecomments.comment_on(diff.Diff("branch", "b", "x", "c1", before, False),
                                   "a.py", "new", 2, 2, "why")  # fmt: skip
    row = {"path": made.path, "side": made.side, "quote": made.quote}
    assert linecomments.still_open(diff.Diff("branch", "b", "x", "c2", after, False), row)
    gone = diff.parse(b"""diff --git a/a.py b/a.py
--- a/a.py
+++ b/a.py
@@ -1,2 +1,2 @@
 one
-three
+THREE
""")
    assert not linecomments.still_open(diff.Diff("branch", "b", "x", "c3", gone, False), row)


def test_a_second_person_cannot_resolve_or_delete_anothers_comment(
    web: Running, project: tuple[str, Path], database_url: str
) -> None:
    status, made = _post(
        web, "/api/projects/fix/diff/comments", {"path": "keep.py", "start": 5, "text": "mine"}
    )
    assert status == 201
    cid = made["id"]
    with web.client(web.token("human", "bob")) as bob:
        resolved = bob.post(f"/api/projects/fix/diff/comments/{cid}/resolve", json={})
        deleted = bob.delete(f"/api/projects/fix/diff/comments/{cid}")
    assert resolved.status_code == 403 and deleted.status_code == 403
    status, mine = _post(web, f"/api/projects/fix/diff/comments/{cid}/resolve", {})
    assert status == 200 and mine["resolved_by"] == "you"
    with db.connect(database_url) as conn:
        row = conn.execute("SELECT resolved_by FROM diff_comments WHERE id = %s", (cid,)).fetchone()
    assert row == {"resolved_by": "you"}


def test_request_changes_twice_is_refused_the_second_time(
    web: Running, project: tuple[str, Path], board_path: Path
) -> None:
    _post(web, "/api/projects/fix/diff/comments", {"path": "keep.py", "start": 5, "text": "a"})
    first, _ = _post(web, "/api/projects/fix/diff/request-changes", {"notes": "one"})
    second, answer = _post(web, "/api/projects/fix/diff/request-changes", {"notes": "two"})
    assert first == 200 and second == 409, answer
    with Board.open(board_path) as board:
        feedback = board.get("fix").project.data["feedback"]  # type: ignore[union-attr]
    assert feedback.startswith("one") and "keep.py:5" in feedback


def test_a_project_without_a_run_has_an_empty_change_not_an_error(
    web: Running, board_path: Path
) -> None:
    from mc.board import actions

    with Board.open(board_path) as board:
        actions.new_project(board, "Later", "coder", project_id="later")
    web.wait_synced()
    with web.client(web.token("human")) as client:
        got = client.get("/api/projects/later/diff")
        comments = client.get("/api/projects/later/diff/comments")
        unknown = client.get("/api/projects/nope/diff")
    assert got.status_code == 200 and got.json()["source"] == "none"
    assert got.json()["files"] == [] and comments.json() == {"comments": []}
    assert unknown.status_code == 404
    status, answer = _post(
        web, "/api/projects/later/diff/comments", {"path": "a.py", "start": 1, "text": "t"}
    )
    assert status == 400 and str(answer["error"]).startswith("path:")


def test_a_textconv_driver_named_by_the_branch_never_runs(
    web: Running, board_path: Path, tmp_path: Path, database_url: str
) -> None:
    marker = tmp_path / "textconv-ran"
    ws = workspace(tmp_path / "conv", {"a.py": b"one\n"})
    script = tmp_path / "conv.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\necho CONVERTED\n")
    script.chmod(0o755)
    git(ws, "config", "diff.evil.textconv", str(script))

    def attributes(tree: Path) -> None:  # what an agent may commit on its branch
        (tree / ".gitattributes").write_text("*.py diff=evil\n")
        (tree / "a.py").write_text("two\n")

    coder_in_review(board_path, "conv", ws, attributes, tmp_path, database_url)
    web.wait_synced()
    assert not marker.exists()  # nor when the run's patch was made (worktree.collect)
    with web.client(web.token("human")) as client:
        got = client.get("/api/projects/conv/diff").json()
    texts = [ln["text"] for f in got["shown"] for h in f["hunks"] or [] for ln in h["lines"]]
    assert "two" in texts and "CONVERTED" not in texts
    assert not marker.exists()


def test_a_comment_on_the_old_side_quotes_the_removed_line(
    web: Running, project: tuple[str, Path], database_url: str
) -> None:
    status, made = _post(
        web,
        "/api/projects/fix/diff/comments",
        {"path": "keep.py", "side": "old", "start": 5, "text": "keep this"},
    )
    assert status == 201, made
    assert (made["quote"], made["side"]) == ("line 5", "old")
    status, renamed = _post(
        web,
        "/api/projects/fix/diff/comments",
        {"path": "moved.txt", "side": "old", "start": 40, "text": "why move"},
    )
    # moved.txt was renamed unchanged: the diff shows no line of it to comment on
    assert status == 400 and str(renamed["error"]).startswith("start:")


def test_a_50_mb_change_is_cut_at_the_cap_and_the_server_keeps_answering(
    web: Running, board_path: Path, tmp_path: Path
) -> None:
    import time

    from mc.board import actions

    ws = workspace(tmp_path / "huge", {"README": b"x\n"})
    git(ws, "worktree", "add", "-q", "-b", "mc/huge", str(tmp_path / "wt"))
    line = b"%08d " + b"z" * 90 + b"\n"
    with (tmp_path / "wt" / "big.txt").open("wb") as out:  # 50 MB, 500,000 lines
        for n in range(0, 500_000, 1000):
            out.write(b"".join(line % i for i in range(n, n + 1000)))
    (tmp_path / "wt" / "small.txt").write_text("after the big one\n")
    git(tmp_path / "wt", "add", "-A")
    git(tmp_path / "wt", "commit", "-q", "-m", "huge")
    with Board.open(board_path) as board:
        actions.new_project(
            board, "Huge", "coder", project_id="huge", fields={"workspace": str(ws)}
        )
    web.wait_synced()
    started = time.monotonic()
    with web.client(web.token("human")) as client:
        got = client.get("/api/projects/huge/diff", timeout=60).json()
        still = client.get("/api/board")
    took = time.monotonic() - started
    assert got["truncated"] is True and "over 8 MiB" in got["notice"]
    # Every file is listed with git's counts; none is shown past the cut (no half file).
    listed = [(f["path"], f["added"], f["removed"], f["omitted"]) for f in got["files"]]
    assert listed == [("big.txt", 500_000, 0, True), ("small.txt", 1, 0, True)]
    assert all(f["hunks"] is None for f in got["shown"])
    assert still.status_code == 200 and took < 30
