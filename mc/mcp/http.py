"""The MCP server over streamable HTTP at /mcp on the web server.

Every request carries a bearer token (an API token, as for the JSON API): no token, a
wrong one, a revoked one is a 401 before the SDK sees the request, and the principal it
names is the one every tool call runs as (the contextvar the SDK carries into each
message). A browser session's cookie is not accepted here. A stateful session is bound
to the token that opened it: another token gets the SDK's 404.

The SDK takes most of a second to import, so the board does not wait for it: the
server is built and its session manager run by a task the web server's lifespan
starts; a request that comes before it is ready waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from mc.mcp.access import PRINCIPAL, Access
from mc.mirror import auth
from mc.mirror.auth import Principal

log = logging.getLogger("mc.mcp")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class McpEndpoint:
    """The ASGI app mounted at /mcp."""

    def __init__(self, access: Access, connection: Callable[[], Any]) -> None:
        self.access = access
        self.connection = connection  # a database connection (context manager)
        self.app: Any = None
        self._ready: asyncio.Event | None = None
        self._failed: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Build the server and run its session manager until ``stop`` (a lifespan task)."""
        self._ready = asyncio.Event()
        try:
            sessions = await asyncio.to_thread(self._build)
            async with sessions.run():
                self._ready.set()
                await stop.wait()
        except Exception as exc:  # the board goes on without /mcp; say why
            self._failed = f"the MCP server could not start: {exc}"
            log.exception("the MCP server could not start")
        finally:
            self._ready.set()

    def _build(self) -> Any:
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
        from mcp.server.transport_security import TransportSecuritySettings

        from mc.mcp.tools import build

        server = build(self.access)
        # The web server's own Host check (web.http.Guard) already guards every request.
        server.streamable_http_app(
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False)
        )
        self.app = StreamableHTTPASGIApp(server.session_manager)
        return server.session_manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        who = await self._principal(scope)
        if who is None:
            await _refuse(scope, receive, send, 401, "a bearer token is required (mc token create)")
            return
        if self._ready is None:
            await _refuse(scope, receive, send, 503, "the MCP server is not running")
            return
        await self._ready.wait()
        if self.app is None or self._failed:
            await _refuse(scope, receive, send, 503, self._failed or "the MCP server is down")
            return
        from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
        from mcp.server.auth.provider import AccessToken

        # Bind a stateful session to the token that opened it (the SDK checks the user).
        subject = f"{who.name}:{who.secret_digest.hex()[:16]}"
        scope["user"] = AuthenticatedUser(
            AccessToken(token="-", client_id=subject, scopes=[], subject=subject)
        )
        token = PRINCIPAL.set(who)
        try:
            await self.app(scope, receive, send)
        finally:
            PRINCIPAL.reset(token)

    async def _principal(self, scope: Scope) -> Principal | None:
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"").decode("latin-1")
        if not given.lower().startswith("bearer "):
            return None
        secret = given[7:].strip()

        def lookup() -> Principal | None:
            with self.connection() as conn:
                return auth.lookup(conn, secret, "token")

        return await run_in_threadpool(lookup)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    headers = {"www-authenticate": 'Bearer realm="mc"'} if status == 401 else None
    await JSONResponse({"error": message}, status_code=status, headers=headers)(
        scope, receive, send
    )


@contextlib.asynccontextmanager
async def running(endpoint: McpEndpoint) -> Any:
    """For the web server's lifespan: the MCP server runs while the board is served."""
    stop = asyncio.Event()
    task = asyncio.create_task(endpoint.run(stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=5)
