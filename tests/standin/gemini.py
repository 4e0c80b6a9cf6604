"""Stand-in for the Gemini API (Generative Language API ``v1beta``) as Gemini CLI calls it.

Verified with gemini-cli 0.61.0. Point the CLI at the server with

    GOOGLE_GEMINI_BASE_URL=<server.url>  GEMINI_API_KEY=<anything>
    ~/.gemini/settings.json: {"security": {"auth": {"selectedType": "gemini-api-key"}},
                              "privacy": {"usageStatisticsEnabled": false},
                              "general": {"maxAttempts": 1}}

(``GOOGLE_GEMINI_BASE_URL`` alone makes the CLI pick its "gateway" auth, which 0.61.0's
headless auth check rejects: "Invalid auth method selected.", exit 41; hence selectedType.)
The key arrives as the ``x-goog-api-key`` header. Endpoints:

* ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse`` -- the agent loop, one
  request per model turn. Each plays ``script.next()``: ``Turn.tool`` becomes one
  ``functionCall`` part (``Write`` is mapped to ``write_file`` etc. when the CLI does not
  offer the name as given), ``Turn.text`` a text part, ``Turn.status`` Google's error JSON
  with that HTTP status. The CLI retries 429 and 5xx up to ``general.maxAttempts`` (10 by
  default, at least 5 s apart); a 429 whose message says ``limit: 0`` is not retried.
* ``POST /v1beta/models/{model}:generateContent`` -- the CLI's side calls: the model router
  when no ``-m`` is given (``auto``), next-speaker and loop checks. They ask for JSON with
  a ``responseJsonSchema``; the answer is a minimal instance of it (an enum with ``user``
  in it gets ``user``). No turn is consumed.
* ``POST /v1beta/models/{model}:countTokens`` -- ``{"totalTokens": N}``, no turn.
* ``POST /v1beta/models/{model}:embedContent`` / ``:batchEmbedContents`` -- zero vectors.
* ``GET /v1beta/models`` and ``GET /v1beta/models/{model}`` -- a small model listing.

Every POST body lands in ``server.requests``, its path in ``server.paths`` and its headers
in ``headers_seen(server)``; ``conversation(server)`` gives the (model, body) of the agent
loop's requests only. The model in the path is the CLI's wire name, which may differ from
``-m`` (``gemini-3-pro-preview`` is sent as ``gemini-3.1-pro-preview``).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from . import Handler, StandinServer, Turn

_MODEL_PATH = re.compile(r"^/(?:v1beta|v1|v1alpha)/models/([^/:]+):([A-Za-z]+)$")

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_MESSAGE = {
    400: "API key not valid. Please pass a valid API key.",
    401: "API key not valid. Please pass a valid API key.",
    403: "Permission denied: API key not valid. Please pass a valid API key.",
    404: "Model not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}

# Other CLIs' names for the same tools (their inputs match: file_path/content, command).
_ALIASES = {
    "Write": "write_file",
    "Edit": "replace",
    "Read": "read_file",
    "Bash": "run_shell_command",
}

_MODELS = ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")


def google_error(status: int, message: str = "") -> dict[str, Any]:
    """Google's error envelope, ``{"error": {"code", "message", "status"[, "details"]}}``."""
    message = message or _DEFAULT_MESSAGE.get(status, f"HTTP {status}")
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS.get(status, "UNKNOWN"),
    }
    if status in (400, 401, 403) and "API key" in message:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    return {"error": error}


def usage_metadata(turn: Turn) -> dict[str, int]:
    """``usageMetadata`` for a turn (``usage`` keys: input, output, cache_read)."""
    prompt = int(turn.usage.get("input", 0))
    output = int(turn.usage.get("output", 0))
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
        "cachedContentTokenCount": int(turn.usage.get("cache_read", 0)),
    }


def offered_tools(body: dict[str, Any]) -> list[str]:
    """The function names a request declares (``tools[].functionDeclarations[].name``)."""
    return [
        str(decl.get("name"))
        for tool in body.get("tools") or []
        for decl in tool.get("functionDeclarations") or []
    ]


def tool_name(wanted: str, body: dict[str, Any]) -> str:
    """``wanted`` if the CLI offers it, else its Gemini CLI name (``Write`` -> ``write_file``)."""
    offered = offered_tools(body)
    alias = _ALIASES.get(wanted)
    if wanted in offered or alias is None or alias not in offered:
        return wanted
    return alias


