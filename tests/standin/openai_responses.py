"""A stand-in for OpenAI's Responses API, for driving the real Codex CLI (``codex exec``) offline.

Codex (0.171) talks to a custom provider from ``$CODEX_HOME/config.toml``::

    model_provider = "standin"
    [model_providers.standin]
    name = "Standin"
    base_url = "http://127.0.0.1:PORT/v1"   # server.url + "/v1"
    env_key = "STANDIN_API_KEY"             # sent as "authorization: Bearer <value>"
    wire_api = "responses"                  # the only wire API codex 0.171 accepts
    request_max_retries = 0                 # silent re-sends of a 5xx; default 4
    stream_max_retries = 0                  # "Reconnecting... n/N" turn retries; default 5

``config_toml(server)`` writes that text. Codex (0.171) retries a 429 only when it carries
``retry-after`` (sent by default, ``ResponsesHandler.retry_after = None`` to drop it), and a
refused connection forever ("Reconnecting... waiting for network"), whatever the limits.

Each agent turn is one ``POST /v1/responses`` with ``stream: true``; it plays the script's
next turn as Responses SSE events (response.created, response.in_progress,
response.output_item.added, ...delta..., response.output_item.done, response.completed
with usage):

- ``Turn(tool="exec_command", args={"cmd": "..."})`` -> a ``function_call`` item whose
  ``arguments`` are ``json.dumps(args)``. Any function tool named in the request's
  ``tools`` works the same way.
- ``Turn(tool="apply_patch", args={"input": "*** Begin Patch\\n..."})`` -> a
  ``custom_tool_call`` (freeform tool: ``input`` is the raw text). A tool is sent as a
  custom call when the request declares it ``"type": "custom"`` (``apply_patch`` is
  offered for models codex knows, such as ``gpt-5.5``, not for unknown ones).
- ``Turn(text="...")`` -> an assistant ``message`` with one ``output_text``.
- ``Turn(status=401|429|500|..., error="...")`` -> that HTTP status with OpenAI's error body
  ``{"error": {"message", "type", "param", "code"}}``; ``args`` may set ``type``/``code``
  (e.g. ``{"code": "insufficient_quota"}``). A status turn is played once, so
  ``[Turn(status=500), Turn(text="ok")]`` is a transient failure followed by success.
- ``Turn(status=DROP)`` -> HTTP 200 and ``response.created``, then the stream closes without
  ``response.completed`` (codex: "stream disconnected before completion", retried with
  "Reconnecting... n/N" when ``stream_max_retries`` > 0).
- ``Turn(status=FAILED, error="...", args={"code": ...})`` -> a ``response.failed`` event.

``shell_turn(cmd)`` and ``add_file_turn(path, text)`` build the two useful tool turns.
A request without an ``authorization`` header gets OpenAI's 401 "You didn't provide an API
key" and consumes no turn. Other endpoints (and the Responses WebSocket upgrade, a GET)
get a 404 in the same error shape and consume no turn. Every request body
lands in ``server.requests`` (paths in ``server.paths``); ``conversation(server)`` picks out
the ``/responses`` bodies.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlsplit

from . import Handler, StandinServer, Turn

DROP = -1  # Turn.status: the SSE stream ends before response.completed
FAILED = -2  # Turn.status: the SSE stream carries response.failed

ERROR_KINDS: dict[int, tuple[str, str]] = {  # status -> (type, code)
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
}

DEFAULT_MESSAGES: dict[int, str] = {
    401: "Incorrect API key provided: sk-***. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    429: "Rate limit reached for requests. Please try again in 20ms.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
}

NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_standin_{next(_ids):06d}"


def config_toml(
    server: StandinServer, env_key: str = "STANDIN_API_KEY", retries: int | None = 0
) -> str:
    """A ``config.toml`` pointing codex's model provider ``standin`` at the server; with
    ``retries=None`` codex's default retry counts apply."""
    limits = f"request_max_retries = {retries}\nstream_max_retries = {retries}\n"
    return (
        'model_provider = "standin"\n'
        "\n"
        "[model_providers.standin]\n"
        'name = "Standin"\n'
        f'base_url = "{server.url}/v1"\n'
        f'env_key = "{env_key}"\n'
        'wire_api = "responses"\n' + (limits if retries is not None else "")
    )


def shell_turn(cmd: str) -> Turn:
    """A turn that runs ``cmd`` through codex's ``exec_command`` tool."""
    return Turn(tool="exec_command", args={"cmd": cmd})


def add_file_turn(path: str, text: str) -> Turn:
    """A turn that creates ``path`` with ``apply_patch`` (only offered for known models)."""
    lines = "".join(f"+{line}\n" for line in text.splitlines())
    patch = f"*** Begin Patch\n*** Add File: {path}\n{lines}*** End Patch\n"
    return Turn(tool="apply_patch", args={"input": patch})


def usage_of(turn: Turn) -> dict[str, Any]:
    """The turn's usage as ``response.completed`` carries it (``input``/``input_tokens``,
    ``output``/``output_tokens``, ``cached``/``cached_tokens``, ``reasoning``)."""
    u = turn.usage or {}

    def pick(*names: str) -> int:
        return next((int(u[n]) for n in names if n in u), 0)

    inp = pick("input_tokens", "input")
    out = pick("output_tokens", "output")
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": pick("cached_tokens", "cached", "cache_read")},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": pick("reasoning_tokens", "reasoning")},
        "total_tokens": inp + out,
    }


