"""What a finished run leaves: a handed-back, cancelled or failed job (retried, or dead
and escalated to the person), or a success committed to the board while the job's row
is held with the worker's lease (work: artifacts and the move to review, then a review
job; review: the verdict, then ready for the person or another round)."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess

from mc.board import actions
from mc.board.board import Board
from mc.errors import McError
from mc.mirror import db
from mc.pipeline import jobs
from mc.pipeline.execute import StopReason, agent_env
from mc.pipeline.jobs import Job, JobKind, JobState
from mc.pipeline.runners import (
    Run,
    Verdict,
    read_verdict,
)

log = logging.getLogger("mc.pipeline")
REVIEWER = "reviewer"


def archetype_name(job: Job) -> str:
    """The archetype whose agent runs ``job``: a review job's is always the reviewer."""
    return REVIEWER if job.kind == JobKind.REVIEW else job.archetype


def finish(
    conn: db.Connection,
    board: Board,
    job: Job,
    run: Run,
    verdict: Verdict,
    extra: dict[str, bytes] | None = None,
    *,
    backoff: float,
    change: dict[str, str] | None = None,
) -> None:
    """Record a run's end. ``backoff``: seconds before a failed run's first retry;
    ``change``: coder work's branch head and base, for the run block."""
    if verdict.stopped == StopReason.CANCEL:
        jobs.mark_cancelled(conn, job)
        return
    if verdict.stopped == StopReason.SHUTDOWN:
        jobs.hand_back(conn, job)
        log.info("job %s handed back (the worker is stopping)", job.id)
        return
    if verdict.stopped == StopReason.LEASE_LOST:
        log.warning("job %s: lease lost, result dropped", job.id)
        return
    if not verdict.ok:
        archetype = board.config.archetype(archetype_name(job))
        failed = jobs.fail(
            conn,
            job,
            verdict.error,
            temporary=verdict.temporary,
            permanent=verdict.permanent,
            base=backoff,
            tempfail_cap=archetype.max_temporary,
        )
        if failed.state == JobState.DEAD:
            if verdict.temporary:
                why = f"failed temporarily {failed.tempfails} times in a row"
            elif verdict.permanent:
                why = "cannot succeed as things are"
            else:
                why = f"failed {failed.attempts} times"
            escalate(board, job, f"{job.kind} job {job.id} {why}: {verdict.error}")
        return
    if job.kind == JobKind.WORK:
        _work_done(conn, board, job, run, verdict, extra or {}, change or {})
    else:
        _review_done(conn, board, job, run)


def _work_done(
    conn: db.Connection,
    board: Board,
    job: Job,
    run: Run,
    verdict: Verdict,
    extra: dict[str, bytes],
    change: dict[str, str],
) -> None:
    artifacts = dict(extra)  # the output folder's files (and coder work's branch, patch)
    if verdict.summary:
        artifacts.setdefault("summary.txt", verdict.summary.encode())
    config = board.config
    with jobs.fenced(conn, job) as fence:
        actions.complete(
            board, job.project_id, str(job.id), artifacts, attempt=job.attempt, change=change
        )
        fence.succeed({"artifacts": sorted(artifacts)})
    reviewer = config.archetype(REVIEWER)
    jobs.enqueue(
        conn,
        job.project_id,
        JobKind.REVIEW,
        REVIEWER,
        priority=job.priority,
        round=job.round,
        max_attempts=reviewer.max_attempts,
    )


def _review_done(conn: db.Connection, board: Board, job: Job, run: Run) -> None:
    found = read_verdict(run.output_dir)
    assert isinstance(found, dict)  # the judge checked it
    verdict, notes = found["verdict"], found["notes"]
    rounds = board.config.review_rounds
    with jobs.fenced(conn, job) as fence:
        # The result first: the daemon accepts ready_for_human only with a passing
        # review job behind it, and reads this row when it syncs the commit.
        fence.set_result(found)
    with jobs.fenced(conn, job) as fence:
        if verdict == "pass":
            actions.record_review(board, job.project_id, str(job.id), "pass", notes, rework=False)
        elif job.round < rounds:
            actions.record_review(board, job.project_id, str(job.id), "fail", notes, rework=True)
        else:
            spent = f"the review failed {job.round} times; it needs you"
            actions.record_review(
                board, job.project_id, str(job.id), "fail", notes, rework=False, escalate=spent
            )
        fence.succeed(found)
    if verdict == "fail" and job.round >= rounds:
        on_escalation(board, job, f"the review failed {job.round} times: {notes}")
    if verdict == "fail" and job.round < rounds:
        project = board.get(job.project_id).project
        assert project is not None  # the review commit above just read and wrote it
        archetype = board.config.archetype(project.archetype)
        jobs.enqueue(
            conn,
            job.project_id,
            JobKind.WORK,
            archetype.name,
            priority=job.priority,
            round=job.round + 1,
            max_attempts=archetype.max_attempts,
            notes=notes,
        )


def escalate(board: Board, job: Job, reason: str) -> None:
    with contextlib.suppress(McError):
        actions.escalate(
            board, job.project_id, reason, job=str(job.id), attempt=max(job.attempts, 1)
        )
    on_escalation(board, job, reason)


def on_escalation(board: Board, job: Job, reason: str) -> None:
    """mc.yaml's on_escalation command, with the details (its failure is only logged)."""
    command = board.config.on_escalation
    if not command:
        return
    details = json.dumps({"project": job.project_id, "job": job.id, "reason": reason})
    try:
        subprocess.run(
            [*command, details],
            stdin=subprocess.DEVNULL,
            timeout=30,
            env=agent_env(
                {
                    "MC_PROJECT_ID": job.project_id,
                    "MC_JOB_ID": str(job.id),
                    "MC_ESCALATION": reason,
                }
            ),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("on_escalation for job %s failed: %s", job.id, exc)
