"""The web board's server: the JSON API, login, the live feed, metrics and the static UI.

Every request is judged by who it comes from (``auth.Principal``: a session cookie
or a bearer token), never by its body; bodies are pydantic models that refuse
unknown fields, so a body cannot name an actor or a role. Writes by a cookie session
need the session's CSRF header and a same-origin ``Origin``; every request's ``Host``
must be one the server was started for (DNS rebinding). Board writes go through the
same library calls as the CLI (``mc.actions``), so the rules are the same rules.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import db, jobs
from ..board import Board
from ..errors import InvalidInput, McError, StaleVersion
from ..lanes import LANE_NAMES_ORDERED, Lane, parse_lane
from ..projectfile import DELETE, to_json
from ..resources import data_dir
from ..store import acting_for
from ..tasks import is_overdue, local_zone
from . import auth, metrics
from .auth import Principal
from .events import Hub, Replay, activity_json, replay_rows

log = logging.getLogger("mc.web")

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
READ = frozenset({"human", "agent", "viewer"})
HUMAN = frozenset({"human"})
HUMAN_OR_AGENT = frozenset({"human", "agent"})
BOARD_CACHE_SECONDS = 30.0
ARTIFACTS_SHOWN = 200
ARTIFACT_TEXT_MAX = 512 * 1024  # "overdue" changes with the clock, not only with commits


class HttpError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


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


def error(status: int, message: str, **extra: Any) -> Response:
    return js({"error": message, **extra}, status)


# ---------------------------------------------------------------------- bodies


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and _CONTROL.search(text):
                raise ValueError("control characters are not allowed")
        return value


class ProjectCreate(Body):
    title: str
    archetype: str
    id: str | None = None
    template: str | None = None
    description: str | None = None
    acceptance: list[str] | None = None
    due: str | None = None
    priority: int | None = None
    owner: str | None = None
    model: str | None = None
    labels: list[str] | None = None
    workspace: str | None = None
    lane: Literal["backlog", "up-next"] = "backlog"


class ProjectPatch(Body):
    title: str | None = None
    archetype: str | None = None
    model: str | None = None
    description: str | None = None
    acceptance: list[str] | None = None
    priority: int | None = None
    owner: str | None = None
    due: str | None = None
    labels: list[str] | None = None
    workspace: str | None = None
    feedback: str | None = None


class Move(Body):
    lane: str


class Rework(Body):
    notes: str = ""


class Comment(Body):
    text: str


class Report(Body):
    notes: str = ""
    error: str = ""


class TaskCreate(Body):
    title: str
    due: str | None = None
    project: str | None = None
    priority: int | None = None
    notes: str = ""
    tags: list[str] | None = None


class TaskPatch(Body):
    title: str | None = None
    due: str | None = None
    project: str | None = None
    priority: int | None = None
    notes: str | None = None
    tags: list[str] | None = None
    done: bool | None = None


class Empty(Body):
    pass


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    if first["type"] == "extra_forbidden":
        return f"{where}: not a field of this request (the actor is who you are logged in as)"
    return f"{where}: {first['msg']}"


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


class Web:
    """The server's state: the database pool, the live feed, caches."""

    def __init__(self, board_path: Path, url: str, *, hosts: set[str]) -> None:
        self.board_path = board_path
        self.url = url
        self.hosts = hosts  # acceptable Host headers ("127.0.0.1:8765", ...)
        self.pool = db.pool(url)
        self.tz = local_zone()
        self._board_lock = threading.Lock()
        self._board: Board | None = None
        self._cache: tuple[float, int, bytes] | None = None
        self._generation = 0
        self._can_sign: tuple[float, bool] | None = None
        self._templates: tuple[str | None, list[str]] | None = None
        self._tip: str | None = None
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry()  # one collector: its one-second cache holds
        self.registry.register(metrics.Collector(self.metrics_now))
        self.hub = Hub(url, on_change=self.invalidate)

    def invalidate(self) -> None:
        self._generation += 1

    def connection(self) -> Any:
        return db.pooled(self.pool)

    def board(self) -> Board:
        """A long-lived reader (callers hold ``reading``)."""
        if self._board is None:
            self._board = Board.open(self.board_path)
        return self._board

    def current(self) -> Board:
        """The reader, with mc.yaml read again when the tip moved (callers hold ``reading``)."""
        board = self.board()
        tip = board.tip
        if tip != self._tip:
            board.refresh()
            self._tip = tip
        return board

    def reading(self) -> threading.Lock:
        return self._board_lock

    def writer(self) -> Board:
        """A Board of its own for one write (the store keeps per-board state)."""
        return Board.open(self.board_path)

    def template_names(self, board: Board) -> list[str]:
        """The tip's template names (listing them is a git process: kept per tip)."""
        from ..actions import templates

        tip = board.tip
        if self._templates is None or self._templates[0] != tip:
            self._templates = (tip, sorted(templates(board)))
        return self._templates[1]

    def can_sign(self) -> bool:
        """Can this server sign an approval as the person (their own key, an approver)?"""
        now = time.monotonic()
        if self._can_sign is None or now - self._can_sign[0] > 30:
            from ..actions import approver_principal

            try:
                with self.writer() as board:
                    approver_principal(board)
                ok = True
            except McError:
                ok = False
            self._can_sign = (now, ok)
        return self._can_sign[1]

    def metrics_now(self, conn: db.Connection | None = None) -> dict[str, Any]:
        if conn is None:
            with self.connection() as own:
                return self.metrics_now(own)
        return metrics.compute(conn, self.tz, self._sync_lag(conn))

    def _sync_lag(self, conn: db.Connection) -> float | None:
        """Seconds the mirror is behind the tip's commit time (0 when it has the tip)."""
        row = db.fetch_one(conn, "meta_get", {"key": "last_synced_commit"})
        conn.commit()
        with self.reading():
            board = self.current()
            tip = board.tip
            if tip is None or (row and row["value"] == tip):
                return 0.0
            when = board.repo.out("log", "-1", "--format=%ct", tip).strip()
        return max(0.0, time.time() - int(when)) if when else None

    def close(self) -> None:
        self.hub.close()
        self.pool.close()
        if self._board is not None:
            self._board.close()


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
                principal = _authenticate(request, conn)
            if principal.role not in roles:
                raise HttpError(403, f"a {principal.role} may not do this")
            if write and principal.via == "session":
                _check_csrf(request, principal)
            return principal

        def call(principal: Principal, parsed: Any) -> Response:
            with web.connection() as conn, acting_for(f"{principal.name} ({principal.via})"):
                return handler(Ctx(web, request, principal, conn, parsed, request.path_params))

        try:
            principal = await run_in_threadpool(who)  # who asks, before reading any body
            parsed = await _body(request, body) if body is not None else None
            return await run_in_threadpool(call, principal, parsed)
        except HttpError as exc:
            return error(exc.status, exc.message, **exc.extra)
        except McError as exc:
            return error(exc.http_status, exc.message)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error(500, "internal error (see the server's log)")

    return run


