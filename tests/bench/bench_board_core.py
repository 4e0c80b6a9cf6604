"""Board-core figures (issue 2): hooks and CLI wall times on a 1,000-project board.

Run:  .venv/bin/python tests/bench/bench_board_core.py [--runs 15] [--projects 1000]

Every figure is a wall time of a real process (Python start included), reported as
median and p95 over the runs. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from tests.bench.common import isolated_git, make_board, sh  # noqa: E402

MC = [sys.executable, "-m", "mc"]
BIN = Path(sys.executable).parent / "mc"


def timed(fn: Callable[[int], object], runs: int) -> list[float]:
    fn(-1)  # warm the page cache
    out = []
    for i in range(runs):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def report(name: str, samples: list[float], target: str) -> None:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    print(
        f"{name:<58} median {statistics.median(samples):7.1f} ms   "
        f"p95 {p95:7.1f} ms   (target {target})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--projects", type=int, default=1000)
    args = parser.parse_args()
    runs, n = args.runs, args.projects

    # Python keeps compiled bytecode between runs, as people have it (this sandbox
    # sets PYTHONDONTWRITEBYTECODE, which would recompile every import each time).
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-"))
    isolated_git(tmp)
    try:
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"{_cpu()}, Python {platform.python_version()}, "
            f"{sh('git', '--version', cwd=tmp).strip()}"
        )
        print(f"board: {n} projects, {runs} runs each\n")
        board = make_board(tmp / "board", n)

        # pre-commit with a one-file change staged.
        target = board / "backlog" / "p00000.yaml"
        target.write_text(target.read_text() + "owner: someone\n")
        sh("git", "add", str(target), cwd=board)
        hook = board / ".git" / "hooks" / "pre-commit"
        report(
            f"pre-commit, one-file change, {n} projects",
            timed(lambda i: sh(hook, cwd=board), runs),
            "<= 60 ms",
        )
        sh("git", "reset", "-q", "--hard", cwd=board)

        report("mc --help", timed(lambda i: sh(BIN, "--help", cwd=board), runs), "<= 80 ms")
        report(
            f"mc project list --json, {n} projects",
            timed(lambda i: sh(BIN, "project", "list", "--json", cwd=board), runs),
            "<= 150 ms",
        )
        report(
            f"mc project queue, {n} projects",
            timed(lambda i: sh(BIN, "project", "queue", f"p{i + 1:05d}", cwd=board), runs),
            "<= 120 ms",
        )

        # pre-receive: a push of 100 commits to a bare repository with the server hook.
        bare = tmp / "server.git"
        sh("git", "clone", "-q", "--bare", board, bare, cwd=tmp)
        sh(BIN, "hooks", "install", "--server", bare, cwd=tmp)
        clone = tmp / "clone"
        sh("git", "clone", "-q", bare, clone, cwd=tmp)
        old = sh("git", "rev-parse", "HEAD", cwd=clone).strip()
        for i in range(100):
            path = clone / "backlog" / f"p{(i + 500):05d}.yaml"
            path.write_text(path.read_text() + f"owner: person{i}\n")
            sh("git", "commit", "-q", "--no-verify", "-am", f"edit {i}", cwd=clone)
        new = sh("git", "rev-parse", "HEAD", cwd=clone).strip()
        sh("git", "fetch", "-q", clone, "+main:refs/bench/new", cwd=bare)
        pre_receive = bare / "hooks" / "pre-receive"
        report(
            f"pre-receive, push of 100 commits, {n} projects",
            timed(
                lambda i: sh(pre_receive, cwd=bare, stdin=f"{old} {new} refs/heads/main\n"),
                max(5, runs // 3),
            ),
            "report",
        )
        report(
            "mc verify, whole history (103 commits)",
            timed(lambda i: sh(BIN, "verify", cwd=clone), max(5, runs // 3)),
            "report",
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
