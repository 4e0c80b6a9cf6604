"""Sweeping what coder runs leave behind: job worktrees and folders, merged branches.

Each run gets a folder (and, for coder work, a worktree of the project's workspace) in
the state folder; a finished run's worktree is removed at once, but a killed worker
leaves its worktree and folder, and a failed run's folder stays for a look. Left
alone they pile up (tools of this kind have been found holding tens of GB of them), so
``sweep`` removes, for jobs that are not running: their worktrees (never one whose
HEAD is detached on commits no branch holds), their folders older than ``older_than``,
git's records of worktrees gone missing (``worktree prune``), and the branch of each
done project that is merged into its base (compare-and-swap: never if it moved).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from mc.board.board import Board
from mc.board.layout import Lane
from mc.errors import McError
from mc.pipeline.integrate import is_merged
from mc.pipeline.sandbox import jobs_root
from mc.pipeline.workspace import Workspace, is_remote, mirror_path, open_workspace, url_of

_JOB_FOLDER = re.compile(r"^job-(\d+)-\d+$")
# A job folder younger than this is left alone even when its job is not in ``running``:
# a job claimed after the caller read which jobs run may be setting it up right now.
GRACE_SECONDS = 600


class Swept(NamedTuple):
    worktrees: list[str]  # job worktrees removed
    folders: list[str]  # job folders removed
    branches: list[str]  # merged mc/<id> branches deleted
    kept: list[str]  # what was left, and why


def _workspaces(board: Board) -> Iterable[tuple[Workspace, list[tuple[str, str, str]]]]:
    """Each workspace the board's projects name, as this machine has it (a remote only
    when its mirror is here; nothing is fetched), with its done projects' (id, head, base)."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    for entry in board.projects():
        project = entry.project
        spec = project.get("workspace") if project is not None else None
        if not spec:
            continue
        done = found.setdefault(str(spec), [])
        run = project.run if project is not None else None
        if entry.lane is Lane.DONE and run is not None and run.head and run.base:
            done.append((entry.id, run.head, run.base))
    for spec, done in found.items():
        try:
            if is_remote(spec) and not (mirror_path(url_of(spec)) / "HEAD").is_file():
                continue  # never worked on here
            ws = open_workspace(spec, fetch=False)
        except McError:
            continue  # a folder gone, a URL refused: nothing of ours to sweep there
        yield ws, done


def sweep(
    board: Board, running: set[int], *, older_than: float = 86400, now: float | None = None
) -> Swept:
    """Remove what finished jobs left (see the module's docstring); ``running``: the ids
    of jobs that are running now (their worktrees and folders are never touched)."""
    out = Swept([], [], [], [])
    root = jobs_root(board.root)
    now = now or time.time()
    # Ages as found: removing a worktree touches its folder.
    ages = {folder.name: _age(folder, now) for folder in root.glob("job-*")}
    for ws, done in _workspaces(board):
        _sweep_worktrees(ws, root, running, ages, out)
        with contextlib.suppress(McError):
            ws.repo.prune_worktrees()
        for pid, head, base in done:
            branch = f"mc/{pid}"
            if ws.repo.rev_parse(f"refs/heads/{branch}") != head:
                continue  # gone already, or moved since the approval: not ours to delete
            if is_merged(ws.repo, head, f"refs/heads/{base}") and ws.repo.delete_ref(
                f"refs/heads/{branch}", head
            ):
                out.branches.append(branch)
    _sweep_folders(root, running, max(older_than, GRACE_SECONDS), ages, out)
    return out


def _job_of(path: Path, root: Path) -> int | None:
    """The job id of a path inside a job folder under ``root`` (None: not in one)."""
    try:
        first = path.resolve().relative_to(root.resolve()).parts[0]
    except (ValueError, IndexError):
        return None
    match = _JOB_FOLDER.match(first)
    return int(match[1]) if match else None


def _age(path: Path, now: float) -> float:
    try:
        return now - path.lstat().st_mtime
    except OSError:
        return 0.0


def _sweep_worktrees(
    ws: Workspace, root: Path, running: set[int], ages: dict[str, float], out: Swept
) -> None:
    for path, ref in ws.repo.worktrees():
        job = _job_of(Path(path), root)
        if job is None or job in running:
            continue
        if ages.get(Path(path).parent.name, 0.0) < GRACE_SECONDS:
            continue
        if ref is None:  # detached: its commits may be on no branch
            out.kept.append(f"{path}: HEAD is detached (commits may be on no branch)")
            continue
        try:
            ws.repo.remove_worktree(Path(path))
            out.worktrees.append(path)
        except McError as exc:
            out.kept.append(f"{path}: {exc}")


def _sweep_folders(
    root: Path, running: set[int], older_than: float, ages: dict[str, float], out: Swept
) -> None:
    for folder in sorted(root.glob("job-*")):
        match = _JOB_FOLDER.match(folder.name)
        if match is None or int(match[1]) in running:
            continue
        if (folder / "ws" / ".git").exists():
            out.kept.append(f"{folder}: still holds a worktree git knows of")
            continue
        if ages.get(folder.name, 0) < older_than:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        out.folders.append(str(folder))
