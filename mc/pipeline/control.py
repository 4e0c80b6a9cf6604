"""What a person does to a project that reaches past git into its running job: parking
it (its agent stops now, not at the daemon's next pass). The CLI and the web both call
this, so a cancel is the same everywhere."""

from __future__ import annotations

from mc.board import actions
from mc.board.board import Board
from mc.board.layout import Lane
from mc.board.store import Committed
from mc.mirror import db
from mc.pipeline import jobs


def move(
    board: Board,
    conn: db.Connection | None,
    project_id: str,
    lane: Lane,
    action: str | None = None,
    *,
    expect: str | None = None,
) -> Committed:
    """A person's lane move (actions.move); a move back to the backlog cancels the
    project's job at once when the mirror is at hand (``conn``). Without it the daemon
    cancels it on its next pass: either way the agent is killed."""
    result = actions.move(board, project_id, lane, action, expect=expect)
    if conn is not None and lane is Lane.BACKLOG:
        jobs.cancel_project(conn, project_id)
    return result


def cancel(
    board: Board, conn: db.Connection | None, project_id: str, *, expect: str | None = None
) -> Committed:
    """Park a project in the backlog; its running job is cancelled."""
    return move(board, conn, project_id, Lane.BACKLOG, "cancel", expect=expect)
