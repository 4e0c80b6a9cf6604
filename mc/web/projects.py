"""The board and its projects over HTTP: cards, detail, edits, lane moves, approval,
artifacts, comments. Writes go through mc.actions, so the rules are the CLI's rules."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from mc.board.layout import LANE_NAMES_ORDERED, Lane, parse_lane
from mc.board.projectfile import DELETE, needs_human_of, review_of, to_json
from mc.errors import (
    BadQuery,
    InvalidInput,
    NotAllowed,
    NotAnApprover,
    NotFound,
    NotHere,
    SigningError,
    VersionRequired,
)
from mc.mirror import auth, db
from mc.mirror.replay import META_CONFIG, META_CONFIG_REFUSED, META_LAST
from mc.mirror.tasks import is_overdue
from mc.mirror.view import activity_json
from mc.pipeline import jobs
from mc.pipeline.jobs import JobState
from mc.web.bodies import ProjectCreate, ProjectPatch
from mc.web.http import Ctx, cookie_name, dumps, js
from mc.web.lanes import PAGE, PAGE_MAX, Filters, decode_cursor

ARTIFACTS_SHOWN = 200
ARTIFACT_TEXT_MAX = 512 * 1024

# ---------------------------------------------------------------------- cards


def _job_of(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The project's latest job, as the board's query joins it."""
    if row is None or row["job_id"] is None:
        return None
    return {
        "id": row["job_id"],
        "kind": row["job_kind"],
        "state": row["job_state"],
        "attempts": row["job_attempts"],
        "max_attempts": row["job_max_attempts"],
        "started_at": row["job_started_at"],
        "last_error": row["job_last_error"],
        "retrying": row["job_state"] == JobState.QUEUED and row["job_attempts"] > 0,
        "last_step": row["job_last_step"],  # the agent's latest step, in words
    }


def _card(
    pid: str,
    lane: str,
    data: Mapping[str, Any],
    row: Mapping[str, Any] | None,
    *,
    invalid: str | None,
    diverged: dict[str, Any] | None,
    etag: str | None,
    now: dt.datetime,
    tz: dt.tzinfo,
) -> dict[str, Any]:
    """A project as the board and its page show it: ``data``, the project's fields (the
    accepted version), with the mirror's ``row`` for its job and flag."""
    due = data.get("due")
    needs, review = needs_human_of(data), review_of(data)
    return {
        "id": pid,
        "title": data.get("title"),
        "archetype": data.get("archetype"),
        "model": data.get("model"),
        "priority": data.get("priority"),
        "owner": data.get("owner"),
        "labels": list(data.get("labels") or []),
        "due": due,
        "overdue": lane != Lane.DONE and _is_past(due, now, tz),
        "lane": lane,
        # a person who can sign may approve it (the page's "done" move); see move_table
        "approvable": lane == Lane.REVIEW and bool(data.get("ready_for_human")) and not invalid,
        "ready_for_human": bool(data.get("ready_for_human")),
        "needs_human": needs.reason if needs is not None else None,
        "review": {"verdict": review.verdict, "notes": review.notes} if review else None,
        "job": _job_of(row),
        "invalid": invalid,
        "violation": row["flagged"] if row is not None else None,
        "diverged": diverged,
        "etag": etag,
    }


def _row_card(row: Mapping[str, Any], now: dt.datetime, tz: dt.tzinfo) -> dict[str, Any]:
    """A card from the mirror's row alone (the board: no file read per card)."""
    data = {
        "title": row["title"],
        "archetype": row["archetype"],
        "model": row["model"],
        "priority": row["priority"],
        "owner": row["owner"],
        "labels": row["labels"],
        "due": row["due_at"] or row["due_date"],
        "ready_for_human": row["ready_for_human"],
        "needs_human": {"reason": row["needs_reason"]} if row["needs_human"] else None,
        "review": row["review"],
    }
    diverged = (
        {"commit": row["flagged_commit"], "reason": row["flagged"]} if row["flagged"] else None
    )
    return _card(
        row["id"],
        row["lane"],
        data,
        row,
        invalid=row["error"],
        diverged=diverged,
        etag=row["applied_blob"],
        now=now,
        tz=tz,
    )


def row_card(row: Mapping[str, Any], now: dt.datetime, tz: dt.tzinfo) -> dict[str, Any]:
    """The board's card of a mirror row (mc.web.lanes keeps them, one change at a time)."""
    return _row_card(row, now, tz)


def board_json(c: Ctx) -> bytes:
    """The board's first pages, encoded once per version for every client."""
    web = c.web
    lanes = web.lanes_ready(c.conn)
    generation, frame = web.cached_frame(lambda: _board_frame(c))
    cached = web.encoded_board
    if cached is not None and cached[0] == (lanes.version, generation):
        return cached[1]
    with lanes.lock:
        version, pages = lanes.version, lanes.first_pages()
        for page in pages:
            page["wip_limit"] = frame["wip_limits"].get(page["name"])
        data = dumps({**frame["out"], "version": version, "lanes": pages})
    web.encoded_board = ((version, generation), data)
    return data


