"""`mc init DIR`: a new board from the skeleton, with its service key and first commit."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from mc.board import config, signing
from mc.board.board import Board
from mc.board.git import Repo, find_repo
from mc.board.layout import CONFIG_FILE, SIGNERS_PATH, gpg_key_path
from mc.board.projectfile import set_keys
from mc.board.rules import Role
from mc.board.store import Store, Transition, service_identity
from mc.errors import BoardNotFound, InvalidInput, PathExists, SigningError
from mc.resources import data_dir


class Initialised(NamedTuple):
    root: Path
    commit: str
    service_key: str
    approver: str | None  # the person's principal, when their signing key was added
    note: str  # what to do next, when something could not be set up


def _skeleton_files() -> dict[str, bytes]:
    root = data_dir("board")
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def init(
    target: Path,
    *,
    install_hooks: bool = True,
    settings: Mapping[str, Any] | None = None,
    approver_name: str | None = None,
) -> Initialised:
    """A new board at ``target``; ``settings`` replace top-level keys of the new mc.yaml
    (in the first commit, so no approver signature is needed for them). The person's
    signing key becomes the first approver, as ``approver_name`` if given."""
    target = target.expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise InvalidInput(f"{target} is a file, not a folder")
    _refuse_inside_another_repository(target)
    target.mkdir(parents=True, exist_ok=True)
    repo = _repository_at(target)
    if repo.work_tree is None:
        raise InvalidInput(f"{target} is a bare repository: make the board in a clone")
    if (target / CONFIG_FILE).exists():
        raise PathExists(f"{target} already has a board ({CONFIG_FILE} exists)")

    files = _skeleton_files()
    for path in files:
        existing = target / path
        differs = existing.exists() and existing.read_bytes() != files[path]
        if path != SIGNERS_PATH and differs:
            raise PathExists(f"{existing} already exists; move it away first")
    if (target / SIGNERS_PATH).exists():
        raise PathExists(f"{target / SIGNERS_PATH} already exists; move it away first")
    head = repo.symbolic_head() or "refs/heads/main"
    branch = head.removeprefix("refs/heads/")
    updates = dict(settings or {})
    if branch != "main":
        updates["branch"] = branch
    if updates:
        files[CONFIG_FILE] = set_keys(files[CONFIG_FILE].decode(), updates).encode()

    service_key = signing.make_service_key(target)
    signers = files[SIGNERS_PATH].decode()
    signers += signing.signer_line(signing.SERVICE_PRINCIPAL, service_key) + "\n"
    approver, note = None, ""
    try:
        key = signing.person_key(repo)
        approver = approver_name or _principal_name(repo)
        if key.format == "ssh" and key.public_key:
            signers += signing.signer_line(approver, key.public_key) + "\n"
        elif key.fingerprint:
            exported = signing.export_gpg_key(key.fingerprint, signing.gpg_program(repo))
            files[gpg_key_path(approver)] = exported.encode()
    except SigningError:
        note = "no signing key, so no approver yet; set one up: " + signing.how_to_sign(
            _principal_name(repo)
        )
    files[SIGNERS_PATH] = signers.encode()

    # Let `git log --show-signature` on this clone know the board's signers.
    repo.set_config("gpg.ssh.allowedSignersFile", str(target / SIGNERS_PATH))

    board = Board(repo, config.load(files[CONFIG_FILE]))
    try:
        committed = Store(board).apply(
            lambda tip: Transition(None, "init", "Start a Mission Control board", files),
            service_identity(board, Role.HUMAN),
        )
    finally:
        board.close()
    if install_hooks:
        from mc.board.hooks.install import install_client

        install_client(repo)
    return Initialised(target, committed.commit, service_key, approver, note)


def enclosing_repository(folder: Path) -> Repo | None:
    """The repository whose work tree ``folder`` (which may not exist yet) would be
    inside without being its top — where a board cannot go."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    try:
        repo = find_repo(existing)
    except BoardNotFound:
        return None
    if repo.work_tree is not None and repo.root.resolve() != folder.resolve():
        return repo
    return None


def _refuse_inside_another_repository(target: Path) -> None:
    """A board lives at the top of its own repository; say so before creating anything."""
    repo = enclosing_repository(target)
    if repo is not None:
        raise InvalidInput(
            f"{target} is inside the repository {repo.work_tree}: a board lives at the top of "
            "its own repository (run mc init on that folder, or on a new one)"
        )


def _repository_at(target: Path) -> Repo:
    try:
        repo = find_repo(target)
    except BoardNotFound:
        repo = None
    if repo is not None and repo.work_tree is not None and repo.root.resolve() != target:
        raise InvalidInput(
            f"{target} is inside the repository {repo.work_tree}: a board lives at the top of "
            "its own repository (run mc init on that folder, or on a new one)"
        )
    if repo is None:
        from mc.board.git import init_repo

        repo = init_repo(target)
    return repo


def _principal_name(repo: Repo) -> str:
    for key in ("user.email", "user.name"):
        value = repo.config_get(key)
        if value:
            cleaned = "".join(ch for ch in value if ch.isalnum() or ch in "._@+-")
            if cleaned:
                return cleaned
    return os.environ.get("USER") or "me"
