"""The job queue: agent runs (work and review) in PostgreSQL.

Why our own queue and not procrastinate (measured and read in this project, see the
issue note): procrastinate's finish/retry statements match a job by id only, so a
worker whose job was reclaimed can overwrite its successor's result (no fencing);
its stalled-job recovery is a manual sweep; every retry spends an attempt (exit 75
must not); it allows a queued *and* a running job per lock; and it reached ~450
no-op jobs/s with 4 workers on this machine against the 1,000 asked for.

The rules, all enforced by SQL in sql/queries.sql:
- a claim is one short statement (``FOR UPDATE SKIP LOCKED``) that bumps the job's
  ``lease_token``; the worker renews ``lease_until`` by heartbeat;
- every write a worker makes names that token, so after a reclaim the old worker's
  writes match no row (``LeaseLost``): fencing; a result that is more than a row (the
  git commit of a work or review job) is made inside ``fenced``, which holds the row
  with the token until the commit and ``succeed`` are one transaction;
- a partial unique index allows one active (queued or running) job per project;
- wake-up is a NOTIFY on ``mc_jobs``; workers also poll slowly as a safety net.

This module alone runs the SQL about jobs, their logs and their usage; the worker, the
dispatcher, the web and the CLI call it. Two readers of projects look at the table too:
the mirror's sync (which cannot import the pipeline) reads the review job that a
ready_for_human commit names, and the board's cards join each project's latest job.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, NamedTuple

from mc.board.layout import Lane
from mc.errors import (
    JobConflict,
    JobNotFound,
    LeaseLost,
    TransitionRefused,
)
from mc.mirror import db, outbox

LEASE_SECONDS = 60
BACKOFF_BASE = 10.0
BACKOFF_CAP = 600.0
TEMPFAIL_CAP = 20  # temporary failures before a job is dead (with the backoff: ~2.5 h)


class JobState(StrEnum):
    """Where a job is (the values are the database's and the API's)."""

    QUEUED = "queued"  # waiting for a worker (and for its run_after)
    RUNNING = "running"  # a worker holds its lease
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # its attempts are spent, or retrying cannot help
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        """Queued or running: a project has at most one such job."""
        return self in (JobState.QUEUED, JobState.RUNNING)


class JobKind(StrEnum):
    """What a job's agent does."""

    WORK = "work"  # the project's archetype does the work (the project is in in-progress)
    REVIEW = "review"  # the reviewer judges it (the project is in review)

    @property
    def lane(self) -> Lane:
        """The lane a job of this kind runs in."""
        return Lane.IN_PROGRESS if self is JobKind.WORK else Lane.REVIEW


class Job(NamedTuple):
    id: int
    project_id: str
    kind: JobKind
    state: JobState
    archetype: str
    priority: int
    round: int
    run_after: dt.datetime
    attempts: int
    max_attempts: int
    tempfails: int
    lease_token: int
    lease_until: dt.datetime | None
    worker: str | None
    cancel_requested: bool
    last_error: str | None
    result: Any
    reported: Any
    notes: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    awaiting_report: bool = False
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: Any = None  # Decimal, or None when no CLI reported a cost
    last_step: str | None = None

    @property
    def waiting_for_report(self) -> bool:
        """A hand-off job announced and not reported yet (as jobs_waiting_handoff lists)."""
        return self.state == JobState.RUNNING and self.awaiting_report and not self.reported

    @property
    def attempt(self) -> int:
        """The number of the run in progress (1-based)."""
        return self.attempts + 1

    def to_json(self) -> dict[str, Any]:
        """The job as every surface shows it (never its lease token: a worker's secret)."""
        out = {
            k: v.isoformat() if isinstance(v, dt.datetime) else v
            for k, v in self._asdict().items()
            if k != "lease_token"
        }
        out["cost_usd"] = float(self.cost_usd) if self.cost_usd is not None else None
        return out


def _job(row: dict[str, Any] | None) -> Job | None:
    if not row:
        return None
    job = Job(**{k: row[k] for k in Job._fields})
    return job._replace(kind=JobKind(job.kind), state=JobState(job.state))


