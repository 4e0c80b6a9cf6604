"""Installing the git hooks (client side into a clone, pre-receive into a bare repository)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mc.board.git import Repo
from mc.board.layout import CONFIG_FILE
from mc.errors import InvalidInput, PathExists
from mc.resources import data_dir

CLIENT_HOOKS = ("pre-commit", "commit-msg")
SERVER_HOOKS = ("pre-receive",)
MARKER = "# installed by mc hooks install"


def _render(name: str) -> str:
    """The hook script, pinned to this interpreter and this mc.

    The hook runs with -S -E (no site scan, no PYTHON* variables: a few ms on every
    commit) and finds mc and its dependencies on the paths recorded here.
    """
    import yaml

    source = (data_dir("hooks") / name).read_text()
    body = source.split("\n", 1)[1]
    paths = []
    import mc

    for module_dir in (
        Path(mc.__file__).resolve().parent.parent,
        Path(yaml.__file__).resolve().parent.parent,
    ):
        if str(module_dir) not in paths:
            paths.append(str(module_dir))
    preamble = f"#!{sys.executable} -SE\n{MARKER}\nimport sys\nsys.path[:0] = {paths!r}\n"
    return preamble + body


def _hooks_dir(repo: Repo) -> Path:
    path = repo.hooks_dir()
    return path if path.is_absolute() else repo.root / path


def _install(target_dir: Path, names: tuple[str, ...], force: bool) -> list[Path]:
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        target = target_dir / name
        if target.exists() and MARKER not in target.read_text(errors="replace") and not force:
            raise PathExists(
                f"{target} exists and is not Mission Control's: move it away or use --force"
            )
        tmp = target.with_name(f".{name}.mc-tmp")
        tmp.write_text(_render(name))
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
        written.append(target)
    return written


def install_client(repo: Repo, force: bool = False) -> list[Path]:
    """The client hooks; the clone also remembers the board's first commit (for verify)."""
    written = _install(_hooks_dir(repo), CLIENT_HOOKS, force)
    remember_root(repo)
    return written


def remember_root(repo: Repo, ref: str = "HEAD") -> None:
    """Record the board's first commit as this repository's trust anchor, once."""
    if repo.config_get("mc.boardroot"):
        return
    roots = repo.roots(ref)
    if roots:
        repo.set_config("mc.boardRoot", roots[-1])


def install_server(bare: Repo, force: bool = False, branch: str | None = None) -> list[Path]:
    """pre-receive into a bare repository, which from then on knows its board branch.

    The branch (and the board's first commit) are recorded in the repository's own
    config: a push cannot change which branch is protected (by editing mc.yaml) or
    replace the board with a history of its own making (a new root).
    """
    if bare.work_tree is not None:
        raise InvalidInput(f"{bare.root} is not a bare repository (the server hook goes into one)")
    if branch is None:
        from mc.board.board import Board

        board = Board(bare)
        try:
            head = bare.symbolic_head()
            has_config = board.read_blob(f"HEAD:{CONFIG_FILE}") is not None
            branch = (
                board.config.branch
                if has_config
                else (head.removeprefix("refs/heads/") if head else "main")
            )
        finally:
            board.close()
    bare.set_config("mc.boardBranch", branch)
    roots = bare.roots(f"refs/heads/{branch}")
    if roots:
        bare.set_config("mc.boardRoot", roots[-1])
    return _install(bare.git_path("hooks"), SERVER_HOOKS, force)
