"""Coder work: a git worktree on branch ``mc/<project-id>`` of the project's own repository.

The agent works in a fresh worktree; afterwards whatever it left (committed or not) is
committed on the branch (never signed: the agent's commits are not the person's), and
the branch name, ``git diff --stat`` and the patch against where the branch started
become the artifacts. A run that changed nothing is a failure. The worktree is removed;
the branch stays for the person to review and approve (mc.pipeline.integrate).
A workspace on another machine (a git URL) is worked on in this machine's mirror of it
(mc.pipeline.workspace) and the branch is pushed back there.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import NamedTuple

from mc.board.git import Repo, find_repo
from mc.errors import InvalidInput, McError, NoOutput
from mc.pipeline.workspace import Workspace, open_workspace

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
    base_branch: str | None = None  # the branch it was made from (what approve merges into)
    workspace: Workspace | None = None


class Collected(NamedTuple):
    artifacts: dict[str, bytes]  # branch.txt, diffstat.txt, changes.patch
    head: str  # the branch's head commit: what the review covers and approve integrates
    base_branch: str | None


def open_worktree(workspace: str, project_id: str, into: Path) -> Worktree:
    """A fresh worktree of ``workspace`` on ``mc/<project-id>`` at ``into``."""
    ws = open_workspace(workspace)
    repo = ws.repo
    branch = f"mc/{project_id}"
    head = repo.rev_parse("HEAD")
    if head is None:
        raise InvalidInput(f"workspace {workspace!r} has no commits yet")
    symbolic = repo.symbolic_head()
    base_branch = symbolic.removeprefix("refs/heads/") if symbolic else None
    ws.take_branch(branch)
    existing = repo.rev_parse(f"refs/heads/{branch}")
    base = repo.merge_base(existing, head) if existing else head
    repo.add_worktree(into, branch, start=None if existing else head)
    if existing and not repo.is_ancestor(head, existing):
        base = _catch_up(into, head)
    return Worktree(repo, into, branch, base, (into / ".git").read_bytes(), base_branch, ws)


def _catch_up(path: Path, head: str) -> str:
    """A continued branch whose base moved on: merge the base into it before the agent
    runs (conflicts stay in the files, marked, for the agent to resolve: a rework
    "resolve conflicts with main" means exactly this), so that what it leaves merges
    into the base. The run's change is then shown against the base as it is now."""
    find_repo(path).merge_into_checkout(head, env=IDENTITY)
    return head


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


def collect(tree: Worktree, job_id: int) -> Collected:
    """Commit what the agent left on the branch (and push it back to a remote
    workspace); the branch, diffstat and patch as artifacts, and the branch's head."""
    if tree.pointer:
        _restore_pointer(tree)
    worktree_git = find_repo(tree.path)
    worktree_git.commit_all(f"mc: work of job {job_id}", env=IDENTITY)
    diff = worktree_git.diff(f"{tree.base}..HEAD")
    if not diff.strip():
        raise NoOutput("the agent changed nothing in the workspace (no diff)")
    stat = worktree_git.diff(f"{tree.base}..HEAD", stat=True)
    head = worktree_git.rev_parse("HEAD")
    assert head is not None  # it just committed (or had the branch's commits)
    if tree.workspace is not None:
        tree.workspace.push_branch(tree.branch)
    artifacts = {
        "branch.txt": f"{tree.branch} {head}\n".encode(),
        "diffstat.txt": stat.encode(),
        "changes.patch": diff.encode(),
    }
    return Collected(artifacts, head, tree.base_branch)


def close_worktree(tree: Worktree) -> None:
    with contextlib.suppress(McError):
        tree.repo.remove_worktree(tree.path)
