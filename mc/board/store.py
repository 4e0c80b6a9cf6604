"""The git store: the only code that writes the board.

Every transition is one commit, built on the branch tip with plumbing in a private
index (the person's index and files are never swept in), checked against the
transition rules, and published with a compare-and-swap on the branch ref: when
another commit landed first, the transition is rebuilt on the new tip and checked
again, so neither change is lost. When the person's checkout is on the board
branch, the transition's own files are then brought up to date in it, so
``git status`` stays clean where it was clean.
"""

from __future__ import annotations

import contextvars
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from mc.board.board import Board
from mc.board.git import EMPTY_TREE, FileChange, ObjectWriter, Repo, blob_id, build_tree
from mc.board.layout import ARTIFACTS_DIR, CONFIG_FILE, Lane, PathKind, artifacts_prefix, classify
from mc.board.rules import Actor, Role
from mc.errors import (
    Busy,
    ConfigError,
    GitError,
    InvalidProjectFile,
    ServiceKeyMissing,
    TransitionRefused,
    UncommittedChanges,
)

MAX_ATTEMPTS = 50
SERVICE_NAME = "Mission Control"
SERVICE_EMAIL = "mc-service@mission-control.invalid"


class Identity(NamedTuple):
    """Who a commit is made as, and how it is signed."""

    actor: Actor
    sign: bool
    config: tuple[str, ...] = ()  # git -c options (the service key)
    env: Mapping[str, str] = {}


class Transition(NamedTuple):
    """One project's change, as one commit."""

    project_id: str | None  # None: a board file (mc.yaml, allowed signers), not a project
    action: str
    subject: str
    files: Mapping[str, bytes | None]  # path -> new content; None removes the file
    job: str | None = None
    trailers: tuple[tuple[str, str], ...] = ()


class Committed(NamedTuple):
    commit: str
    transition: Transition


Builder = Callable[[str | None], Transition]


