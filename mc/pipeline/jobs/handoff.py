"""Hand-off jobs: announced to the person (or their assistant), then reported by them —
with what they produced — for the worker that waits to record."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from mc.errors import (
    InvalidInput,
    JobConflict,
    LeaseLost,
    NotAllowed,
)
from mc.mirror import db, outbox
from mc.mirror.auth import Principal
from mc.pipeline.jobs import Job, _job, _notify, find, get


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
    said: dict[str, object] = {"ok": ok, "notes": notes, "error": error}
    if files:
        said["files"] = files
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
