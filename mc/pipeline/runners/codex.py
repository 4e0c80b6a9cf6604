"""OpenAI Codex CLI (npm @openai/codex 0.171), unattended in its sandbox.

    codex exec --json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox
               [-m MODEL]                        (the brief on stdin)

Its own sandbox is off inside mc's (it cannot nest its bwrap in mc's user namespace, and
mc's already contains it); `--full-auto` is gone. Its provider comes from the person's
~/.codex/config.toml (copied into the agent's private HOME, where CODEX_HOME points).

What it prints (stdout, JSON lines): thread.started, turn.started, item.started /
item.completed {item: {type: command_execution {command, exit_code, status} |
agent_message {text} | file_change | error {message}}}, `error` events while it
reconnects ("Reconnecting... 1/5 (...)") and when it gives up ("exceeded retry limit,
last status: 429 Too Many Requests"), and turn.completed {usage: {input_tokens,
cached_input_tokens, output_tokens, reasoning_output_tokens}} or turn.failed {error:
{message}}. A transient error followed by turn.completed is a success. With no network
at all it never exits ("Reconnecting... waiting for network"): mc stops it there.
"""

from __future__ import annotations

from typing import Any

from mc.pipeline.runners.base import (
    LineReader,
    Outcome,
    Run,
    Runner,
    Usage,
    Verdict,
    check_exit,
    events,
    json_object,
    one_line,
    register,
    tail,
)

TEMPORARY_WORDS = (
    "429",
    "Too Many Requests",
    "usage limit",
    "high demand",
    "Reconnecting",
    "stream disconnected",
    "waiting for network",
    "500",
    "502",
    "503",
)
PERMANENT_WORDS = ("401", "403", "Unauthorized", "Quota exceeded", "Missing environment variable")


def _usage(found: list[dict[str, Any]]) -> Usage | None:
    turns = [e.get("usage") or {} for e in found if e.get("type") == "turn.completed"]
    if not turns:
        return None
    return Usage(
        sum(int(u.get("input_tokens") or 0) for u in turns),
        sum(int(u.get("output_tokens") or 0) + int(u.get("reasoning_output_tokens") or 0)
            for u in turns),
        sum(int(u.get("cached_input_tokens") or 0) for u in turns),
        None,  # the CLI reports no cost
    )  # fmt: skip


def _classify(message: str, usage: Usage | None) -> Verdict:
    said = f"Codex: {one_line(message)}"
    if any(w in message for w in PERMANENT_WORDS):
        return Verdict(False, said, permanent=True, usage=usage)
    if any(w in message for w in TEMPORARY_WORDS):
        return Verdict(False, said, temporary=True, usage=usage)
    return Verdict(False, said, usage=usage)


def judge(run: Run, outcome: Outcome) -> Verdict:
    found = events(outcome)
    usage = _usage(found)
    # The last word of the turn decides: an error before a turn.completed was survived.
    last = None
    for event in found:
        if event.get("type") in ("turn.completed", "turn.failed", "error"):
            last = event
    if last is not None and last.get("type") == "turn.failed":
        return _classify(str((last.get("error") or {}).get("message") or "the turn failed"), usage)
    if last is not None and last.get("type") == "error":
        return _classify(str(last.get("message") or "error"), usage)
    if last is None:
        exited = check_exit(run, outcome)
        said = one_line(outcome.stderr) if outcome.stderr.strip() else tail(outcome.stdout)
        if exited is not None:
            verdict = _classify(said, None)
            return verdict._replace(temporary=verdict.temporary or exited.temporary)
        return Verdict(False, f"Codex never completed a turn: {said}")
    exited = check_exit(run, outcome)
    if exited is not None:
        return exited._replace(usage=usage)
    return Verdict(True, summary=_last_message(found), usage=usage)


def _last_message(found: list[dict[str, Any]]) -> str:
    messages = [
        str(e["item"].get("text") or "")
        for e in found
        if e.get("type") == "item.completed"
        and isinstance(e.get("item"), dict)
        and e["item"].get("type") == "agent_message"
    ]
    return messages[-1].strip()[:2000] if messages else ""


def gives_up(stream: str, line: str) -> bool:
    """With no network codex waits for ever: that is a temporary failure, mc's to retry."""
    return "waiting for network" in line


def reader() -> LineReader:
    def read(line: str) -> str | None:
        event = json_object(line)
        if event is None:
            return None
        kind = event.get("type")
        found = event.get("item")
        item: dict[str, Any] = found if isinstance(found, dict) else {}
        if kind == "thread.started":
            return "Codex started"
        if kind == "item.started" and item.get("type") == "command_execution":
            return f"→ run {one_line(str(item.get('command') or ''), 160)}"
        if kind == "item.completed":
            return _item(item)
        if kind == "error":
            return f"retrying: {one_line(str(event.get('message') or ''), 200)}"
        if kind == "turn.completed":
            usage = event.get("usage") or {}
            return (
                f"finished ({usage.get('input_tokens', 0)} tokens in, "
                f"{usage.get('output_tokens', 0)} out)"
            )
        if kind == "turn.failed":
            message = (event.get("error") or {}).get("message") or "the turn failed"
            return f"failed: {one_line(str(message), 300)}"
        return None

    return read


def _item(item: dict[str, Any]) -> str | None:
    kind = item.get("type")
    if kind == "command_execution":
        if item.get("status") == "completed" and item.get("exit_code") == 0:
            return "✓ run"
        output = one_line(str(item.get("aggregated_output") or ""), 160)
        return f"✗ run (exit {item.get('exit_code')}): {output}"
    if kind == "agent_message":
        return f"says: {one_line(str(item.get('text') or ''), 500)}"
    if kind == "file_change":
        changes = item.get("changes") or []
        paths = ", ".join(str(c.get("path")) for c in changes if isinstance(c, dict))
        mark = "✓" if item.get("status") == "completed" else "✗"
        return f"{mark} changed {paths or 'files'}"
    if kind == "error":
        return f"warning: {one_line(str(item.get('message') or ''), 200)}"
    return None


register(
    Runner(
        "codex",
        ("codex", "exec", "--json", "--skip-git-repo-check",
         "--dangerously-bypass-approvals-and-sandbox"),
        judge,
        model_args=("-m", "{model}"),
        home=(".codex/auth.json", ".codex/config.toml"),
        install="npm install -g @openai/codex",
        stdin=True,
        reader=reader,
        gives_up=gives_up,
    )
)  # fmt: skip
