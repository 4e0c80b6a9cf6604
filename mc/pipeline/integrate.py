"""Approving coder work carries exactly the reviewed commit into the workspace.

The run block names the branch head the review covered (``run.head``) and the branch
the worktree was made from (``run.base``). ``check`` says, without touching anything,
whether that head still is the branch's and whether it merges cleanly into the base as
the base is now (``git merge-tree --write-tree``: objects only). ``approve`` integrates
first — ``merge`` (fast-forward, else a merge commit), ``squash``, ``pr`` (push the
branch, open a pull request) or ``none`` — then records the signed approval; when the
approval cannot be recorded, the base goes back (compare-and-swap), so the board and
the repository never disagree about what was approved.

The person's checkout is never disturbed: a base branch nobody has checked out moves
by ``update-ref <ref> <new> <old>``; one checked out in a clean work tree moves with a
``merge --ff-only`` there (files, index and ref together; the new commit is always a
descendant of the old base); a dirty one is refused with the reason, nothing changed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import subprocess
from collections.abc import Callable
from typing import NamedTuple

from mc.board import actions
from mc.board.board import Board
from mc.board.config import Config
from mc.board.git import Repo, find_repo
from mc.board.projectfile import Project
from mc.board.store import Committed
from mc.errors import (
    BaseMoved,
    BranchMoved,
    CheckoutDirty,
    InvalidInput,
    McError,
    MergeConflict,
    PushFailed,
)
from mc.pipeline.workspace import Workspace, check_url, open_workspace

log = logging.getLogger("mc.pipeline")


class Integration(NamedTuple):
    """What approving the project would do to its workspace, as things are now."""

    mode: str  # merge | squash | pr | none
    base: str | None  # the branch it goes into
    head: str | None  # the branch's head now
    reviewed_head: str | None  # the head the review covered
    clean: bool | None  # merges without conflicts (None: not asked, e.g. none or no base)
    conflicts: tuple[str, ...] = ()
    reason: str = ""  # in words, for the person
    command: str | None = None  # the one command that fixes what stands in the way


class Approval(NamedTuple):
    committed: Committed
    integration: Integration
    said: str  # what happened in the workspace, one line ("" when nothing)


def mode_of(config: Config, project: Project) -> str:
    """The project's own integrate:, else its archetype's; none without a workspace."""
    if not project.get("workspace"):
        return "none"
    own = project.get("integrate")
    if own:
        return str(own)
    return config.archetype(project.archetype).integrate


def project_of(board: Board, project_id: str) -> Project:
    entry = board.get(project_id)
    if entry.project is None:
        raise InvalidInput(f"{project_id}: {entry.error}")
    return entry.project


def check(board: Board, project_id: str) -> Integration:
    """Whether approving ``project_id`` now would integrate cleanly (nothing changed)."""
    return check_project(board.config, project_of(board, project_id), project_id)


def check_project(config: Config, project: Project, project_id: str) -> Integration:
    """As ``check``, for a project already read (a remote workspace is fetched: callers
    hold no lock)."""
    mode = mode_of(config, project)
    run = project.run
    reviewed = run.head if run else None
    if not project.get("workspace") or reviewed is None:
        return Integration(mode, None, None, reviewed, None, reason="no branch to integrate")
    ws = open_workspace(str(project.get("workspace")))
    return _check(ws, project_id, mode, run.base if run else None, reviewed)


def _check(ws: Workspace, pid: str, mode: str, base: str | None, reviewed: str) -> Integration:
    head = ws.repo.rev_parse(ws.branch_ref(f"mc/{pid}"))
    if head != reviewed:
        return Integration(
            mode, base, head, reviewed, None,
            reason=f"branch mc/{pid} moved since review — approve refused",
            command=f"mc project rework {pid}",
        )  # fmt: skip
    if base is None or ws.repo.rev_parse(f"refs/heads/{base}") is None:
        return Integration(mode, base, head, reviewed, None, reason="no base branch to merge into")
    _tree, conflicts = ws.repo.merge_tree(f"refs/heads/{base}", reviewed)
    if conflicts:
        return Integration(
            mode, base, head, reviewed, False, tuple(conflicts),
            f"conflicts with {base} in {', '.join(conflicts)}",
            f"mc project rework {pid} --conflicts",
        )  # fmt: skip
    return Integration(mode, base, head, reviewed, True, reason=f"merges cleanly into {base}")


def rework_conflicts(board: Board, project_id: str) -> Committed:
    """Send the project back with notes naming the paths that conflict with its base."""
    found = check(board, project_id)
    if found.clean is not False:
        raise InvalidInput(f"{project_id}: {found.reason}: no conflicts to resolve")
    notes = f"resolve conflicts with {found.base}: merge {found.base} into the branch; " + (
        "conflicting paths:\n" + "".join(f"- {path}\n" for path in found.conflicts)
    )
    return actions.rework(board, project_id, notes)


# ---------------------------------------------------------------------- approve


def approve(board: Board, project_id: str, *, expect: str | None = None) -> Approval:
    """Integrate the reviewed head as configured, then record the signed approval; if
    the approval fails, undo the integration (only where nobody moved it since)."""
    actions.approver_principal(board)  # refused before anything is touched
    entry = actions.approvable(board, project_id, board.tip, expect)
    assert entry.project is not None
    project = entry.project
    run = project.run
    mode = mode_of(board.config, project)
    if run is None or run.head is None or not project.get("workspace"):
        committed = actions.approve(board, project_id, expect=expect)
        return Approval(committed, Integration(mode, None, None, None, None), "")
    ws = open_workspace(str(project.get("workspace")))
    found = _check(ws, project_id, mode, run.base, run.head)
    if found.head != run.head:
        raise BranchMoved(
            f"{project_id}: branch mc/{project_id} is at {(found.head or 'nothing')[:12]}, "
            f"the review covered {run.head[:12]}: approve refused "
            f"(send it back: mc project rework {project_id})"
        )
    undo, said = _integrate(ws, project, project_id, found, board)
    try:
        committed = actions.approve(board, project_id, expect=expect, head=run.head)
    except BaseException:
        undo()
        raise
    if mode in ("merge", "squash") and _cleanup_enabled(board, project):
        try:
            cleanup_branch(ws, f"mc/{project_id}", run.head, f"refs/heads/{found.base}")
        except McError as exc:  # approved and merged: a branch left over is only noted
            log.warning("%s: the branch was not cleaned up: %s", project_id, exc)
    return Approval(committed, found, said)


def _cleanup_enabled(board: Board, project: Project) -> bool:
    return board.config.archetype(project.archetype).integrate_cleanup


def _nothing() -> None:
    return None


def _integrate(
    ws: Workspace, project: Project, pid: str, found: Integration, board: Board
) -> tuple[Callable[[], None], str]:
    """Carry the reviewed head into the workspace: (how to undo it, what was done)."""
    if found.mode == "none":
        return _nothing, ""
    if found.mode == "pr":
        remote = board.config.archetype(project.archetype).integrate_remote
        return _nothing, open_pull_request(ws, pid, found, str(project.get("title")), remote)
    if found.base is None or found.clean is None:
        raise InvalidInput(f"{pid}: {found.reason}: set integrate: none or pr")
    if found.clean is False:
        raise MergeConflict(
            f"{pid}: mc/{pid} conflicts with {found.base} in {', '.join(found.conflicts)}: "
            f"nothing merged, not approved; rework it: mc project rework {pid} --conflicts",
            conflicts=list(found.conflicts),
            command=f"mc project rework {pid} --conflicts",
        )
    assert found.reviewed_head is not None
    base_ref = f"refs/heads/{found.base}"
    old = ws.repo.rev_parse(base_ref)
    assert old is not None  # _check found it
    if is_merged(ws.repo, found.reviewed_head, base_ref):
        # Merged already: by hand, or by an approve killed before its commit. Nothing to
        # do but record the approval (a second merge commit would be an empty one).
        return _nothing, f"{found.base} already has mc/{pid} at {found.reviewed_head[:12]}"
    new = _new_base(ws.repo, old, found.reviewed_head, found.mode, pid, str(project.get("title")))
    undo = _move_base(ws, found.base, old, new)
    how = "fast-forwarded" if new == found.reviewed_head else f"{found.mode}d"
    return undo, f"{how} {found.base} to {new[:12]} (mc/{pid} at {found.reviewed_head[:12]})"


def _new_base(repo: Repo, old: str, head: str, mode: str, pid: str, title: str) -> str:
    """The commit the base branch moves to: the head itself when that is a
    fast-forward (merge), else a merge or squash commit built from objects only."""
    if mode == "merge" and repo.is_ancestor(old, head):
        return head
    tree, conflicts = repo.merge_tree(old, head)
    if conflicts:  # the base moved between the check and now
        raise BaseMoved(
            f"{pid}: the base branch changed meanwhile and now conflicts: approve again"
        )
    if mode == "squash":
        message = f"{title}\n\nSquashed mc/{pid} at {head} (Mission Control).\n"
        return repo.commit_tree(tree, [old], message, sign=False)
    message = f"Merge branch 'mc/{pid}': {title}\n"
    return repo.commit_tree(tree, [old, head], message, sign=False)


def _move_base(ws: Workspace, base: str, old: str, new: str) -> Callable[[], None]:
    """Move the base branch from ``old`` to ``new`` (only if it is still at ``old``),
    never disturbing a checkout of it: returns how to move it back."""
    ref = f"refs/heads/{base}"
    if ws.url is not None:
        return _push_base(ws, base, old, new)
    checkout = next((path for path, at in ws.repo.worktrees() if at == ref), None)
    if checkout is None:
        if not ws.repo.update_ref(ref, new, old, f"mc: integrate {new[:12]}"):
            raise BaseMoved(f"{base} moved while approving: nothing changed; approve again")
        return lambda: _undo_ref(ws.repo, ref, old, new)
    there = find_repo(checkout)
    if there.has_tracked_changes():
        raise CheckoutDirty(
            f"{base} is checked out in {checkout} with uncommitted changes: commit or stash "
            "them, then approve again"
        )
    ok, said = there.fast_forward_checkout(new)
    if not ok and there.rev_parse("HEAD") != old:
        raise BaseMoved(f"{base} moved while approving: nothing changed; approve again")
    if not ok:  # e.g. an untracked file of theirs where the change adds one
        raise CheckoutDirty(
            f"{base} is checked out in {checkout} and git would not update it ({said}): "
            "nothing changed"
        )
    return lambda: _undo_checkout(there, ref, old, new)


def _undo_ref(repo: Repo, ref: str, old: str, new: str) -> None:
    """Put the base back — a compare-and-swap: only if it still is where mc moved it
    (a commit someone made on top since is theirs and stays)."""
    if not repo.update_ref(ref, old, new, "mc: approval not recorded, integration undone"):
        log.warning("%s moved after mc integrated %s: left as it is", ref, new[:12])


def _undo_checkout(repo: Repo, ref: str, old: str, new: str) -> None:
    """As _undo_ref, in a checkout: files and index go back (read-tree -m -u keeps any
    edit made since, or refuses) before the ref does."""
    if repo.rev_parse("HEAD") != new or repo.has_tracked_changes():
        log.warning("%s changed after mc integrated %s: left as it is", ref, new[:12])
        return
    if repo.move_checkout(new, old):
        _undo_ref(repo, ref, old, new)


def _push_base(ws: Workspace, base: str, old: str, new: str) -> Callable[[], None]:
    """A remote workspace: push the new base (a fast-forward: a base someone moved
    meanwhile is refused by the remote — "base moved", nothing changed)."""
    assert ws.url is not None
    ok, said = ws.repo.push_refs(ws.url, [f"{new}:refs/heads/{base}"])
    if not ok:
        raise BaseMoved(f"pushing {base} to {ws.url} was refused ({said}): nothing changed")
    ws.repo.set_ref(f"refs/heads/{base}", new)

    def undo() -> None:
        # With a lease: only if the remote's base is still what mc pushed.
        assert ws.url is not None
        back, why = ws.repo.push_refs(
            ws.url, [f"+{old}:refs/heads/{base}"], lease=(f"refs/heads/{base}", new)
        )
        if back:
            ws.repo.set_ref(f"refs/heads/{base}", old)
        else:
            log.warning("%s on %s could not be put back: %s", base, ws.url, why)

    return undo


# ---------------------------------------------------------------------- pull requests


def open_pull_request(ws: Workspace, pid: str, found: Integration, title: str, remote: str) -> str:
    """Push the branch to the workspace's remote and open a pull request with gh when it
    is installed and logged in; else say the compare URL (GitHub/GitLab-style remotes)
    or the pushed ref."""
    branch = f"mc/{pid}"
    url = ws.url or ws.repo.config_get(f"remote.{remote}.url")
    if not url:
        raise PushFailed(
            f"{pid}: integrate: pr needs a remote: the workspace has no remote {remote!r} "
            "(git remote add origin URL, or archetypes.<name>.integrate_remote)"
        )
    check_url(url)
    assert found.reviewed_head is not None
    ok, said = ws.repo.push_refs(url, [f"{found.reviewed_head}:refs/heads/{branch}"])
    if not ok:
        raise PushFailed(f"{pid}: pushing {branch} to {url} failed: {said}")
    made = _gh_pr_create(ws, branch, found.base, title)
    if made:
        return f"opened {made}"
    compare = compare_url(url, branch, found.base)
    return f"pushed {branch} to {url}" + (f"; open the pull request: {compare}" if compare else "")


def _gh_pr_create(ws: Workspace, branch: str, base: str | None, title: str) -> str | None:
    """``gh pr create`` in the workspace's folder, when gh is there and logged in:
    the pull request's URL, or None."""
    gh = shutil.which("gh")
    if gh is None or ws.repo.work_tree is None:
        return None
    cwd = ws.repo.work_tree
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        if subprocess.run(
            [gh, "auth", "status"], cwd=cwd, capture_output=True, timeout=30
        ).returncode:
            return None
        argv = [gh, "pr", "create", "--head", branch, "--title", title, "--body",
                f"Approved in Mission Control ({branch})."]  # fmt: skip
        if base:
            argv += ["--base", base]
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "a pull request"
        log.warning("gh pr create failed: %s", proc.stderr.strip()[:500])
    return None