def _fenced(row: dict[str, Any] | None, job: Job) -> Job:
    found = _job(row)
    if found is None:
        raise LeaseLost(
            f"job {job.id}: this worker's lease (token {job.lease_token}) is gone; another "
            "worker has it now, so this result is dropped"
        )
    return found


def _notify(conn: db.Connection, **payload: Any) -> None:
    db.notify(conn, db.JOBS_CHANNEL, json.dumps(payload))


def enqueue(
    conn: db.Connection,
    project_id: str,
    kind: JobKind,
    archetype: str,
    *,
    priority: int = 3,
    round: int = 1,
    max_attempts: int = 3,
    notes: str = "",
) -> Job | None:
    """A new job for a project; None when the project already has an active one."""
    with db.translated(), conn.transaction():
        row = db.fetch_one(
            conn,
            "job_enqueue",
            {
                "project_id": project_id,
                "kind": kind,
                "archetype": archetype,
                "priority": priority,
                "round": round,
                "max_attempts": max_attempts,
                "notes": notes,
            },
        )
        if row is not None:
            _notify(conn, job=row["id"], kind=JobState.QUEUED)
    return _job(row)


def claim(
    conn: db.Connection,
    worker: str,
    *,
    lease: float = LEASE_SECONDS,
    kinds: list[JobKind] | None = None,
) -> Job | None:
    """Take the next ready job (highest priority, then oldest), or None."""
    with db.translated(), conn.transaction():
        # A claim lost in a crash is harmless (the job just runs later, and the worker's
        # writes are fenced), so it need not wait for the WAL flush: half the fsyncs.
        conn.execute("SET LOCAL synchronous_commit = off")
        row = db.fetch_one(conn, "job_claim", {"worker": worker, "lease": lease, "kinds": kinds})
    return _job(row)


def heartbeat(conn: db.Connection, job: Job, *, lease: float = LEASE_SECONDS) -> bool:
    """Renew the lease; True when a person asked to cancel the job. LeaseLost if gone."""
    with db.translated(), conn.transaction():
        row = db.fetch_one(
            conn, "job_heartbeat", {"id": job.id, "token": job.lease_token, "lease": lease}
        )
    if row is None:
        raise LeaseLost(f"job {job.id}: lease lost")
    return bool(row["cancel_requested"])


def succeed(conn: db.Connection, job: Job, result: object = None) -> Job:
    """The run succeeded: the job ends with ``result``. LeaseLost if it is not ours."""
    with db.translated(), conn.transaction():
        row = db.fetch_one(
            conn,
            "job_succeed",
            {"id": job.id, "token": job.lease_token, "result": db.jsonb(result)},
        )
        found = _fenced(row, job)
        _notify(conn, job=job.id, kind=JobState.SUCCEEDED)
    return found


class Fence:
    """A job's row held with this worker's lease token until the transaction ends (see
    ``fenced``): what is recorded through it lands only while the job is still ours."""

    def __init__(self, conn: db.Connection, job: Job) -> None:
        self.conn = conn
        self.job = job

    def set_result(self, result: object) -> None:
        """Record a result before the job ends (a review's verdict, which the mirror
        reads when it syncs the commit that follows)."""
        db.execute(self.conn, "job_set_result", {"id": self.job.id, "result": db.jsonb(result)})

    def succeed(self, result: object = None) -> Job:
        """The job succeeded, in the same transaction as what was done under the fence."""
        return succeed(self.conn, self.job, result)


@contextmanager
def fenced(conn: db.Connection, job: Job) -> Iterator[Fence]:
    """One transaction holding the job's row with this worker's lease token, for a
    result that is more than a row (a git commit): LeaseLost before anything is done if
    the job is no longer ours, and no other worker can take it until the transaction
    ends. ``with jobs.fenced(conn, job) as fence: commit(); fence.succeed(result)``"""
    with db.translated(), conn.transaction():
        if db.fetch_one(conn, "job_lock_fenced", {"id": job.id, "token": job.lease_token}) is None:
            raise LeaseLost(f"job {job.id}: lease lost before recording the result")
        yield Fence(conn, job)


