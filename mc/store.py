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

import fcntl
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from . import rules
from .board import Board
from .errors import (
    GitError,
    InvalidProjectFile,
    McError,
    ProjectExists,
    TransitionRefused,
    UncommittedChanges,
)
from .git import ObjectWriter, blob_id, build_tree
from .lanes import PathKind, artifacts_prefix, classify
from .rules import Actor, Change, Role, State

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
    # Approvals: the project as its passing review left it (see rules.Change).
    reviewed: State | None = None
    artifacts_changed_since_review: bool = False


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
        with self._locked():
            for _ in range(MAX_ATTEMPTS):
                tip = self.board.tip
                transition = build(tip)
                self.check(transition, tip, who.actor)
                on_branch = self._checkout_on_branch()
                if on_branch:
                    self._ensure_clean(transition)
                commit = self._commit(transition, tip, who)
                what = f"mc: {transition.action} {transition.project_id or ''}".strip()
                if self.repo.update_ref(self.board.ref, commit, tip, what):
                    if on_branch:
                        self._sync_checkout(transition)
                    return Committed(commit, transition)
                time.sleep(random.uniform(0.001, 0.02))  # lost the race: rebuild on the new tip
        raise McError(f"{self.board.ref} kept moving during {transition.action}; try again")

    # ------------------------------------------------------------------ checks

    def check(self, transition: Transition, tip: str | None, actor: Actor) -> None:
        """Refuse a transition the rules do not allow (the same rules every layer uses)."""
        pid = transition.project_id
        if pid is None:
            self._check_board_files(transition, tip, actor)
            return
        before_entry = None
        if tip is not None:
            locs = self.board.snapshot(tip, ids=[pid]).locate(pid)
            if len(locs) > 1:
                lanes = ", ".join(lane.value for lane, _ in locs)
                raise TransitionRefused(
                    f"{pid} is in more than one lane ({lanes}); remove the extra file first"
                )
            if locs:
                before_entry = self.board.entry(pid, *locs[0])
        before = None
        if before_entry is not None:
            if before_entry.project is None:
                raise InvalidProjectFile(
                    f"{before_entry.error} — fix the file before {transition.action}"
                )
            before = State(before_entry.lane, before_entry.project.data)
        after = None
        artifacts = False
        for path, data in transition.files.items():
            kind, lane, file_id = classify(path)
            if kind is PathKind.PROJECT and file_id == pid and data is not None:
                assert lane is not None
                after = State(lane, self.board.parse_blob(blob_id(data), path, data).data)
            elif path.startswith(artifacts_prefix(pid)):
                artifacts = True
            elif kind is not PathKind.PROJECT or file_id != pid:
                raise TransitionRefused(f"{transition.action} {pid} may not write {path}")
        creating = before is None and after is not None and tip is not None
        if creating and self.board.snapshot(tip, ids=[pid]).locate(pid):
            raise ProjectExists(f"a project {pid!r} already exists")
        decision = rules.check(
            actor,
            Change(
                pid,
                before,
                after,
                artifacts_changed=artifacts,
                reviewed=transition.reviewed,
                artifacts_changed_since_review=transition.artifacts_changed_since_review,
            ),
        )
        if not decision:
            raise TransitionRefused(decision.explain())

    def _check_board_files(self, transition: Transition, tip: str | None, actor: Actor) -> None:
        from .audit import SIGNERS_PATH, is_signers_path
        from .config import CONFIG_FILE
        from .config import load as load_config
        from .signing import approver_count, gpg_key_files

        for path, data in transition.files.items():
            if tip is None:
                continue  # the first commit of a board: mc init
            if is_signers_path(path):  # .mc/allowed_signers or .mc/gpg/*
                signers = self.board.read_blob(f"{tip}:{SIGNERS_PATH}") or b""
                count = approver_count(signers.decode("utf-8", "replace"))
                count += len(gpg_key_files(self.board.cat, tip))
                decision = rules.check_signers_change(actor, count)
                if not decision:
                    raise TransitionRefused(decision.explain())
            elif path == CONFIG_FILE and data is not None:
                load_config(data)
            elif classify(path)[0] not in (PathKind.OTHER, PathKind.PLACEHOLDER):
                raise TransitionRefused(f"{transition.action} may not write {path}")

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
        )

    # ------------------------------------------------------------------ the person's checkout

    def _checkout_on_branch(self) -> bool:
        return self.repo.work_tree is not None and self.repo.symbolic_head() == self.board.ref

    def _ensure_clean(self, transition: Transition) -> None:
        paths = _touched_paths(transition)
        out = self.repo.run(
            "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths
        ).stdout
        dirty = [item[3:].decode("utf-8", "replace") for item in out.split(b"\0") if len(item) > 3]
        if dirty:
            raise UncommittedChanges(
                f"{dirty[0]} has uncommitted edits: commit or discard them before "
                f"{transition.action} (git diff -- {dirty[0]})"
            )

    def _sync_checkout(self, transition: Transition) -> None:
        assert self.repo.work_tree is not None
        root = self.repo.root
        for path, data in transition.files.items():
            target = root / path
            if data is None:
                target.unlink(missing_ok=True)
                _prune_empty_dirs(target.parent, root)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.mc-tmp-{os.getpid()}")
                tmp.write_bytes(data)
                os.replace(tmp, target)
        paths = list(transition.files)
        for attempt in range(200):
            proc = self.repo.run("update-index", "--add", "--remove", "--", *paths, check=False)
            if proc.returncode == 0:
                return
            if b"index.lock" not in proc.stderr:
                raise GitError(f"git update-index failed: {proc.stderr.decode().strip()}")
            time.sleep(0.01 + attempt * 0.001)  # someone else holds the index briefly
        raise GitError("the checkout's index stayed locked (.git/index.lock); run git status")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time per repository on this machine (the ref CAS covers the rest)."""
        path = self.repo.git_path("mc-store.lock")
        with open(path, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _touched_paths(transition: Transition) -> list[str]:
    paths = list(transition.files)
    if transition.project_id and any(p.startswith("artifacts/") for p in paths):
        paths.append(artifacts_prefix(transition.project_id))
    return paths


def _prune_empty_dirs(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def message(transition: Transition, actor: Actor) -> str:
    role = "human" if actor.role.is_person else actor.role.value
    trailers = [("Mc-Action", transition.action), ("Mc-Actor", role)]
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
    from .signing import SERVICE_KEY, service_sign_config

    key = board.root / SERVICE_KEY
    if not key.exists():
        raise McError(
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
