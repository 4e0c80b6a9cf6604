"""A stand-in for Anthropic's Messages API, for driving the real Claude Code CLI offline.

Point the CLI at it with ``ANTHROPIC_BASE_URL=server.url`` and any ``ANTHROPIC_API_KEY``.
Each conversation request (``POST /v1/messages?beta=true``, ``stream: true``) plays the
script's next turn as Messages SSE events (message_start, content_block_start,
content_block_delta with text_delta / input_json_delta, content_block_stop,
message_delta with stop_reason and usage, message_stop):

- ``Turn(tool="Write", args={...})`` -> one ``tool_use`` block, stop_reason ``tool_use``;
- ``Turn(text="...")`` -> one text block, stop_reason ``end_turn``;
- ``Turn(status=401|429|529|..., error="...")`` -> that HTTP status with Anthropic's error
  body ``{"type": "error", "error": {"type": ..., "message": turn.error}}`` (and
  ``retry-after: 0`` for 429 and 5xx, so the CLI's retries cost no waiting).

Requests that are not the conversation do not consume turns: token counting
(``/v1/messages/count_tokens``) gets a count, and side calls (no ``tools`` in the body, or
``max_tokens: 1``) get a short canned answer, streamed or not as asked. Claude Code 2.1.197
with ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`` sends none; without it, it sends one:
the session title (streamed, no tools, ``output_config.format`` a JSON schema for
``{"title": string}``), answered with JSON that fits the schema. Other paths get a 404 in
the same error shape.
``server.requests`` / ``server.paths`` record every request; ``conversation(server)``
picks out the conversation's bodies.
"""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import urlsplit

from . import Handler, StandinServer, Turn

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

_ids = itertools.count(1)


def usage_of(turn: Turn) -> dict[str, int]:
    """The turn's usage in the API's field names (accepts ``input``/``input_tokens`` etc.)."""
    u = turn.usage or {}

    def pick(*names: str) -> int:
        for n in names:
            if n in u:
                return int(u[n])
        return 0

    return {
        "input_tokens": pick("input_tokens", "input"),
        "output_tokens": pick("output_tokens", "output"),
        "cache_creation_input_tokens": pick("cache_creation_input_tokens", "cache_creation"),
        "cache_read_input_tokens": pick("cache_read_input_tokens", "cache_read"),
    }


def is_conversation(body: dict[str, Any]) -> bool:
    """Whether a /v1/messages body is the agent's conversation (it offers tools), not a
    side call such as the quota probe (``max_tokens: 1``) or a small-model helper."""
    return bool(body.get("tools")) and int(body.get("max_tokens") or 0) > 1


def from_schema(schema: dict[str, Any]) -> Any:
    """A small value that satisfies a (simple) JSON schema."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: from_schema(props.get(k, {})) for k in schema.get("required", list(props))}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return "Stand-in session"


def side_answer(body: dict[str, Any]) -> str:
    """The text for a side call: JSON when it asks for structured output (the session
    title asks for ``{"title": ...}``), else a plain word."""
    fmt = (body.get("output_config") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        return json.dumps(from_schema(fmt.get("schema") or {}))
    return "OK"


def conversation(server: StandinServer) -> list[dict[str, Any]]:
    """The conversation request bodies the server has seen, in order."""
    return [
        b
        for b, p in zip(server.requests, server.paths, strict=False)
        if urlsplit(p).path == "/v1/messages" and is_conversation(b)
    ]


class AnthropicHandler(Handler):
    """Answers Anthropic Messages API requests from the server's script."""

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.server.requests.append({})
        self.error(404, f"no such endpoint: GET {urlsplit(self.path).path}")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self.read_json()
        if path == "/v1/messages/count_tokens":
            size = len(json.dumps(body.get("messages", [])))
            self.send_json(200, {"input_tokens": max(1, size // 4)})
        elif path != "/v1/messages":
            self.error(404, f"no such endpoint: POST {path}")
        elif not is_conversation(body):
            self.reply(body, Turn(text=side_answer(body), usage={"input": 10, "output": 1}))
        else:
            turn = self.server.script.next()
            if turn.status:
                self.error(turn.status, turn.error or ERROR_TYPES.get(turn.status, "error"))
            else:
                self.reply(body, turn)

    def error(self, status: int, message: str) -> None:
        kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        headers = {"request-id": f"req_standin_{next(_ids):06d}"}
        if status == 429 or status >= 500:
            headers["retry-after"] = "0"
        if status == 429:
            headers["x-should-retry"] = "true"
        body = {"type": "error", "error": {"type": kind, "message": message}}
        self.send_json(status, body, headers)

    def reply(self, body: dict[str, Any], turn: Turn) -> None:
        usage = usage_of(turn)
        model = str(body.get("model") or "claude-standin")
        msg_id = f"msg_standin_{next(_ids):06d}"
        if turn.tool:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_standin_{next(_ids):06d}",
                "name": turn.tool,
                "input": turn.args,
            }
            stop = "tool_use"
        else:
            block = {"type": "text", "text": turn.text}
            stop = "end_turn"
        if not body.get("stream"):
            message = {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            }
            self.send_json(200, message)
            return
        self.start_sse()
        start_usage = {**usage, "output_tokens": min(1, usage["output_tokens"])}
        message = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": start_usage,
        }
        self.event("message_start", {"message": message})
        if block["type"] == "tool_use":
            self.event("content_block_start", {"index": 0, "content_block": {**block, "input": {}}})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(turn.args)}
        else:
            self.event("content_block_start", {"index": 0, "content_block": {**block, "text": ""}})
            delta = {"type": "text_delta", "text": turn.text}
        self.event("ping", {})
        self.event("content_block_delta", {"index": 0, "delta": delta})
        self.event("content_block_stop", {"index": 0})
        self.event(
            "message_delta",
            {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": usage},
        )
        self.event("message_stop", {})

    def event(self, name: str, data: dict[str, Any]) -> None:
        self.sse({"type": name, **data}, event=name)
