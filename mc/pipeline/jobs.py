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
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, NamedTuple

from mc.board.layout import Lane
from mc.errors import (
    InvalidInput,
    JobConflict,
    JobNotFound,
    LeaseLost,
    NotAllowed,
    TransitionRefused,
)
from mc.mirror import db, outbox
from mc.mirror.auth import Principal

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


def await_report(conn: db.Connection, job: Job) -> None:
    """A hand-off job's worker announces it: from now on it may be reported on."""
    with db.translated(), conn.transaction():
        if db.fetch_one(conn, "job_await_report", {"id": job.id, "token": job.lease_token}) is None:
            raise LeaseLost(f"job {job.id}: lease lost before it was handed off")
        outbox.record(conn, "handoff", project_id=job.project_id, job_id=job.id)


REPORT_FILES_MAX = 50
REPORT_BYTES_MAX = 5 * 2**20
_REPORT_NAME = re.compile(
    r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9_][A-Za-z0-9._-]{0,99}){0,4}"
)


def report(
    conn: db.Connection,
    job_id: int,
    *,
    ok: bool,
    notes: str = "",
    error: str = "",
    files: Mapping[str, str] | None = None,
) -> Job:
    """`mc job complete|fail JOB`: the outcome of a handoff job, for its worker to record.
    ``files``: what was produced, by name (text), for an assistant that cannot reach the
    job's output folder; its worker writes them there, and they become the artifacts."""
    files = dict(files or {})
    _check_report_files(files)
    said = {"ok": ok, "notes": notes, "error": error, "files": files}
    with db.translated(), conn.transaction():
        row = db.fetch_one(conn, "job_report", {"id": job_id, "reported": db.jsonb(said)})
        if row is None:
            state = get(conn, job_id).state
            raise JobConflict(
                f"job {job_id} is {state}, not a hand-off job waiting for a report, or "
                "already reported: nothing to complete"
            )
        _notify(conn, job=job_id, kind="reported")
    job = _job(row)
    assert job is not None
    return job


def waiting_handoffs(conn: db.Connection) -> list[Job]:
    """Hand-off jobs announced and waiting for their report, oldest first."""
    rows = db.fetch_all(conn, "jobs_waiting_handoff")
    conn.commit()
    return [j for j in map(_job, rows) if j is not None]


def find(conn: db.Connection, job_id: int) -> Job | None:
    return _job(db.fetch_one(conn, "job_get", {"id": job_id}))


def get(conn: db.Connection, job_id: int) -> Job:
    job = find(conn, job_id)
    if job is None:
        raise JobNotFound(f"no job {job_id}")
    return job


def report_as(
    conn: db.Connection,
    who: Principal | None,
    job_id: int,
    *,
    ok: bool,
    notes: str = "",
    error: str = "",
    files: Mapping[str, str] | None = None,
) -> Job:
    """A report by ``who`` (None: the person at the terminal): a person, or the agent
    token issued for that job (or its project) — one agent must not report another's
    work. A failure says what went wrong."""
    if not ok and not error.strip():
        raise InvalidInput("error: say what went wrong")
    found = get(conn, job_id)
    conn.commit()
    if who is not None and not who.may_report(found.id, found.project_id):
        raise NotAllowed(
            f"only a person, or the agent token issued for job {job_id} (or its project), "
            "may report it"
        )
    return report(conn, job_id, ok=ok, notes=notes, error=error, files=files)


def _check_report_files(files: Mapping[str, str]) -> None:
    """Names that stay inside the output folder, within the caps; else InvalidInput."""
    if len(files) > REPORT_FILES_MAX:
        raise InvalidInput(f"files: at most {REPORT_FILES_MAX}")
    size = 0
    for name, text in files.items():
        if not _REPORT_NAME.fullmatch(name) or ".." in name.split("/"):
            raise InvalidInput(f"files: {name!r} is not a plain relative file name")
        if not isinstance(text, str):
            raise InvalidInput(f"files: {name!r} is not text")
        size += len(text.encode("utf-8"))
    if size > REPORT_BYTES_MAX:
        raise InvalidInput(f"files: over {REPORT_BYTES_MAX // 2**20} MB in all")


class Report(NamedTuple):
    """A hand-off job's outcome, as `mc job complete|fail` (or the API) reported it."""

    ok: bool
    notes: str = ""
    error: str = ""
    files: tuple[tuple[str, str], ...] = ()  # (name, text) of what was produced


def read_report(conn: db.Connection, job_id: int) -> Report | None:
    """The report on a hand-off job, or None while there is none."""
    job = find(conn, job_id)
    said = job.reported if job is not None else None
    if not said:
        return None
    files = said.get("files") or {}
    return Report(
        bool(said.get("ok")),
        str(said.get("notes") or ""),
        str(said.get("error") or ""),
        tuple((str(k), str(v)) for k, v in files.items()) if isinstance(files, dict) else (),
    )


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


def active_work_by_archetype(conn: db.Connection) -> dict[str, int]:
    """Queued and running work jobs per archetype (for its concurrency)."""
    return {r["archetype"]: r["n"] for r in db.fetch_all(conn, "jobs_active_by_archetype")}


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