_HOSTED = re.compile(
    r"^(?:https://|ssh://git@|git@)(?P<host>[^/:]+)[:/](?P<path>[^\s]+?)(?:\.git)?/?$"
)


def compare_url(url: str, branch: str, base: str | None) -> str | None:
    """The web page that opens a pull (merge) request, for GitHub/GitLab-style remotes."""
    match = _HOSTED.match(url)
    if match is None:
        return None
    host, path = match["host"], match["path"]
    if "gitlab" in host:
        target = f"&merge_request[target_branch]={base}" if base else ""
        return (
            f"https://{host}/{path}/-/merge_requests/new?merge_request[source_branch]={branch}"
            + target
        )
    return f"https://{host}/{path}/compare/{base + '...' if base else ''}{branch}?expand=1"


# ---------------------------------------------------------------------- cleanup


def is_merged(repo: Repo, head: str, base_ref: str) -> bool:
    """Everything ``head`` holds is in the base: it is an ancestor, or merging it would
    change nothing (a squash)."""
    base = repo.rev_parse(base_ref)
    if base is None:
        return False
    if repo.is_ancestor(head, base):
        return True
    tree, conflicts = repo.merge_tree(base, head)
    return not conflicts and tree == repo.tree_of(base)


def cleanup_branch(ws: Workspace, branch: str, head: str, base_ref: str) -> bool:
    """Remove the branch's leftover worktrees (clean ones only) and the branch itself —
    only if it is merged and still at ``head`` (compare-and-swap). True when deleted."""
    ref = f"refs/heads/{branch}"
    for path, at in ws.repo.worktrees():
        if at == ref:
            with contextlib.suppress(McError):
                ws.repo.remove_worktree_if_clean(path)
    if not is_merged(ws.repo, head, base_ref):
        return False
    if ws.url is not None:
        ok, _ = ws.repo.push_refs(ws.url, [f":{ref}"], lease=(ref, head))
        if not ok:
            return False
        ws.repo.delete_ref(ws.branch_ref(branch), head)
    current = ws.repo.rev_parse(ref)
    return current is None or ws.repo.delete_ref(ref, head)
