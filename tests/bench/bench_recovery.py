"""Recovery figure (issue 4): a worker SIGKILLed mid-run -> its job running again, with
the default lease. Not collected.

Run:  .venv/bin/python tests/bench/bench_recovery.py [--jobs 5]

Real `mc worker` processes with the default lease (60 s) and poll (5 s), and the daemon
with the dispatcher in this process. Each job's agent hangs on its first attempt; when all
are running, every worker is killed with SIGKILL and as many fresh workers are started.
The figure is, per job, SIGKILL -> the agent of its second attempt started (one sample
per job, all killed at the same moment). It also checks that the killed workers' agents
are gone and that no project ever had two agents at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from mc.board import actions  # noqa: E402
from mc.board.board import Board  # noqa: E402
from mc.mirror.daemon import Daemon  # noqa: E402
from mc.pipeline import dispatch, jobs  # noqa: E402
from tests.bench.common import bench_database, machine, make_board, sh, summary  # noqa: E402

# First attempt: note the pid and hang. Later attempts: note the time and finish.
AGENT = """import os, sys, time
out = os.environ["MC_OUTPUT_DIR"]
first = os.path.basename(os.path.dirname(out)).endswith("-1")
with open(os.environ["STARTED_FILE"], "a") as f:
    f.write(f"{os.environ['MC_PROJECT_ID']} {int(first)} {time.time()} {os.getpid()}\\n")
if first:
    time.sleep(3600)
open(os.path.join(out, "report.md"), "w").write("# ok\\n")
"""


def _started(path: Path) -> list[tuple[str, bool, float, int]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        pid, first, at, proc = line.split()
        rows.append((pid, first == "1", float(at), int(proc)))
    return rows


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5)
    args = parser.parse_args()
    workers: list[subprocess.Popen[bytes]] = []
    with bench_database("mc-bench-recovery-") as (tmp, url):
        board_path = make_board(tmp / "board", args.jobs)
        agent = tmp / "agent.py"
        agent.write_text(AGENT)
        started_file = tmp / "started"
        lines = "".join(
            f"  {a}: {{runner: command, command: [{sys.executable}, {agent}], timeout: 600}}\n"
            for a in ("coder", "researcher", "writer", "ops", "reviewer")
        )
        (board_path / "mc.yaml").write_text(
            f"branch: main\narchetypes:\n{lines}lanes: {{in-progress: {{wip_limit: 100}}}}\n"
        )
        sh("git", "commit", "-q", "--no-verify", "-am", "bench runner", cwd=board_path)
        env = {**os.environ, "MC_DATABASE_URL": url, "STARTED_FILE": str(started_file)}
        argv = [sys.executable, "-m", "mc", "--board", str(board_path), "worker"]

        def start_workers() -> None:
            for _ in range(args.jobs):
                workers.append(
                    subprocess.Popen(
                        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                )

        start_workers()
        daemon = Daemon(board_path, url, poll=5, dispatch=dispatch.step)
        thread = threading.Thread(target=daemon.run)
        thread.start()
        try:
            with Board.open(board_path) as board:
                for i in range(args.jobs):
                    actions.queue(board, f"p{i:05d}")
            deadline = time.time() + 60
            while len(_started(started_file)) < args.jobs and time.time() < deadline:
                time.sleep(0.05)
            first = _started(started_file)
            assert len(first) == args.jobs, f"only {len(first)} agents started"
            time.sleep(1.0)  # a heartbeat or two
            killed_at = time.time()
            for w in workers:
                w.send_signal(signal.SIGKILL)
            for w in workers:
                w.wait()
            workers.clear()
            start_workers()
            orphans_gone = None
            deadline = time.time() + 180
            while time.time() < deadline:
                rows = _started(started_file)
                if orphans_gone is None and not any(_alive(p) for _, f, _, p in first if f):
                    orphans_gone = time.time() - killed_at
                if sum(1 for _, f, _, _ in rows if not f) >= args.jobs:
                    break
                time.sleep(0.05)
            again = {pid: at for pid, f, at, _ in _started(started_file) if not f}
            assert len(again) == args.jobs, f"only {len(again)} jobs ran again"
            samples = [(again[pid] - killed_at) * 1000 for pid, *_ in first]
            # Never two agents of one project at once: every first-attempt agent was
            # gone before any second attempt started.
            overlap = orphans_gone is None or orphans_gone * 1000 > min(samples)
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                try:
                    w.wait(40)
                except subprocess.TimeoutExpired:
                    w.kill()
            daemon.stop.set()
            daemon.wake.set()
            thread.join(30)
        print(machine())
        print(
            f"worker SIGKILL -> job running again (default lease {jobs.LEASE_SECONDS} s, "
            f"poll 5 s), {args.jobs} jobs killed at once: {summary(samples)}"
        )
        print(
            "  the killed workers' agents were gone "
            + (f"{orphans_gone * 1000:.0f} ms after the kill" if orphans_gone else "NOT (!)")
        )
        print(f"  never two agents of one project at once: {not overlap}")


if __name__ == "__main__":
    main()
