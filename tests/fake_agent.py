"""A scripted stand-in for an agent CLI, for the tests: `python tests/fake_agent.py MODE`.

Modes: ok, edit (changes its working folder), fail, hang, ignore-term, children,
tempfail, env, stdin, drip (three lines, 0.4 s apart), model (reports MC_MODEL and
$FAKE_SETTING), review-fail (the reviewer fails the work), and
claude-error / codex-failed / gemini-error (print that CLI's structured failure).
It writes its pid (and its children's) to $FAKE_PIDS when set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def note_pid(pid: int) -> None:
    path = os.environ.get("FAKE_PIDS")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{pid}\n")


def main() -> int:
    mode = sys.argv[1]
    note_pid(os.getpid())
    print(f"fake agent: {mode}", flush=True)
    out = os.environ.get("MC_OUTPUT_DIR")
    if out and os.environ.get("MC_ARCHETYPE") == "reviewer":
        if mode in ("ok", "edit", "drip", "model"):
            with open(os.path.join(out, "verdict.json"), "w") as fh:
                json.dump({"verdict": "pass", "notes": "fake review"}, fh)
            return 0
        if mode == "review-fail":
            with open(os.path.join(out, "verdict.json"), "w") as fh:
                json.dump({"verdict": "fail", "notes": "not good enough"}, fh)
            return 0
    if mode == "drip":
        for i in range(3):
            print(f"line {i}", flush=True)
            time.sleep(0.4)
        mode = "ok"
    if mode == "model":
        if out:
            with open(os.path.join(out, "report.md"), "w") as fh:
                fh.write(f"{os.environ.get('MC_MODEL')} {os.environ.get('FAKE_SETTING')}\n")
        return 0
    if mode == "review-fail":
        mode = "ok"
    if mode == "edit":  # change the workspace (a coder's worktree)
        with open("FIXED.txt", "w") as fh:
            fh.write("fixed by the fake agent\n")
        return 0
    if mode == "ok":
        if out:
            with open(os.path.join(out, "report.md"), "w") as fh:
                fh.write("# Report\n")
        print("done", flush=True)
        return 0
    if mode == "fail":
        print("something broke", file=sys.stderr, flush=True)
        return 3
    if mode == "tempfail":
        return 75
    if mode == "hang":
        time.sleep(3600)
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
    if mode == "children":
        for _ in range(2):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
            note_pid(child.pid)
        time.sleep(3600)
    if mode == "env":
        print(json.dumps(dict(os.environ)), flush=True)
        return 0
    if mode == "stdin":
        print(repr(sys.stdin.read()), flush=True)
        return 0
    if mode == "claude-error":
        print(
            json.dumps(
                {
                    "type": "result",
                    "subtype": "success",
                    "is_error": True,
                    "result": "Not logged in · Please run /login",
                }
            )
        )
        return 0
    if mode == "codex-failed":
        print(json.dumps({"type": "turn.failed", "error": {"message": "quota exceeded"}}))
        return 0
    if mode == "gemini-error":
        print(json.dumps({"error": {"type": "AuthError", "message": "no credentials"}}))
        return 41
    return 2


if __name__ == "__main__":
    sys.exit(main())
