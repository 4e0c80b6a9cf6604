"""A stand-in for OpenAI's Chat Completions API (``POST /v1/chat/completions``), for
the CLIs that speak it: aider (through litellm, ``OPENAI_API_BASE=<url>/v1``) and
OpenClaw (a custom ``openai-completions`` provider whose ``baseUrl`` is ``<url>/v1``).

Each request plays ``server.script.next()``:

* ``Turn(text=...)``: an assistant message with that content (for aider, the whole edit
  reply, e.g. a ``whole``-format block naming the file and giving its content);
* ``Turn(tool=..., args=...)``: an assistant ``tool_calls`` entry (``function.name`` is
  the tool, ``function.arguments`` the JSON of ``args``), finish reason ``tool_calls``;
* ``Turn(status=..., error=...)``: that HTTP status with OpenAI's error body
  ``{"error": {"message", "type", "param", "code"}}``.

``stream: true`` answers with SSE ``chat.completion.chunk`` deltas, then (when
``stream_options.include_usage``) a chunk with empty ``choices`` and the ``usage``, then
``data: [DONE]``; otherwise one ``chat.completion`` JSON. ``GET /v1/models`` lists the
models asked for so far (and ``gpt-4o``). Paths are matched on their ending, so a base
URL with or without ``/v1`` works.

    server = serve(ChatHandler, Script([Turn(text="report.md\\n```\\n# Report\\n```\\n")]))
    env = {"OPENAI_API_BASE": server.url + "/v1", "OPENAI_API_KEY": "sk-test"}
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Any

from . import Handler, Turn

# OpenAI's error bodies: status -> (type, code).
ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI's JSON error body for an HTTP status."""
    kind, code = ERRORS.get(status, ("server_error" if status >= 500 else "api_error", None))
    default = {
        401: "Incorrect API key provided: sk-****. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        429: "Rate limit reached for requests",
    }.get(status, f"Error {status}")
    return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}


def usage_of(turn: Turn) -> dict[str, int]:
    """The turn's usage as OpenAI's ``usage`` object."""
    prompt, completion = turn.usage.get("input", 0), turn.usage.get("output", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def tool_call(turn: Turn) -> dict[str, Any]:
    """The turn as one ``tool_calls`` entry."""
    return {
        "id": "call_" + uuid.uuid4().hex[:24],
        "type": "function",
        "function": {"name": turn.tool, "arguments": json.dumps(turn.args)},
    }


class ChatHandler(Handler):
    """``POST .../chat/completions`` and ``GET .../models``, playing the script."""

    # Sent as ``retry-after`` with 429s when set (the OpenAI SDKs honour it; litellm too).
    retry_after: str | None = None
    # Characters per streamed content delta.
    chunk_size: int = 40

    def handle(self) -> None:
        # Clients drop idle keep-alive connections (litellm between retries): not an error.
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/models"):
            seen = {str(r.get("model")) for r in self.server.requests if r.get("model")}
            models = sorted(seen | {"gpt-4o"})
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "standin"} for m in models
            ]
            self.send_json(200, {"object": "list", "data": data})
        else:
            self.send_json(404, error_body(404, f"Unknown path {self.path}"))

    def do_POST(self) -> None:
        body = self.read_json()
        path = self.path.split("?", 1)[0].rstrip("/")
        if not path.endswith("/chat/completions"):
            self.send_json(404, error_body(404, f"Unknown path {self.path}"))
            return
        turn = self.server.script.next()
        if turn.status:
            headers = {}
            if turn.status == 429 and self.retry_after is not None:
                headers["retry-after"] = self.retry_after
            self.send_json(turn.status, error_body(turn.status, turn.error), headers)
            return
        model = str(body.get("model") or "gpt-4o")
        if body.get("stream"):
            options = body.get("stream_options") or {}
            self.stream(turn, model, bool(options.get("include_usage")))
        else:
            self.complete(turn, model)

    def complete(self, turn: Turn, model: str) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
        finish = "stop"
        if turn.tool:
            message["tool_calls"] = [tool_call(turn)]
            finish = "tool_calls"
        self.send_json(
            200,
            {
                "id": "chatcmpl-" + uuid.uuid4().hex[:24],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                ],
                "usage": usage_of(turn),
            },
        )

    def stream(self, turn: Turn, model: str, include_usage: bool) -> None:
        base = {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24],
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**base, "choices": [choice]}

        self.start_sse()
        self.sse(chunk({"role": "assistant", "content": ""}))
        text = turn.text
        for i in range(0, len(text), self.chunk_size):
            self.sse(chunk({"content": text[i : i + self.chunk_size]}))
        finish = "stop"
        if turn.tool:
            call = tool_call(turn)
            self.sse(chunk({"tool_calls": [{"index": 0, **call}]}))
            finish = "tool_calls"
        self.sse(chunk({}, finish))
        if include_usage:
            self.sse({**base, "choices": [], "usage": usage_of(turn)})
        self.sse("[DONE]")
