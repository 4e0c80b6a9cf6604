"""What the benchmarks share: running commands, making big boards, summarising samples."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mc.board.init import init


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


def make_board(folder: Path, projects: int, title: str = "Project {i}") -> Path:
    """A board made by mc init, with ``projects`` projects in the backlog (one commit);
    ``title`` is formatted with each project's number ``i``."""
    init(folder)
    for i in range(projects):
        (folder / "backlog" / f"p{i:05d}.yaml").write_text(
            f"title: {title.format(i=i)}\narchetype: coder\npriority: {1 + i % 4}\n"
            "description: |\n  Something worth doing.\nlabels: [bench]\n"
        )
    sh("git", "add", "-A", cwd=folder)
    sh("git", "commit", "-q", "--no-verify", "-m", f"{projects} projects", cwd=folder)
    return folder


def login(page: Any, origin: str, secret: str) -> None:
    """Signs ``page`` in through the one-time link, waiting (60 s at most) for the server
    to come up."""
    deadline = time.time() + 60
    while True:
        try:
            page.goto(f"{origin}/login?token={secret}")
            return
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


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


def machine() -> str:
    """The line every benchmark starts its report with."""
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )


@contextmanager
def bench_database(prefix: str) -> Iterator[tuple[Path, str]]:
    """A scratch folder with a git identity of its own and a running, migrated PostgreSQL
    of its own: (folder, database URL). Both are removed afterwards."""
    from mc.mirror import db
    from mc.mirror.embedded import Cluster

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    isolated_git(tmp)
    cluster = Cluster(tmp / "pg")
    cluster.init()
    cluster.start()
    try:
        db.ensure_database(cluster.url("postgres"), "mc")
        url = cluster.url("mc")
        with db.connect(url) as conn:
            db.migrate(conn)
            conn.commit()
        yield tmp, url
    finally:
        cluster.stop("immediate")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(cluster.root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def web_process(board: Path, url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real `mc web` process (with its daemon) for ``board``: (process, origin)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mc", "--board", str(board), "web", "--port", str(port)],
        env={**os.environ, "MC_DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
