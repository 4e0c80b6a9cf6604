"""OpenClaw (npm openclaw 2026.9, Node >= 24.16), unattended in its sandbox.

    openclaw agent exec --message-file {prompt_file} --cwd {workspace} --json
                        [--model provider/model]

The headless entry point (`openclaw agent --message` needs a running Gateway and drops
the model). Its providers come from the person's ~/.openclaw/openclaw.json (copied into
the agent's private HOME). It prints no stream: one JSON object at the end, on stdout
(its diagnostics go to stderr):

    {"ok": true, "status": "ok", "final": "...", "payloads": [{"text": ...}],
     "usage": {"input", "output", "cacheRead", "cacheWrite", "total"}, "costUsd": 0.0012,
     "toolSummary": {"calls", "tools", "failures", "unresolvedError"?}, "model", "provider"}
    {"ok": false, "status": "error", "error": {"message": "...", "kind": "exception"}}

It writes where it works, so outside coder work what it leaves in its workspace is its
output. Its own --timeout does not stop its rate-limit retries: mc's guard does.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mc.pipeline.runners.base import (
    ANSI,
    LineReader,
    Outcome,
    Run,
    Runner,
    Usage,
    Verdict,
    check_exit,
    json_objects,
    one_line,
    register,
    tail,
)

TEMPORARY_WORDS = ("rate limit", "usually temporary", "try again shortly", "overloaded", "HTTP 5")
PERMANENT_WORDS = (
    "Authentication failed",
    "No API key",
    "No route-compatible authentication",
    "Unknown model",
    "missing-provider-auth",
)


def _result(outcome: Outcome) -> dict[str, Any] | None:
    found = [o for o in json_objects(outcome.stdout) if "ok" in o and "status" in o]
    return found[-1] if found else None


def _usage(result: dict[str, Any]) -> Usage:
    usage = result.get("usage") or {}
    cost = result.get("costUsd")
    return Usage(
        int(usage.get("input") or 0) + int(usage.get("cacheRead") or 0),
        int(usage.get("output") or 0),
        int(usage.get("cacheRead") or 0),
        float(cost) if isinstance(cost, int | float) else None,
    )


_RUN_ERROR = re.compile(r"embedded run agent end: .*? error=(.*?)(?: rawError=| runId=|$)")
_RETRY = re.compile(r"transient same-model retry \d+/\d+ .*reason=(rate_limit|overloaded)")


def _said_on_stderr(stderr: str) -> str | None:
    """The error of its last run, from its diagnostics (when it was stopped early)."""
    found = _RUN_ERROR.findall(ANSI.sub("", stderr))
    return found[-1].replace("⚠️", "").strip() if found else None


def gives_up(stream: str, line: str) -> bool:
    """OpenClaw retries a rate limit for minutes (its --timeout does not stop it): its
    first retry ends the run, and mc requeues it with its own backoff."""
    return stream == "stderr" and _RETRY.search(ANSI.sub("", line)) is not None


def judge(run: Run, outcome: Outcome) -> Verdict:
    result = _result(outcome)
    if result is None:
        said = _said_on_stderr(outcome.stderr)
        if said is not None:
            temporary = any(w.lower() in said.lower() for w in TEMPORARY_WORDS)
            return Verdict(False, f"OpenClaw: {one_line(said)}", temporary=temporary)
        exited = check_exit(run, outcome)
        if exited is not None:
            return exited._replace(error=f"OpenClaw: {exited.error}")
        return Verdict(False, f"OpenClaw printed no result: {tail(outcome.stdout)}")
    usage = _usage(result)
    if not result.get("ok"):
        message = str((result.get("error") or {}).get("message") or result.get("status"))
        said = f"OpenClaw: {one_line(message.replace('⚠️', '').strip())}"
        if any(w.lower() in message.lower() for w in TEMPORARY_WORDS):
            return Verdict(False, said, temporary=True, usage=usage)
        return Verdict(False, said, permanent=any(w in message for w in PERMANENT_WORDS),
                       usage=usage)  # fmt: skip
    unresolved = (result.get("toolSummary") or {}).get("unresolvedError")
    if unresolved:
        tool = unresolved.get("toolName", "a tool") if isinstance(unresolved, dict) else "a tool"
        return Verdict(False, f"OpenClaw: a call of {tool} failed and was left so", usage=usage)
    exited = check_exit(run, outcome)
    if exited is not None:
        return exited._replace(usage=usage)
    final = str(result.get("final") or "").strip()
    if not final and not result.get("payloads"):
        return Verdict(False, "OpenClaw returned an empty payload", usage=usage)
    return Verdict(True, summary=final[:2000], usage=usage)


def reader() -> LineReader:
    """Its one result object in words (there is no stream to follow)."""

    def read(line: str) -> str | None:
        try:
            result = json.loads(line)
        except ValueError:
            return None
        if not isinstance(result, dict) or "ok" not in result:
            return None
        if result.get("ok"):
            tools = (result.get("toolSummary") or {}).get("tools") or []
            used = f", used {', '.join(map(str, tools))}" if tools else ""
            return f"finished{used}: {one_line(str(result.get('final') or ''), 300)}"
        message = str((result.get("error") or {}).get("message") or "error")
        return f"failed: {one_line(message, 300)}"

    return read


register(
    Runner(
        "openclaw",
        ("openclaw", "agent", "exec", "--message-file", "{prompt_file}", "--cwd", "{workspace}",
         "--json"),
        judge,
        model_args=("--model", "{model}"),
        home=(".openclaw/openclaw.json", ".config/openclaw"),
        install="npm install -g openclaw (with Node >= 24.16)",
        reader=reader,
        collect_workspace=True,
        gives_up=gives_up,
    )
)  # fmt: skip