def fail(
    conn: db.Connection,
    job: Job,
    error: str,
    *,
    temporary: bool = False,
    permanent: bool = False,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    tempfail_cap: int = TEMPFAIL_CAP,
) -> Job:
    """A failed run: retried after backoff with jitter, or dead when attempts are spent.

    ``temporary`` (exit 75, a rate limit): requeued without spending an attempt.
    ``permanent`` (no sandbox here, not logged in): dead at once, retrying cannot help.
    ``tempfail_cap`` temporary failures (a rate limit that never clears) are dead too.
    """
    with db.translated(), conn.transaction():
        row = db.fetch_one(
            conn,
            "job_fail",
            {
                "id": job.id,
                "token": job.lease_token,
                "temporary": temporary,
                "permanent": permanent,
                "tempfail_cap": tempfail_cap,
                "error": error[:4000],
                "base": base,
                "cap": cap,
            },
        )
        found = _fenced(row, job)
        _notify(conn, job=job.id, kind=found.state)
        if found.state == JobState.DEAD:
            outbox.record(
                conn, "dead", project_id=job.project_id, job_id=job.id, detail=error[:2000]
            )
    return found


def hand_back(conn: db.Connection, job: Job) -> Job:
    """A worker shutting down returns its job to the queue (no attempt spent)."""
    with db.translated(), conn.transaction():
        found = _fenced(
            db.fetch_one(conn, "job_hand_back", {"id": job.id, "token": job.lease_token}), job
        )
        _notify(conn, job=job.id, kind=JobState.QUEUED)
    return found


def mark_cancelled(conn: db.Connection, job: Job) -> Job:
    with db.translated(), conn.transaction():
        found = _fenced(
            db.fetch_one(conn, "job_cancelled", {"id": job.id, "token": job.lease_token}), job
        )
        _notify(conn, job=job.id, kind=JobState.CANCELLED)
    return found


def reclaim(conn: db.Connection) -> list[Job]:
    """Jobs whose lease ran out go back to the queue (or die): their worker is gone."""
    with db.translated(), conn.transaction():
        rows = db.fetch_all(conn, "job_reclaim")
        if rows:
            _notify(conn, kind="reclaimed", jobs=[r["id"] for r in rows])
    return [j for j in map(_job, rows) if j is not None]


def cancel(conn: db.Connection, job_id: int) -> Job:
    """Cancel a job: a queued one ends now, a running one's worker kills its agent."""
    with db.translated(), conn.transaction():
        row = db.fetch_one(conn, "job_cancel", {"id": job_id})
        if row is None:
            get(conn, job_id)  # JobNotFound, or it has already ended
            raise JobConflict(f"job {job_id} has already ended")
        _notify(conn, job=job_id, kind="cancel")
    job = _job(row)
    assert job is not None
    return job


def cancel_project(conn: db.Connection, project_id: str) -> Job | None:
    """Cancel the project's active job, if it has one."""
    row = db.fetch_one(conn, "job_active_for_project", {"project_id": project_id})
    conn.commit()
    return cancel(conn, row["id"]) if row else None


def retry(conn: db.Connection, job_id: int) -> Job:
    """Another go at a dead or cancelled job, with a fresh attempt budget."""
    with db.translated(), conn.transaction():
        row = db.fetch_one(conn, "job_retry", {"id": job_id})
        if row is None:
            state = get(conn, job_id).state
            raise JobConflict(f"job {job_id} is {state}: only dead or cancelled jobs are retried")
        _notify(conn, job=job_id, kind=JobState.QUEUED)
    job = _job(row)
    assert job is not None
    return job


def retry_project(conn: db.Connection, project_id: str, lane: Lane) -> Job:
    """`mc project retry`: the project's last job again, if it is dead or cancelled and
    the project is still in the lane that job runs in."""
    found = listing(conn, project=project_id, limit=1)
    conn.commit()
    if not found:
        raise JobConflict(
            f"{project_id} has no jobs yet: queue it with mc project queue {project_id}"
        )
    last = found[0]
    if last.state not in (JobState.DEAD, JobState.CANCELLED):
        raise TransitionRefused(
            f"{project_id}: its last job {last.id} is {last.state}; nothing to retry"
        )
    wanted = last.kind.lane
    if lane is not wanted:
        raise TransitionRefused(
            f"{project_id} is in {lane.value}, not {wanted.value}: its {last.kind} job cannot "
            f"run there (queue it again with mc project queue {project_id})"
        )
    return retry(conn, last.id)