def tool_types(body: dict[str, Any]) -> dict[str, str]:
    """Tool name -> type (``function``, ``custom``, ...) offered by a request, including
    namespaced tools (``namespace.tool``) and ``additional_tools`` input items."""
    found: dict[str, str] = {}

    def walk(tools: Any, prefix: str = "") -> None:
        for t in tools or []:
            if not isinstance(t, dict):
                continue
            name = str(t.get("name") or t.get("type") or "")
            if t.get("type") == "namespace":
                walk(t.get("tools"), f"{prefix}{name}.")
            else:
                found[prefix + name] = str(t.get("type") or "function")

    walk(body.get("tools"))
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            walk(item.get("tools"))
    return found


def conversation(server: StandinServer) -> list[dict[str, Any]]:
    """The ``/responses`` request bodies the server has seen, in order."""
    return [
        b
        for b, p in zip(server.requests, server.paths, strict=False)
        if urlsplit(p).path.endswith("/responses")
    ]


def openai_error(status: int, message: str = "", args: dict[str, Any] | None = None) -> Any:
    """OpenAI's error envelope for an HTTP status."""
    kind, code = ERROR_KINDS.get(status, ("server_error" if status >= 500 else "error", ""))
    args = args or {}
    return {
        "error": {
            "message": message or DEFAULT_MESSAGES.get(status, f"HTTP {status}"),
            "type": args.get("type", kind),
            "param": None,
            "code": args.get("code", code or None),
        }
    }


class ResponsesHandler(Handler):
    """Answers OpenAI Responses API requests (as Codex sends them) from the server's script."""

    retry_after: str | None = "0"  # sent with 429 and 5xx; None sends no retry-after header

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.server.requests.append({})
        self.send_json(404, openai_error(404, f"no such endpoint: GET {urlsplit(self.path).path}"))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self.read_json()
        if not path.endswith("/responses"):
            self.send_json(404, openai_error(404, f"no such endpoint: POST {path}"))
            return
        if not self.headers.get("authorization"):  # as OpenAI answers a request without a key
            self.send_json(401, openai_error(401, NO_KEY, {"code": None}))
            return
        turn = self.server.script.next()
        if turn.status > 0:
            headers = {"x-request-id": _id("req")}
            if self.retry_after is not None and (turn.status == 429 or turn.status >= 500):
                headers["retry-after"] = self.retry_after
            self.send_json(turn.status, openai_error(turn.status, turn.error, turn.args), headers)
            return
        self.stream(body, turn)

    def stream(self, body: dict[str, Any], turn: Turn) -> None:
        resp: dict[str, Any] = {
            "id": _id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": str(body.get("model") or "standin"),
            "output": [],
            "usage": None,
        }
        self.start_sse()
        self.event("response.created", response=resp)
        self.event("response.in_progress", response=resp)
        if turn.status == DROP:
            return  # the connection closes: "stream closed before response.completed"
        if turn.status == FAILED:
            error = openai_error(500, turn.error or "The model failed.", turn.args)["error"]
            if "code" not in turn.args:
                error["code"] = "server_error"
            self.event("response.failed", response={**resp, "status": "failed", "error": error})
            return
        item = self.item(body, turn)
        self.event("response.output_item.added", output_index=0, item=self.pending(item))
        if item["type"] == "message":
            part = {"type": "output_text", "text": "", "annotations": []}
            ids = {"item_id": item["id"], "output_index": 0, "content_index": 0}
            self.event("response.content_part.added", **ids, part=part)
            self.event("response.output_text.delta", **ids, delta=turn.text)
            self.event("response.output_text.done", **ids, text=turn.text)
            self.event("response.content_part.done", **ids, part=item["content"][0])
        elif item["type"] == "function_call":
            ids = {"item_id": item["id"], "output_index": 0}
            self.event("response.function_call_arguments.delta", **ids, delta=item["arguments"])
            self.event("response.function_call_arguments.done", **ids, arguments=item["arguments"])
        else:
            ids = {"item_id": item["id"], "output_index": 0}
            self.event("response.custom_tool_call_input.delta", **ids, delta=item["input"])
            self.event("response.custom_tool_call_input.done", **ids, input=item["input"])
        self.event("response.output_item.done", output_index=0, item=item)
        done = {**resp, "status": "completed", "output": [item], "usage": usage_of(turn)}
        self.event("response.completed", response=done)

    @staticmethod
    def item(body: dict[str, Any], turn: Turn) -> dict[str, Any]:
        """The output item for a text or tool turn."""
        if not turn.tool:
            return {
                "id": _id("msg"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": turn.text, "annotations": []}],
            }
        kind = tool_types(body).get(turn.tool, "function")
        namespace, _, name = turn.tool.rpartition(".")
        call: dict[str, Any] = {"status": "completed", "call_id": _id("call"), "name": name}
        if namespace:
            call["namespace"] = namespace
        if kind == "custom":
            text = turn.args.get("input", turn.args.get("patch", ""))
            return {"id": _id("ctc"), "type": "custom_tool_call", **call, "input": str(text)}
        return {
            "id": _id("fc"),
            "type": "function_call",
            **call,
            "arguments": json.dumps(turn.args),
        }

    @staticmethod
    def pending(item: dict[str, Any]) -> dict[str, Any]:
        """The item as ``response.output_item.added`` announces it (empty, in progress)."""
        empty = {"content": [], "arguments": "", "input": ""}
        return {**item, "status": "in_progress", **{k: v for k, v in empty.items() if k in item}}

    def event(self, name: str, **data: Any) -> None:
        self.sse({"type": name, **data}, event=name)