def _board_frame(c: Ctx) -> dict[str, Any]:
    """What the board answer holds besides its cards: config, templates, alerts."""
    web = c.web
    from mc.mirror import outbox

    undelivered = outbox.undeliverable(c.conn)
    keys = [META_LAST, META_CONFIG, META_CONFIG_REFUSED]
    meta = {r["key"]: r["value"] for r in db.fetch_all(c.conn, "meta_many", {"keys": keys})}
    c.conn.commit()
    with web.reading():
        board = web.current()
        accepted = meta.get(META_CONFIG)
        config = board.config_from_blob(accepted) if accepted else board.config
        names = web.template_names(board)
    out = {
        "commit": meta.get(META_LAST),  # the board commit the mirror has
        # an mc.yaml change the rules refused: in git, not in force ({commit, reason})
        "config_refused": json.loads(meta.get(META_CONFIG_REFUSED) or "null"),
        "archetypes": list(config.work_archetypes()),
        "templates": names,
        "undelivered": undelivered,  # notifications that keep failing (mc.mirror.outbox)
    }
    wip = {name: config.wip_limits.get(Lane(name)) for name in LANE_NAMES_ORDERED}
    return {"out": out, "wip_limits": wip}


def move_table(c: Ctx) -> dict[str, list[str]]:
    """The lanes the signed-in principal may move a card to, per lane (rules.allowed_moves).

    A person signed in here is an approver only when this server can sign as them; a move
    to done is further limited to cards whose review passed (the card's ``approvable``).
    Agents and read-only tokens move nothing."""
    from mc.board.rules import Role, allowed_moves

    if c.who.role != "human":
        return {name: [] for name in LANE_NAMES_ORDERED}
    signs = c.who.via == "session" and c.web.signer() is not None
    role = Role.APPROVER if signs else Role.HUMAN
    order = {lane: i for i, lane in enumerate(LANE_NAMES_ORDERED)}
    return {
        name: sorted((x.value for x in allowed_moves(role, Lane(name))), key=order.__getitem__)
        for name in LANE_NAMES_ORDERED
    }


