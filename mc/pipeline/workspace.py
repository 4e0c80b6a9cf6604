"""A coder project's ``workspace:``: a folder on this machine, or a git remote.

A folder holding a work tree is used in place (mc adds worktrees and branches to it,
never touching the person's own checkout). Anything else — an ssh/https/git/file URL,
an scp-like ``host:path``, or a path to a bare repository — is a remote: this machine
keeps a bare mirror of it in its cache (``$XDG_CACHE_HOME/mc/workspaces/<hash>``),
made once and fetched each time, so that a worker on another machine than the person's
runs the agent there and pushes the branch back, and the person's machine fetches it
for review and integration.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import NamedTuple

from mc.board.git import Repo, find_repo
from mc.board.git.repo import clone_bare
from mc.errors import InvalidInput
from mc.locks import exclusive

# Transports a workspace URL may use (git's protocol.allow is set to match, in
# mc.board.git.repo.SAFE_TRANSPORTS): never ext:: or another command-running helper.
_SCHEMES = ("ssh", "git+ssh", "ssh+git", "https", "git", "file")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._@-]+:(?!//)")
# The remote's branches as this mirror's own, except mc's branches: those go to a
# namespace no worktree checks out (a live job's branch is never moved under it).
_FETCH = ("+refs/heads/*:refs/heads/*", "^refs/heads/mc/*", "+refs/heads/mc/*:refs/fetched/mc/*")


class Workspace(NamedTuple):
    """Where mc works on a project's repository: ``repo`` (the person's own, or this
    machine's mirror of ``url``)."""

    repo: Repo
    url: str | None = None  # the remote the branch goes back to; None: a folder here

    def branch_ref(self, branch: str) -> str:
        """Where this machine sees ``branch`` as it is (for a remote: as last fetched)."""
        return (
            f"refs/fetched/{branch}"
            if self.url and branch.startswith("mc/")
            else (f"refs/heads/{branch}")
        )

    def take_branch(self, branch: str) -> None:
        """For a remote: start the local ``branch`` where the remote has it (if it does)."""
        fetched = self.repo.rev_parse(self.branch_ref(branch)) if self.url else None
        if fetched is not None:
            self.repo.set_ref(f"refs/heads/{branch}", fetched)

    def push_branch(self, branch: str) -> None:
        """Send ``branch`` back to the remote (a fast-forward of what was fetched:
        a branch someone else moved meanwhile is refused, not overwritten)."""
        if self.url is None:
            return
        ok, said = self.repo.push_refs(self.url, [f"refs/heads/{branch}:refs/heads/{branch}"])
        if not ok:
            raise InvalidInput(f"workspace {self.url}: pushing {branch} failed: {said}")
        head = self.repo.rev_parse(f"refs/heads/{branch}")
        if head is not None:
            self.repo.set_ref(self.branch_ref(branch), head)


def check_url(url: str) -> str:
    """``url`` if git may fetch from it; a one-line refusal naming it otherwise."""
    if url.startswith("-"):
        raise InvalidInput(f"workspace {url!r}: a URL may not start with '-' (read as an option)")
    if any(ord(c) < 32 for c in url):
        raise InvalidInput(f"workspace {url!r}: control characters in a URL")
    if "::" in url.split("/", 1)[0] or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*::", url):
        raise InvalidInput(
            f"workspace {url!r}: <transport>:: URLs (ext::, fd::, ...) run programs; "
            f"use {', '.join(_SCHEMES)}"
        )
    scheme = url.split("://", 1)[0].lower() if "://" in url else None
    if scheme is not None and scheme not in _SCHEMES:
        raise InvalidInput(
            f"workspace {url!r}: transport {scheme!r} is not allowed (use {', '.join(_SCHEMES)})"
        )
    return url


def is_remote(spec: str) -> bool:
    """Whether ``spec`` names a remote rather than a work tree on this machine."""
    if "://" in spec or "::" in spec or spec.startswith("-"):
        return True
    path = Path(spec).expanduser()
    if path.is_dir():
        return not (path / ".git").exists() and (path / "HEAD").is_file()
    return bool(_SCP_LIKE.match(spec)) and not spec.startswith(("/", ".", "~"))


def cache_root() -> Path:
    """This machine's cache of workspace mirrors (the XDG cache folder, as the job
    folders use the XDG state folder: mc.pipeline.sandbox.jobs_root)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    root = Path(base) / "mc" / "workspaces"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def url_of(spec: str) -> str:
    """The URL git fetches a remote ``spec`` from (a bare repository's path made absolute)."""
    path = Path(spec).expanduser()
    return check_url(str(path.resolve()) if path.is_dir() else spec)


def mirror_path(url: str) -> Path:
    return cache_root() / hashlib.sha256(url.encode()).hexdigest()[:16]


def open_workspace(spec: str, *, fetch: bool = True) -> Workspace:
    """The repository mc works with for ``spec`` (a remote's mirror: fetched now)."""
    if not is_remote(spec):
        source = Path(spec).expanduser()
        if not source.is_dir():
            raise InvalidInput(f"workspace {spec!r}: no such folder")
        repo = find_repo(source)
        if repo.work_tree is None:
            raise InvalidInput(f"workspace {spec!r} is a bare repository")
        return Workspace(repo)
    url = url_of(spec)
    target = mirror_path(url)
    locks = cache_root().parent / "locks"
    locks.mkdir(exist_ok=True, mode=0o700)
    with exclusive(locks / f"{target.name}.lock"):
        if not (target / "HEAD").is_file():
            shutil.rmtree(target, ignore_errors=True)  # a clone killed halfway
            repo = clone_bare(url, target)
            repo.fetch_refs(url, list(_FETCH))
            return Workspace(repo, url)
        repo = find_repo(target)
        if fetch:
            repo.fetch_refs(url, list(_FETCH))
    return Workspace(repo, url)