def find(conn: db.Connection, job_id: int) -> Job | None:
    return _job(db.fetch_one(conn, "job_get", {"id": job_id}))


def get(conn: db.Connection, job_id: int) -> Job:
    job = find(conn, job_id)
    if job is None:
        raise JobNotFound(f"no job {job_id}")
    return job


def listing(
    conn: db.Connection,
    *,
    project: str | None = None,
    state: str | None = None,
    limit: int | None = 100,
) -> list[Job]:
    """Jobs, newest first (``limit`` None: all of them)."""
    rows = db.fetch_all(conn, "job_list", {"project": project, "state": state, "limit": limit})
    return [j for j in map(_job, rows) if j is not None]


def count(conn: db.Connection, *, project: str | None = None, state: str | None = None) -> int:
    row = db.fetch_one(conn, "job_count", {"project": project, "state": state})
    return int(row["n"]) if row else 0


def log(conn: db.Connection, job: Job, stream: str, text: str, shown: str | None = None) -> None:
    """Append to a job's log (a line or a chunk); ``shown`` is the line in words (a CLI's
    JSON event, as a person reads it)."""
    log_many(conn, job, [(stream, text, shown)])


def log_many(conn: db.Connection, job: Job, lines: Sequence[tuple[str, str, str | None]]) -> None:
    """Append several chunks in one transaction, with one NOTIFY (a burst of output)."""
    if not lines:
        return
    with db.translated(), conn.transaction():
        db.execute_many(
            conn,
            "job_log_append",
            [
                {
                    "job_id": job.id,
                    "attempt": job.attempt,
                    "stream": stream,
                    "text": text,
                    "shown": shown,
                }
                for stream, text, shown in lines
            ],
        )
        step = next((shown for _, _, shown in reversed(lines) if shown), None)
        if step:
            db.execute(conn, "job_set_last_step", {"id": job.id, "step": step[:300]})
        db.notify(conn, db.JOBS_CHANNEL, json.dumps({"log": job.id}))


def active_work_by_archetype(conn: db.Connection) -> dict[str, int]:
    """Queued and running work jobs per archetype (for its concurrency)."""
    return {r["archetype"]: r["n"] for r in db.fetch_all(conn, "jobs_active_by_archetype")}


def read_log(
    conn: db.Connection, job_id: int, *, after: int = 0, limit: int = 1000
) -> list[dict[str, Any]]:
    return db.fetch_all(conn, "job_log_read", {"job_id": job_id, "after": after, "limit": limit})


def cancel_parked(conn: db.Connection) -> list[int]:
    """Cancel the jobs of projects moved back to the backlog (their agents are killed)."""
    with db.translated(), conn.transaction():
        ids = [r["id"] for r in db.fetch_all(conn, "jobs_cancel_parked")]
        for job_id in ids:
            _notify(conn, job=job_id, kind="cancel")
    return ids


# Hand-off reports and usage live in their own modules of this package; the queue's
# callers reach them as jobs.<name>, as ever.
from mc.pipeline.jobs.handoff import (  # noqa: E402
    REPORT_BYTES_MAX,
    REPORT_FILES_MAX,
    Report,
    await_report,
    read_report,
    report,
    report_as,
    waiting_handoffs,
)
from mc.pipeline.jobs.usage import (  # noqa: E402
    DaySpend,
    Outcomes,
    Spend,
    outcomes,
    project_spend,
    record_usage,
    run_seconds,
    spend_by_day,
    spend_since,
)

__all__ = [
    "REPORT_BYTES_MAX",
    "REPORT_FILES_MAX",
    "DaySpend",
    "Job",
    "JobKind",
    "JobState",
    "Outcomes",
    "Report",
    "Spend",
    "await_report",
    "outcomes",
    "project_spend",
    "read_report",
    "record_usage",
    "report",
    "report_as",
    "run_seconds",
    "spend_by_day",
    "spend_since",
    "waiting_handoffs",
]
