"""`mc job ...` and `mc project retry`: agent runs, their logs, retries and reports."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import typer

from mc.cli.common import JsonOpt, _board, _connection, _print_json, app
from mc.cli.projects import project_app

if TYPE_CHECKING:
    from mc.pipeline.jobs import Job

job_app = typer.Typer(help="Agent runs: list, logs, retry, cancel, report.", no_args_is_help=True)


app.add_typer(job_app, name="job")


def usage_text(usage: Any) -> str:
    """Tokens and cost in one line: "12,400 in (3,100 cached), 2,050 out, $0.0421"."""
    cost = (
        f", ${float(usage.cost_usd):.4f}" if usage.cost_usd is not None else ", cost not reported"
    )
    cached = f" ({usage.cached_tokens:,} cached)" if usage.cached_tokens else ""
    return f"{usage.input_tokens:,} in{cached}, {usage.output_tokens:,} out{cost}"


def _job_line(job: Job) -> str:
    from mc.pipeline.jobs import JobState

    when = job.finished_at or job.started_at or job.created_at
    error = f"  {job.last_error}" if job.last_error and job.state != JobState.SUCCEEDED else ""
    run = job.attempt if job.state.active else max(job.attempts, 1)
    return (
        f"{job.id:>5}  {job.kind:<6} {job.state:<9} {job.project_id:<24} "
        f"attempt {run}/{job.max_attempts}  {when:%Y-%m-%d %H:%M}{error}"
    )


@job_app.command("list")
def job_list(
    project: str | None = typer.Option(None, "--project", "-p"),
    state: str | None = typer.Option(
        None, "--state", help="queued, running, succeeded, dead, cancelled"
    ),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many (newest first)."),
    show_all: bool = typer.Option(False, "--all", help="Every job."),
    as_json: bool = JsonOpt,
) -> None:
    """Jobs, newest first (the newest 100 unless --limit or --all; a cut list says so)."""
    from mc.pipeline import jobs

    with _connection() as conn:
        found = jobs.listing(conn, project=project, state=state, limit=None if show_all else limit)
        total = len(found) if show_all else jobs.count(conn, project=project, state=state)
    if total > len(found):  # on stderr: --json stays a list
        sys.stderr.write(
            f"mc: the newest {len(found)} of {total} jobs (--limit N or --all for more)\n"
        )
    if as_json:
        _print_json([j.to_json() for j in found])
        return
    for job in found:
        sys.stdout.write(_job_line(job) + "\n")
    if not found:
        sys.stdout.write("No jobs.\n")


@job_app.command("show")
def job_show(number: int = typer.Argument(..., metavar="JOB"), as_json: bool = JsonOpt) -> None:
    """One job."""
    from mc.pipeline import jobs

    with _connection() as conn:
        job = jobs.get(conn, number)
    if as_json:
        _print_json(job.to_json())
        return
    sys.stdout.write(_job_line(job) + "\n")
    if job.model:
        sys.stdout.write(f"model: {job.model}\n")
    if job.input_tokens or job.output_tokens or job.cost_usd is not None:
        sys.stdout.write(f"usage: {usage_text(job)}\n")
    if job.last_step:
        sys.stdout.write(f"last step: {job.last_step}\n")
    if job.result:
        sys.stdout.write(f"result: {job.result}\n")
    if job.notes:
        sys.stdout.write(f"notes: {job.notes}\n")


@job_app.command("logs")
def job_logs(
    number: int = typer.Argument(..., metavar="JOB"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing as it runs."),
    raw: bool = typer.Option(False, "--raw", help="The lines as printed (a CLI's JSON events)."),
) -> None:
    """What the agent did, in words (live with -f; --raw: as it printed it)."""

    from mc.pipeline import jobs

    after = 0
    with _connection() as conn:
        while True:
            rows = jobs.read_log(conn, number, after=after)
            conn.commit()
            for row in rows:
                text = row["text"] if raw or not row["shown"] else row["shown"] + "\n"
                (sys.stderr if row["stream"] == "stderr" else sys.stdout).write(text)
                after = row["id"]
            sys.stdout.flush()
            if rows:
                continue
            job = jobs.get(conn, number)
            conn.commit()
            if not follow or not job.state.active:
                return
            time.sleep(0.5)


@job_app.command("retry")
def job_retry(number: int = typer.Argument(..., metavar="JOB")) -> None:
    """Run a dead or cancelled job again (a fresh attempt budget)."""
    from mc.pipeline import jobs

    with _connection() as conn:
        job = jobs.retry(conn, number)
    sys.stdout.write(_job_line(job) + "\n")


@job_app.command("cancel")
def job_cancel(number: int = typer.Argument(..., metavar="JOB")) -> None:
    """Cancel a job: its agent's process tree is killed; it is not retried."""
    from mc.pipeline import jobs

    with _connection() as conn:
        job = jobs.cancel(conn, number)
    sys.stdout.write(_job_line(job) + "\n")


@job_app.command("complete")
def job_complete(
    number: int = typer.Argument(..., metavar="JOB"),
    notes: str = typer.Option("", "--notes", help="What was done (kept with the result)."),
) -> None:
    """Report a handed-off job done (its worker records the result)."""
    from mc.pipeline import jobs

    with _connection() as conn:
        job = jobs.report(conn, number, ok=True, notes=notes)
    sys.stdout.write(_job_line(job) + "\n")


@job_app.command("fail")
def job_fail(
    number: int = typer.Argument(..., metavar="JOB"),
    error: str = typer.Option(..., "--error", help="What went wrong."),
) -> None:
    """Report a handed-off job failed (it is retried like any failed run)."""
    from mc.pipeline import jobs

    with _connection() as conn:
        job = jobs.report(conn, number, ok=False, error=error)
    sys.stdout.write(_job_line(job) + "\n")


@project_app.command("retry")
def project_retry(project_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Run a project's dead or cancelled job again (a fresh attempt budget)."""
    from mc.pipeline import jobs

    with _board() as board:
        lane = board.get(project_id).lane
    with _connection() as conn:
        job = jobs.retry_project(conn, project_id, lane)
    sys.stdout.write(_job_line(job) + "\n")
