"""The board and its projects over HTTP: cards, detail, edits, lane moves, approval,
artifacts, comments. Writes go through mc.actions, so the rules are the CLI's rules."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from mc.board.layout import LANE_NAMES_ORDERED, Lane, artifacts_dir, artifacts_prefix, parse_lane
from mc.board.projectfile import DELETE, to_json
from mc.errors import InvalidInput, McError
from mc.mirror import auth, db
from mc.mirror.replay import META_CONFIG, META_CONFIG_REFUSED, META_LAST
from mc.mirror.tasks import is_overdue
from mc.pipeline import jobs
from mc.web.bodies import ProjectCreate, ProjectPatch
from mc.web.events import activity_json
from mc.web.http import Ctx, HttpError, cookie_name, dumps, js

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
        "retrying": row["job_state"] == "queued" and row["job_attempts"] > 0,
        "last_step": row["job_last_step"],  # the agent's latest step, in words
    }


def _review_of(review: Any) -> dict[str, Any] | None:
    if not isinstance(review, dict):
        return None
    return {"verdict": review.get("verdict"), "notes": review.get("notes")}


def _card(row: Mapping[str, Any], now: dt.datetime, tz: dt.tzinfo) -> dict[str, Any]:
    """A card from the mirror's row (the accepted state)."""
    return {
        "id": row["id"],
        "title": row["title"],
        "archetype": row["archetype"],
        "model": row["model"],
        "priority": row["priority"],
        "owner": row["owner"],
        "labels": row["labels"],
        "due": row["due_at"] or row["due_date"],
        "overdue": row["lane"] != "done"
        and is_overdue(row["due_date"], row["due_at"], None, now, tz),
        "lane": row["lane"],
        "ready_for_human": row["ready_for_human"],
        "needs_human": row["needs_reason"] if row["needs_human"] else None,
        "review": _review_of(row["review"]),
        "job": _job_of(row),
        "invalid": row["error"],
        "violation": row["flagged"],
        "diverged": (
            {"commit": row["flagged_commit"], "reason": row["flagged"]} if row["flagged"] else None
        ),
        "etag": row["applied_blob"],
    }


def board_json(c: Ctx) -> bytes:
    return c.web.cached_board(lambda: _build_board(c))


def _build_board(c: Ctx) -> bytes:
    web = c.web
    now = dt.datetime.now(dt.UTC)
    rows = db.fetch_all(c.conn, "board_cards")
    keys = [META_LAST, META_CONFIG, META_CONFIG_REFUSED]
    meta = {r["key"]: r["value"] for r in db.fetch_all(c.conn, "meta_many", {"keys": keys})}
    c.conn.commit()
    with web.reading():
        board = web.current()
        accepted = meta.get(META_CONFIG)
        config = board.config_from_blob(accepted) if accepted else board.config
        names = web.template_names(board)
    lanes: dict[str, list[dict[str, Any]]] = {name: [] for name in LANE_NAMES_ORDERED}
    for row in rows:
        lanes[row["lane"]].append(_card(row, now, web.tz))
    out = {
        "version": meta.get(META_LAST),
        # an mc.yaml change the rules refused: in git, not in force ({commit, reason})
        "config_refused": json.loads(meta.get(META_CONFIG_REFUSED) or "null"),
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
    return dumps(out)


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
        raise HttpError(
            409, "only a browser session logs out (revoke a token with mc token revoke)"
        )
    auth.end_session(c.conn, c.who)
    response = Response(status_code=204)
    response.delete_cookie(cookie_name(c.request.url.port), path="/")
    return response


def get_board(c: Ctx) -> Response:
    return Response(
        board_json(c), headers={"cache-control": "no-store"}, media_type="application/json"
    )


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
    now = dt.datetime.now(dt.UTC)
    data = dict(entry.project.data) if entry.project is not None else {}
    due = data.get("due")
    needs = data.get("needs_human")
    # An invalid file: title and archetype of the last valid version, as the board shows.
    last_valid = row if row is not None and entry.project is None else {}
    return {
        "id": pid,
        "lane": entry.lane.value,
        "title": data.get("title", last_valid.get("title")),
        "archetype": data.get("archetype", last_valid.get("archetype")),
        "model": data.get("model"),
        "priority": data.get("priority"),
        "owner": data.get("owner"),
        "labels": list(data.get("labels") or []),
        "due": due,
        "overdue": entry.lane is not Lane.DONE and _is_past(due, now, c.web.tz),
        "ready_for_human": bool(data.get("ready_for_human")),
        "needs_human": needs.get("reason") if isinstance(needs, dict) else None,
        "review": _review_of(data.get("review")),
        "job": _job_of(row),
        "invalid": entry.error,
        "violation": row["flagged"] if row is not None else None,
        "diverged": diverged.to_json() if diverged is not None else None,
        "etag": git_entry.blob,  # edits apply to git's file (If-Match)
        "data": to_json(data) if entry.project is not None else None,
    }, git_entry.blob


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
    from mc.board import actions

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
            for entry in board.repo.ls_tree(tip, [artifacts_dir(pid)])[:ARTIFACTS_SHOWN]:
                path = entry.path.removeprefix(artifacts_prefix(pid))
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
            db.notify(
                c.conn, db.BOARD_CHANNEL, json.dumps({"kind": "activity", "activity": [act["id"]]})
            )
    return js(row, 201)
