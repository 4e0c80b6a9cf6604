"""Claude Code (npm @anthropic-ai/claude-code 2.1), unattended in its sandbox.

    claude -p --output-format stream-json --verbose --permission-mode bypassPermissions
           --add-dir {output_dir} [--model MODEL]          (the brief on stdin)

Every tool is allowed (`bypassPermissions`): mc's sandbox, not the CLI's prompt, is what
contains it — without a permission mode `-p` denies Write and Bash and still exits 0.
IS_SANDBOX=1 says so to the CLI (it refuses to bypass permissions as root otherwise);
CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 keeps it to the model API.

What it prints (stdout, JSON lines): system/init, assistant messages (text and tool_use
blocks), user messages (tool_result blocks), system/api_retry while it retries, and a
final result: {"type": "result", "is_error", "api_error_status", "result" (its last
words, or the error: "Invalid API key · Fix external API key", "Not logged in · Please
run /login", "API Error: 529 Overloaded ..."), "total_cost_usd", "usage", "permission_
denials": [{tool_name, tool_input}]}. An error still says "subtype": "success": is_error
and the exit status (1) tell.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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

TEMPORARY = {408, 409, 429, 500, 502, 503, 504, 529}
PERMANENT = {400, 401, 403, 404}


def _usage(result: Mapping[str, Any]) -> Usage:
    usage = result.get("usage") or {}
    cached = int(usage.get("cache_read_input_tokens") or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    cost = result.get("total_cost_usd")
    return Usage(
        int(usage.get("input_tokens") or 0) + cached + written,
        int(usage.get("output_tokens") or 0),
        cached,
        float(cost) if isinstance(cost, int | float) else None,
    )


def judge(run: Run, outcome: Outcome) -> Verdict:
    found = events(outcome)
    results = [e for e in found if e.get("type") == "result"]
    if not results:
        exited = check_exit(run, outcome)
        said = one_line(outcome.stderr) if outcome.stderr.strip() else tail(outcome.stdout)
        if exited is not None:
            return exited._replace(error=f"Claude Code: {said}", permanent="cannot be used" in said)
        return Verdict(False, f"Claude Code printed no result: {said}")
    result = results[-1]
    usage = _usage(result)
    text = str(result.get("result") or "")
    if result.get("is_error"):
        status = result.get("api_error_status")
        said = f"Claude Code: {one_line(text)}"
        lowered = text.lower()
        if status in TEMPORARY or "overloaded" in lowered or "rate limit" in lowered:
            return Verdict(False, said, temporary=True, usage=usage)
        permanent = status in PERMANENT or "not logged in" in lowered or "api key" in lowered
        return Verdict(False, said, permanent=permanent, usage=usage)
    denied = result.get("permission_denials") or []
    if denied:
        first = denied[0] if isinstance(denied[0], dict) else {}
        what = f"{first.get('tool_name', 'a tool')} {_summary(first.get('tool_input') or {})}"
        return Verdict(
            False, f"Claude Code was denied {len(denied)} tool call(s): {what.strip()}", usage=usage
        )
    exited = check_exit(run, outcome)
    if exited is not None:
        return exited._replace(usage=usage)
    return Verdict(True, summary=text.strip()[:2000], usage=usage)


def _summary(tool_input: Mapping[str, Any]) -> str:
    for key in ("file_path", "path", "command", "pattern", "url", "query", "description"):
        if key in tool_input:
            return one_line(str(tool_input[key]), 120)
    return ""


def reader() -> LineReader:
    """Each stream event in words: what it says, each tool call and how it went."""
    tools: dict[str, str] = {}

    def read(line: str) -> str | None:
        event = json_object(line)
        if event is None:
            return None
        kind = event.get("type")
        if kind == "system" and event.get("subtype") == "init":
            return f"Claude Code started ({event.get('model') or 'default model'})"
        if kind == "system" and event.get("subtype") == "api_retry":
            return (
                f"retrying ({event.get('error') or event.get('error_status')}, attempt "
                f"{event.get('attempt')}/{event.get('max_retries')})"
            )
        if kind in ("assistant", "user"):
            return _blocks(event, tools)
        if kind == "result":
            if event.get("is_error"):
                return f"failed: {one_line(str(event.get('result') or ''), 300)}"
            cost = event.get("total_cost_usd")
            spent = f", ${cost:.4f}" if isinstance(cost, int | float) else ""
            return f"finished ({event.get('num_turns', '?')} turns{spent})"
        return None

    return read


def _blocks(event: Mapping[str, Any], tools: dict[str, str]) -> str | None:
    message = event.get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return None  # the brief
    shown = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and str(block.get("text") or "").strip():
            shown.append(f"says: {one_line(str(block['text']), 500)}")
        elif block.get("type") == "tool_use":
            name = str(block.get("name") or "tool")
            tools[str(block.get("id"))] = name
            shown.append(f"→ {name} {_summary(block.get('input') or {})}".rstrip())
        elif block.get("type") == "tool_result":
            name = tools.get(str(block.get("tool_use_id")), "tool")
            if block.get("is_error"):
                body = block.get("content")
                text = body if isinstance(body, str) else json.dumps(body)
                shown.append(f"✗ {name}: {one_line(text, 200)}")
            else:
                shown.append(f"✓ {name}")
    return " · ".join(shown) or None


register(
    Runner(
        "claude",
        ("claude", "-p", "--output-format", "stream-json", "--verbose",
         "--permission-mode", "bypassPermissions", "--add-dir", "{output_dir}"),
        judge,
        model_args=("--model", "{model}"),
        env={"IS_SANDBOX": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"},
        home=(".claude/.credentials.json", ".claude/settings.json"),
        install="npm install -g @anthropic-ai/claude-code",
        stdin=True,
        reader=reader,
    )
)  # fmt: skip
