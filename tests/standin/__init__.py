"""Local stand-ins for the agent CLIs' model APIs, for tests that drive the real CLIs
offline: each speaks one API's streaming protocol and plays a script of turns.

A ``Script`` is a list of ``Turn``s, played in order, one per model request (a request
after the last turn gets the last turn again). A turn is either a tool call the CLI
should make (``tool``: the CLI's own tool name, ``args``: its input) or a final
message (``text``), or a failure (``status``: an HTTP error such as 401 or 429, with
``error`` text). A failure followed by more turns is a transient one: the CLI's retry
gets the next turn.

    server = serve(AnthropicHandler, Script([Turn(tool="Write", args={...}), Turn(text="Done")]))
    server.url  -> "http://127.0.0.1:PORT"
    server.requests  -> every request body seen (JSON), for assertions on the model asked
    server.close()
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Turn:
    text: str = ""  # a final message
    tool: str = ""  # or a tool call: the CLI's own tool name ...
    args: dict[str, Any] = field(default_factory=dict)  # ... and its input
    status: int = 0  # or an HTTP error (401, 429, 529, ...)
    error: str = ""  # the error's message
    usage: dict[str, int] = field(default_factory=lambda: {"input": 120, "output": 30})


@dataclass
class Script:
    """Turns played in order. A tool call's string arguments may name the run's folders
    as ``{output_dir}`` and ``{workspace}``: they are read from the brief in the
    request (mc's brief says "You work in ..." and "Leave what you produce in ..."),
    as a model reads them."""

    turns: list[Turn]
    played: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: Any = None  # set by serve(): the requests seen so far

    def next(self) -> Turn:
        with self.lock:
            turn = self.turns[min(self.played, len(self.turns) - 1)]
            self.played += 1
        if turn.tool and self.server is not None:
            seen = json.dumps(self.server.requests)
            turn = Turn(**{**turn.__dict__, "args": _filled(turn.args, seen)})
        return turn


_FOLDERS = {
    "output_dir": re.compile(r"Leave what you produce in (/[^\s\\\"']+?)[.]?(?:\\n|\s|$)"),
    "workspace": re.compile(r"You work in (/[^\s\\\"']+?)[.]?(?:\\n|\s|$)"),
}


def _filled(args: dict[str, Any], seen: str) -> dict[str, Any]:
    values = {}
    for name, pattern in _FOLDERS.items():
        found = pattern.findall(seen)
        if found:
            values[name] = found[-1]
    out: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, str):
            for name, folder in values.items():
                value = value.replace("{" + name + "}", folder)
        out[key] = value
    return out


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], script: Script) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    """Shared plumbing: read the JSON body, record it, write JSON or SSE."""

    server: StandinServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        self.server.requests.append(body)
        self.server.paths.append(self.path)
        return body if isinstance(body, dict) else {"_body": body}

    def send_json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_sse(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def sse(self, data: Any, event: str | None = None) -> None:
        chunk = ""
        if event:
            chunk += f"event: {event}\n"
        chunk += f"data: {json.dumps(data) if not isinstance(data, str) else data}\n\n"
        self.wfile.write(chunk.encode())
        self.wfile.flush()


def serve(handler: type[BaseHTTPRequestHandler], script: Script) -> StandinServer:
    server = StandinServer(handler, script)
    script.server = server
    return server
