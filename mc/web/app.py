"""The web board's application: its routes, the login link, the live feed's endpoint and
the static UI. Handlers live in ``projects`` and ``records``, the HTTP plumbing (who asks,
CSRF, Host, JSON, errors) in ``http``, request bodies in ``bodies``, state in ``state``.

Every request is judged by who it comes from (``auth.Principal``: a session cookie
or a bearer token), never by its body; writes by a cookie session need the session's
CSRF header and a same-origin ``Origin``; every request's ``Host`` must be one the
server was started for (DNS rebinding).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from mc.errors import McError, MethodNotAllowed, NotFound
from mc.mirror import auth
from mc.mirror.auth import HUMAN, HUMAN_OR_AGENT, Principal
from mc.resources import data_dir
from mc.web import diffs
from mc.web.bodies import (
    Comment,
    Empty,
    LineCommentBody,
    Move,
    ProjectCreate,
    ProjectPatch,
    Report,
    RequestChanges,
    Rework,
    TaskCreate,
    TaskPatch,
)
from mc.web.events import replay_rows
from mc.web.history import get_board_at, get_history, project_history
from mc.web.http import (
    Guard,
    authenticate,
    cookie_name,
    endpoint,
    error,
)
from mc.web.projects import (
    add_comment,
    create_project,
    get_board,
    get_project,
    get_session,
    logout,
    patch_project,
    project_action,
    project_activity,
    project_artifacts,
    project_integration,
)
from mc.web.records import (
    activity,
    api_metrics,
    calendar,
    create_task,
    delete_task,
    get_job,
    get_task,
    job_log,
    list_jobs,
    list_tasks,
    patch_task,
    prometheus,
    report_job,
)
from mc.web.state import Web

# ---------------------------------------------------------------------- pages and the feed


async def index(request: Request) -> Response:
    html = _index_html()
    if cookie_name(request.url.port) in request.cookies:
        # signed in (most likely): session and board are fetched alongside the modules
        html = html.replace(b"</head>", BOARD_PRELOAD + b"</head>", 1)
    return Response(html, headers={"cache-control": "no-store"}, media_type="text/html")


# the same requests as api.js's fetch (mode cors, credentials same-origin), so they are used
BOARD_PRELOAD = b"".join(
    b'  <link rel="preload" href="%s" as="fetch" crossorigin="anonymous">\n' % path
    for path in (b"/api/session", b"/api/board")
)


@functools.cache
def _index_html() -> bytes:
    """index.html with a modulepreload link for every module of the page: the browser
    fetches them all at once instead of one import level after another (a first load
    on a busy machine spent most of its time in that waterfall)."""
    root = _webui()
    links = "".join(
        f'  <link rel="modulepreload" href="/static/{path.relative_to(root).as_posix()}">\n'
        for path in sorted(root.rglob("*.js"))
    )
    html = (root / "index.html").read_text(encoding="utf-8")
    return html.replace("</head>", f"{links}</head>", 1).encode()


async def login(request: Request) -> Response:
    web: Web = request.app.state.web
    secret = request.query_params.get("token", "")

    def trade() -> str | None:
        with web.connection() as conn:
            return auth.consume_login(conn, secret) if secret else None

    session = await run_in_threadpool(trade)
    if session is None:
        return HTMLResponse(
            '<!doctype html><title>Mission Control</title><link rel="icon" href="data:,">'
            "<p>This login link is used, expired "
            "or wrong. Run <code>mc login</code> for a new one.</p>",
            403,
        )
    # A page (not a redirect) so the SameSite=Strict cookie is in place for the next,
    # same-site navigation whatever opened the link.
    response = HTMLResponse(
        '<!doctype html><title>Mission Control</title><link rel="icon" href="data:,">'
        '<meta http-equiv="refresh" content="0;url=/">'
        '<p>Logged in. <a href="/">Open the board</a>.</p>'
    )
    response.set_cookie(
        cookie_name(request.url.port),
        session,
        max_age=int(auth.SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


class Events:
    """GET /api/events: the live feed (a plain ASGI app; see Hub.serve)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "GET":
            await error(MethodNotAllowed("GET /api/events only"))(scope, receive, send)
            return
        request = Request(scope, receive)
        web: Web = request.app.state.web

        def who() -> Principal:
            with web.connection() as conn:
                return authenticate(request, conn)

        try:
            await run_in_threadpool(who)
        except McError as exc:
            await error(exc)(scope, receive, send)
            return
        raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        last = int(raw) if raw and re.fullmatch(r"[0-9]{1,18}", raw) else None

        def replay(after: int) -> list[dict[str, Any]]:
            with web.connection() as conn:
                got = replay_rows(conn, after)
                conn.commit()
                return got

        await web.hub.serve(send, receive, last, replay)


EVENTS = Events()


async def not_found(request: Request) -> Response:
    return error(NotFound(f"no such endpoint: {request.method} {request.url.path}"))


def _webui() -> Path:
    return data_dir("webui")


# ---------------------------------------------------------------------- the app


