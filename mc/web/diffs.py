"""A coder project's change over HTTP: the diff (paged), line comments on it, and
"Request changes", which sends the project back with the open comments as notes.

The diff is read with a Board of the request's own (``web.writer``), not under the
shared reader's lock: a large ``git diff`` must not hold up every other page."""

from __future__ import annotations

from starlette.responses import Response

from mc.errors import NotAllowed
from mc.mirror import diffcomments
from mc.pipeline import linecomments
from mc.pipeline.diff import Diff, diff_json, project_diff
from mc.web.http import Ctx, js, number_param


def _diff(c: Ctx) -> Diff:
    with c.web.writer() as board:
        return project_diff(board, c.params["id"])


def get_diff(c: Ctx) -> Response:
    """GET /api/projects/{id}/diff?page=&view=unified|split[&file=path]"""
    page = number_param(c.query.get("page", "1"), "page")
    view = c.query.get("view", "unified")
    return js(diff_json(_diff(c), page, view, c.query.get("file")))


def list_comments(c: Ctx) -> Response:
    """GET /api/projects/{id}/diff/comments: every line comment, resolved ones marked."""
    return js({"comments": linecomments.reconcile(c.conn, c.params["id"], _diff(c))})


def add_comment(c: Ctx) -> Response:
    """POST /api/projects/{id}/diff/comments: the author is who asks; the quoted code and
    the commit are the server's, read from the diff as it is now."""
    b = c.body
    comment = linecomments.comment_on(_diff(c), b.path, b.side, b.start, b.end or b.start, b.text)
    row = diffcomments.add(c.conn, c.params["id"], c.who.name, c.who.role, comment)
    return js(row, 201)


def resolve_comment(c: Ctx) -> Response:
    pid = c.params["id"]
    cid = number_param(c.params["cid"], "comment")
    found = diffcomments.get(c.conn, pid, cid)
    if found["author"] != c.who.name:
        raise NotAllowed("a line comment can be resolved here only by its author")
    row = diffcomments.resolve(c.conn, pid, cid, c.who.name, None)
    return js(row or diffcomments.get(c.conn, pid, cid))


def delete_comment(c: Ctx) -> Response:
    diffcomments.delete(
        c.conn, c.params["id"], number_param(c.params["cid"], "comment"), c.who.name
    )
    return Response(status_code=204)


def request_changes(c: Ctx) -> Response:
    """POST /api/projects/{id}/diff/request-changes {notes}: review → up-next with the
    person's note and every open line comment (``file:line``, quoted code) as feedback."""
    from mc.board import actions
    from mc.web.projects import _after_write

    pid = c.params["id"]
    with c.web.writer() as board:
        notes = linecomments.rework_notes(board, c.conn, pid, c.body.notes)
        actions.rework(board, pid, notes, expect=c.if_match())
    return _after_write(c, pid)