def _lane_page(c: Ctx) -> dict[str, Any]:
    """GET /api/board?lane=L&before=CURSOR&limit=N: one more page of a lane."""
    query = c.query
    lane = query.get("lane", "")
    if lane not in LANE_NAMES_ORDERED:
        raise BadQuery(f"lane: {lane[:40]!r} is not one of {', '.join(LANE_NAMES_ORDERED)}")
    raw = query.get("limit", str(PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise BadQuery(f"limit: {raw[:20]!r} is not a number from 1 to {PAGE_MAX}")
    before = query.get("before")
    rank = decode_cursor(lane, before) if before else None
    lanes = c.web.lanes_ready(c.conn)
    with lanes.lock:
        return {"name": lane, "version": lanes.version, **lanes.page(lane, rank, int(raw))}


def _search(c: Ctx) -> dict[str, Any]:
    """GET /api/board?q=…&archetype=…&label=…&owner=…: every matching card, all lanes."""
    filters = Filters(c.query)
    lanes = c.web.lanes_ready(c.conn)
    with lanes.lock:
        return {"version": lanes.version, "lanes": lanes.search(filters)}


# ---------------------------------------------------------------------- handlers


def get_session(c: Ctx) -> Response:
    signer = c.web.signer() if c.who.role == "human" and c.who.via == "session" else None
    return js(
        {
            "name": c.who.name,
            "role": c.who.role,
            "via": c.who.via,
            "csrf": c.who.csrf if c.who.via == "session" else None,
            "can_sign": signer is not None,
            "signer": signer,  # the approver name an approval from this page is signed as
            "sandbox": c.web.sandbox(),
        }
    )


def logout(c: Ctx) -> Response:
    if c.who.via != "session":
        raise NotHere("only a browser session logs out (revoke a token with mc token revoke)")
    auth.end_session(c.conn, c.who)
    response = Response(status_code=204)
    response.delete_cookie(cookie_name(c.request.url.port), path="/")
    return response


BOARD_PARAMS = frozenset({"lane", "before", "limit", "q", "archetype", "label", "owner"})


def get_board(c: Ctx) -> Response:
    """The board's first pages; with ``lane``, a page of one lane; with filters, a search.
    Every answer carries the signed-in principal's ``moves`` (per lane)."""
    unknown = sorted(set(c.query) - BOARD_PARAMS)
    if unknown:
        raise BadQuery(f"{unknown[0]}: not a parameter of /api/board")
    moves = dumps(move_table(c))
    if "lane" in c.query:
        body = dumps(_lane_page(c))
    elif Filters(c.query):
        body = dumps(_search(c))
    else:
        body = board_json(c)
    # the shared encoded answer, with this principal's moves spliced in (no re-encoding)
    data = body[:-1] + b',"moves":' + moves + b"}"
    return Response(data, headers={"cache-control": "no-store"}, media_type="application/json")


def _project(c: Ctx, pid: str) -> tuple[dict[str, Any], str]:
    """The project as the board's tip has it (the file's fields), with the mirror's job,
    violation flag and review-job state (which live only in the database)."""
    from mc.mirror.view import _accepted_entry, diverged_of

    row = db.fetch_one(c.conn, "board_card", {"id": pid})
    c.conn.commit()
    diverged = diverged_of(row)
    with c.web.reading():
        board = c.web.current()
        git_entry = entry = board.get(pid)
        if diverged is not None and row is not None:
            # git holds a refused version: the page shows the accepted one, as the board does
            entry = _accepted_entry(board, {**row, "id": pid}) or entry
    data = dict(entry.project.data) if entry.project is not None else {}
    if entry.project is None and row is not None:
        # An invalid file: title and archetype of the last valid version, as the board shows.
        data = {"title": row.get("title"), "archetype": row.get("archetype")}
    card = _card(
        pid,
        entry.lane.value,
        data,
        row,
        invalid=entry.error,
        diverged=diverged.to_json() if diverged is not None else None,
        etag=git_entry.blob,  # edits apply to git's file (If-Match)
        now=dt.datetime.now(dt.UTC),
        tz=c.web.tz,
    )
    card["data"] = to_json(data) if entry.project is not None else None
    card["moves"] = card_moves(move_table(c), card)
    return card, git_entry.blob


def card_moves(table: Mapping[str, list[str]], card: Mapping[str, Any]) -> list[str]:
    """The moves of one card: its lane's moves in ``table``; done only where approvable
    (the page's boarddata.movesFor does the same for the board's cards)."""
    return [lane for lane in table.get(card["lane"], []) if lane != Lane.DONE or card["approvable"]]


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
    from mc.board.actions import new_project

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
    from mc.board.actions import edit

    pid = c.params["id"]
    expected = c.if_match()
    if expected is None:
        raise VersionRequired("If-Match: required (the etag of the version you edited)")
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
    from mc.board import actions
    from mc.pipeline import control, integrate

    pid, action = c.params["id"], c.request.url.path.rsplit("/", 1)[-1]
    expected = c.if_match()
    with c.web.writer() as board:
        # An If-Match here is optional; when given, it is checked in the same step as
        # the commit (a change in between is a 412, not an overwrite).
        if action in ("queue", "cancel"):
            lane = Lane.UP_NEXT if action == "queue" else Lane.BACKLOG
            control.move(board, c.conn, pid, lane, action, expect=expected)
        elif action == "move":
            try:
                lane = parse_lane(c.body.lane)
            except InvalidInput as exc:
                raise InvalidInput(f"lane: {exc}") from None
            control.move(board, c.conn, pid, lane, expect=expected)
        elif action == "rework" and c.body.conflicts:
            integrate.rework_conflicts(board, pid)
        elif action == "rework":
            actions.rework(board, pid, c.body.notes, expect=expected)
        elif action == "retry":
            jobs.retry_project(c.conn, pid, board.get(pid).lane)
        elif action == "approve":
            if c.who.via != "session":
                raise NotAllowed("approve from the browser session, or run mc approve")
            command = f"mc approve {pid}"
            if not c.web.can_sign():
                raise NotHere(
                    "this server cannot sign as you: approve on your own machine",
                    command=command,
                )
            try:
                integrate.approve(board, pid, expect=expected)
            except (SigningError, NotAnApprover) as exc:  # the key could not sign here
                raise NotHere(exc.message, command=command) from None
        else:
            raise NotFound(f"no action {action!r}")
    return _after_write(c, pid)


def project_activity(c: Ctx) -> Response:
    from mc.mirror import comments

    with c.web.reading():
        c.web.current().get(c.params["id"])  # 404 for an unknown id
    rows = db.fetch_all(
        c.conn, "activity_recent", {"project": c.params["id"], "before": None, "limit": 200}
    )
    c.conn.commit()
    return js(
        {
            "activity": [activity_json(r) for r in rows],
            "comments": comments.listing(c.conn, c.params["id"]),
        }
    )


def project_integration(c: Ctx) -> Response:
    """What approving would do to the project's workspace now: whether its branch still
    is the reviewed head and merges cleanly into the base (nothing is changed)."""
    from mc.pipeline import integrate

    pid = c.params["id"]
    with c.web.reading():
        board = c.web.current()
        project, config = integrate.project_of(board, pid), board.config
    found = integrate.check_project(config, project, pid)
    return js({**found._asdict(), "conflicts": list(found.conflicts)})


def project_artifacts(c: Ctx) -> Response:
    from mc.board import artifacts

    with c.web.reading():
        found = artifacts.listing(c.web.current(), c.params["id"])
    return js([a._asdict() for a in found])


def add_comment(c: Ctx) -> Response:
    from mc.mirror import comments

    pid = c.params["id"]
    with c.web.reading():
        c.web.current().get(pid)
    return js(comments.add(c.conn, pid, c.who.name, c.who.role, c.body.text), 201)
