"""Sandbox figures (issue 10). Not collected.

Run:  .venv/bin/python tests/bench/bench_sandbox.py [--runs 15] [--stops 5]

1. The cost of the sandbox: `true` started plainly and inside bwrap (the argv mc builds
   for a job, as the agent user when root), and the same through the guard
   (mc.execute.run_agent), which every agent has either way.
2. Ctrl-C of `mc up` with 3 running agents (each in its own sandbox, each with a
   `setsid` child) -> every process of them gone and `mc up` exited, the embedded
   PostgreSQL stopped.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from mc.pipeline import sandbox  # noqa: E402
from mc.pipeline.execute import agent_env, run_agent  # noqa: E402
from tests.bench.common import isolated_git, machine, sh, summary  # noqa: E402

HANG = """import os, subprocess, sys, time
subprocess.Popen(["setsid", "sleep", "3600"], start_new_session=True)
print("working", flush=True)
time.sleep(3600)
"""


def _plan(folder: Path, command: list[str]) -> sandbox.Plan:
    for name in ("ws", "out", "home"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    brief = folder / "brief.md"
    brief.write_text("# Brief\n")
    return sandbox.Plan(
        tuple(command), folder / "ws", folder / "out", brief, folder / "home",
        read_only=sandbox.runtime_paths(command, os.environ.get("PATH")),
    )  # fmt: skip


def overhead(runs: int) -> None:
    user = sandbox.agent_user()
    with tempfile.TemporaryDirectory() as tmp:
        plan = _plan(Path(tmp), ["/bin/true"])
        sandbox.hand_over([Path(tmp)], user)
        boxed = sandbox.argv(plan, user)
        env = sandbox.environment(agent_env({}), plan.home, user)
        plain_ms, boxed_ms, guard_plain, guard_boxed = [], [], [], []
        for _ in range(runs):
            for argv, into in ((["/bin/true"], plain_ms), (boxed, boxed_ms)):
                started = time.perf_counter()
                subprocess.run(argv, check=True, env=env)
                into.append((time.perf_counter() - started) * 1000)
            for argv, into, confined in (
                (["/bin/true"], guard_plain, False),
                (boxed, guard_boxed, True),
            ):
                started = time.perf_counter()
                result = run_agent(
                    argv, cwd=plan.workspace, env=env, timeout=30,
                    on_output=lambda _s, _t: None, beat=lambda: None, sandboxed=confined,
                )  # fmt: skip
                assert result.code == 0
                into.append((time.perf_counter() - started) * 1000)
    print(f"`true`, plain:                       {summary(plain_ms)}")
    print(f"`true`, in its sandbox:              {summary(boxed_ms)}")
    added = statistics.median(boxed_ms) - statistics.median(plain_ms)
    print(f"  sandbox start added: {added:.1f} ms (median; target <= 15)")
    print(f"through the guard, plain:            {summary(guard_plain)}")
    print(f"through the guard, in its sandbox:   {summary(guard_boxed)}")
    added = statistics.median(guard_boxed) - statistics.median(guard_plain)
    print(f"  added with the guard: {added:.1f} ms (median)")


def _marked(mark: str) -> list[int]:
    needle = f"BENCH_MARK={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def stops(times: int) -> None:
    from mc.board.init import init

    samples = []
    with tempfile.TemporaryDirectory(prefix="mc-bench-stop-") as tmp_name:
        tmp = Path(tmp_name)
        isolated_git(tmp)
        board = tmp / "board"
        init(board)
        agent = tmp / "hang.py"
        agent.write_text(HANG)
        runner = f"{{runner: command, command: [{sys.executable}, {agent}], timeout: 3600}}"
        (board / "mc.yaml").write_text(
            "branch: main\narchetypes:\n"
            + "".join(f"  {a}: {runner}\n" for a in ("coder", "writer", "reviewer"))
            + "lanes: {in-progress: {wip_limit: 10}}\n"
        )
        sh("git", "commit", "-q", "--no-verify", "-am", "hanging agents", cwd=board)
        for i in range(3):
            sh(sys.executable, "-m", "mc", "project", "new", f"P{i}", "-a", "coder", "--queue",
               cwd=board)  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "MC_DATABASE_URL"}
        for _ in range(times):
            mark = uuid.uuid4().hex
            up = subprocess.Popen(
                [sys.executable, "-m", "mc", "--board", str(board), "up", "--port", "0",
                 "--workers", "3"],
                env={**env, "BENCH_MARK": mark}, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                agents = [p for p in _marked(mark) if _is_agent(p)]
                if len(agents) >= 6:  # 3 agents and their setsid children
                    break
                time.sleep(0.1)
            else:
                raise SystemExit("3 agents did not start")
            time.sleep(0.5)
            started = time.perf_counter()
            os.killpg(up.pid, signal.SIGINT)
            up.wait(60)
            while _marked(mark):
                time.sleep(0.01)
            samples.append((time.perf_counter() - started) * 1000)
    print(f"Ctrl-C of mc up, 3 running agents -> every process gone: {summary(samples)}")
    print(f"  median {statistics.median(samples) / 1000:.2f} s (target <= 5 s)")


def _is_agent(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"hang.py" in cmdline or cmdline.startswith(b"sleep\0")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--stops", type=int, default=5)
    args = parser.parse_args()
    reason = sandbox.unavailable()
    if reason:
        raise SystemExit(f"no sandbox here: {reason}")
    print(machine())
    overhead(args.runs)
    stops(args.stops)


if __name__ == "__main__":
    main()
