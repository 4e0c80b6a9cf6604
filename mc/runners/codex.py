"""OpenAI Codex CLI (`codex exec`, npm @openai/codex), unattended in its sandbox."""

from __future__ import annotations

from .base import Outcome, Run, Runner, Verdict, check_exit, json_objects, register, tail


def judge(run: Run, outcome: Outcome) -> Verdict:
    """`codex exec --json`: events; a turn.failed or error event is a failure."""
    base = check_exit(run, outcome)
    if base is not None:
        return base
    output = outcome.stdout
    found = json_objects(output)
    for event in found:
        kind = str(event.get("type") or event.get("msg", {}).get("type", ""))
        if kind in ("turn.failed", "error"):
            detail = event.get("error") or event.get("message") or event
            return Verdict(False, f"Codex reported {kind}: {str(detail)[:300]}")
    if not any(str(e.get("type")) == "turn.completed" for e in found):
        return Verdict(False, f"Codex never completed a turn: {tail(output)}")
    return Verdict(True, summary=tail(output))


register(
    Runner(
        "codex",
        ("codex", "exec", "--json", "--skip-git-repo-check",
         "--dangerously-bypass-approvals-and-sandbox", "-"),
        judge,
        model_args=("--model", "{model}"),
        home=(".codex/auth.json", ".codex/config.toml"),
        install="npm install -g @openai/codex",
        stdin=True,
    )
)  # fmt: skip
