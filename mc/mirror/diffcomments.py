"""Comments on lines of a coder project's change, kept in PostgreSQL next to the
project's other comments (talk about the work, not the work). Which lines may be
commented on, and when a comment is resolved, is decided by the caller that holds the
diff (mc.pipeline.linecomments); this module only stores and reads them."""

from __future__ import annotations

from typing import Any, NamedTuple

from mc.errors import NotAllowed, NotFound
from mc.mirror import db

MAX_TEXT = 20_000


class LineComment(NamedTuple):
    """What a person wrote on lines ``start``–``end`` of ``path`` on one ``side``, with
    the lines' text (``quote``) as of ``commit``."""

    path: str
    side: str
    start: int
    end: int
    quote: str
    commit: str
    text: str


def add(
    conn: db.Connection, project_id: str, author: str, role: str, c: LineComment
) -> dict[str, Any]:
    with db.translated(), conn.transaction():
        row = db.fetch_one(
            conn,
            "diff_comment_insert",
            {
                "project_id": project_id,
                "path": c.path,
                "side": c.side,
                "start_line": c.start,
                "end_line": c.end,
                "quote": c.quote,
                "commit": c.commit,
                "author": author,
                "role": role,
                "text": c.text[:MAX_TEXT],
            },
        )
    assert row is not None
    return row


def listing(conn: db.Connection, project_id: str) -> list[dict[str, Any]]:
    rows = db.fetch_all(conn, "diff_comment_list", {"project_id": project_id})
    conn.commit()
    return rows


def resolve(
    conn: db.Connection, project_id: str, comment_id: int, by: str, on: str | None
) -> dict[str, Any] | None:
    """Mark it resolved (``by``: a person's name, or "run" when a later run changed the
    lines; ``on``: the branch head then). None when it was resolved already."""
    with db.translated(), conn.transaction():
        row = db.fetch_one(
            conn,
            "diff_comment_resolve",
            {"id": comment_id, "project_id": project_id, "by": by, "on": on},
        )
    return row


def get(conn: db.Connection, project_id: str, comment_id: int) -> dict[str, Any]:
    row = db.fetch_one(conn, "diff_comment_get", {"id": comment_id, "project_id": project_id})
    conn.commit()
    if row is None:
        raise NotFound(f"{project_id} has no line comment {comment_id}")
    return row


def delete(conn: db.Connection, project_id: str, comment_id: int, author: str) -> None:
    """Delete one's own comment (another person's stays: it is their word)."""
    found = get(conn, project_id, comment_id)
    if found["author"] != author:
        raise NotAllowed("a line comment can be deleted only by its author")
    with db.translated(), conn.transaction():
        db.fetch_one(
            conn,
            "diff_comment_delete",
            {"id": comment_id, "project_id": project_id, "author": author},
        )
