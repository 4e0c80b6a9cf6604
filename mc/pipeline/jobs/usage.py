"""What jobs cost and how they went: tokens and dollars per job, project and day, and the
outcomes and run times the metrics show."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from mc.mirror import db
from mc.pipeline.jobs import Job, JobState


class Spend(NamedTuple):
    """What a project's jobs cost, all runs together."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


def project_spend(conn: db.Connection, project_id: str) -> Spend:
    row = db.fetch_one(conn, "project_spend", {"project": project_id})
    if row is None:
        return Spend()
    return Spend(
        int(row["input_tokens"] or 0),
        int(row["output_tokens"] or 0),
        int(row["cached_tokens"] or 0),
        float(row["usd"]) if row["costed"] else None,
    )


def spend_since(conn: db.Connection, since: dt.datetime) -> dict[str, float]:
    """What agents cost since ``since``, per archetype (the dispatcher's daily budgets)."""
    rows = db.fetch_all(conn, "spend_since", {"since": since})
    return {r["archetype"]: float(r["usd"] or 0) for r in rows}


class DaySpend(NamedTuple):
    """What the jobs of one archetype and model cost and used on one day."""

    day: dt.date
    archetype: str
    model: str | None
    usd: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    jobs: int


def spend_by_day(conn: db.Connection, since: dt.datetime, tz: str) -> list[DaySpend]:
    """Cost and tokens per day (in time zone ``tz``), archetype and model since ``since``."""
    rows = db.fetch_all(conn, "spend_by", {"since": since, "tz": tz})
    return [
        DaySpend(
            r["day"].date(),
            r["archetype"],
            r["model"],
            float(r["usd"] or 0),
            int(r["input_tokens"] or 0),
            int(r["output_tokens"] or 0),
            int(r["cached_tokens"] or 0),
            int(r["jobs"] or 0),
        )
        for r in rows
    ]


class Outcomes(NamedTuple):
    """All jobs by state, and how often they were run again (the board's metrics)."""

    by_state: dict[JobState, int]
    retried: int  # jobs that ran more than once
    retries: int  # runs beyond each job's first


def outcomes(conn: db.Connection) -> Outcomes:
    by_state: dict[JobState, int] = {}
    retried = retries = 0
    for row in db.fetch_all(conn, "metrics_jobs"):
        by_state[JobState(row["state"])] = row["n"]
        retried += row["retried"] or 0
        retries += row["retries"] or 0
    return Outcomes(by_state, retried, retries)


def run_seconds(conn: db.Connection) -> list[float]:
    """How long the latest (up to 1,000) successful runs took, newest first."""
    return [r["s"] for r in db.fetch_all(conn, "metrics_run_seconds")]


def record_usage(conn: db.Connection, job: Job, usage: Any, model: str | None) -> None:
    """Add one run's tokens and cost (a runners.Usage) to its job, fenced by the lease."""
    with db.translated(), conn.transaction():
        db.execute(
            conn,
            "job_add_usage",
            {
                "id": job.id,
                "token": job.lease_token,
                "model": model,
                "input": usage.input_tokens,
                "output": usage.output_tokens,
                "cached": usage.cached_tokens,
                "cost": usage.cost_usd,
            },
        )
