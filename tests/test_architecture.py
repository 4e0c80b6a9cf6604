"""The package's layout is its architecture, and imports point one way:

    mc.board     the board repository: files, rules, signatures, git     (imports no other layer)
    mc.mirror    PostgreSQL: the mirror, jobs' tables, tasks, tokens      (imports board)
    mc.pipeline  dispatch, workers, runners, sandbox                     (imports board, mirror)
    mc.machine   this machine: the demo board, doctor, services          (imports the three above)
    mc.web, mc.cli, mc.mcp                                               (import anything)

Lazy imports inside functions count as much as those at the top. The git hooks run on
every commit: their entry point imports mc.board and nothing heavier.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mc

PACKAGE = Path(mc.__file__).parent
SHARED = {"mc", "mc.errors", "mc.locks", "mc.resources", "mc.settings"}  # every layer may use these
LAYERS = ["mc.board", "mc.mirror", "mc.pipeline", "mc.machine"]
ADAPTERS = ["mc.web", "mc.cli", "mc.mcp"]


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mc":
                found += [(node.lineno, f"mc.{a.name}") for a in node.names]
            elif node.module.startswith("mc."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "<relative>"))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("mc.")]
    return found


def _layer(module: str) -> str | None:
    for name in LAYERS + ADAPTERS:
        if module == name or module.startswith(name + "."):
            return name
    return None


def _allowed(importer: str) -> set[str]:
    layer = _layer(importer)
    if layer in ADAPTERS:
        return set(LAYERS + ADAPTERS)
    if layer is None:  # a shared top-level module
        return set()
    return set(LAYERS[: LAYERS.index(layer) + 1])


def test_every_module_belongs_to_a_layer_or_is_shared() -> None:
    stray = [
        _module(p)
        for p in PACKAGE.rglob("*.py")
        if _layer(_module(p)) is None and _module(p) not in SHARED | {"mc.__main__", "mc.hookmain"}
    ]
    assert stray == [], "modules outside the layers: put each in mc.board/mirror/pipeline/..."


def test_imports_point_one_way() -> None:
    entry_points = {"mc.__main__", "mc.hookmain"}  # the CLI; hooks installed by earlier versions
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module(path)
        if importer in entry_points:
            continue
        for line, target in _imports(path):
            if target == "<relative>":
                wrong.append(f"{importer}:{line} uses a relative import (write mc.<layer>...)")
            elif target not in SHARED and _layer(target) not in _allowed(importer):
                wrong.append(f"{importer}:{line} imports {target}")
    assert wrong == []


def test_the_architecture_test_sees_a_wrong_import(tmp_path: Path) -> None:
    """The scan above would catch a board module reaching into the mirror."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from mc.mirror import db\n")
    assert _imports(bad) == [(2, "mc.mirror")]
    assert "mc.mirror" not in _allowed("mc.board.rules")
    assert "mc.board" in _allowed("mc.pipeline.worker")
    assert "mc.web" not in _allowed("mc.pipeline.worker")


def test_the_hooks_import_only_the_board() -> None:
    """What a commit pays for: the hook's imports, measured in a fresh interpreter."""
    probe = (
        "import sys\nimport mc.board.hooks.run\nprint('\\n'.join(sorted(m for m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    ours = [m for m in out if m == "mc" or m.startswith("mc.")]
    assert all(m in SHARED or m.startswith("mc.board") for m in ours), ours
    heavy = {"psycopg", "pydantic", "typer", "starlette", "uvicorn", "git", "watchdog"}
    assert heavy.isdisjoint(out)
