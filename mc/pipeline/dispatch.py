"""Dispatch: projects committed into up-next get a work job each and move to
in-progress (a service-signed commit naming the job), in priority then age order,
within the in-progress WIP limit, each archetype's concurrency and the daily budgets.
The daemon runs ``step`` after every sync (``mc up``, ``mc daemon --dispatch``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mc.board import actions
from mc.board.board import Board
from mc.board.layout import Lane
from mc.errors import McError
from mc.mirror import db, outbox
from mc.mirror.sync import use_accepted_config
from mc.pipeline import jobs
from mc.pipeline.jobs import JobKind

log = logging.getLogger("mc.pipeline")


def step(board: Board, conn: db.Connection) -> None:
    """One dispatcher pass: cancel the jobs of parked projects, then start what is ready."""
    jobs.cancel_parked(conn)
    dispatch_ready(board, conn)


def dispatch_ready(board: Board, conn: db.Connection) -> list[int]:
    """Give waiting up-next projects a work job each, as far as the limits allow."""
    use_accepted_config(board, conn)
    config = board.config
    rows = db.fetch_all(conn, "dispatch_candidates")
    conn.commit()
    limit = config.wip_limits.get(Lane.IN_PROGRESS)
    counts = jobs.active_work_by_archetype(conn)
    conn.commit()
    in_progress = sum(1 for r in db.fetch_all(conn, "projects_in_lane", {"lane": "in-progress"}))
    conn.commit()
    made: list[int] = []
    spent = spend_today(conn)
    held: dict[str, str] = {}
    for row in rows:
        if limit is not None and in_progress >= limit:
            break
        archetype = config.archetypes.get(row["archetype"])
        if archetype is None:
            continue
        why = budget_spent(config, archetype, spent)
        if why is not None:
            held[why] = row["id"]
            continue
        if (
            archetype.concurrency is not None
            and counts.get(archetype.name, 0) >= archetype.concurrency
        ):
            continue
        try:
            # The job becomes visible to workers only when this transaction commits,
            # after the commit that moves the project to in-progress (naming the job).
            with db.translated(), conn.transaction():
                job = jobs.enqueue(
                    conn,
                    row["id"],
                    JobKind.WORK,
                    archetype.name,
                    priority=row["priority"] or 3,
                    max_attempts=archetype.max_attempts,
                )
                if job is None:
                    continue  # it already has one
                actions.dispatch(board, row["id"], str(job.id), attempt=1)
        except McError as exc:
            log.warning("dispatch of %s refused: %s", row["id"], exc)
            continue
        made.append(job.id)
        in_progress += 1
        counts[archetype.name] = counts.get(archetype.name, 0) + 1
    note_holds(conn, held)
    return made


# ---------------------------------------------------------------------- budgets


META_HOLD = "budget_hold"


def spend_today(conn: db.Connection) -> dict[str, float]:
    """What agents cost today (in the person's time zone), per archetype."""
    import datetime as dt

    from mc.mirror.tasks import local_zone

    zone = local_zone()
    start = dt.datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    spent = jobs.spend_since(conn, start)
    conn.commit()
    return spent


def budget_spent(config: Any, archetype: Any, spent: dict[str, float]) -> str | None:
    """Why new work of this archetype waits (a budget reached today), or None."""
    total = sum(spent.values())
    if config.daily_usd is not None and total >= config.daily_usd:
        return (
            f"the board's daily budget of ${config.daily_usd:.2f} is spent "
            f"(${total:.2f} today): new work waits until tomorrow"
        )
    mine = spent.get(archetype.name, 0.0)
    if archetype.daily_usd is not None and mine >= archetype.daily_usd:
        return (
            f"the {archetype.name} daily budget of ${archetype.daily_usd:.2f} is spent "
            f"(${mine:.2f} today): new {archetype.name} work waits until tomorrow"
        )
    return None


def note_holds(conn: db.Connection, held: dict[str, str]) -> None:
    """Make a budget hold visible: mc status shows it, and each reason becomes one
    activity event (once, not at every dispatch round)."""
    import datetime as dt

    reasons = sorted(held)
    value = json.dumps(reasons)
    with db.translated(), conn.transaction():
        row = db.fetch_one(conn, "meta_get", {"key": META_HOLD})
        before = set(json.loads(row["value"])) if row and row["value"] else set()
        db.execute(conn, "meta_set", {"key": META_HOLD, "value": value})
        for reason in reasons:
            if reason in before:
                continue
            db.execute(
                conn,
                "activity_insert",
                {
                    "kind": "budget",
                    "project_id": held[reason],
                    "from_lane": None,
                    "to_lane": None,
                    "commit": None,
                    "action": "hold",
                    "actor": "dispatcher",
                    "who": None,
                    "summary": f"Holding new work: {reason}",
                    "at": dt.datetime.now(dt.UTC),
                },
            )
            outbox.record(conn, "budget", project_id=held[reason], title=reason, detail=reason)
