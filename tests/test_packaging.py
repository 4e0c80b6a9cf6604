"""A real, non-editable `pip install` of the project into a fresh virtual environment.

DESIGN: "A non-editable `pip install .` must ship `board/`, `webui/` and `hooks/` with the
package." The install is done once for the module (it takes tens of seconds: pip builds
the wheel with hatchling fetched from PyPI); the tests then use only that environment's
own `mc`, `missionctl` and python, from folders outside the source tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import git, head, write

SOURCE = Path(__file__).resolve().parents[1]
SHIPPED = ("board", "webui", "hooks")


@dataclass(frozen=True)
class Installed:
    venv: Path
    purelib: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def package(self) -> Path:
        return self.purelib / "mc"


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without anything that would point python at the source tree."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env.update(extra or {})
    return env


def run(
    args: list[str | Path], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=timeout,
    )


def files_under(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`python -m venv` + `pip install <source>` (a normal, isolated, non-editable build)."""
    base = tmp_path_factory.mktemp("packaging")
    venv = base / "venv"
    proc = run([sys.executable, "-m", "venv", venv], cwd=base)
    assert proc.returncode == 0, proc.stderr
    python = venv / "bin" / "python"
    proc = run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", SOURCE],
        cwd=base,
        timeout=900,
    )
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    proc = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=base
    )
    assert proc.returncode == 0, proc.stderr
    return Installed(venv, Path(proc.stdout.strip()))


def test_the_install_is_not_editable(installed: Installed, tmp_path: Path) -> None:
    proc = run(
        [
            installed.python,
            "-c",
            "import mc, mc.resources as r; print(mc.__file__); "
            "print(r.data_dir('board')); print(r.data_dir('webui')); print(r.data_dir('hooks'))",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    module, board, webui, hooks = (Path(line) for line in proc.stdout.splitlines())
    assert module == installed.package / "__init__.py"
    assert board == installed.package / "_data" / "board"
    assert webui == installed.package / "_data" / "webui"
    assert hooks == installed.package / "_data" / "hooks"

    (dist_info,) = installed.purelib.glob("mc-*.dist-info")
    direct_url = dist_info / "direct_url.json"
    if direct_url.exists():
        info = json.loads(direct_url.read_text())
        assert not info.get("dir_info", {}).get("editable", False)
    assert not list(installed.purelib.glob("__editable__*"))
    assert not [
        p for p in installed.purelib.glob("*.pth") if str(SOURCE) in p.read_text(errors="replace")
    ]


@pytest.mark.parametrize("name", SHIPPED)
def test_data_folders_are_shipped(installed: Installed, name: str) -> None:
    shipped = installed.package / "_data" / name
    assert shipped.is_dir(), f"{name}/ is not in the installed package"
    source = files_under(SOURCE / name)
    assert files_under(shipped) == source


def test_board_skeleton_and_hooks_are_complete(installed: Installed) -> None:
    data = installed.package / "_data"
    for lane in ("backlog", "up-next", "in-progress", "review", "done"):
        assert (data / "board" / lane / ".gitkeep").is_file()
    for name in ("mc.yaml", ".gitignore", ".mc/allowed_signers"):
        assert (data / "board" / name).is_file()
    assert list((data / "board" / "templates").glob("*.yaml"))
    for hook in ("pre-commit", "commit-msg", "pre-receive"):
        assert (data / "hooks" / hook).is_file()


@pytest.mark.parametrize("script", ["mc", "missionctl"])
def test_console_scripts_run(installed: Installed, tmp_path: Path, script: str) -> None:
    exe = installed.bin / script
    assert exe.is_file()
    assert exe.read_text().splitlines()[0].startswith(f"#!{installed.bin}/python")
    proc = run([exe, "--help"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"Usage: {script} " in proc.stdout
    for command in ("init", "project", "approve", "approvers", "template", "hooks", "verify"):
        assert command in proc.stdout
    proc = run([exe, "project", "--help"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for command in ("new", "list", "show", "edit", "queue", "move", "cancel", "delete"):
        assert command in proc.stdout


def test_init_from_the_installed_package(installed: Installed, tmp_path: Path) -> None:
    proc = run([installed.bin / "mc", "init", "board"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    board = tmp_path / "board"
    assert int(git(board, "rev-list", "--count", "HEAD").stdout) == 1
    shipped = installed.package / "_data" / "board" / "templates"
    for template in shipped.glob("*.yaml"):
        assert (board / "templates" / template.name).read_bytes() == template.read_bytes()

    # The installed hooks run with this environment's python and this install of mc.
    for name in ("pre-commit", "commit-msg"):
        text = (board / ".git" / "hooks" / name).read_text()
        shebang, *rest = text.splitlines()
        assert shebang.startswith(f"#!{installed.bin}/python")
        path_line = next(line for line in rest if line.startswith("sys.path[:0] = "))
        assert str(installed.purelib) in path_line
        assert str(SOURCE) not in path_line

    # A bad file is refused by the hook...
    write(board / "backlog" / "bad.yaml", "title: [unclosed\n")
    git(board, "add", "backlog/bad.yaml")
    before = head(board)
    proc = git(board, "commit", "-q", "-m", "bad", check=False)
    assert proc.returncode != 0
    assert "backlog/bad.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert head(board) == before
    git(board, "rm", "-q", "--cached", "backlog/bad.yaml")
    (board / "backlog" / "bad.yaml").unlink()

    # ...a move straight to done too, while a good file goes through.
    write(board / "done" / "cheat.yaml", "title: Cheat\narchetype: coder\n")
    git(board, "add", "done/cheat.yaml")
    proc = git(board, "commit", "-q", "-m", "cheat", check=False)
    assert proc.returncode != 0
    assert "done/cheat.yaml" in proc.stderr
    assert head(board) == before
    git(board, "rm", "-q", "--cached", "done/cheat.yaml")
    (board / "done" / "cheat.yaml").unlink()

    write(board / "backlog" / "good.yaml", "title: Good\narchetype: coder\n")
    git(board, "add", "backlog/good.yaml")
    proc = git(board, "commit", "-q", "-m", "good", check=False)
    assert proc.returncode == 0, proc.stderr
    assert head(board) != before

    # And the installed CLI works on the board it made.
    proc = run([installed.bin / "missionctl", "project", "list", "--json"], cwd=board)
    assert proc.returncode == 0, proc.stderr
    assert [row["id"] for row in json.loads(proc.stdout)] == ["good"]
    proc = run([installed.bin / "mc", "verify"], cwd=board)
    assert proc.returncode == 0, proc.stdout + proc.stderr
