"""Database-mirror figures (issue 3). Not collected by pytest.

Run:  .venv/bin/python tests/bench/bench_mirror.py [--runs 30]

1. commit -> row updated and NOTIFY received, with the real `mc daemon` running: from
   the moment the branch ref moves (timed in the committing process) to the NOTIFY
   arriving on a LISTEN connection; plus the daemon's own part (ref event -> NOTIFY,
   from its log) and how many syncs/NOTIFYs the commits caused.
2. cold full resync (`Syncer.rebuild`, COPY) of 10,000 projects, in a fresh process
   without the parse cache, and with it.
3. incremental sync of a one-file commit on 10,000 vs 100 projects.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from mc.board import actions  # noqa: E402
from mc.board.board import Board  # noqa: E402
from mc.board.git import Repo  # noqa: E402
from mc.mirror import db  # noqa: E402
from mc.mirror.embedded import Cluster  # noqa: E402
from mc.mirror.sync import Syncer  # noqa: E402
from tests.bench.common import isolated_git, make_board, sh, summary  # noqa: E402


def fresh_db(cluster: Cluster, name: str) -> str:
    db.ensure_database(cluster.url("postgres"), name)
    url = cluster.url(name)
    with db.connect(url) as conn:
        db.migrate(conn)
        conn.commit()
    return url


class Listener(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.conn = db.connect(url, autocommit=True)
        self.conn.execute("LISTEN mc_board")
        self.events: list[tuple[float, dict[str, object]]] = []
        self.stop = False

    def run(self) -> None:
        while not self.stop:
            for note in self.conn.notifies(timeout=0.2):
                self.events.append((time.perf_counter(), json.loads(note.payload)))

    def wait_for(self, commit: str, timeout: float = 10.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for at, payload in self.events:
                if payload.get("commit") == commit:
                    return at
            time.sleep(0.0005)
        raise SystemExit(f"no NOTIFY for {commit} within {timeout}s")


def bench_commit_to_notify(tmp: Path, cluster: Cluster, runs: int) -> None:
    board_path = make_board(tmp / "b100", 100)
    url = fresh_db(cluster, "daemon")
    log_path = tmp / "daemon.log"
    with open(log_path, "w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "mc", "--board", str(board_path), "daemon", "--poll", "30"],
            env={**os.environ, "MC_DATABASE_URL": url},
            stdout=log,
            stderr=log,
        )
    listener = Listener(url)
    listener.start()
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with db.connect(url) as conn:
                row = db.fetch_one(conn, "meta_get", {"key": "last_synced_commit"})
            if row:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        listener.events.clear()
        ref_moved: list[float] = []
        original = Repo.update_ref

        def timed_update_ref(self: Repo, ref: str, new: str, old: str | None, message: str) -> bool:
            ok = original(self, ref, new, old, message)
            if ok:
                ref_moved.append(time.perf_counter())
            return ok

        Repo.update_ref = timed_update_ref  # type: ignore[method-assign]
        latencies = []
        with Board.open(board_path) as board:
            for i in range(runs):
                ref_moved.clear()
                commit = actions.queue(board, f"p{i:05d}").commit
                latencies.append((listener.wait_for(commit) - ref_moved[-1]) * 1000)
                time.sleep(0.05)
        Repo.update_ref = original  # type: ignore[method-assign]
        # Through the CLI, as a person would (its own time shown separately).
        cli_times, cli_latency = [], []
        for i in range(runs, runs + min(10, runs)):
            start = time.perf_counter()
            sh(sys.executable, "-m", "mc", "project", "queue", f"p{i:05d}", cwd=board_path)
            end = time.perf_counter()
            tip = sh("git", "rev-parse", "HEAD", cwd=board_path).strip()
            cli_times.append((end - start) * 1000)
            cli_latency.append((listener.wait_for(tip) - start) * 1000)
        time.sleep(1.0)
        commits = runs + min(10, runs)
        notifies = len([p for _, p in listener.events if p.get("kind") == "sync"])
    finally:
        daemon.terminate()
        daemon.wait(30)
        listener.stop = True
    own = [float(m) for m in re.findall(r"([\d.]+) ms after the ref event", log_path.read_text())]
    print(
        f"commit -> NOTIFY received (ref moved -> LISTEN)     {summary(latencies)}"
        "   (target p50 <= 60, p95 <= 100)"
    )
    print(
        f"  the daemon's own part (ref event -> NOTIFY)       {summary(own[-commits:])}"
        "   (target <= 10)"
    )
    print(f"  `mc project queue` start -> NOTIFY (CLI included) {summary(cli_latency)}")
    print(f"  `mc project queue` alone                          {summary(cli_times)}")
    print(
        f"  {commits} commits -> {notifies} NOTIFYs, {len(own[-commits:])} sync transactions logged"
    )


def bench_resync(tmp: Path, cluster: Cluster) -> None:
    board_path = make_board(tmp / "b10k", 10_000)
    code = (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from mc import db; from mc.board import Board; from mc.sync import Syncer\n"
        "b = Board.open(%r); c = db.connect(%r)\n"
        "t = time.perf_counter(); r = Syncer(b).rebuild(c); e = time.perf_counter()\n"
        "b.close(); print((e - t) * 1000, len(r.projects))\n"
    )
    cold, warm = [], []
    for i in range(5):
        url = fresh_db(cluster, f"resync{i}")
        cache = Path(board_path) / ".git" / "mc" / "parsed.pickle"
        cache.unlink(missing_ok=True)
        out = sh(sys.executable, "-c", code % (str(HERE.parents[2]), str(board_path), url), cwd=tmp)
        cold.append(float(out.split()[0]))
        url = fresh_db(cluster, f"resyncw{i}")
        out = sh(sys.executable, "-c", code % (str(HERE.parents[2]), str(board_path), url), cwd=tmp)
        warm.append(float(out.split()[0]))
    print(
        f"full resync, 10,000 projects, no parse cache (cold)  {summary(cold)}   (target <= 1500)"
    )
    print(f"full resync, 10,000 projects, parse cache present    {summary(warm)}")

    def incremental(path: Path, runs: int) -> list[float]:
        url = fresh_db(cluster, f"inc{path.name}")
        out = []
        with Board.open(path) as board, db.connect(url) as conn:
            syncer = Syncer(board)
            syncer.sync(conn)
            for i in range(runs):
                actions.queue(board, f"p{i + 200:05d}")
                board.refresh()
                t = time.perf_counter()
                syncer.sync(conn)
                out.append((time.perf_counter() - t) * 1000)
        return out

    small = make_board(tmp / "b100i", 300)
    big_times = incremental(board_path, 15)
    small_times = incremental(small, 15)
    ratio = statistics.median(big_times) / statistics.median(small_times)
    print(f"incremental sync, one-file commit, 10,000 projects   {summary(big_times)}")
    print(f"incremental sync, one-file commit, 300 projects      {summary(small_times)}")
    print(f"  ratio 10,000 : 300 = {ratio:.2f}   (target <= 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-mirror-"))
    isolated_git(tmp)
    cluster = Cluster(tmp / "pg")
    cluster.init()
    cluster.start()
    try:
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, PostgreSQL from {cluster.bindir}"
        )
        bench_commit_to_notify(tmp, cluster, args.runs)
        bench_resync(tmp, cluster)
    finally:
        cluster.stop("immediate")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(cluster.root, ignore_errors=True)


if __name__ == "__main__":
    main()
