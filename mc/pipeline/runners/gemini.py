"""Gemini CLI (`gemini`, npm @google/gemini-cli 0.61), unattended in its sandbox.

    gemini --skip-trust --approval-mode yolo --include-directories {output_dir}
           -o stream-json [-m MODEL]          (the brief on stdin)

`--skip-trust` (else it exits 55 outside a folder it was told to trust), `yolo` (else it
is offered read-only tools only: mc's sandbox, not the CLI's prompt, contains it), the
output folder as a second workspace directory. GEMINI_CLI_NO_RELAUNCH keeps it one
process. In the agent's private HOME, mc writes the CLI's settings over the person's
copy: no usage statistics (its Clearcut logging), no update checks, and the API-key
login when a key is in the environment (a base URL alone makes it pick a login that
headless mode refuses).

What it prints (stdout, JSON lines): init, message (user / assistant, in delta chunks),
tool_use {tool_name, parameters}, tool_result {tool_id, status, error}, and a final
result {status: success|error, error: {type, message}, stats: {input_tokens,
output_tokens, cached, ...}}. An API error's message embeds Google's error JSON
("[API Error: {...}]"). Exit statuses: an API error's HTTP status mod 256 (401 -> 145,
429 -> 173), 41 no credentials (said on stderr, in plain text), 55 untrusted folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
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

TEMPORARY = {429, 500, 502, 503, 504}
TEMPORARY_STATUS = {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"}
PERMANENT_STATUS = {"UNAUTHENTICATED", "PERMISSION_DENIED", "INVALID_ARGUMENT"}
_API_ERROR = re.compile(r"\[API Error: (.*)\]", re.S)


def _api_error(message: str) -> tuple[str, int | None, str | None]:
    """Google's error inside the CLI's message: (its message, code, status)."""
    found = _API_ERROR.search(message)
    inner = found.group(1) if found else message
    try:
        error = json.loads(inner).get("error", {})
    except (ValueError, AttributeError):
        return inner, None, None
    code = error.get("code")
    return (
        str(error.get("message") or inner),
        code if isinstance(code, int) else None,
        (error.get("status")),
    )


def _status_of_exit(code: int) -> int | None:
    """The HTTP status an API error's exit status stands for (the CLI exits with it mod 256)."""
    for status in (*TEMPORARY, 400, 401, 403):
        if status % 256 == code:
            return status
    return None


def judge(run: Run, outcome: Outcome) -> Verdict:
    found = events(outcome)
    results = [e for e in found if e.get("type") == "result"]
    usage = _usage(results[-1]) if results else None
    if results and results[-1].get("status") == "error":
        raw = str((results[-1].get("error") or {}).get("message") or "")
        message, code, status = _api_error(raw)
        text = f"Gemini CLI: {one_line(message)}"
        code = code or _status_of_exit(outcome.code)
        if "limit: 0" in raw:  # no quota at all for this key: waiting will not help
            return Verdict(False, text, permanent=True, usage=usage)
        busy = any(w in raw for w in ("RESOURCE_EXHAUSTED", "Resource has been exhausted"))
        if code in TEMPORARY or status in TEMPORARY_STATUS or busy or "fetch failed" in raw:
            return Verdict(False, text, temporary=True, usage=usage)
        permanent = code in (401, 403) or status in PERMANENT_STATUS or "API key" in message
        return Verdict(False, text, permanent=permanent, usage=usage)
    if not results:  # it stopped before its stream: the reason is on stderr, in words
        said = _said(outcome.stderr)
        if outcome.code in (41, 55):  # no credentials; not a trusted folder
            return Verdict(False, f"Gemini CLI: {said}", permanent=True)
    for event in found:
        if event.get("type") == "tool_result" and _denied(event):
            error = (event.get("error") or {}).get("message") or "a tool call was denied"
            return Verdict(False, f"Gemini CLI: {one_line(str(error))}", usage=usage)
    failed = check_exit(run, outcome)
    if failed is not None:
        return failed._replace(usage=usage)
    if not results:
        return Verdict(False, f"Gemini CLI printed no result: {tail(outcome.stdout)}")
    return Verdict(True, summary=_last_message(found), usage=usage)


_NOISE = ("Warning:", "YOLO mode", "Ripgrep", "[STARTUP]", "Approval mode overridden", "Loaded")


