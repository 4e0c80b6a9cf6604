"""The CLI and the web do a person's actions through the same library calls, so they
behave the same: a comment from the terminal is the page's comment, a cancel from the
terminal stops the running job at once as the page's does, and a task edited from a
stale copy is refused on both."""

from __future__ import annotations

from pathlib import Path

import pytest

from mc.board import actions
from mc.board.board import Board
from mc.errors import StaleVersion
from mc.mirror import comments, db, tasks
from mc.mirror.sync import Syncer
from mc.pipeline import jobs

from .conftest import run_mc


def _env(database_url: str) -> dict[str, str]:
    return {"MC_DATABASE_URL": database_url}


def test_a_comment_from_the_terminal_is_the_pages_comment(
    board: Board, board_path: Path, database_url: str
) -> None:
    actions.new_project(board, "Alpha", "coder", project_id="alpha")
    said = run_mc(
        board_path,
        "project",
        "comment",
        "alpha",
        "Use <b>bold</b>; DROP TABLE x",
        env=_env(database_url),
    )
    assert said.returncode == 0, said.stderr
    with db.connect(database_url) as conn:
        found = comments.listing(conn, "alpha")
        activity = db.fetch_all(
            conn, "activity_recent", {"project": "alpha", "before": None, "limit": 10}
        )
    assert [c["text"] for c in found] == ["Use <b>bold</b>; DROP TABLE x"]  # text, stored as text
    assert found[0]["role"] == "human"
    assert any(a["kind"] == "comment" for a in activity)

    empty = run_mc(board_path, "project", "comment", "alpha", "   ", env=_env(database_url))
    assert empty.returncode == 1 and empty.stderr.strip() == "mc: text: empty"
    unknown = run_mc(board_path, "project", "comment", "nope", "hi", env=_env(database_url))
    assert unknown.returncode == 1 and "nope" in unknown.stderr
    with db.connect(database_url) as conn:
        assert len(comments.listing(conn, "alpha")) == 1  # nothing else was stored


def test_cancel_from_the_terminal_stops_the_running_job_at_once(
    board: Board, board_path: Path, database_url: str
) -> None:
    actions.new_project(board, "Alpha", "coder", project_id="alpha")
    actions.queue(board, "alpha")
    with db.connect(database_url) as conn:
        Syncer(board).sync(conn)
        job = jobs.enqueue(conn, "alpha", "work", "coder")
        assert job is not None
        claimed = jobs.claim(conn, "w1")
        assert claimed is not None and claimed.id == job.id
    actions.dispatch(board, "alpha", str(job.id))

    cancelled = run_mc(board_path, "project", "cancel", "alpha", env=_env(database_url))
    assert cancelled.returncode == 0, cancelled.stderr
    with db.connect(database_url) as conn:
        # No daemon runs here: only the command itself can have told the job. A running
        # job is cancelled through its worker, which reads this on its next heartbeat.
        row = db.fetch_one(conn, "job_get", {"id": job.id})
        assert row is not None and row["cancel_requested"] is True
    board.refresh()
    assert board.get("alpha").lane.value == "backlog"


def test_a_task_edited_from_a_stale_copy_is_refused(database_url: str) -> None:
    with db.connect(database_url) as conn:
        task = tasks.add(conn, "Buy milk")
        seen = tasks.etag(task)
        tasks.update(conn, task.id, title="Buy oat milk", expect=seen)
        with pytest.raises(StaleVersion):
            tasks.update(conn, task.id, title="Buy cow milk", expect=seen)
        with pytest.raises(StaleVersion):  # nor deleted from a stale copy
            tasks.delete(conn, task.id, expect=seen)
        assert tasks.get(conn, task.id).title == "Buy oat milk"
