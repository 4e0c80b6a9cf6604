"""Pipeline figure (issues 4, 10): a project queued -> its agent process started inside
its sandbox. Not collected.

Run:  .venv/bin/python tests/bench/bench_pipeline.py [--runs 15]

`mc up`-like services in this process (the daemon with the dispatcher, one worker), a
board whose archetypes run a tiny agent that notes the time it started (in a folder its
runner is granted with `writable:`, the one way out of its sandbox); the queue is made
with the library (the same call `mc project queue` makes) and timed from the moment the
branch ref moves.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from mc.board import actions  # noqa: E402
from mc.board.board import Board  # noqa: E402
from mc.board.git import Repo  # noqa: E402
from mc.mirror.daemon import Daemon  # noqa: E402
from mc.pipeline import dispatch  # noqa: E402
from mc.pipeline.worker import Worker  # noqa: E402
from tests.bench.common import bench_database, machine, make_board, sh, summary  # noqa: E402

AGENT = """import os, sys, time
now = time.time()
path = os.path.join(os.environ["STARTED_DIR"], os.environ["MC_PROJECT_ID"])
open(path, "a").write(f"{now}\\n")
open(os.path.join(os.environ["MC_OUTPUT_DIR"], "report.md"), "w").write("# ok\\n")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with bench_database("mc-bench-pipeline-") as (tmp, url):
        board_path = make_board(tmp / "board", 100)
        agent = tmp / "agent.py"
        agent.write_text(AGENT)
        started_dir = tmp / "started"
        started_dir.mkdir()
        os.chmod(started_dir, 0o777)  # as root the agent is an unprivileged user
        os.environ["STARTED_DIR"] = str(started_dir)
        lines = "".join(
            f"  {a}: {{runner: timed, timeout: 60}}\n"
            for a in ("coder", "researcher", "writer", "ops", "reviewer")
        )
        lines += (
            f"runners:\n  timed: {{preset: command, command: [{sys.executable}, {agent}], "
            f"writable: [{started_dir}]}}\n"
        )
        (board_path / "mc.yaml").write_text(
            f"branch: main\narchetypes:\n{lines}lanes: {{in-progress: {{wip_limit: 100}}}}\n"
        )
        sh("git", "commit", "-q", "--no-verify", "-am", "bench runner", cwd=board_path)
        daemon = Daemon(board_path, url, poll=5, dispatch=dispatch.step)
        worker = Worker(board_path, url, poll=5)
        threads = [threading.Thread(target=daemon.run), threading.Thread(target=worker.run)]
        for t in threads:
            t.start()
        time.sleep(2)
        moved: list[float] = []
        original = Repo.update_ref

        def timed(self: Repo, ref: str, new: str, old: str | None, message: str) -> bool:
            ok = original(self, ref, new, old, message)
            if ok and "queue" in message:
                moved.append(time.time())
            return ok

        Repo.update_ref = timed  # type: ignore[method-assign]
        latencies = []
        try:
            with Board.open(board_path) as board:
                for i in range(args.runs):
                    pid = f"p{i:05d}"
                    actions.queue(board, pid)
                    deadline = time.time() + 30
                    while time.time() < deadline:
                        mark = started_dir / pid
                        found = (
                            [float(x) for x in mark.read_text().split()] if mark.exists() else []
                        )
                        if found:
                            latencies.append((found[0] - moved[-1]) * 1000)
                            break
                        time.sleep(0.002)
                    time.sleep(1.0)  # let review and the rest settle
        finally:
            Repo.update_ref = original  # type: ignore[method-assign]
            worker.request_stop()
            daemon.stop.set()
            daemon.wake.set()
            for t in threads:
                t.join(30)
        print(machine())
        print(
            f"project queued (ref moved) -> agent started in its sandbox: {summary(latencies)}"
            "   (target p50 <= 150; the first system: 15-45 s)"
        )
        print(f"  median {statistics.median(latencies):.0f} ms")


if __name__ == "__main__":
    main()
