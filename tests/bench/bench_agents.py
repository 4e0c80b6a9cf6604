"""Real agent CLIs (issue 11), per preset. Not collected.

Run:  .venv/bin/python tests/bench/bench_agents.py [--runs 5] [--presets claude,codex,...]

1. The streaming parser: each preset's line reader (the job log in words) and judge over
   10,000 events of its CLI's own format.
2. With the real CLI (make agent-clis) in its sandbox against the local stand-in of its
   API, through the pipeline (daemon + dispatcher + one worker in this process):
   queue (the ref moved) -> the agent's first log line, and queue -> ready_for_human
   (work, then review: two CLI runs, two tool calls, two answers).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from mc.board import actions  # noqa: E402
from mc.board.board import Board  # noqa: E402
from mc.board.git import Repo  # noqa: E402
from mc.mirror import db  # noqa: E402
from mc.mirror.daemon import Daemon  # noqa: E402
from mc.pipeline import dispatch  # noqa: E402
from mc.pipeline.runners import PRESETS, Outcome, Run  # noqa: E402
from mc.pipeline.worker import Worker  # noqa: E402
from tests.bench.common import bench_database, machine, make_board, sh, summary  # noqa: E402
from tests.standin import Script, StandinServer, Turn, serve  # noqa: E402

AGENTS = HERE.parents[2] / ".venv" / "agents"
PATHS = [AGENTS / "node_modules/.bin", AGENTS / "aider/bin", AGENTS / "openclaw/node_modules/.bin"]
NODE24 = AGENTS / "node24/node_modules/.bin"

SAMPLE = {
    "claude": [
        {"type": "assistant", "message": {"content": [
            {"type": "tool_use", "id": "t1", "name": "Write", "input": {"file_path": "/o/r.md"}}]}},
        {"type": "user", "message": {"content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}},
        {"type": "assistant", "message": {"content": [{"type": "text", "text": "Done."}]}},
    ],
    "codex": [
        {"type": "item.started", "item": {"type": "command_execution", "command": "ls"}},
        {"type": "item.completed", "item": {"type": "command_execution", "status": "completed",
                                            "exit_code": 0}},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "Done."}},
    ],
    "gemini": [
        {"type": "tool_use", "tool_name": "write_file", "tool_id": "w",
         "parameters": {"file_path": "/o"}},
        {"type": "tool_result", "tool_id": "w", "status": "success"},
        {"type": "message", "role": "assistant", "content": "Done.", "delta": True},
    ],
}  # fmt: skip
FINAL = {
    "claude": {"type": "result", "is_error": False, "result": "Done.", "total_cost_usd": 0.01,
               "usage": {"input_tokens": 10, "output_tokens": 5}, "permission_denials": []},
    "codex": {"type": "turn.completed", "usage": {"input_tokens": 10, "output_tokens": 5}},
    "gemini": {"type": "result", "status": "success", "stats": {"input_tokens": 10}},
}  # fmt: skip


def parser_cost() -> None:
    import tempfile

    out = Path(tempfile.mkdtemp())
    run = Run("p", 1, "work", "writer", None, "", out / "brief.md", out, out)
    for name, sample in SAMPLE.items():
        lines = [json.dumps(sample[i % len(sample)]) for i in range(10_000)]
        read = PRESETS[name].reader()
        started = time.perf_counter()
        for line in lines:
            read(line)
        reading = (time.perf_counter() - started) * 1000
        text = "\n".join([*lines, json.dumps(FINAL[name])]) + "\n"
        started = time.perf_counter()
        verdict = PRESETS[name].judge(run, Outcome(0, text))
        judging = (time.perf_counter() - started) * 1000
        assert verdict.ok, verdict
        print(f"  {name:<7} 10k events: read in words {reading:6.1f} ms, judged {judging:6.1f} ms")


# ---------------------------------------------------------------------- real CLIs


def _write(name: str, path: str, content: str) -> Turn:
    if name == "claude":
        return Turn(tool="Write", args={"file_path": path, "content": content})
    if name == "gemini":
        return Turn(tool="write_file", args={"file_path": path, "content": content})
    if name == "codex":
        return Turn(tool="exec_command", args={"cmd": f"printf '%s' '{content}' > {path}"})
    if name == "openclaw":
        return Turn(tool="write", args={"path": path.rsplit("/", 1)[-1], "content": content})
    return Turn(text=f"{path.rsplit('/', 1)[-1]}\n```\n{content}\n```\n")  # aider, whole format


def _serve(name: str, home: Path) -> tuple[StandinServer, str, str]:
    """The stand-in for the preset's API; its env and settings, as a person has them."""
    turns: list[Turn] = []
    report = _write(name, "{output_dir}/report.md", "# Report")
    verdict = _write(name, "{output_dir}/verdict.json", '{"verdict": "pass", "notes": "ok"}')
    for _ in range(1000):  # work (write, answer), review (verdict, answer), again and again
        if name == "aider":  # one reply per run: the edit is the answer
            turns += [report, verdict]
        else:
            turns += [report, Turn(text="Done."), verdict, Turn(text="Reviewed.")]
    script = Script(turns)
    if name == "claude":
        from tests.standin.anthropic import AnthropicHandler

        server = serve(AnthropicHandler, script)
        os.environ.update(ANTHROPIC_BASE_URL=server.url, ANTHROPIC_API_KEY="sk-ant",
                          CLAUDE_CODE_MAX_RETRIES="0")  # fmt: skip
        return server, "claude", "sonnet"
    if name == "codex":
        from tests.standin.openai_responses import ResponsesHandler, config_toml

        server = serve(ResponsesHandler, script)
        (home / ".codex").mkdir(parents=True, exist_ok=True)
        (home / ".codex" / "config.toml").write_text(config_toml(server))
        os.environ["STANDIN_API_KEY"] = "sk"
        return server, "codex", "gpt-5.5"
    if name == "gemini":
        from tests.standin.gemini import GeminiHandler

        server = serve(GeminiHandler, script)
        (home / ".gemini").mkdir(parents=True, exist_ok=True)
        (home / ".gemini" / "settings.json").write_text('{"general": {"maxAttempts": 1}}')
        os.environ.update(GOOGLE_GEMINI_BASE_URL=server.url, GEMINI_API_KEY="k")
        return server, "gemini", "gemini-2.5-flash"
    from tests.standin.openai_chat import ChatHandler

    server = serve(ChatHandler, script)
    if name == "aider":
        os.environ.update(OPENAI_API_BASE=f"{server.url}/v1", OPENAI_API_KEY="sk")
        return server, "aider", "openai/gpt-4o"
    provider = {"baseUrl": f"{server.url}/v1", "api": "openai-completions", "apiKey": "sk",
                "models": [{"id": "gpt-4o", "name": "x", "reasoning": False, "input": ["text"],
                            "cost": {"input": 2.5, "output": 10, "cacheRead": 0, "cacheWrite": 0},
                            "contextWindow": 128000, "maxTokens": 4096}]}  # fmt: skip
    (home / ".openclaw").mkdir(parents=True, exist_ok=True)
    (home / ".openclaw" / "openclaw.json").write_text(
        json.dumps({"models": {"mode": "replace", "providers": {"standin": provider}}})
    )
    return server, "openclaw", "standin/gpt-4o"


