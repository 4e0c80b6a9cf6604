"""The Changes panel of a coder project's page in a real Chromium, against the real
server, daemon, database, board and a workspace repository whose branch a run made
with the pipeline's own worktree code (the API's side is in test_diff_api.py)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from mc.board.board import Board
from mc.mirror import db
from mc.pipeline import brief, jobs

from ..webfixtures import Running, web  # noqa: F401
from .diffsetup import coder_in_review, workspace
from .test_diff_api import HOSTILE, START, first_edit
from .test_web_ui import Opened, page  # noqa: F401

# ruff: noqa: F811  (the web and page fixtures are imported by name)


@pytest.fixture
def fix(web: Running, board_path: Path, tmp_path: Path, database_url: str) -> Path:
    ws = workspace(tmp_path / "code", START)
    coder_in_review(board_path, "fix", ws, first_edit, tmp_path, database_url)
    web.wait_synced()
    return ws


def _open(page: Opened, web: Running, pid: str) -> None:
    page.page.goto(f"{web.origin}/#/project/{pid}")
    expect(page.page.locator(".diff-viewer .diff-file-list li").first).to_be_visible(timeout=15000)


def _file(page: Opened, path: str) -> object:
    return page.page.locator(".diff-filebox").filter(
        has=page.page.locator(".diff-file-name", has_text=path)
    )


def test_the_viewer_shows_each_file_with_its_counts_and_hostile_text_as_text(
    web: Running, page: Opened, fix: Path
) -> None:
    _open(page, web, "fix")
    pg = page.page
    rows = pg.locator(".diff-file-list li")
    expect(rows).to_have_count(5)
    listed = {
        li.get_attribute("data-path"): (li.get_attribute("data-status"), li.inner_text())
        for li in rows.all()
    }
    assert listed["keep.py"][0] == "modified" and "+2" in listed["keep.py"][1]
    assert "−1" in listed["keep.py"][1]
    assert (
        listed["renamed.txt"][0] == "renamed"
        and "moved.txt → renamed.txt" in listed["renamed.txt"][1]
    )
    assert listed["gone.txt"][0] == "removed" and "−1" in listed["gone.txt"][1]
    assert "binary" in listed["blob.bin"][1]
    assert listed[HOSTILE][0] == "added"
    expect(pg.locator(".diff-binary-note")).to_have_text("Binary file: content not shown.")
    # Hostile names and code are text: shown as written, no element made from them.
    expect(pg.locator(".diff-file-name", has_text=HOSTILE)).to_have_count(1)
    expect(pg.locator(".diff-table .code", has_text="<script>x</script>")).to_have_count(1)
    expect(pg.locator(".diff-table .code", has_text="print('<b>bold</b>')")).to_have_count(1)
    assert pg.locator(".diff-viewer img, .diff-viewer script, .diff-viewer b").count() == 0
    assert page.problems == []


def test_unified_and_side_by_side_and_the_choice_is_remembered(
    web: Running, page: Opened, fix: Path
) -> None:
    _open(page, web, "fix")
    pg = page.page
    keep = pg.locator(".diff-filebox[data-path='keep.py']")
    expect(keep.locator("table.diff-unified")).to_have_count(1)
    expect(keep.locator("tr.diff-row").first.locator("td")).to_have_count(3)
    pg.click(".diff-modes [data-mode='split']")
    expect(keep.locator("table.diff-split")).to_have_count(1)
    paired = keep.locator("tr.diff-row", has=pg.locator(".code-old.diff-del"))
    expect(paired.locator(".code-old")).to_contain_text("line 5")
    expect(paired.locator(".code-new")).to_contain_text("line five")
    pg.reload()
    expect(pg.locator(".diff-filebox[data-path='keep.py'] table.diff-split")).to_have_count(1)
    assert page.problems == []


def test_a_large_change_is_paged_and_a_long_file_opens_on_demand(
    web: Running, page: Opened, board_path: Path, tmp_path: Path, database_url: str
) -> None:
    ws = workspace(tmp_path / "big", {"README": b"x\n"})

    def many(tree: Path) -> None:
        for n in range(12):  # 12 files of 300 lines: 2 pages of 3,000 lines
            (tree / f"f{n:02}.txt").write_text("".join(f"{n}-{i}\n" for i in range(300)))
        (tree / "huge.txt").write_text("".join(f"h{i}\n" for i in range(1000)))

    coder_in_review(board_path, "big", ws, many, tmp_path, database_url)
    web.wait_synced()
    _open(page, web, "big")
    pg = page.page
    expect(pg.locator(".diff-page")).to_have_text("Page 1 of 2")
    expect(pg.locator(".diff-file-list li")).to_have_count(13)
    first = set(pg.locator(".diff-filebox").evaluate_all("els => els.map(e => e.dataset.path)"))
    pg.click(".diff-pager [data-go='next']")
    expect(pg.locator(".diff-page")).to_have_text("Page 2 of 2")
    second = set(pg.locator(".diff-filebox").evaluate_all("els => els.map(e => e.dataset.path)"))
    assert first and second and first.isdisjoint(second)
    huge = pg.locator(".diff-filebox[data-path='huge.txt']")
    expect(huge.locator("tr.diff-row")).to_have_count(0)
    huge.locator(".diff-show-file").click()
    expect(huge.locator("tr.diff-row")).to_have_count(1000)
    assert page.problems == []


def test_the_committed_patch_is_shown_when_the_workspace_is_gone(
    web: Running, page: Opened, fix: Path
) -> None:
    shutil.rmtree(fix)
    _open(page, web, "fix")
    expect(page.page.get_by_text("this is the patch the last run committed")).to_be_visible()
    expect(page.page.locator(".diff-file-list li")).to_have_count(5)


def test_a_line_comment_made_in_the_page_goes_back_with_request_changes(
    web: Running, page: Opened, fix: Path, board_path: Path, database_url: str
) -> None:
    _open(page, web, "fix")
    pg = page.page
    keep = pg.locator(".diff-filebox[data-path='keep.py']")
    keep.locator(".ln-btn[data-side='new'][data-line='4']").click()
    keep.locator(".ln-btn[data-side='new'][data-line='5']").click(modifiers=["Shift"])
    expect(keep.locator(".ln-selected")).to_have_count(2)
    form = pg.locator(".diff-comment-form")
    expect(form).to_contain_text("keep.py:4-5")
    form.locator("textarea").fill("use a <i>constant</i>")
    form.locator("button[type=submit]").click()
    expect(keep.locator(".diff-comment")).to_have_count(1)
    expect(keep.locator(".diff-comment .diff-comment-text")).to_have_text("use a <i>constant</i>")
    with db.connect(database_url) as conn:
        row = conn.execute("SELECT * FROM diff_comments").fetchone()
    assert row is not None and (row["start_line"], row["end_line"]) == (4, 5)
    assert row["quote"] == "line 4\nline five = '<script>x</script>'"
    pg.fill(".diff-request-changes textarea", "Almost there.")
    pg.click("[data-action='request-changes']")
    expect(pg.locator(".detail-header")).to_contain_text("Up next", ignore_case=True)
    with Board.open(board_path) as board:
        entry = board.get("fix")
        assert entry.lane.value == "up-next"
        now = dt.datetime.now(dt.UTC)
        job = jobs.Job(3, "fix", "work", "running", "coder", 3, 0, now, 0, 3, 0, 1, None, None,
                       False, None, None, None, "", now, None, None)  # fmt: skip
        text = brief.render_brief(board, "fix", job, [])
    assert "## Requested changes (from the person)\n\nAlmost there." in text
    assert "- keep.py:4-5\n  ```\n  line 4\n  line five = '<script>x</script>'\n  ```" in text
    assert "use a <i>constant</i>" in text
    assert pg.locator(".diff-viewer i").count() == 0
    assert page.problems == []


def test_a_coder_project_without_a_run_says_there_is_no_change_yet(
    web: Running, page: Opened, board_path: Path
) -> None:
    from mc.board import actions

    with Board.open(board_path) as board:
        actions.new_project(board, "Later", "coder", project_id="later")
    web.wait_synced()
    page.page.goto(f"{web.origin}/#/project/later")
    expect(page.page.locator(".diff-none")).to_contain_text("No change yet")
    assert page.problems == []


def test_comments_stay_on_the_page_resolved_after_a_run_changed_their_lines(
    web: Running, page: Opened, fix: Path, board_path: Path, database_url: str, tmp_path: Path
) -> None:
    from mc.board import actions
    from mc.mirror import diffcomments
    from mc.pipeline import linecomments
    from mc.pipeline.diff import project_diff

    from .diffsetup import run

    with Board.open(board_path) as board, db.connect(database_url) as conn:
        now = project_diff(board, "fix")
        for line, text in ((5, "changed later"), (21, "left alone")):
            made = linecomments.comment_on(now, "keep.py", "new", line, line, text)
            diffcomments.add(conn, "fix", "you", "human", made)
        actions.rework(board, "fix", "again")

        def second(tree: Path) -> None:
            keep = (tree / "keep.py").read_text()
            (tree / "keep.py").write_text(keep.replace("line five = '<script>x</script>'", "FIVE"))

        run(board, "fix", fix, 4, second, tmp_path)
    web.wait_synced()
    _open(page, web, "fix")
    pg = page.page
    listed = pg.locator(".diff-comment-list .diff-comment")
    expect(listed).to_have_count(2)
    expect(pg.locator(".diff-comment-list h3")).to_have_text("Line comments: 1 open, 1 resolved")
    resolved = pg.locator(".diff-comment-list .diff-comment.resolved")
    expect(resolved).to_contain_text("changed later")
    expect(resolved).to_contain_text("resolved by a later run")
    # The open one is also at its line in the file, and its author can resolve it there.
    keep = pg.locator(".diff-filebox[data-path='keep.py']")
    at_line = keep.locator(".diff-comment", has_text="left alone")
    expect(at_line).to_have_count(1)
    at_line.get_by_role("button", name="Resolve").click()
    expect(pg.locator(".diff-comment-list h3")).to_have_text("Line comments: 0 open, 2 resolved")
    with db.connect(database_url) as conn:
        rows = conn.execute("SELECT text, resolved_by FROM diff_comments ORDER BY id").fetchall()
    assert rows == [
        {"text": "changed later", "resolved_by": "run"},
        {"text": "left alone", "resolved_by": "you"},
    ]
    assert page.problems == []
