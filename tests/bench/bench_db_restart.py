"""Workers after a PostgreSQL crash (issue 12.12). Not collected.

Run:  .venv/bin/python tests/bench/bench_db_restart.py [--runs 5]

A real `mc up` on its embedded PostgreSQL, two workers, an agent that notes when it
starts. Each run: `kill -9` of the postmaster (the whole cluster goes), then at once a
project is queued with `mc project queue` (git needs no database). Reported: postmaster
SIGKILL -> that project's agent started, which is the daemon noticing and restarting the
cluster, the workers reconnecting (backoff 0.2 s doubling to 5 s) and claiming, and the
sandbox start.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from tests.bench.common import isolated_git, machine, make_board, sh, summary  # noqa: E402

AGENT = """import os, time
open(os.path.join(os.environ["STARTED_DIR"], os.environ["MC_PROJECT_ID"]), "a").write(
    f"{time.time()}\\n")
open(os.path.join(os.environ["MC_OUTPUT_DIR"], "report.md"), "w").write("# ok\\n")
if os.environ["MC_ARCHETYPE"] == "reviewer":
    open(os.path.join(os.environ["MC_OUTPUT_DIR"], "verdict.json"), "w").write(
        '{"verdict": "pass", "notes": "ok"}')
"""


def _postmaster(board: Path) -> int | None:
    try:
        return int((board / ".mc" / "pg" / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait(path: Path, seconds: float) -> float | None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if path.exists() and (text := path.read_text().split()):
            return float(text[0])
        time.sleep(0.01)
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-restart-"))
    isolated_git(tmp)
    board = make_board(tmp / "board", args.runs + 1)
    agent, started = tmp / "agent.py", tmp / "started"
    agent.write_text(AGENT)
    started.mkdir()
    os.chmod(started, 0o777)  # as root the agent is an unprivileged user
    lines = "".join(
        f"  {a}: {{runner: timed, timeout: 60}}\n" for a in ("coder", "writer", "reviewer")
    )
    (board / "mc.yaml").write_text(
        f"branch: main\narchetypes:\n{lines}"
        f"runners:\n  timed: {{preset: command, command: [{sys.executable}, {agent}], "
        f"writable: [{started}]}}\n"
    )
    sh("git", "commit", "-q", "--no-verify", "-am", "bench runner", cwd=board)
    env = {k: v for k, v in os.environ.items() if k != "MC_DATABASE_URL"}  # embedded
    env["STARTED_DIR"] = str(started)
    up = subprocess.Popen(
        [sys.executable, "-m", "mc", "--board", str(board), "up", "--port", "0", "--poll", "5"],
        env=env,
        stdout=open(os.environ.get("BENCH_LOG", os.devnull), "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    samples: list[float] = []
    try:
        # Warm: the first project runs before any crash.
        sh(sys.executable, "-m", "mc", "project", "queue", "p00000", cwd=board, env=env)
        if _wait(started / "p00000", 60) is None:
            raise SystemExit("mc up did not run the first project")
        for n in range(1, args.runs + 1):
            time.sleep(2)  # the previous project's review settles
            postmaster = _postmaster(board)
            assert postmaster is not None
            killed = time.time()
            os.kill(postmaster, signal.SIGKILL)
            pid = f"p{n:05d}"
            sh(sys.executable, "-m", "mc", "project", "queue", pid, cwd=board, env=env)
            at = _wait(started / pid, 120)
            if at is None:
                raise SystemExit(f"run {n}: {pid} never started after the crash")
            samples.append((at - killed) * 1000)
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.wait(60)
    print(machine())
    print(f"postmaster SIGKILL -> a project queued then has its agent started: {summary(samples)}")


if __name__ == "__main__":
    main()