def loop(name: str, runs: int) -> None:
    with bench_database(f"mc-bench-agents-{name}-") as (tmp, url):
        home = Path(os.environ["HOME"])
        path = os.pathsep.join(str(p) for p in PATHS)
        if name == "openclaw":
            path = f"{NODE24}{os.pathsep}{path}"
        os.environ["PATH"] = f"{path}{os.pathsep}{os.environ['PATH']}"
        server, runner, model = _serve(name, home)
        board_path = make_board(tmp / "board", runs)
        args = ", args: [--edit-format, whole]" if name == "aider" else ""
        spec = f"{{runner: {runner}, model: {model}, timeout: 300, max_attempts: 1{args}}}"
        (board_path / "mc.yaml").write_text(
            "branch: main\narchetypes:\n"
            + "".join(f"  {a}: {spec}\n" for a in ("coder", "reviewer"))
            + "lanes: {in-progress: {wip_limit: 100}}\n"
        )
        sh("git", "commit", "-q", "--no-verify", "-am", f"{name} agents", cwd=board_path)
        daemon = Daemon(board_path, url, poll=5, dispatch=dispatch.step)
        worker = Worker(board_path, url, poll=5)
        threads = [threading.Thread(target=daemon.run), threading.Thread(target=worker.run)]
        for t in threads:
            t.start()
        moved: list[float] = []
        original = Repo.update_ref

        def timed(self: Repo, ref: str, new: str, old: str | None, message: str) -> bool:
            ok = original(self, ref, new, old, message)
            if ok and "queue" in message:
                moved.append(time.time())
            return ok

        Repo.update_ref = timed  # type: ignore[method-assign]
        first_line, whole = [], []
        try:
            time.sleep(2)
            with Board.open(board_path) as board:
                for i in range(runs):
                    pid = f"p{i:05d}"
                    actions.queue(board, pid)
                    line, ready = _wait(url, pid)
                    first_line.append((line - moved[-1]) * 1000)
                    whole.append((ready - moved[-1]) * 1000)
        finally:
            Repo.update_ref = original  # type: ignore[method-assign]
            worker.request_stop()
            daemon.stop.set()
            daemon.wake.set()
            for t in threads:
                t.join(60)
            server.close()
        print(f"  {name:<8} queue -> first log line:   {summary(first_line)}")
        print(f"  {name:<8} queue -> ready for human: {summary(whole)}")


def _wait(url: str, pid: str) -> tuple[float, float]:
    deadline = time.time() + 300
    line = None
    with db.connect(url) as conn:
        while time.time() < deadline:
            row: Any = conn.execute(
                "SELECT min(l.at) AS at FROM job_log l JOIN jobs j ON j.id = l.job_id "
                "WHERE j.project_id = %s AND j.kind = 'work' AND l.stream <> 'mc'",
                (pid,),
            ).fetchone()
            conn.commit()
            if line is None and row and row["at"]:
                line = row["at"].timestamp()
            ready = conn.execute(
                "SELECT 1 FROM projects WHERE id = %s AND ready_for_human", (pid,)
            ).fetchone()
            conn.commit()
            if ready and line is not None:
                return line, time.time()
            time.sleep(0.02)
    raise SystemExit(f"{pid} did not reach ready_for_human")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--presets", default="claude,codex,gemini,aider,openclaw")
    args = parser.parse_args()
    print(machine())
    print("streaming parser, per 10,000 events:")
    parser_cost()
    print(f"real CLIs against the stand-in, in the sandbox (n={args.runs} each):")
    for name in args.presets.split(","):
        loop(name, args.runs)


if __name__ == "__main__":
    main()