def _diff_routes() -> list[Route]:
    """A coder project's change and the line comments on it (mc.web.diffs)."""
    base = "/api/projects/{id}/diff"
    return [
        Route(base, endpoint(diffs.get_diff)),
        Route(f"{base}/comments", endpoint(diffs.list_comments), methods=["GET"]),
        Route(
            f"{base}/comments",
            endpoint(diffs.add_comment, roles=HUMAN, body=LineCommentBody, write=True),
            methods=["POST"],
        ),
        Route(
            f"{base}/comments/{{cid}}/resolve",
            endpoint(diffs.resolve_comment, roles=HUMAN, body=Empty, write=True),
            methods=["POST"],
        ),
        Route(
            f"{base}/comments/{{cid}}",
            endpoint(diffs.delete_comment, roles=HUMAN, body=Empty, write=True),
            methods=["DELETE"],
        ),
        Route(
            f"{base}/request-changes",
            endpoint(diffs.request_changes, roles=HUMAN, body=RequestChanges, write=True),
            methods=["POST"],
        ),
    ]


def create_app(board_path: Path, url: str, *, hosts: set[str]) -> Starlette:
    """The application: the API's route table (one line per route, kept together so the
    whole surface reads in one place, which is why this function is long), the login
    link, the live feed and the static UI."""
    from mc.mcp.http import McpEndpoint, running

    web = Web(board_path, url, hosts=hosts)
    mcp = McpEndpoint(web, web.connection)  # the assistant's board, by bearer token
    api = [
        Route("/api/session", endpoint(get_session)),
        Route("/api/logout", endpoint(logout, body=Empty, write=True), methods=["POST"]),
        Route("/api/board", endpoint(get_board)),
        Route("/api/history", endpoint(get_history)),
        Route("/api/history/board", endpoint(get_board_at)),
        Route(
            "/api/projects",
            endpoint(create_project, roles=HUMAN, body=ProjectCreate, write=True),
            methods=["POST"],
        ),
        Route("/api/projects/{id}", endpoint(get_project), methods=["GET"]),
        Route(
            "/api/projects/{id}",
            endpoint(patch_project, roles=HUMAN, body=ProjectPatch, write=True),
            methods=["PATCH"],
        ),
        Route("/api/projects/{id}/activity", endpoint(project_activity)),
        Route("/api/projects/{id}/history", endpoint(project_history)),
        Route("/api/projects/{id}/artifacts", endpoint(project_artifacts)),
        Route("/api/projects/{id}/integration", endpoint(project_integration)),
        Route(
            "/api/projects/{id}/comments",
            endpoint(add_comment, roles=HUMAN_OR_AGENT, body=Comment, write=True),
            methods=["POST"],
        ),
        *_diff_routes(),
        Route(
            "/api/projects/{id}/move",
            endpoint(project_action, roles=HUMAN, body=Move, write=True),
            methods=["POST"],
        ),
        Route(
            "/api/projects/{id}/rework",
            endpoint(project_action, roles=HUMAN, body=Rework, write=True),
            methods=["POST"],
        ),
        *(
            Route(
                f"/api/projects/{{id}}/{action}",
                endpoint(project_action, roles=HUMAN, body=Empty, write=True),
                methods=["POST"],
            )
            for action in ("queue", "cancel", "retry", "approve")
        ),
        Route("/api/jobs", endpoint(list_jobs)),
        Route("/api/jobs/{id}", endpoint(get_job)),
        Route("/api/jobs/{id}/log", endpoint(job_log)),
        *(
            Route(
                f"/api/jobs/{{id}}/{outcome}",
                endpoint(report_job, roles=HUMAN_OR_AGENT, body=Report, write=True),
                methods=["POST"],
            )
            for outcome in ("complete", "fail")
        ),
        Route("/api/tasks", endpoint(list_tasks), methods=["GET"]),
        Route(
            "/api/tasks",
            endpoint(create_task, roles=HUMAN_OR_AGENT, body=TaskCreate, write=True),
            methods=["POST"],
        ),
        Route("/api/tasks/{id}", endpoint(get_task), methods=["GET"]),
        Route(
            "/api/tasks/{id}",
            endpoint(patch_task, roles=HUMAN, body=TaskPatch, write=True),
            methods=["PATCH"],
        ),
        Route(
            "/api/tasks/{id}",
            endpoint(delete_task, roles=HUMAN, body=Empty, write=True),
            methods=["DELETE"],
        ),
        Route("/api/calendar", endpoint(calendar)),
        Route("/api/activity", endpoint(activity)),
        Route("/api/metrics", endpoint(api_metrics)),
        Route("/metrics", endpoint(prometheus)),
        Route("/mcp", mcp, methods=["GET", "POST", "DELETE"]),
        Route("/login", login),
        Route("/", index),
        Mount("/static", StaticFiles(directory=_webui()), name="static"),
        Route("/api/{rest:path}", not_found, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
    ]

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        import asyncio

        web.hub.start(asyncio.get_running_loop())
        async with running(mcp):
            yield
        web.close()

    app = Starlette(routes=api, lifespan=lifespan)
    app.state.web = web
    app.add_middleware(Guard, hosts=hosts, events=EVENTS)
    return app