def headers_seen(server: StandinServer) -> list[dict[str, str]]:
    """The headers of each POST, in order (``x-goog-api-key``, ``user-agent``, ...)."""
    seen: list[dict[str, str]] | None = getattr(server, "gemini_headers", None)
    if seen is None:
        seen = []
        setattr(server, "gemini_headers", seen)  # noqa: B010 (a StandinServer has no slot)
    return seen


def conversation(server: StandinServer) -> list[tuple[str, dict[str, Any]]]:
    """(model, body) of each ``streamGenerateContent`` request the server has seen."""
    out: list[tuple[str, dict[str, Any]]] = []
    for path, body in zip(server.paths, server.requests, strict=False):
        match = _MODEL_PATH.match(urlsplit(path).path)
        if match and match.group(2) == "streamGenerateContent":
            out.append((unquote(match.group(1)), body))
    return out


def example_of(schema: Any) -> Any:
    """A minimal value matching a JSON schema (types may be upper case, as the CLI sends)."""
    if not isinstance(schema, dict):
        return None
    if schema.get("enum"):
        values = list(schema["enum"])
        # The next-speaker check asks "user" | "model": "user" ends the turn.
        return "user" if "user" in values else values[0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "string")
    kind = str(kind or "object").lower()
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: example_of(sub) for name, sub in props.items()}
    if kind == "array":
        return []
    if kind in ("number", "integer"):
        return 0
    if kind == "boolean":
        return False
    return ""


def _response(model: str, parts: list[dict[str, Any]], usage: dict[str, int]) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": usage,
        "modelVersion": model,
    }


def _model_info(name: str) -> dict[str, Any]:
    name = name.removeprefix("models/")
    return {
        "name": f"models/{name}",
        "displayName": name,
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    }


class GeminiHandler(Handler):
    """Generative Language API ``v1beta`` for Gemini CLI (see the module docstring)."""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path.endswith("/models"):
            self.send_json(200, {"models": [_model_info(m) for m in _MODELS]})
        elif "/models/" in path:
            self.send_json(200, _model_info(unquote(path.rsplit("/", 1)[1])))
        else:
            self.send_json(404, google_error(404, f"Not found: {path}"))

    def do_POST(self) -> None:
        body = self.read_json()
        headers_seen(self.server).append(dict(self.headers.items()))
        match = _MODEL_PATH.match(urlsplit(self.path).path)
        if not match:
            self.send_json(404, google_error(404, f"Not found: {self.path}"))
            return
        model, method = unquote(match.group(1)), match.group(2)
        if method == "streamGenerateContent":
            self._play(model, body)
        elif method == "generateContent":
            self._side_call(model, body)
        elif method == "countTokens":
            tokens = max(1, len(json.dumps(body.get("contents") or body)) // 4)
            self.send_json(200, {"totalTokens": tokens})
        elif method == "embedContent":
            self.send_json(200, {"embedding": {"values": [0.0] * 8}})
        elif method == "batchEmbedContents":
            count = len(body.get("requests") or [])
            self.send_json(200, {"embeddings": [{"values": [0.0] * 8}] * count})
        else:
            self.send_json(404, google_error(404, f"Method not found: {model}:{method}"))

    def _play(self, model: str, body: dict[str, Any]) -> None:
        """One agent-loop turn, streamed as a single SSE ``data:`` event."""
        turn = self.server.script.next()
        if turn.status:
            self.send_json(turn.status, google_error(turn.status, turn.error))
            return
        if turn.tool:
            call = {"name": tool_name(turn.tool, body), "args": dict(turn.args)}
            parts: list[dict[str, Any]] = [{"functionCall": call}]
        else:
            parts = [{"text": turn.text}]
        response = _response(model, parts, usage_metadata(turn))
        response["responseId"] = f"standin-{self.server.script.played}"
        self.start_sse()
        self.sse(response)

    def _side_call(self, model: str, body: dict[str, Any]) -> None:
        """A non-streaming utility call: JSON from the requested schema, or a short text."""
        config = body.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if schema or config.get("responseMimeType") == "application/json":
            text = json.dumps(example_of(schema) if schema else {})
        else:
            text = "Summary."
        usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
        self.send_json(200, _response(model, [{"text": text}], usage))
