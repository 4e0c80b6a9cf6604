"""What the benchmarks share: running commands, making big boards, summarising samples."""

from __future__ import annotations

import os
import statistics
import subprocess
from pathlib import Path

from mc.boardinit import init


def sh(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {proc.stderr}")
    return proc.stdout


def make_board(folder: Path, projects: int) -> Path:
    """A board made by mc init, with ``projects`` projects in the backlog (one commit)."""
    init(folder)
    for i in range(projects):
        (folder / "backlog" / f"p{i:05d}.yaml").write_text(
            f"title: Project {i}\narchetype: coder\npriority: {1 + i % 4}\n"
            "description: |\n  Something worth doing.\nlabels: [bench]\n"
        )
    sh("git", "add", "-A", cwd=folder)
    sh("git", "commit", "-q", "--no-verify", "-m", f"{projects} projects", cwd=folder)
    return folder


def summary(samples: list[float]) -> str:
    s = sorted(samples)
    p95 = s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]
    return f"median {statistics.median(s):7.1f} ms   p95 {p95:7.1f} ms   (n={len(s)})"


def isolated_git(tmp: Path) -> None:
    """A git identity of the benchmark's own, and bytecode kept between runs as people have it."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    home = tmp / "home"
    home.mkdir()
    os.environ.update(
        HOME=str(home), GIT_CONFIG_GLOBAL=str(home / ".gitconfig"), GIT_CONFIG_NOSYSTEM="1"
    )
    for key, value in (
        ("user.name", "Bench"),
        ("user.email", "bench@example.com"),
        ("init.defaultBranch", "main"),
    ):
        sh("git", "config", "--global", key, value, cwd=tmp)
