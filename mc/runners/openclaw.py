"""OpenClaw (`openclaw agent exec`, npm openclaw), unattended in its sandbox."""

from __future__ import annotations

from .base import Outcome, Run, Runner, Verdict, check_exit, json_objects, register


def judge(run: Run, outcome: Outcome) -> Verdict:
    """`openclaw agent exec --json`: an empty payload means nothing was done."""
    base = check_exit(run, outcome)
    if base is not None:
        return base
    found = json_objects(outcome.stdout)
    payload = found[-1].get("payload") if found else None
    if not payload:
        return Verdict(False, "OpenClaw returned an empty payload")
    return Verdict(True, summary=str(payload)[:1000])


register(
    Runner(
        "openclaw",
        ("openclaw", "agent", "exec", "--message-file", "{prompt_file}", "--cwd", "{workspace}",
         "--json"),
        judge,
        home=(".openclaw", ".config/openclaw"),
        install="npm install -g openclaw",
    )
)  # fmt: skip