async def _body(request: Request, model: type[Body]) -> Body:
    """The JSON body as ``model``: at most 1 MiB, read no further than that."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise HttpError(413, "the request body is over 1 MiB")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise HttpError(413, "the request body is over 1 MiB")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise HttpError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HttpError(422, "body: expected a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HttpError(422, _validation_message(exc)) from None


def _authenticate(request: Request, conn: db.Connection) -> Principal:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise HttpError(401, "Authorization: expected 'Bearer <token>'")
        who = auth.lookup(conn, secret.strip(), "token")
        if who is None:
            raise HttpError(401, "that token is not valid (revoked or unknown)")
        return who
    cookie = request.cookies.get(auth.cookie_name(request.url.port))
    if cookie:
        who = auth.lookup(conn, cookie, "session")
        if who is not None:
            return who
    raise HttpError(401, "not logged in: open the login link mc up printed, or send a token")


def _check_csrf(request: Request, who: Principal) -> None:
    sent = request.headers.get(auth.CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), who.csrf.encode()):
        raise HttpError(403, f"{auth.CSRF_HEADER}: missing or wrong (GET /api/session has it)")
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin not in (f"http://{host}", f"https://{host}"):
        raise HttpError(403, f"Origin {origin or '(none)'} is not this board's origin")


class Guard:
    """Every response: the Host check (DNS rebinding) and the security headers."""

    def __init__(self, app: ASGIApp, hosts: set[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if host not in self.hosts:
            response = error(403, f"Host {host!r} is not served here")
            await response(scope, receive, send)
            return

        if scope["path"] == "/api/events":
            # The live feed goes straight to its app: every layer a frame passes through
            # is paid a thousand times per event with a thousand clients.
            await EVENTS(scope, receive, send)
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


# ---------------------------------------------------------------------- cards


def _card(row: Mapping[str, Any], now: dt.datetime, tz: dt.tzinfo) -> dict[str, Any]:
    due = row["due_at"] or row["due_date"]
    review = row["review"] if isinstance(row["review"], dict) else None
    job = None
    if row["job_id"] is not None:
        job = {
            "id": row["job_id"],
            "kind": row["job_kind"],
            "state": row["job_state"],
            "attempts": row["job_attempts"],
            "max_attempts": row["job_max_attempts"],
            "started_at": row["job_started_at"],
            "last_error": row["job_last_error"],
            "retrying": row["job_state"] == "queued" and row["job_attempts"] > 0,
        }
    return {
        "id": row["id"],
        "title": row["title"],
        "archetype": row["archetype"],
        "model": row["model"],
        "priority": row["priority"],
        "owner": row["owner"],
        "labels": row["labels"],
        "due": due,
        "overdue": row["lane"] != "done"
        and is_overdue(row["due_date"], row["due_at"], None, now, tz),
        "lane": row["lane"],
        "ready_for_human": row["ready_for_human"],
        "needs_human": row["needs_reason"] if row["needs_human"] else None,
        "review": {"verdict": review.get("verdict"), "notes": review.get("notes")}
        if review
        else None,
        "job": job,
        "invalid": row["error"],
        "violation": row["flagged"],
        "etag": row["applied_blob"],
    }


def board_json(c: Ctx) -> bytes:
    web = c.web
    cached = web._cache
    if (
        cached is not None
        and cached[1] == web._generation
        and time.monotonic() - cached[0] < BOARD_CACHE_SECONDS
    ):
        return cached[2]
    generation = web._generation
    now = dt.datetime.now(dt.UTC)
    rows = db.fetch_all(c.conn, "board_cards")
    version = db.fetch_one(c.conn, "meta_get", {"key": "last_synced_commit"})
    c.conn.commit()
    with web.reading():
        board = web.current()
        config = board.config
        names = web.template_names(board)
    lanes: dict[str, list[dict[str, Any]]] = {name: [] for name in LANE_NAMES_ORDERED}
    for row in rows:
        lanes[row["lane"]].append(_card(row, now, web.tz))
    out = {
        "version": version["value"] if version else None,
        "lanes": [
            {
                "name": name,
                "wip_limit": config.wip_limits.get(Lane(name)),
                "projects": lanes[name],
            }
            for name in LANE_NAMES_ORDERED
        ],
        "archetypes": list(config.work_archetypes()),
        "templates": names,
    }
    data = dumps(out)
    web._cache = (time.monotonic(), generation, data)
    return data


# ---------------------------------------------------------------------- handlers


def get_session(c: Ctx) -> Response:
    return js(
        {
            "name": c.who.name,
            "role": c.who.role,
            "via": c.who.via,
            "csrf": c.who.csrf if c.who.via == "session" else None,
            "can_sign": c.who.role == "human" and c.who.via == "session" and c.web.can_sign(),
        }
    )


def logout(c: Ctx) -> Response:
    if c.who.via != "session":
        raise HttpError(
            409, "only a browser session logs out (revoke a token with mc token revoke)"
        )
    auth.end_session(c.conn, c.who)
    response = Response(status_code=204)
    response.delete_cookie(auth.cookie_name(c.request.url.port), path="/")
    return response


def get_board(c: Ctx) -> Response:
    return Response(
        board_json(c), headers={"cache-control": "no-store"}, media_type="application/json"
    )


def _project(c: Ctx, pid: str) -> tuple[dict[str, Any], str]:
    """The project as the board's tip has it (the file's fields), with the mirror's job,
    violation flag and review-job state (which live only in the database)."""
    with c.web.reading():
        entry = c.web.current().get(pid)
    row = db.fetch_one(c.conn, "board_card", {"id": pid})
    c.conn.commit()
    now = dt.datetime.now(dt.UTC)
    out: dict[str, Any] = _card(row, now, c.web.tz) if row is not None else {
        "id": pid, "job": None, "violation": None
    }  # fmt: skip
    data = dict(entry.project.data) if entry.project is not None else {}
    due = data.get("due")
    review = data.get("review")
    needs = data.get("needs_human")
    out.update(
        {
            "lane": entry.lane.value,
            "title": data.get("title", out.get("title")),
            "archetype": data.get("archetype", out.get("archetype")),
            "model": data.get("model"),
            "priority": data.get("priority"),
            "owner": data.get("owner"),
            "labels": list(data.get("labels") or []),
            "due": due,
            "overdue": entry.lane is not Lane.DONE and _is_past(due, now, c.web.tz),
            "ready_for_human": bool(data.get("ready_for_human")),
            "needs_human": needs.get("reason") if isinstance(needs, dict) else None,
            "review": {"verdict": review.get("verdict"), "notes": review.get("notes")}
            if isinstance(review, dict)
            else None,
            "invalid": entry.error,
            "etag": entry.blob,
            "data": to_json(data) if entry.project is not None else None,
        }
    )
    if entry.project is None and row is not None:  # an invalid file: the last valid version
        out["title"], out["archetype"] = row["title"], row["archetype"]
    return out, entry.blob


def _is_past(due: Any, now: dt.datetime, tz: dt.tzinfo) -> bool:
    if isinstance(due, dt.datetime):
        return is_overdue(None, due if due.tzinfo else due.replace(tzinfo=dt.UTC), None, now, tz)
    if isinstance(due, dt.date):
        return is_overdue(due, None, None, now, tz)
    return False


def get_project(c: Ctx) -> Response:
    out, etag = _project(c, c.params["id"])
    return js(out, etag=etag)


def _after_write(c: Ctx, pid: str, status: int = 200) -> Response:
    c.web.invalidate()
    out, etag = _project(c, pid)
    return js(out, status, etag=etag)


def create_project(c: Ctx) -> Response:
    from ..actions import new_project

    b: ProjectCreate = c.body
    fields = {
        k: v
        for k, v in b.model_dump(exclude={"title", "archetype", "id", "template", "lane"}).items()
        if v is not None
    }
    with c.web.writer() as board:
        result = new_project(
            board,
            b.title,
            b.archetype,
            project_id=b.id,
            template=b.template,
            fields=fields,
            lane=Lane(b.lane),
        )
    pid = result.transition.project_id
    assert pid is not None
    return _after_write(c, pid, 201)


def patch_project(c: Ctx) -> Response:
    from ..actions import edit

    pid = c.params["id"]
    expected = c.if_match()
    if expected is None:
        raise HttpError(428, "If-Match: required (the etag of the version you edited)")
    b: ProjectPatch = c.body
    updates = {
        k: (DELETE if v is None else v)
        for k, v in b.model_dump().items()
        if k in b.model_fields_set
    }
    if not updates:
        raise InvalidInput("body: nothing to change")
    with c.web.writer() as board:
        edit(board, pid, updates, expect=None if expected == "*" else expected)
    return _after_write(c, pid)


def project_action(c: Ctx) -> Response:
    from .. import actions

    pid, action = c.params["id"], c.request.url.path.rsplit("/", 1)[-1]
    expected = c.if_match()
    with c.web.writer() as board:
        # An If-Match here is optional; when given, it is checked in the same step as
        # the commit (a change in between is a 412, not an overwrite).
        if action in ("queue", "cancel"):
            lane = Lane.UP_NEXT if action == "queue" else Lane.BACKLOG
            actions.move(board, pid, lane, action, expect=expected)
        elif action == "move":
            try:
                lane = parse_lane(c.body.lane)
            except ValueError as exc:
                raise InvalidInput(f"lane: {exc}") from None
            actions.move(board, pid, lane, expect=expected)
        elif action == "rework":
            actions.rework(board, pid, c.body.notes, expect=expected)
        elif action == "retry":
            jobs.retry_project(c.conn, pid, board.get(pid).lane)
        elif action == "approve":
            if c.who.via != "session":
                raise HttpError(403, "approve from the browser session, or run mc approve")
            command = f"mc approve {pid}"
            if not c.web.can_sign():
                raise HttpError(
                    409,
                    "this server cannot sign as you: approve on your own machine",
                    command=command,
                )
            try:
                actions.approve(board, pid, expect=expected)
            except McError as exc:
                if exc.http_status == 403:  # the key could not sign here
                    raise HttpError(409, exc.message, command=command) from None
                raise
        else:
            raise HttpError(404, f"no action {action!r}")
        if action in ("cancel", "move") and board.get(pid).lane is Lane.BACKLOG:
            jobs.cancel_project(c.conn, pid)  # parked: its job stops now, not at the next sync
    return _after_write(c, pid)


def project_activity(c: Ctx) -> Response:
    with c.web.reading():
        c.web.current().get(c.params["id"])  # 404 for an unknown id
    rows = db.fetch_all(
        c.conn, "activity_recent", {"project": c.params["id"], "before": None, "limit": 200}
    )
    comments = db.fetch_all(c.conn, "comment_list", {"project_id": c.params["id"]})
    c.conn.commit()
    return js({"activity": [activity_json(r) for r in rows], "comments": comments})


def project_artifacts(c: Ctx) -> Response:
    pid = c.params["id"]
    out = []
    with c.web.reading():
        board = c.web.current()
        board.get(pid)
        tip = board.tip
        if tip is not None:
            for entry in board.repo.ls_tree(tip, [f"artifacts/{pid}"])[:ARTIFACTS_SHOWN]:
                path = entry.path.removeprefix(f"artifacts/{pid}/")
                size = board.cat.size(entry.sha) or 0
                kind, text = "binary", None
                if size <= ARTIFACT_TEXT_MAX:  # bigger ones are listed, not read
                    data = board.read_blob(entry.sha) or b""
                    if b"\0" not in data:
                        try:
                            text = data.decode("utf-8")
                            kind = "patch" if path.endswith((".patch", ".diff")) else "text"
                        except UnicodeDecodeError:
                            pass
                out.append({"path": path, "size": size, "kind": kind, "text": text})
    return js(out)


def add_comment(c: Ctx) -> Response:
    pid = c.params["id"]
    with c.web.reading():
        c.web.current().get(pid)
    text = c.body.text.strip()
    if not text:
        raise InvalidInput("text: empty")
    with db.translated(), c.conn.transaction():
        # The sync's lock: activity ids then commit in the order they were taken, so a
        # client's Last-Event-ID replay ("after id N") cannot step over one.
        db.fetch_one(c.conn, "sync_lock")
        row = db.fetch_one(
            c.conn,
            "comment_insert",
            {"project_id": pid, "author": c.who.name, "role": c.who.role, "text": text[:20000]},
        )
        act = db.fetch_one(
            c.conn,
            "activity_insert",
            {
                "kind": "comment",
                "project_id": pid,
                "from_lane": None,
                "to_lane": None,
                "commit": None,
                "action": "comment",
                "actor": c.who.role,
                "who": c.who.name,
                "summary": text[:2000],
                "at": dt.datetime.now(dt.UTC),
            },
        )
        if act is not None:
            db.notify(c.conn, json.dumps({"kind": "activity", "activity": [act["id"]]}))
    return js(row, 201)


def _job_json(job: jobs.Job) -> dict[str, Any]:
    out = job.to_json()
    out.pop("lease_token", None)  # a worker's fencing secret
    return out


def list_jobs(c: Ctx) -> Response:
    found = jobs.listing(c.conn, project=c.query.get("project"), state=c.query.get("state"))
    c.conn.commit()
    return js([_job_json(j) for j in found])


def get_job(c: Ctx) -> Response:
    job = jobs.get(c.conn, _int(c.params["id"], "job id"))
    c.conn.commit()
    return js(_job_json(job))


def job_log(c: Ctx) -> Response:
    number = _int(c.params["id"], "job id")
    job = jobs.get(c.conn, number)
    rows = jobs.read_log(c.conn, number, after=_int(c.query.get("after", "0"), "after"))
    c.conn.commit()
    lines = [{"id": r["id"], "stream": r["stream"], "text": r["text"], "at": r["at"]} for r in rows]
    return js({"lines": lines, "state": job.state})


def report_job(c: Ctx) -> Response:
    number = _int(c.params["id"], "job id")
    ok = c.request.url.path.endswith("/complete")
    if not ok and not c.body.error.strip():
        raise InvalidInput("error: say what went wrong")
    job = jobs.report(c.conn, number, ok=ok, notes=c.body.notes, error=c.body.error)
    return js(_job_json(job))


def _int(value: str, what: str) -> int:
    if not re.fullmatch(r"[0-9]{1,18}", value):
        raise InvalidInput(f"{what}: expected a whole number, got {value[:40]!r}")
    return int(value)


def _task_json(c: Ctx, task: Any) -> dict[str, Any]:
    out: dict[str, Any] = task.to_json(dt.datetime.now(dt.UTC), c.web.tz)
    out["due"] = out.pop("due_at") or out.pop("due_date", None)
    out.pop("due_date", None)
    out["etag"] = _task_etag(task)
    return out


def _task_etag(task: Any) -> str:
    return f"t{task.id}-{task.updated_at.timestamp():.6f}"


def list_tasks(c: Ctx) -> Response:
    from .. import tasks

    found = tasks.listing(
        c.conn,
        overdue=c.query.get("overdue") in ("1", "true"),
        project=c.query.get("project") or None,
        include_done=c.query.get("all") in ("1", "true"),
        tz=c.web.tz,
    )
    c.conn.commit()
    return js([_task_json(c, t) for t in found])


def create_task(c: Ctx) -> Response:
    from .. import tasks

    b: TaskCreate = c.body
    task = tasks.add(
        c.conn,
        b.title,
        due=b.due,
        project=b.project,
        priority=b.priority,
        tags=b.tags,
        notes=b.notes,
    )
    out = _task_json(c, task)
    return js(out, 201, etag=out["etag"])


def get_task(c: Ctx) -> Response:
    from .. import tasks

    task = tasks.get(c.conn, _int(c.params["id"], "task id"))
    c.conn.commit()
    out = _task_json(c, task)
    return js(out, etag=out["etag"])


def patch_task(c: Ctx) -> Response:
    from .. import tasks

    number = _int(c.params["id"], "task id")
    expected = c.if_match()
    if expected is None:
        raise HttpError(428, "If-Match: required (the etag of the version you edited)")
    b: TaskPatch = c.body
    given = {k: getattr(b, k) for k in b.model_fields_set}
    with c.conn.transaction():
        _lock_task(c, number, expected)
        task = tasks.update(c.conn, number, **given)
    out = _task_json(c, task)
    return js(out, etag=out["etag"])


def _lock_task(c: Ctx, number: int, expected: str) -> None:
    """Hold task N for this transaction; StaleVersion unless it is still ``expected``."""
    from .. import tasks

    db.fetch_one(c.conn, "task_lock", {"id": number})
    if expected != "*" and _task_etag(tasks.get(c.conn, number)) != expected:
        raise StaleVersion(f"task {number} changed since you read it: reload it")


def delete_task(c: Ctx) -> Response:
    from .. import tasks

    number = _int(c.params["id"], "task id")
    expected = c.if_match()
    if expected is None:
        raise HttpError(428, "If-Match: required (the etag of the version you delete)")
    with c.conn.transaction():
        _lock_task(c, number, expected)
        tasks.delete(c.conn, number)
    return Response(status_code=204)


def calendar(c: Ctx) -> Response:
    month = c.query.get("month") or dt.datetime.now(c.web.tz).strftime("%Y-%m")
    try:
        first = dt.date.fromisoformat(f"{month}-01")
        if not 1900 <= first.year <= 9000:
            raise ValueError(month)
    except ValueError:
        raise InvalidInput(f"month: expected YYYY-MM (1900-9000), got {month[:20]!r}") from None
    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    tz_name = str(c.web.tz) if hasattr(c.web.tz, "key") else "UTC"
    params = {"first": first, "last": last, "tz": tz_name}
    now = dt.datetime.now(dt.UTC)
    days: dict[str, list[dict[str, Any]]] = {}

    def day_of(due_date: dt.date | None, due_at: dt.datetime | None) -> str:
        if due_date is not None:
            return due_date.isoformat()
        assert due_at is not None
        return due_at.astimezone(c.web.tz).date().isoformat()

    for r in db.fetch_all(c.conn, "calendar_projects", params):
        done = r["lane"] == "done"
        days.setdefault(day_of(r["due_date"], r["due_at"]), []).append(
            {
                "type": "project",
                "id": r["id"],
                "title": r["title"],
                "done": done,
                "overdue": not done and is_overdue(r["due_date"], r["due_at"], None, now, c.web.tz),
            }
        )
    for r in db.fetch_all(c.conn, "calendar_tasks", params):
        days.setdefault(day_of(r["due_date"], r["due_at"]), []).append(
            {
                "type": "task",
                "id": r["id"],
                "title": r["title"],
                "done": r["done_at"] is not None,
                "overdue": is_overdue(r["due_date"], r["due_at"], r["done_at"], now, c.web.tz),
            }
        )
    c.conn.commit()
    return js({"month": month, "days": days})


def activity(c: Ctx) -> Response:
    limit = min(max(_int(c.query.get("limit", "50"), "limit"), 1), 500)
    before = c.query.get("before")
    rows = db.fetch_all(
        c.conn,
        "activity_recent",
        {"project": None, "before": _int(before, "before") if before else None, "limit": limit},
    )
    c.conn.commit()
    items = [activity_json(r) for r in rows]
    return js({"items": items, "next": items[-1]["id"] if len(items) == limit else None})


def api_metrics(c: Ctx) -> Response:
    return js(c.web.metrics_now(c.conn))


def prometheus(c: Ctx) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(c.web.registry), media_type=CONTENT_TYPE_LATEST)


# ---------------------------------------------------------------------- pages and the feed


async def index(request: Request) -> Response:
    return FileResponse(_webui() / "index.html", headers={"cache-control": "no-store"})


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
        auth.cookie_name(request.url.port),
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
            await error(405, "GET /api/events only")(scope, receive, send)
            return
        request = Request(scope, receive)
        web: Web = request.app.state.web

        def who() -> Principal:
            with web.connection() as conn:
                return _authenticate(request, conn)

        try:
            await run_in_threadpool(who)
        except HttpError as exc:
            await error(exc.status, exc.message)(scope, receive, send)
            return
        raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        last = int(raw) if raw and re.fullmatch(r"[0-9]{1,18}", raw) else None

        def replay(after: int) -> Replay:
            with web.connection() as conn:
                got = replay_rows(conn, after)
                conn.commit()
                return got

        await web.hub.serve(send, receive, last, replay)


EVENTS = Events()


async def not_found(request: Request) -> Response:
    return error(404, f"no such endpoint: {request.method} {request.url.path}")


def _webui() -> Path:
    return data_dir("webui")


# ---------------------------------------------------------------------- the app


def create_app(board_path: Path, url: str, *, hosts: set[str]) -> Starlette:
    web = Web(board_path, url, hosts=hosts)
    api = [
        Route("/api/session", endpoint(get_session)),
        Route("/api/logout", endpoint(logout, body=Empty, write=True), methods=["POST"]),
        Route("/api/board", endpoint(get_board)),
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
        Route("/api/projects/{id}/artifacts", endpoint(project_artifacts)),
        Route(
            "/api/projects/{id}/comments",
            endpoint(add_comment, roles=HUMAN_OR_AGENT, body=Comment, write=True),
            methods=["POST"],
        ),
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
        yield
        web.close()

    app = Starlette(routes=api, lifespan=lifespan)
    app.state.web = web
    app.add_middleware(Guard, hosts=hosts)
    return app
