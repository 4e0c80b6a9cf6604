"""The HTTP side of the web board: who asks (authentication, CSRF, Host), how a handler
is run (a sync function in the thread pool, under the principal), JSON in and out, and
the one place an error becomes a response (``error``: its status is its class's)."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mc.board.store import acting_for
from mc.errors import (
    BodyTooLarge,
    CrossSiteRefused,
    InvalidInput,
    MalformedRequest,
    McError,
    NotAllowed,
    NotAuthenticated,
)
from mc.mirror import auth, db
from mc.mirror.auth import READ, Principal
from mc.web.bodies import Body, validation_message

if TYPE_CHECKING:
    from mc.web.state import Web

log = logging.getLogger("mc.web")

SESSION_COOKIE = "mc_session"


def cookie_name(port: int | None) -> str:
    """Cookies do not keep ports apart: each board's server (port) has its own cookie."""
    return f"{SESSION_COOKIE}_{port or 80}"


CSRF_HEADER = "x-csrf-token"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
MAX_BODY = 1 << 20


# ---------------------------------------------------------------------- JSON


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False).encode()


def js(value: Any, status: int = 200, etag: str | None = None) -> Response:
    headers = {"cache-control": "no-store"}
    if etag is not None:
        headers["etag"] = f'"{etag}"'
    return Response(dumps(value), status, headers, media_type="application/json")


def error(exc: Exception, request: Request | None = None) -> Response:
    """The web's one error handler: a named error answers with its class's status and
    ``{"error": message, **details}``; anything else is a bug, logged, and a 500."""
    if not isinstance(exc, McError):
        where = f"{request.method} {request.url.path}" if request is not None else "a request"
        log.error("%s failed", where, exc_info=exc)
        exc = McError("internal error (see the server's log)")
    return js({"error": exc.message, **exc.details}, exc.http_status)


# ---------------------------------------------------------------------- the context


class Ctx(NamedTuple):
    web: Web
    request: Request
    who: Principal
    conn: db.Connection
    body: Any
    params: Mapping[str, Any]

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query_params

    def if_match(self) -> str | None:
        value = self.request.headers.get("if-match")
        if value is None:
            return None
        value = value.strip()
        if value == "*":
            return None if self.request.method == "POST" else "*"
        return value.strip('"')


Handler = Callable[[Ctx], Response]


# ---------------------------------------------------------------------- plumbing


def endpoint(
    handler: Handler,
    *,
    roles: frozenset[str] = READ,
    body: type[Body] | None = None,
    write: bool = False,
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a sync handler: authenticate, check role and CSRF, parse the body, run it
    in the thread pool, and turn errors into one-line JSON."""

    async def run(request: Request) -> Response:
        web: Web = request.app.state.web

        def who() -> Principal:
            with web.connection() as conn:
                principal = authenticate(request, conn)
            if principal.role not in roles:
                raise NotAllowed(f"a {principal.role} may not do this")
            if write and principal.via == "session":
                check_csrf(request, principal)
            return principal

        def call(principal: Principal, parsed: Any) -> Response:
            with web.connection() as conn, acting_for(f"{principal.name} ({principal.via})"):
                return handler(Ctx(web, request, principal, conn, parsed, request.path_params))

        try:
            principal = await run_in_threadpool(who)  # who asks, before reading any body
            parsed = await read_body(request, body) if body is not None else None
            return await run_in_threadpool(call, principal, parsed)
        except Exception as exc:
            return error(exc, request)

    return run


async def read_body(request: Request, model: type[Body]) -> Body:
    """The JSON body as ``model``: at most 1 MiB, read no further than that."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge("the request body is over 1 MiB")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BodyTooLarge("the request body is over 1 MiB")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise MalformedRequest("the body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("body: expected a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc)) from None


def authenticate(request: Request, conn: db.Connection) -> Principal:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotAuthenticated("Authorization: expected 'Bearer <token>'")
        who = auth.lookup(conn, secret.strip(), "token")
        if who is None:
            raise NotAuthenticated("that token is not valid (revoked or unknown)")
        return who
    cookie = request.cookies.get(cookie_name(request.url.port))
    if cookie:
        who = auth.lookup(conn, cookie, "session")
        if who is not None:
            return who
    raise NotAuthenticated("not logged in: open the login link mc up printed, or send a token")


def check_csrf(request: Request, who: Principal) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), who.csrf.encode()):
        raise CrossSiteRefused(f"{CSRF_HEADER}: missing or wrong (GET /api/session has it)")
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin not in (f"http://{host}", f"https://{host}"):
        raise CrossSiteRefused(f"Origin {origin or '(none)'} is not this board's origin")


class Guard:
    """Every response: the Host check (DNS rebinding) and the security headers."""

    def __init__(self, app: ASGIApp, hosts: set[str], events: ASGIApp) -> None:
        self.app = app
        self.hosts = hosts
        self.events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if host not in self.hosts:
            response = error(CrossSiteRefused(f"Host {host!r} is not served here"))
            await response(scope, receive, send)
            return

        if scope["path"] == "/api/events":
            # The live feed goes straight to its app: every layer a frame passes through
            # is paid a thousand times per event with a thousand clients.
            await self.events(scope, receive, send)
            return
        started = time.perf_counter()

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                spent = f"app;dur={(time.perf_counter() - started) * 1000:.2f}".encode()
                message["headers"] = [
                    *message.get("headers", []),
                    *SECURITY_HEADERS,
                    (b"server-timing", spent),  # the server's own time, for people and benchmarks
                ]
            await send(message)

        await self.app(scope, receive, secured)


def number_param(value: str, what: str) -> int:
    if not re.fullmatch(r"[0-9]{1,18}", value):
        raise InvalidInput(f"{what}: expected a whole number, got {value[:40]!r}")
    return int(value)
