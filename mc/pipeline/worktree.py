"""Coder work: a git worktree on branch ``mc/<project-id>`` of the project's own repository.

The agent works in a fresh worktree; afterwards whatever it left (committed or not) is
committed on the branch (never signed: the agent's commits are not the person's), and
the branch name, ``git diff --stat`` and the patch against where the branch started
become the artifacts. A run that changed nothing is a failure. The worktree is removed;
the branch stays for the person to review, merge or throw away.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import NamedTuple

from mc.board.git import Repo, find_repo
from mc.errors import InvalidInput, McError, NoOutput

IDENTITY = {
    "GIT_AUTHOR_NAME": "Mission Control (executor)",
    "GIT_AUTHOR_EMAIL": "mc-service@mission-control.invalid",
    "GIT_COMMITTER_NAME": "Mission Control (executor)",
    "GIT_COMMITTER_EMAIL": "mc-service@mission-control.invalid",
}


class Worktree(NamedTuple):
    repo: Repo
    path: Path
    branch: str
    base: str  # the commit the branch started from (or continued from)
    pointer: bytes = b""  # the worktree's .git file as git wrote it


def open_worktree(workspace: str, project_id: str, into: Path) -> Worktree:
    """A fresh worktree of ``workspace`` on ``mc/<project-id>`` at ``into``."""
    source = Path(workspace).expanduser()
    if not source.is_dir():
        raise InvalidInput(f"workspace {workspace!r}: no such folder")
    repo = find_repo(source)
    if repo.work_tree is None:
        raise InvalidInput(f"workspace {workspace!r} is a bare repository")
    branch = f"mc/{project_id}"
    head = repo.rev_parse("HEAD")
    if head is None:
        raise InvalidInput(f"workspace {workspace!r} has no commits yet")
    existing = repo.rev_parse(f"refs/heads/{branch}")
    base = repo.merge_base(existing, head) if existing else head
    repo.add_worktree(into, branch, start=None if existing else head)
    return Worktree(repo, into, branch, base, (into / ".git").read_bytes())


def _restore_pointer(tree: Worktree) -> None:
    """Put back the worktree's .git file before mc runs git there: the agent owned the
    folder, and a .git it rewrote (pointing at the board, or a folder with a config that
    runs commands) must never steer the commit mc makes with the person's rights."""
    dot_git = tree.path / ".git"
    if dot_git.is_symlink() or dot_git.is_file():
        dot_git.unlink()
    elif dot_git.is_dir():
        import shutil

        shutil.rmtree(dot_git)
    dot_git.write_bytes(tree.pointer)


def collect(tree: Worktree, job_id: int) -> dict[str, bytes]:
    """Commit what the agent left on the branch; the branch, diffstat and patch as artifacts."""
    if tree.pointer:
        _restore_pointer(tree)
    worktree_git = find_repo(tree.path)
    worktree_git.commit_all(f"mc: work of job {job_id}", env=IDENTITY)
    diff = worktree_git.diff(f"{tree.base}..HEAD")
    if not diff.strip():
        raise NoOutput("the agent changed nothing in the workspace (no diff)")
    stat = worktree_git.diff(f"{tree.base}..HEAD", stat=True)
    head = worktree_git.rev_parse("HEAD")
    return {
        "branch.txt": f"{tree.branch} {head}\n".encode(),
        "diffstat.txt": stat.encode(),
        "changes.patch": diff.encode(),
    }


def close_worktree(tree: Worktree) -> None:
    with contextlib.suppress(McError):
        tree.repo.remove_worktree(tree.path)
