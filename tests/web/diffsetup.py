"""Coder projects with a real change, for the diff viewer's tests and benchmark: a real
workspace repository, a run's worktree on ``mc/<id>`` opened and collected by the
pipeline's own code (mc.pipeline.worktree), and the board's service commits around it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from mc.board import actions
from mc.board.board import Board
from mc.pipeline.worktree import close_worktree, collect, open_worktree

Edit = Callable[[Path], None]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def workspace(at: Path, files: dict[str, bytes]) -> Path:
    """A git repository with ``files`` committed on main."""
    _git(at.parent, "init", "-q", "-b", "main", str(at))
    for name, data in files.items():
        (at / name).parent.mkdir(parents=True, exist_ok=True)
        (at / name).write_bytes(data)
    _git(at, "add", "-A")
    _git(at, "commit", "-q", "-m", "start")
    return at


def run(board: Board, pid: str, ws: Path, job: int, edit: Edit, scratch: Path) -> None:
    """One work run the way the worker makes it: up-next → in-progress, a worktree of the
    workspace on mc/<pid> that ``edit`` changes, collected into artifacts, → review."""
    actions.dispatch(board, pid, str(job))
    tree = open_worktree(str(ws), pid, scratch / f"wt-{job}")
    try:
        edit(tree.path)
        made = collect(tree, job)
    finally:
        close_worktree(tree)
    change = {"head": made.head, **({"base": made.base_branch} if made.base_branch else {})}
    actions.complete(board, pid, str(job), made.artifacts, change=change)


def coder_in_review(
    board_path: Path, pid: str, ws: Path, edit: Edit, scratch: Path, database_url: str
) -> None:
    """A coder project on ``ws`` whose first run made ``edit``, in review (passed, with
    the review job the mirror wants behind the verdict)."""
    from mc.mirror import db

    from ..conftest import back_review_job

    with db.connect(database_url) as conn:
        back_review_job(conn, pid, 2)
    with Board.open(board_path) as board:
        actions.new_project(board, pid, "coder", project_id=pid, fields={"workspace": str(ws)})
        actions.queue(board, pid)
        run(board, pid, ws, 1, edit, scratch)
        actions.record_review(board, pid, "2", "pass", "checked", rework=False)
