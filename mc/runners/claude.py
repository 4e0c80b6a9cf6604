"""Claude Code (`claude`, npm @anthropic-ai/claude-code), unattended in its sandbox."""

from __future__ import annotations

from .base import Outcome, Run, Runner, Verdict, check_exit, json_objects, register, tail


def judge(run: Run, outcome: Outcome) -> Verdict:
    """`claude -p --output-format json`: one result object; is_error / subtype say how it went."""
    base = check_exit(run, outcome)
    if base is not None:
        return base
    output = outcome.stdout
    results = [o for o in json_objects(output) if o.get("type") == "result" or "is_error" in o]
    if not results:
        return Verdict(False, f"Claude Code printed no result object: {tail(output)}")
    result = results[-1]
    text = str(result.get("result") or "")
    if result.get("is_error") or result.get("subtype", "success") != "success":
        temporary = "rate limit" in text.lower() or "overloaded" in text.lower()
        return Verdict(False, f"Claude Code reported an error: {text[:300]}", temporary=temporary)
    return Verdict(True, summary=text[:1000])


register(
    Runner(
        "claude",
        ("claude", "-p", "--output-format", "stream-json", "--verbose",
         "--permission-mode", "bypassPermissions", "--add-dir", "{output_dir}"),
        judge,
        model_args=("--model", "{model}"),
        home=(".claude/.credentials.json", ".claude/settings.json"),
        install="npm install -g @anthropic-ai/claude-code",
        stdin=True,
    )
)  # fmt: skip
