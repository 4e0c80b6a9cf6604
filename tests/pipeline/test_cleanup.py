"""Sweeping job worktrees, job folders and merged branches (mc.pipeline.cleanup):
real workspaces, real worktrees left as a killed worker leaves them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mc.board import actions
from mc.board.board import Board
from mc.pipeline import integrate
from mc.pipeline.cleanup import sweep
from mc.pipeline.sandbox import jobs_root
from mc.pipeline.worktree import open_worktree
from tests.conftest import coder_to_review, coder_workspace, git, head, run_mc, write

DAY = 86400


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def _left_behind(board: Board, ws: Path, pid: str, job: int) -> Path:
    """A worktree of ``ws`` on mc/<pid> in job ``job``'s folder, as a killed worker
    leaves it (with a commit on the branch and an edit not committed)."""
    actions.new_project(board, pid, "coder", project_id=pid, fields={"workspace": str(ws)})
    folder = jobs_root(board.root) / f"job-{job}-1"
    folder.mkdir(parents=True)
    tree = open_worktree(str(ws), pid, folder / "ws")
    write(tree.path / "work.py", "done = True\n")
    git(tree.path, "add", "-A")
    git(tree.path, "commit", "-q", "--no-gpg-sign", "-m", "half the work")
    write(tree.path / "more.py", "not committed\n")
    return folder


def test_the_sweep_removes_finished_jobs_worktrees_and_keeps_running_ones(
    board: Board, tmp_path: Path
) -> None:
    ws = coder_workspace(tmp_path)
    dead = _left_behind(board, ws, "killed", 7)
    live = _left_behind(board, ws, "running", 8)
    detached = jobs_root(board.root) / "job-9-1"
    git(ws, "worktree", "add", "-q", "--detach", str(detached / "ws"))
    git(detached / "ws", "commit", "-q", "--no-gpg-sign", "--allow-empty", "-m", "on no branch")
    young = jobs_root(board.root) / "job-10-1"
    young.mkdir()
    for folder in (dead, live, detached, dead.parent / "job-11-1"):
        folder.mkdir(exist_ok=True)
        _age(folder, 2 * DAY)
    killed_head = git(ws, "rev-parse", "mc/killed").stdout.strip()
    swept = sweep(board, running={8})
    assert swept.worktrees == [str(dead / "ws")]
    assert sorted(Path(p).name for p in swept.folders) == ["job-11-1", "job-7-1"]
    assert not dead.exists() and young.exists()
    # The running job's worktree and the detached one (a commit on no branch) stay.
    assert (live / "ws" / "work.py").exists() and (detached / "ws").exists()
    assert any("detached" in why for why in swept.kept)
    # The killed run's commits are on its branch, which is not merged: it stays.
    assert git(ws, "rev-parse", "mc/killed").stdout.strip() == killed_head
    listed = git(ws, "worktree", "list", "--porcelain").stdout
    assert str(dead / "ws") not in listed and str(live / "ws") in listed


def test_the_sweep_deletes_merged_branches_of_done_projects_only(
    board: Board, board_path: Path, tmp_path: Path, database_url: str
) -> None:
    ws = coder_workspace(tmp_path)
    coder_to_review(board, tmp_path, "kept", str(ws), {"k.py": "k\n"}, "none")
    integrate.approve(board, "kept")  # approved, never merged: its branch is work to keep
    kept = git(ws, "rev-parse", "mc/kept").stdout.strip()
    merged = coder_to_review(board, tmp_path, "merged", str(ws), {"m.py": "m\n"}, "none")
    integrate.approve(board, "merged")
    git(ws, "merge", "-q", "--ff-only", "mc/merged")  # the person merged it by hand
    assert head(ws) == merged
    done = run_mc(board_path, "cleanup", env={"MC_DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr
    assert "deleted merged branch mc/merged" in done.stdout
    assert git(ws, "branch", "--list", "mc/merged").stdout == ""
    assert git(ws, "rev-parse", "mc/kept").stdout.strip() == kept
