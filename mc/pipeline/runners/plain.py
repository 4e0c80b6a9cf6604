"""The runners with no CLI of their own: any command, the hand-off, the demo agent."""

from __future__ import annotations

from mc.pipeline.runners.base import Outcome, Run, Runner, Verdict, check_exit, register, tail


def judge_plain(run: Run, outcome: Outcome) -> Verdict:
    """Exit status 0 (and a reviewer's verdict.json); the last lines are the summary."""
    return check_exit(run, outcome) or Verdict(True, summary=tail(outcome.stdout))


def judge_handoff(run: Run, outcome: Outcome) -> Verdict:
    return Verdict(True)


register(Runner("command", (), judge_plain))
register(Runner("handoff", (), judge_handoff, spawns=False))
# The built-in demo agent: stdlib only, run by path with -I, so inside the sandbox it
# needs the interpreter and that one file.
register(Runner("demo", ("{python}", "-I", "{demo_agent}"), judge_plain))
