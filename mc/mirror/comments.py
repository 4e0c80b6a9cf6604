"""Comments on a project: kept in PostgreSQL (they are talk about the work, not the
work), each one an activity line on the live feed. The web, the CLI and an assistant
add them the same way."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from mc.errors import InvalidInput
from mc.mirror import db

MAX_TEXT = 20_000


def add(conn: db.Connection, project_id: str, author: str, role: str, text: str) -> dict[str, Any]:
    """A comment by ``author`` (their ``role``) on a project the caller knows exists."""
    text = text.strip()
    if not text:
        raise InvalidInput("text: empty")
    with db.translated(), conn.transaction():
        # The sync's lock: activity ids then commit in the order they were taken, so a
        # client's Last-Event-ID replay ("after id N") cannot step over one.
        db.fetch_one(conn, "sync_lock")
        row = db.fetch_one(
            conn,
            "comment_insert",
            {"project_id": project_id, "author": author, "role": role, "text": text[:MAX_TEXT]},
        )
        act = db.fetch_one(
            conn,
            "activity_insert",
            {
                "kind": "comment",
                "project_id": project_id,
                "from_lane": None,
                "to_lane": None,
                "commit": None,
                "action": "comment",
                "actor": role,
                "who": author,
                "summary": text[:2000],
                "at": dt.datetime.now(dt.UTC),
            },
        )
        if act is not None:
            db.notify(
                conn, db.BOARD_CHANNEL, json.dumps({"kind": "activity", "activity": [act["id"]]})
            )
    assert row is not None
    return row


def listing(conn: db.Connection, project_id: str) -> list[dict[str, Any]]:
    rows = db.fetch_all(conn, "comment_list", {"project_id": project_id})
    conn.commit()
    return rows
