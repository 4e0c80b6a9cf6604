"""The project page's Integration panel in a real Chromium: what approving would do to
the workspace (merges cleanly / conflicts with the rework button / branch moved), read
from GET /api/projects/{id}/integration on real repositories and worktrees."""

from __future__ import annotations

from pathlib import Path

from mc.board.board import Board
from mc.board.layout import Lane
from mc.mirror import db

from ..conftest import coder_to_review, coder_workspace, git, head, wait_for_file, write
from ..webfixtures import Running, web  # noqa: F401
from .test_web_ui import Opened, page  # noqa: F401

# ruff: noqa: F811  (the fixtures are imported by name)


def test_the_panel_says_it_merges_cleanly_and_approve_merges(
    web: Running, page: Opened, board_path: Path, database_url: str, tmp_path: Path
) -> None:
    ws = coder_workspace(tmp_path)
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        reviewed = coder_to_review(
            board, tmp_path, "clean", str(ws), {"b.py": "b\n"}, conns=(conn,)
        )
    web.wait_synced()
    pg = page.page
    pg.goto(f"{web.origin}/#/project/clean")
    state = pg.locator("[data-role=integration] [data-state]")
    state.wait_for()
    assert state.get_attribute("data-state") == "clean"
    assert state.text_content() == "Merges cleanly into main"
    pg.click("[data-action=approve]")
    # The confirm step names the exact commit the approval binds, and what happens to it.
    said = pg.locator(".approve-confirm [data-role=approve-integration]").text_content() or ""
    assert f"commit {reviewed[:12]} on mc/clean" in said
    assert "merge the reviewed commit into main" in said
    pg.click("[data-action=approve-confirm]")
    wait_for_file(board_path / "done" / "clean.yaml")
    assert head(ws) == reviewed and (ws / "b.py").read_text() == "b\n"
    assert page.problems == []


def test_the_panel_shows_conflicts_and_its_button_sends_the_work_back(
    web: Running, page: Opened, board_path: Path, database_url: str, tmp_path: Path
) -> None:
    ws = coder_workspace(tmp_path)
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        coder_to_review(board, tmp_path, "clash", str(ws), {"a.py": "agent\n"}, conns=(conn,))
    write(ws / "a.py", "person\n")
    git(ws, "commit", "-q", "--no-gpg-sign", "-am", "the person's change")
    main = head(ws)
    web.wait_synced()
    pg = page.page
    pg.goto(f"{web.origin}/#/project/clash")
    state = pg.locator("[data-role=integration] [data-state]")
    state.wait_for()
    assert state.get_attribute("data-state") == "conflicts"
    assert state.text_content() == "Conflicts in a.py"
    # Approving anyway is refused with the reason; nothing changes.
    pg.click("[data-action=approve]")
    pg.click("[data-action=approve-confirm]")
    error = pg.locator(".action-error")
    error.wait_for()
    assert "conflicts with main in a.py" in (error.text_content() or "")
    assert head(ws) == main and (board_path / "review" / "clash.yaml").exists()
    button = pg.locator("[data-action=rework-conflicts]")
    assert button.text_content() == "Rework: resolve conflicts with main"
    button.click()
    wait_for_file(board_path / "up-next" / "clash.yaml")
    with Board.open(board_path) as board:
        entry = board.get("clash")
    assert entry.lane is Lane.UP_NEXT
    assert "- a.py" in entry.project.get("feedback")  # type: ignore[union-attr]
    assert page.problems == []


def test_the_panel_says_when_the_branch_moved(
    web: Running, page: Opened, board_path: Path, database_url: str, tmp_path: Path
) -> None:
    ws = coder_workspace(tmp_path)
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        coder_to_review(board, tmp_path, "moved", str(ws), {"b.py": "b\n"}, conns=(conn,))
    other = tmp_path / "other"
    git(ws, "worktree", "add", "-q", str(other), "mc/moved")
    git(other, "commit", "-q", "--no-gpg-sign", "--allow-empty", "-m", "after review")
    web.wait_synced()
    pg = page.page
    pg.goto(f"{web.origin}/#/project/moved")
    state = pg.locator("[data-role=integration] [data-state]")
    state.wait_for()
    assert state.text_content() == "Branch moved since review — approve refused"
    assert page.problems == []


def test_the_api_answers_the_integration_and_a_refused_approve_says_why(
    web: Running, board_path: Path, database_url: str, tmp_path: Path
) -> None:
    ws = coder_workspace(tmp_path)
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        reviewed = coder_to_review(board, tmp_path, "api", str(ws), {"a.py": "x\n"}, conns=(conn,))
    write(ws / "a.py", "y\n")
    git(ws, "commit", "-q", "--no-gpg-sign", "-am", "the person's change")
    main = head(ws)
    web.wait_synced()
    c, csrf = web.session()
    found = c.get("/api/projects/api/integration").json()
    assert found == {
        "mode": "merge", "base": "main", "head": reviewed, "reviewed_head": reviewed,
        "clean": False, "conflicts": ["a.py"], "reason": "conflicts with main in a.py",
        "command": "mc project rework api --conflicts",
    }  # fmt: skip
    origin = str(c.base_url).rstrip("/")
    headers = {"x-csrf-token": csrf, "origin": origin}
    refused = c.post("/api/projects/api/approve", json={}, headers=headers)
    assert refused.status_code == 409
    body = refused.json()
    assert body["conflicts"] == ["a.py"]
    assert body["command"] == "mc project rework api --conflicts"
    assert head(ws) == main and (board_path / "review" / "api.yaml").exists()
    sent = c.post("/api/projects/api/rework", json={"conflicts": True}, headers=headers)
    assert sent.status_code == 200, sent.text
    assert sent.json()["lane"] == "up-next"
    assert c.get("/api/projects/nope/integration").status_code == 404
    c.close()