def _said(stderr: str) -> str:
    """What the CLI said on stderr, without its start-up chatter (one line)."""
    lines = [line.strip() for line in stderr.splitlines()]
    meant = [line for line in lines if line and not line.startswith(_NOISE)]
    return one_line(" ".join(meant[:2]), 300) if meant else "no output"


def _denied(event: Mapping[str, Any]) -> bool:
    if event.get("status") != "error":
        return False
    error = event.get("error") or {}
    text = f"{error.get('type', '')} {error.get('message', '')}".lower()
    return "denied" in text or "not allowed" in text or "permission" in text


def _usage(result: Mapping[str, Any]) -> Usage:
    stats = result.get("stats") or {}
    return Usage(
        int(stats.get("input_tokens") or 0),
        int(stats.get("output_tokens") or 0),
        int(stats.get("cached") or 0),
        None,  # the CLI reports no cost
    )


def _last_message(found: list[dict[str, Any]]) -> str:
    """The agent's last message: the assistant chunks after its last tool result."""
    chunks: list[str] = []
    for event in found:
        if event.get("type") in ("tool_use", "tool_result"):
            chunks = []
        elif event.get("type") == "message" and event.get("role") == "assistant":
            chunks.append(str(event.get("content") or ""))
    return "".join(chunks).strip()[:2000]


def reader() -> LineReader:
    """Each stream event in words; assistant chunks are shown as they come."""
    tools: dict[str, str] = {}

    def read(line: str) -> str | None:
        event = json_object(line)
        if event is None:
            return None
        kind = event.get("type")
        if kind == "init":
            return f"Gemini CLI started ({event.get('model') or 'default model'})"
        if kind == "message" and event.get("role") == "assistant":
            return f"says: {one_line(str(event.get('content') or ''), 500)}"
        if kind == "message":
            return f"got the brief ({len(str(event.get('content') or ''))} characters)"
        if kind == "tool_use":
            name = str(event.get("tool_name") or "tool")
            tools[str(event.get("tool_id"))] = name
            return f"→ {name} {_summary(event.get('parameters') or {})}".rstrip()
        if kind == "tool_result":
            name = tools.get(str(event.get("tool_id")), "tool")
            if event.get("status") == "success":
                return f"✓ {name}"
            error = (event.get("error") or {}).get("message") or "failed"
            return f"✗ {name}: {one_line(str(error), 200)}"
        if kind == "result":
            stats = event.get("stats") or {}
            if event.get("status") == "success":
                return (
                    f"finished ({stats.get('input_tokens', 0)} tokens in, "
                    f"{stats.get('output_tokens', 0)} out, {stats.get('tool_calls', 0)} tool calls)"
                )
            message, _, _ = _api_error(str((event.get("error") or {}).get("message") or ""))
            return f"failed: {one_line(message, 300)}"
        return None

    return read


def _summary(parameters: Mapping[str, Any]) -> str:
    for key in ("file_path", "path", "command", "pattern", "dir_path", "url", "query"):
        if key in parameters:
            return one_line(str(parameters[key]), 120)
    return ""


def prepare(run: Run, home: Path, env: Mapping[str, str]) -> None:
    """The CLI's settings in the agent's private HOME, over the person's copied ones."""
    path = home / ".gemini" / "settings.json"
    try:
        settings = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        settings = {}
    if not isinstance(settings, dict):
        settings = {}
    settings.setdefault("privacy", {})["usageStatisticsEnabled"] = False
    general = settings.setdefault("general", {})
    general["enableAutoUpdate"] = False
    general["enableAutoUpdateNotification"] = False
    auth = settings.setdefault("security", {}).setdefault("auth", {})
    if env.get("GEMINI_API_KEY") and "selectedType" not in auth:
        auth["selectedType"] = "gemini-api-key"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")


register(
    Runner(
        "gemini",
        ("gemini", "--skip-trust", "--approval-mode", "yolo",
         "--include-directories", "{output_dir}", "-o", "stream-json"),
        judge,
        model_args=("-m", "{model}"),
        env={"GEMINI_CLI_NO_RELAUNCH": "true"},
        home=(".gemini/settings.json", ".gemini/oauth_creds.json",
              ".gemini/google_accounts.json", ".gemini/.env"),
        install="npm install -g @google/gemini-cli",
        stdin=True,
        reader=reader,
        prepare=prepare,
    )
)  # fmt: skip
