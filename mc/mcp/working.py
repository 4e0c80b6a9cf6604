"""The tools for the work itself: jobs, logs, artifacts, hand-off jobs, tasks."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from mc.errors import JobConflict, McError, NotAllowed
from mc.mirror import auth

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

from mc.mcp.access import (
    LOG_PAGE,
    Access,
    CursorArg,
    DoneArg,
    DueArg,
    FilesArg,
    LimitArg,
    StateArg,
    caller,
    guarded,
)
from mc.mcp.reading import project_json


def job_tools(server: MCPServer, access: Access) -> None:
    from mc.pipeline import jobs

    @server.tool()
    @guarded
    def list_jobs(
        project_id: str | None = None,
        state: StateArg = None,
        limit: LimitArg = 50,
    ) -> dict[str, Any]:
        """Agent runs, newest first: kind, state, attempts, model, tokens, cost, last step."""
        caller(auth.READ)
        with access.connection() as conn:
            found = jobs.listing(conn, project=project_id, state=state, limit=limit)
        return {"jobs": [j.to_json() for j in found]}

    @server.tool()
    @guarded
    def read_job_log(
        job_id: int,
        after: CursorArg = 0,
    ) -> dict[str, Any]:
        """A page of a job's log (what the agent did, in words), and the cursor for the
        next page; ``more`` says whether there is one."""
        caller(auth.READ)
        with access.connection() as conn:
            job = jobs.get(conn, job_id)
            rows = jobs.read_log(conn, job_id, after=after, limit=LOG_PAGE + 1)
        page = rows[:LOG_PAGE]
        return {
            "state": job.state,
            "lines": [
                {"id": r["id"], "stream": r["stream"], "text": r["shown"] or r["text"]}
                for r in page
            ],
            "cursor": page[-1]["id"] if page else after,
            "more": len(rows) > LOG_PAGE,
        }

    @server.tool()
    @guarded
    def list_artifacts(project_id: str) -> dict[str, Any]:
        """What agents produced for a project: path, size and kind (text, patch, binary)."""
        from mc.board import artifacts

        caller(auth.READ)
        with access.reading():
            found = artifacts.listing(access.current(), project_id)
        return {"artifacts": [{"path": a.path, "size": a.size, "kind": a.kind} for a in found]}

    @server.tool()
    @guarded
    def read_artifact(project_id: str, path: str) -> dict[str, Any]:
        """One artifact's text (binary ones and those over 512 KB are not read)."""
        from mc.board import artifacts

        caller(auth.READ)
        with access.reading():
            a = artifacts.read(access.current(), project_id, path)
        return {"path": a.path, "kind": a.kind, "size": a.size, "text": a.text}

    handoff_tools(server, access)


def handoff_tools(server: MCPServer, access: Access) -> None:
    from mc.pipeline import jobs

    @server.tool()
    @guarded
    def list_handoffs() -> dict[str, Any]:
        """Hand-off jobs waiting for their work to be done and reported: the job, its
        project, and the brief (claim_handoff, do the work, then complete_handoff or
        fail_handoff)."""
        caller(auth.READ)
        with access.connection() as conn:
            waiting = jobs.waiting_handoffs(conn)
        out = []
        for job in waiting:
            handoff: dict[str, Any] = {
                "job": job.id,
                "project_id": job.project_id,
                "kind": job.kind,
                "archetype": job.archetype,
                "notes": job.notes or None,
            }
            try:
                project = project_json(access, job.project_id)
                for key in ("title", "description", "acceptance"):
                    handoff[key] = project.get(key)
            except McError as exc:  # listed all the same: a job is never hidden
                handoff["error"] = str(exc)
            out.append(handoff)
        return {"handoffs": out}

    @server.tool()
    @guarded
    def claim_handoff(job_id: int) -> dict[str, Any]:
        """Take a hand-off job: its whole brief (as an agent would get it), and a note on
        the project's page that you are on it. Then do the work and report it."""
        from mc.mirror import comments
        from mc.mirror import tasks as task_list
        from mc.pipeline.brief import render_brief

        who = caller(auth.HUMAN_OR_AGENT)
        with access.connection() as conn:
            job = jobs.get(conn, job_id)
            if not (
                job.state == jobs.JobState.RUNNING and job.awaiting_report and not job.reported
            ):
                raise JobConflict(f"job {job_id} is not a hand-off job waiting for its work")
            if not who.may_report(job.id, job.project_id):
                raise NotAllowed(f"this token may not report job {job_id}")
            linked = task_list.listing(conn, project=job.project_id)
            comments.add(conn, job.project_id, who.name, who.role, f"Took job {job.id}.")
        with access.reading():
            brief = render_brief(access.current(), job.project_id, job, linked)
        return {"job": job.id, "project_id": job.project_id, "kind": job.kind, "brief": brief}

    def report(
        job_id: int, ok: bool, notes: str, error: str, files: dict[str, str]
    ) -> dict[str, Any]:
        who = caller(auth.HUMAN_OR_AGENT)
        with access.connection() as conn:
            job = jobs.report_as(conn, who, job_id, ok=ok, notes=notes, error=error, files=files)
        return {"job": job.id, "project_id": job.project_id, "reported": "ok" if ok else "failed"}

    @server.tool()
    @guarded
    def complete_handoff(
        job_id: int,
        notes: DoneArg = "",
        files: FilesArg = None,
    ) -> dict[str, Any]:
        """Report a hand-off job done; its files become the project's artifacts and a
        reviewer checks the work."""
        return report(job_id, True, notes, "", files or {})

    @server.tool()
    @guarded
    def fail_handoff(job_id: int, error: str) -> dict[str, Any]:
        """Report that a hand-off job could not be done, and why."""
        return report(job_id, False, "", error, {})


def task_tools(server: MCPServer, access: Access) -> None:
    from mc.mirror import tasks

    def task_json(task: Any) -> dict[str, Any]:
        from mc.mirror.tasks import local_zone

        out: dict[str, Any] = task.to_json(dt.datetime.now(dt.UTC), local_zone())
        return out

    @server.tool()
    @guarded
    def add_task(
        title: str,
        due: DueArg = None,
        project_id: str | None = None,
        notes: str = "",
    ) -> dict[str, Any]:
        """A small to-do, optionally linked to a project."""
        caller(auth.HUMAN_OR_AGENT)
        with access.connection() as conn:
            task = tasks.add(conn, title, due=due, project=project_id, notes=notes)
        return task_json(task)

    @server.tool()
    @guarded
    def list_tasks(
        project_id: str | None = None, overdue: bool = False, include_done: bool = False
    ) -> dict[str, Any]:
        """Open tasks (soonest due first), or a project's, or only the overdue ones."""
        caller(auth.READ)
        with access.connection() as conn:
            found = tasks.listing(
                conn, project=project_id, overdue=overdue, include_done=include_done
            )
        return {"tasks": [task_json(t) for t in found]}

    @server.tool()
    @guarded
    def complete_task(number: int) -> dict[str, Any]:
        """Mark task N done."""
        caller(auth.HUMAN)
        with access.connection() as conn:
            task = tasks.update(conn, number, done=True)
        return task_json(task)
