"""The git hooks' entry points. Kept light: they run on every commit and push."""

from __future__ import annotations

import os
import sys

from mc.board.git import ZERO, Repo, find_repo
from mc.errors import McError


def _say(lines: list[str]) -> None:
    sys.stderr.write("\n".join(lines) + "\n")


def _hook_repo() -> Repo:
    """The repository a client hook runs in: git starts hooks at the top of the work tree."""
    top = os.getcwd()
    git_dir = os.path.join(top, ".git")
    if "GIT_DIR" not in os.environ and os.path.isdir(git_dir):
        return Repo(git_dir, top)  # the usual case, without starting git to ask
    return find_repo(top)


def pre_commit() -> int:
    from mc.board.staged import check_staged

    try:
        repo = _hook_repo()
        pending = os.path.join(repo.git_dir, "mc", "pending-checkout")
        if os.path.exists(pending) and not _finish_pending(repo, pending):
            _say(
                [
                    "mc: the board branch moved but your checkout was not updated yet, and "
                    "this commit cannot take the update (a partial commit, or your edits "
                    "overlap it); run `mc checkout`, then commit again"
                ]
            )
            return 1
        violations = check_staged(repo)
    except McError as exc:
        _say([f"mc: pre-commit: {exc}"])
        return 1
    if not violations:
        return 0
    _say(["mc: this commit is refused by the board's rules:"] + [f"  {v}" for v in violations])
    return 1


def _finish_pending(repo: Repo, pending: str) -> bool:
    """Take the pipeline's moves into this commit (issue 12.15).

    git gives the hook the index it will commit (GIT_INDEX_FILE: .git/index, or the
    held .git/index.lock for `commit -a`) and reads it again afterwards; moving it and
    the files from the checkout's commit to the branch tip there is what mc would have
    done, and the commit then builds on the tip with the person's own changes on top.
    A partial commit's index is a temporary one: the update cannot be taken there.
    """
    from mc.board.store import apply_pending

    index = os.environ.get("GIT_INDEX_FILE", "")
    if os.path.basename(index) not in ("index", "index.lock"):
        return False
    try:
        with open(pending, encoding="ascii") as fh:
            old, new = fh.read().split()
    except (OSError, ValueError):
        return True  # finished meanwhile
    return apply_pending(repo, old, new)


def commit_msg(path: str) -> int:
    from mc.board.audit import trailers

    with open(path, encoding="utf-8", errors="replace") as fh:
        message = fh.read()
    found = trailers("\n".join(line for line in message.splitlines() if not line.startswith("#")))
    actor = found.get("Mc-Actor")
    if actor is not None and actor != "human":
        _say([f"mc: a person's commit cannot claim Mc-Actor: {actor}; remove that trailer"])
        return 1
    if found.get("Mc-Action") == "approve":
        _say(["mc: approvals are made with mc approve ID, not by hand"])
        return 1
    return 0


def pre_receive(stdin: str, repo: Repo | None = None) -> int:
    from mc.board.audit import Auditor
    from mc.board.board import Board

    repo = repo or find_repo(os.getcwd())
    board = Board(repo)
    auditor = Auditor(repo, board.cat)
    auditor.guard_size = True
    refused: list[str] = []
    try:
        # The protected branch is the server's own setting (mc hooks install --server),
        # never what a pushed mc.yaml says.
        branch = repo.config_get("mc.boardbranch")
        board_ref = f"refs/heads/{branch}" if branch else board.config.ref
        for line in stdin.splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue
            old, new, ref = parts
            if ref == board_ref:
                refused += _check_board_update(repo, auditor, old, new, ref)
            elif not ref.startswith("refs/heads/"):
                # A tag (or any other ref) is never checked commit by commit, and would then
                # hide its commits from the check of a branch (issue 12.4): branches only.
                if new != ZERO:
                    refused.append(f"{ref}: only branches may be pushed to a board's repository")
            elif new != ZERO:
                # Excluded: what existing *branches* already hold (checked when they were
                # pushed) — not what a tag or other ref holds.
                commits = repo.commits(new, exclude_branches=True)
                found = auditor.check_commits(commits, allow_merges=True)
                refused += [f"{ref}: {v}" for v in found]
    except McError as exc:
        refused.append(str(exc))
    finally:
        board.close()
    if refused:
        _say(["mc: push refused by the board's rules:"] + [f"  {r}" for r in refused])
        return 1
    return 0


def _check_board_update(repo: Repo, auditor: object, old: str, new: str, ref: str) -> list[str]:
    from mc.board.audit import Auditor

    assert isinstance(auditor, Auditor)
    if new == ZERO:
        return [f"{ref}: the board branch cannot be deleted"]
    if old != ZERO and not auditor.is_ancestor(old, new):
        return [f"{ref}: force pushes to the board branch are refused (its history is linear)"]
    root = repo.config_get("mc.boardroot")
    if root and not auditor.is_ancestor(root, new):
        return [f"{ref}: this history does not start at the board's first commit {root[:12]}"]
    if not root:
        roots = repo.roots(new)
        if roots:
            repo.set_config("mc.boardRoot", roots[-1])  # the board's trust anchor from now on
    span = new if old == ZERO else f"{old}..{new}"
    commits = repo.commits(span)  # merges refused there, as verify and the mirror do
    return [f"{ref}: {v}" for v in auditor.check_commits(commits)]