class Store:
    def __init__(self, board: Board) -> None:
        self.board = board
        self.repo = board.repo

    def apply(self, build: Builder, who: Identity) -> Committed:
        """Build a transition on the current tip and commit it; rebuild if the tip moved."""
        if self.board.remote:
            return self._apply_remote(build, who)
        with self._locked():
            self._finish_checkout()
            for _ in range(MAX_ATTEMPTS):
                tip = self.board.tip
                transition = build(tip)
                self.check(transition, tip, who.actor)
                on_branch = self._checkout_on_branch()
                if on_branch:
                    self._ensure_clean(transition)
                commit = self._commit(transition, tip, who)
                what = f"mc: {transition.action} {transition.project_id or ''}".strip()
                if on_branch:
                    # A person's `git commit` holds the index from before it reads HEAD
                    # until its ref moves: let it land, then build on it (12.15).
                    self._wait_for_index()
                if self.repo.update_ref(self.board.ref, commit, tip, what):
                    if on_branch:
                        # A person's own command updates their checkout at once.
                        self._sync_checkout(tip, commit, now=who.actor.role.is_person)
                    return Committed(commit, transition)
                time.sleep(random.uniform(0.001, 0.02))  # lost the race: rebuild on the new tip
        raise Busy(f"{self.board.ref} kept moving during {transition.action}; try again")

    def _apply_remote(self, build: Builder, who: Identity) -> Committed:
        """A worker's clone: build on the remote's tip, push; a rejected push means
        another commit landed first, so fetch, rebuild on it and push again."""
        remote, branch = self.board.remote, self.board.config.branch
        assert remote is not None
        with self._locked():
            for _ in range(MAX_ATTEMPTS):
                self.board.fetch()
                tip = self.board.tip
                transition = build(tip)
                self.check(transition, tip, who.actor)
                commit = self._commit(transition, tip, who)
                pushed, said = self.repo.push(remote, commit, branch)
                if pushed:
                    # Only the tracking ref moves: the clone's own branch and checkout
                    # are the person's (or nobody's) and are left as they are.
                    self.repo.set_ref(self.board.tracking_ref, commit)
                    return Committed(commit, transition)
                # Lost races: the branch moved before our push (non-fast-forward) or
                # while the server checked it (its ref lock saw another value). A hook
                # that declined is a refusal, not a race.
                raced = any(
                    sign in said
                    for sign in ("[rejected]", "fetch first", "non-fast-forward", "but expected")
                )
                if not raced or "hook declined" in said:
                    lines = [
                        line.strip()
                        for line in said.splitlines()
                        if "remote:" in line or "!" in line
                    ]
                    raise GitError(
                        f"git push to {remote} refused: {' '.join(lines)[:400] or said[:400]}"
                    )
                time.sleep(random.uniform(0.01, 0.1))  # lost the race: fetch and rebuild
        raise Busy(f"{remote}/{branch} kept moving during {transition.action}; try again")

    # ------------------------------------------------------------------ checks

    def check(self, transition: Transition, tip: str | None, actor: Actor) -> None:
        """Refuse a transition the rules do not allow: judged by the auditor as every
        layer judges a commit (the hooks, verify, the mirror), as if it were made."""
        if tip is None:
            return  # the first commit of a board: mc init
        lanes = self._check_shape(transition, tip)
        from mc.board.audit import Auditor, CommitInfo

        auditor = Auditor(
            self.repo,
            self.board.cat,
            parser=self.board.parse_blob,
            configs=self.board.config_from_blob,
        )
        auditor.pending = {
            blob_id(data): data for data in transition.files.values() if data is not None
        }
        changes = [
            FileChange(
                path,
                self.board.cat.resolve(f"{tip}:{path}"),
                None if data is None else blob_id(data),
                None if data is None else "100644",
            )
            for path, data in transition.files.items()
        ]
        pending = CommitInfo("", [tip], transition.subject, dict(transition.trailers))
        found = auditor.check_changes(
            actor,
            changes,
            lambda pid: lanes if pid == transition.project_id else [],
            parent=tip,
            info=pending,
            signers_before=None,  # the tip's (the auditor reads them if a change needs them)
            config_spec=f"{tip}:{CONFIG_FILE}",
        )
        if found:
            v = found[0]
            said = v.message + (f" ({v.hint})" if v.hint else "")
            if v.invalid:
                raise InvalidProjectFile(said)
            if v.path is None and v.message.startswith(CONFIG_FILE + ":"):
                raise ConfigError(said)
            raise TransitionRefused(said)

    def _check_shape(self, transition: Transition, tip: str) -> list[Lane]:
        """What only a transition can get wrong, before the rules judge it: it writes its
        own project's files (and artifacts) or board files only, the project is in one
        lane and readable. The lanes its project is in afterwards."""
        pid = transition.project_id
        if pid is None:
            for path in transition.files:
                if classify(path)[0] not in (PathKind.OTHER, PathKind.PLACEHOLDER):
                    raise TransitionRefused(f"{transition.action} may not write {path}")
            return []
        locs = self.board.snapshot(tip, ids=[pid]).locate(pid)
        if len(locs) > 1:
            lanes = ", ".join(lane.value for lane, _ in locs)
            raise TransitionRefused(
                f"{pid} is in more than one lane ({lanes}); remove the extra file first"
            )
        if locs:
            entry = self.board.entry(pid, *locs[0])
            if entry.project is None:
                raise InvalidProjectFile(f"{entry.error} — fix the file before {transition.action}")
        after = {lane for lane, _ in locs}
        for path, data in transition.files.items():
            kind, lane, file_id = classify(path)
            if kind is PathKind.PROJECT and file_id == pid:
                assert lane is not None
                (after.add if data is not None else after.discard)(lane)
            elif not path.startswith(artifacts_prefix(pid)):
                raise TransitionRefused(f"{transition.action} {pid} may not write {path}")
        return sorted(after, key=list(Lane).index)

    # ------------------------------------------------------------------ committing

    def _commit(self, transition: Transition, tip: str | None, who: Identity) -> str:
        writer = ObjectWriter(self.repo)
        changes: dict[str, tuple[str, str] | None] = {}
        for path, data in transition.files.items():
            changes[path] = None if data is None else ("100644", writer.write("blob", data))
        base = self.board.cat.resolve(f"{tip}^{{tree}}") if tip else None
        tree = build_tree(self.board.cat, writer, base, changes)
        return self.repo.commit_tree(
            tree,
            [tip] if tip else [],
            message(transition, who.actor),
            sign=who.sign,
            config=who.config,
            env=who.env,
            detached=_VIA.get() is not None,  # for a web request: never wait on a prompt
        )

    # ------------------------------------------------------------------ the person's checkout

    def _checkout_on_branch(self) -> bool:
        return self.repo.work_tree is not None and self.repo.symbolic_head() == self.board.ref

    def finish_checkout(self, *, wait: bool = True) -> bool:
        """Finish a pending checkout update now; True when nothing is left pending.

        ``wait``: until git lets go of the index, for a few seconds (mc checkout); else
        only if no git holds it now (the daemon, which retries).
        """
        if not self._pending_path().exists():
            return True
        with self._locked():
            self._finish_checkout(wait=wait)
        return not self._pending_path().exists()

    def _ensure_clean(self, transition: Transition) -> None:
        paths = _touched_paths(transition)
        root = self.repo.root
        for path in paths:
            # Never let a symlink in the checkout redirect the board's writes.
            here = root
            for part in path.rstrip("/").split("/")[:-1]:
                here = here / part
                if here.is_symlink():
                    raise TransitionRefused(
                        f"{here.relative_to(root)} is a symbolic link in your checkout; the "
                        "board's folders must be real folders"
                    )
        try:
            base = self._pending_path().read_text().split()[0]
        except (OSError, IndexError):
            base = None
        # Against a pending update's start when there is one (the checkout is still
        # there); never taking the index lock from the person's own git.
        dirty = self.repo.dirty_paths(paths, since=base, take_locks=False)
        if dirty:
            raise UncommittedChanges(
                f"{dirty[0]} has uncommitted edits: commit or discard them before "
                f"{transition.action} (git diff HEAD -- {dirty[0]})"
            )

    def _sync_checkout(self, old: str | None, new: str, *, now: bool = False) -> None:
        """Bring the checkout from ``old`` to ``new``: only the paths that changed.

        ``git read-tree -m -u`` is git's own two-way merge (what switching branches
        does): it updates index and files together under git's index lock, keeps every
        unrelated staged or unstaged edit, and never writes through a symlink.

        It does not wait on the person for the index (issue 12.15): while a git of
        theirs holds it, the move is written down instead — several moves as one — and
        is finished by their own next commit (the pre-commit hook applies it inside the
        commit's index, which git already holds), by the daemon as soon as the index is
        free, or by the next mc command.
        """
        pending = self._pending_path()
        pending.parent.mkdir(exist_ok=True)
        start = old or EMPTY_TREE
        try:
            was, until = pending.read_text().split()
            if until == old:
                start = was  # still pending: one move from where the checkout is
        except (OSError, ValueError):
            pass
        tmp = pending.with_name("pending-checkout.tmp")
        tmp.write_text(f"{start} {new}\n")
        os.replace(tmp, pending)
        self._finish_checkout(wait=now)
        if now and pending.exists():
            import sys

            sys.stderr.write(
                f"mc: committed {new[:12]}, but your checkout could not be updated yet "
                "(.git/index.lock is held); your next commit or mc command finishes it "
                "(mc checkout)\n"
            )

    def _pending_path(self) -> Path:
        return self.repo.git_path("mc", "pending-checkout")

    def _index_busy(self) -> bool:
        """Does a git hold the index now (a commit, an add, an editor waiting)?"""
        return self.repo.git_path("index.lock").exists()

    def _wait_for_index(self, seconds: float = 2.0) -> None:
        """Until no git holds the index and no `git commit` runs in the checkout; not for
        ever (a commit waiting for its editor)."""
        lock = self.repo.git_path("index.lock")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and (lock.exists() or _git_commit_in(self.repo.root)):
            time.sleep(0.005)

    def _finish_checkout(self, *, wait: bool = False) -> None:
        """Finish a checkout update left pending, if any (under the store lock).

        Not while the person is using git, unless ``wait`` (mc checkout, a person's
        own command: then until git lets go of the index, for a few seconds).
        """
        pending = self._pending_path()
        try:
            old, new = pending.read_text().split()
        except (OSError, ValueError):
            return
        if self.repo.work_tree is None or self.repo.symbolic_head() != self.board.ref:
            pending.unlink(missing_ok=True)  # the checkout left the board branch
            return
        if not wait and self._index_busy():
            return
        for attempt in range(40 if wait else 1):
            if apply_pending(self.repo, old, new):
                return
            time.sleep(0.025 + attempt * 0.005)  # someone holds the index for a moment

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time per repository on this machine (the ref CAS covers the rest)."""
        from mc.locks import exclusive

        with exclusive(Path(self.repo.common_path("mc-store.lock")), 0o644):
            yield


def apply_pending(repo: Repo, old: str, new: str, env: dict[str, str] | None = None) -> bool:
    """Move the checkout (index and files) from ``old`` to ``new``; True when done (the
    pending record is then gone). ``env``: e.g. the index a pre-commit hook is given."""
    pending = repo.git_path("mc", "pending-checkout")
    if not repo.move_checkout(old, new, env):
        return False  # left pending
    try:
        if pending.read_text().split() == [old, new]:
            pending.unlink()
    except OSError:
        pass
    return True


def _git_commit_in(root: Path) -> bool:
    """Is a `git commit` running in this checkout (any process of ours, by /proc)?

    git reads HEAD when it starts and moves it when it is done, and holds no lock we can
    see in between (its pre-commit hook runs with the index unlocked): moving the branch
    then refuses the person's commit ("cannot lock ref 'HEAD'"). Written by hand: no
    library says this, and only Linux's /proc can (elsewhere: False).
    """
    here = str(root)
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
            if os.path.basename(argv[0]) != b"git" or b"commit" not in argv[1:]:
                continue
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == here or cwd.startswith(here + "/"):
            return True
    return False


def _touched_paths(transition: Transition) -> list[str]:
    paths = list(transition.files)
    if transition.project_id and any(p.startswith(ARTIFACTS_DIR + "/") for p in paths):
        paths.append(artifacts_prefix(transition.project_id))
    return paths


# Who asked for the commits made in this context, when it is not the person at the
# keyboard: the web server sets it to the authenticated principal, and each commit
# records it (Mc-Via), so history says which session or token made a change.
_VIA: contextvars.ContextVar[str | None] = contextvars.ContextVar("mc_via", default=None)


@contextmanager
def acting_for(principal: str, surface: str = "web") -> Iterator[None]:
    """Commits made meanwhile are a request's (``surface``: web, mcp): their Mc-Via
    trailer names who asked, and signing never waits on a prompt."""
    token = _VIA.set(f"{surface}: " + " ".join(principal.split())[:200])
    try:
        yield
    finally:
        _VIA.reset(token)


def message(transition: Transition, actor: Actor) -> str:
    role = "human" if actor.role.is_person else actor.role.value
    trailers = [("Mc-Action", transition.action), ("Mc-Actor", role)]
    via = _VIA.get()
    if via is not None and actor.role.is_person:
        trailers.append(("Mc-Via", via))
    if transition.project_id is not None:
        trailers.append(("Mc-Project", transition.project_id))
    if transition.job is not None:
        trailers.append(("Mc-Job", str(transition.job)))
    trailers += list(transition.trailers)
    body = "\n".join(f"{k}: {v}" for k, v in trailers)
    return f"{transition.subject}\n\n{body}\n"


def person_identity(board: Board, *, approve: bool = False, name: str | None = None) -> Identity:
    """A person's commit: signed when their git signs commits, always for an approval."""
    role = Role.APPROVER if approve else Role.HUMAN
    sign = approve or board.repo.config_bool("commit.gpgsign")
    return Identity(Actor(role, name), sign=sign)


def service_identity(board: Board, role: Role) -> Identity:
    from mc.board.layout import SERVICE_KEY_PATH
    from mc.board.signing import service_sign_config

    key = board.root / SERVICE_KEY_PATH
    if not key.exists():
        raise ServiceKeyMissing(
            f"the board's service key {key} is missing: copy it from the machine that ran "
            "mc init (it is never committed)"
        )
    name = f"{SERVICE_NAME} ({role.value})" if role.is_service else SERVICE_NAME
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": SERVICE_EMAIL,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": SERVICE_EMAIL,
    }
    return Identity(Actor(role), sign=True, config=tuple(service_sign_config(key)), env=env)
