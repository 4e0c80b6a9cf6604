"""The MCP server: the tools, resources and prompt an assistant uses.

Every tool is one call (or two, create-and-queue) on the library the CLI and the web
board use, run as the principal the transport authenticated (``PRINCIPAL``): the token
named by `mc mcp --token`, or the bearer token of an HTTP request. The role check is the
web's (``mc.mirror.auth``: READ, HUMAN, HUMAN_OR_AGENT); a refusal is the library's own
one-line error. There is no approve tool: an approval is a person's signature.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import Field

from mc.board.board import Board, Entry
from mc.board.layout import Lane, parse_lane
from mc.errors import McError, NotAllowed
from mc.mirror import auth, db
from mc.mirror.auth import Principal
from mc.mirror.view import activity_json, entry_json

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "mc_mcp_principal", default=None
)
# Arguments as the assistant sees them (their descriptions go into the tools' schemas).
LaneArg = Annotated[str | None, Field(description="backlog, up-next, in-progress, review or done")]
TextArg = Annotated[str | None, Field(description="only projects whose text contains this")]
CursorArg = Annotated[int, Field(description="the last id you have seen (0: from the start)")]
LimitArg = Annotated[int, Field(ge=1, le=500)]
ArchetypeArg = Annotated[str, Field(description="one of the board's archetypes (board_summary)")]
BriefArg = Annotated[str | None, Field(description="the brief the agent gets")]
WorkspaceArg = Annotated[str | None, Field(description="a git repository, for coder work")]
PriorityArg = Annotated[int | None, Field(ge=1, le=4)]
DateArg = Annotated[str | None, Field(description="YYYY-MM-DD")]
IdArg = Annotated[str | None, Field(description="default: from the title")]
QueueArg = Annotated[bool, Field(description="put it in up-next at once: an agent starts")]
FieldsArg = Annotated[
    dict[str, Any],
    Field(
        description="person-owned fields to set (title, description, acceptance, priority, "
        "due, labels, owner, model, workspace); null removes an optional one"
    ),
]
NotesArg = Annotated[str, Field(description="what to change; every later brief includes it")]
StateArg = Annotated[str | None, Field(description="queued, running, succeeded, dead, cancelled")]
DoneArg = Annotated[str, Field(description="what was done, for the reviewer and the person")]
FilesArg = Annotated[
    dict[str, str] | None,
    Field(description="what you produced, by file name (text): they become the artifacts"),
]
DueArg = Annotated[str | None, Field(description="today, tomorrow, fri, in 3 days, 2026-12-01")]

LOG_PAGE = 200  # job log lines per read
LIST_MAX = 500  # projects per listing


class Access(Protocol):
    """The board and database a server works on (the web server's state is one)."""

    def connection(self) -> contextlib.AbstractContextManager[db.Connection]: ...
    def reading(self) -> contextlib.AbstractContextManager[Any]: ...
    def current(self) -> Board: ...
    def writer(self) -> Board: ...
    def invalidate(self) -> None: ...


class LocalAccess:
    """For `mc mcp` (stdio): one reader and a connection per call."""

    def __init__(self, board_path: Any, url: str) -> None:
        import threading

        self.board_path = board_path
        self.url = url
        self._lock = threading.Lock()
        self._board: Board | None = None

    @contextlib.contextmanager
    def connection(self) -> Iterator[db.Connection]:
        with db.connect(self.url, application_name="mc mcp") as conn:
            yield conn

    def reading(self) -> contextlib.AbstractContextManager[Any]:
        return self._lock

    def current(self) -> Board:
        if self._board is None:
            self._board = Board.open(self.board_path)
        self._board.refresh()
        return self._board

    def writer(self) -> Board:
        return Board.open(self.board_path)

    def invalidate(self) -> None:
        pass


def _who(roles: frozenset[str]) -> Principal:
    who = PRINCIPAL.get()
    if who is None:
        raise NotAllowed("no principal: give a token (mc mcp --token, or a bearer token)")
    if who.role not in roles:
        raise NotAllowed(f"a {who.role} token may not do this")
    return who


def _tool_error(exc: McError) -> Exception:
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(str(exc))


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The library's refusals reach the assistant as its one-line message."""
    import functools

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except McError as exc:
            raise _tool_error(exc) from None

    return run


def build(access: Access) -> MCPServer:
    """The server with every tool, the resources and the prompt."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(
        "mission-control",
        instructions=(
            "Mission Control: a project board for work delegated to AI agents. Plan work "
            "as projects (create_project, then queue_project when it should run); agents "
            "do it and a reviewer checks it; the person approves it into done themselves. "
            "Pick up hand-off jobs with list_handoffs and report them with complete_handoff "
            "or fail_handoff. Use activity_since to follow what happens."
        ),
        log_level="WARNING",
    )
    _read_tools(server, access)
    _project_tools(server, access)
    _job_tools(server, access)
    _task_tools(server, access)
    _resources(server, access)
    return server


# ---------------------------------------------------------------------- reading


def board_summary_of(access: Access) -> dict[str, Any]:
    """Lanes with their projects (id, title, state), and what waits for the person."""
    _who(auth.READ)
    with access.reading():
        board = access.current()
        entries = board.projects()
        config = board.config
    lanes: dict[str, list[dict[str, Any]]] = {lane.value: [] for lane in Lane}
    waiting = []
    for e in entries:
        p = e.project
        card = {"id": e.id, "title": p.title if p else None, "valid": p is not None}
        if p is not None:
            card["ready_for_human"] = p.ready_for_human
            card["needs_human"] = p.needs_human.reason if p.needs_human else None
            if p.ready_for_human or p.needs_human:
                waiting.append({"id": e.id, "title": p.title, "lane": e.lane.value})
        lanes[e.lane.value].append(card)
    return {
        "lanes": [
            {
                "name": name,
                "count": len(cards),
                "wip_limit": config.wip_limits.get(Lane(name)),
                "projects": cards[:LIST_MAX],
            }
            for name, cards in lanes.items()
        ],
        "waiting_for_person": waiting,
        "archetypes": list(config.work_archetypes()),
    }


def _project_json(access: Access, project_id: str) -> dict[str, Any]:
    from mc.mirror import view

    with access.reading():
        board = access.current()
        entry = board.get(project_id)
        with access.connection() as conn:
            entries, diverged = view.accepted(board, conn, [entry])
    out = entry_json(entries[0], diverged)
    return out


def _read_tools(server: MCPServer, access: Access) -> None:
    @server.tool()
    @_guarded
    def board_summary() -> dict[str, Any]:
        """The board: each lane's projects and count, and what waits for the person."""
        return board_summary_of(access)

    @server.tool()
    @_guarded
    def list_projects(
        lane: LaneArg = None,
        text: TextArg = None,
    ) -> dict[str, Any]:
        """Projects (the accepted state), newest lanes first; at most 500."""
        _who(auth.READ)
        wanted = parse_lane(lane) if lane else None
        with access.reading():
            board = access.current()
            entries = board.projects(wanted)
        if text:
            needle = text.lower()
            entries = [e for e in entries if needle in _searchable(e)]
        return {
            "projects": [entry_json(e) for e in entries[:LIST_MAX]],
            "total": len(entries),
        }

    @server.tool()
    @_guarded
    def search_projects(text: str) -> dict[str, Any]:
        """Every project (done included) whose title, brief, acceptance or labels contain
        ``text`` (case-insensitive): id, title and lane."""
        _who(auth.READ)
        needle = text.lower()
        with access.reading():
            entries = access.current().projects()
        found = [
            {"id": e.id, "title": e.project.title if e.project else None, "lane": e.lane.value}
            for e in entries
            if needle in _searchable(e)
        ]
        return {"projects": found[:LIST_MAX], "total": len(found)}

    @server.tool()
    @_guarded
    def show_project(project_id: str) -> dict[str, Any]:
        """One project: every field (the accepted version), its lane, and whether git
        holds a version the rules refused (diverged)."""
        _who(auth.READ)
        return _project_json(access, project_id)

    @server.tool()
    @_guarded
    def activity_since(
        cursor: CursorArg = 0,
        limit: LimitArg = 100,
    ) -> dict[str, Any]:
        """What happened on the board after ``cursor``, oldest first, and the cursor to
        ask with next time."""
        _who(auth.READ)
        with access.connection() as conn:
            rows = db.fetch_all(conn, "activity_since", {"after": cursor, "limit": limit})
        items = [activity_json(r) for r in rows]
        return {"activity": items, "cursor": items[-1]["id"] if items else cursor}


def _searchable(entry: Entry) -> str:
    p = entry.project
    if p is None:
        return entry.id
    data = p.data
    parts = [entry.id, p.title, str(data.get("description") or "")]
    parts += [str(a) for a in data.get("acceptance") or []]
    parts += [str(label) for label in data.get("labels") or []]
    return "\n".join(parts).lower()


# ---------------------------------------------------------------------- projects


def _project_tools(server: MCPServer, access: Access) -> None:
    from mc.board import actions
    from mc.board.store import acting_for

    def as_person() -> contextlib.AbstractContextManager[None]:
        who = _who(auth.HUMAN)
        return acting_for(f"{who.name} ({who.via})", "mcp")

    @server.tool()
    @_guarded
    def create_project(
        title: str,
        archetype: ArchetypeArg,
        description: BriefArg = None,
        acceptance: list[str] | None = None,
        template: str | None = None,
        workspace: WorkspaceArg = None,
        priority: PriorityArg = None,
        due: DateArg = None,
        labels: list[str] | None = None,
        owner: str | None = None,
        model: str | None = None,
        project_id: IdArg = None,
        queue: QueueArg = False,
    ) -> dict[str, Any]:
        """Add a project to the backlog (or up-next with queue=true): one commit."""
        fields = {
            "description": description,
            "acceptance": acceptance,
            "workspace": workspace,
            "priority": priority,
            "due": dt.date.fromisoformat(due) if due else None,
            "labels": labels,
            "owner": owner,
            "model": model,
        }
        with as_person(), access.writer() as board:
            made = actions.new_project(
                board,
                title,
                archetype,
                project_id=project_id,
                template=template,
                fields={k: v for k, v in fields.items() if v is not None},
                lane=Lane.UP_NEXT if queue else Lane.BACKLOG,
            )
        access.invalidate()
        pid = made.transition.project_id
        assert pid is not None
        return {**_project_json(access, pid), "commit": made.commit}

    @server.tool()
    @_guarded
    def edit_project(
        project_id: str,
        fields: FieldsArg,
    ) -> dict[str, Any]:
        """Change a project's person-owned fields (not in done): one commit."""
        from mc.board.projectfile import DELETE

        updates = {k: (DELETE if v is None else v) for k, v in fields.items()}
        with as_person(), access.writer() as board:
            made = actions.edit(board, project_id, updates)
        access.invalidate()
        return {**_project_json(access, project_id), "commit": made.commit}

    def lane_move(project_id: str, lane: Lane, action: str, notes: str = "") -> dict[str, Any]:
        from mc.pipeline import control

        with as_person(), access.writer() as board, access.connection() as conn:
            if action == "rework":
                made = actions.rework(board, project_id, notes)
            else:
                made = control.move(board, conn, project_id, lane, action)
        access.invalidate()
        return {**_project_json(access, project_id), "commit": made.commit}

    @server.tool()
    @_guarded
    def queue_project(project_id: str) -> dict[str, Any]:
        """backlog → up-next: an agent of its archetype starts on it."""
        return lane_move(project_id, Lane.UP_NEXT, "queue")

    @server.tool()
    @_guarded
    def rework_project(
        project_id: str,
        notes: NotesArg = "",
    ) -> dict[str, Any]:
        """review → up-next: send the work back with notes."""
        return lane_move(project_id, Lane.UP_NEXT, "rework", notes)

    @server.tool()
    @_guarded
    def cancel_project(project_id: str) -> dict[str, Any]:
        """→ backlog: park it; a running job is cancelled and its agent stopped."""
        return lane_move(project_id, Lane.BACKLOG, "cancel")

    @server.tool()
    @_guarded
    def comment(project_id: str, text: str) -> dict[str, Any]:
        """A comment on the project's page and in the activity feed."""
        from mc.mirror import comments

        who = _who(auth.HUMAN_OR_AGENT)
        with access.reading():
            access.current().get(project_id)
        with access.connection() as conn:
            row = comments.add(conn, project_id, who.name, who.role, text)
        return {"id": row["id"], "project_id": project_id, "text": row["text"]}


# ---------------------------------------------------------------------- jobs


def _job_tools(server: MCPServer, access: Access) -> None:
    from mc.pipeline import jobs

    @server.tool()
    @_guarded
    def list_jobs(
        project_id: str | None = None,
        state: StateArg = None,
        limit: LimitArg = 50,
    ) -> dict[str, Any]:
        """Agent runs, newest first: kind, state, attempts, model, tokens, cost, last step."""
        _who(auth.READ)
        with access.connection() as conn:
            found = jobs.listing(conn, project=project_id, state=state, limit=limit)
        return {"jobs": [j.to_json() for j in found]}

    @server.tool()
    @_guarded
    def read_job_log(
        job_id: int,
        after: CursorArg = 0,
    ) -> dict[str, Any]:
        """A page of a job's log (what the agent did, in words), and the cursor for the
        next page; ``more`` says whether there is one."""
        _who(auth.READ)
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
    @_guarded
    def list_artifacts(project_id: str) -> dict[str, Any]:
        """What agents produced for a project: path, size and kind (text, patch, binary)."""
        from mc.board import artifacts

        _who(auth.READ)
        with access.reading():
            found = artifacts.listing(access.current(), project_id)
        return {"artifacts": [{"path": a.path, "size": a.size, "kind": a.kind} for a in found]}

    @server.tool()
    @_guarded
    def read_artifact(project_id: str, path: str) -> dict[str, Any]:
        """One artifact's text (binary ones and those over 512 KB are not read)."""
        from mc.board import artifacts

        _who(auth.READ)
        with access.reading():
            found = {a.path: a for a in artifacts.listing(access.current(), project_id)}
        if path not in found:
            raise McError(f"{project_id} has no artifact {path!r} (list_artifacts lists them)")
        a = found[path]
        return {"path": a.path, "kind": a.kind, "size": a.size, "text": a.text}

    _handoff_tools(server, access)


def _handoff_tools(server: MCPServer, access: Access) -> None:
    from mc.pipeline import jobs

    @server.tool()
    @_guarded
    def list_handoffs() -> dict[str, Any]:
        """Hand-off jobs waiting for their work to be done and reported: the job, its
        project, and the brief (claim_handoff, do the work, then complete_handoff or
        fail_handoff)."""
        _who(auth.READ)
        with access.connection() as conn:
            waiting = jobs.waiting_handoffs(conn)
        out = []
        for job in waiting:
            with contextlib.suppress(McError):
                project = _project_json(access, job.project_id)
                out.append(
                    {
                        "job": job.id,
                        "project_id": job.project_id,
                        "kind": job.kind,
                        "archetype": job.archetype,
                        "title": project.get("title"),
                        "description": project.get("description"),
                        "acceptance": project.get("acceptance"),
                        "notes": job.notes or None,
                    }
                )
        return {"handoffs": out}

    @server.tool()
    @_guarded
    def claim_handoff(job_id: int) -> dict[str, Any]:
        """Take a hand-off job: its whole brief (as an agent would get it), and a note on
        the project's page that you are on it. Then do the work and report it."""
        from mc.mirror import comments
        from mc.mirror import tasks as task_list
        from mc.pipeline.brief import render_brief

        who = _who(auth.HUMAN_OR_AGENT)
        with access.connection() as conn:
            job = jobs.get(conn, job_id)
            if job.id not in {j.id for j in jobs.waiting_handoffs(conn)}:
                raise McError(f"job {job_id} is not a hand-off job waiting for its work")
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
        who = _who(auth.HUMAN_OR_AGENT)
        with access.connection() as conn:
            job = jobs.report_as(conn, who, job_id, ok=ok, notes=notes, error=error, files=files)
        return {"job": job.id, "project_id": job.project_id, "reported": "ok" if ok else "failed"}

    @server.tool()
    @_guarded
    def complete_handoff(
        job_id: int,
        notes: DoneArg = "",
        files: FilesArg = None,
    ) -> dict[str, Any]:
        """Report a hand-off job done; its files become the project's artifacts and a
        reviewer checks the work."""
        return report(job_id, True, notes, "", files or {})

    @server.tool()
    @_guarded
    def fail_handoff(job_id: int, error: str) -> dict[str, Any]:
        """Report that a hand-off job could not be done, and why."""
        return report(job_id, False, "", error, {})


# ---------------------------------------------------------------------- tasks


def _task_tools(server: MCPServer, access: Access) -> None:
    from mc.mirror import tasks

    def task_json(task: Any) -> dict[str, Any]:
        from mc.mirror.tasks import local_zone

        out: dict[str, Any] = task.to_json(dt.datetime.now(dt.UTC), local_zone())
        return out

    @server.tool()
    @_guarded
    def add_task(
        title: str,
        due: DueArg = None,
        project_id: str | None = None,
        notes: str = "",
    ) -> dict[str, Any]:
        """A small to-do, optionally linked to a project."""
        _who(auth.HUMAN_OR_AGENT)
        with access.connection() as conn:
            task = tasks.add(conn, title, due=due, project=project_id, notes=notes)
        return task_json(task)

    @server.tool()
    @_guarded
    def list_tasks(
        project_id: str | None = None, overdue: bool = False, include_done: bool = False
    ) -> dict[str, Any]:
        """Open tasks (soonest due first), or a project's, or only the overdue ones."""
        _who(auth.READ)
        with access.connection() as conn:
            found = tasks.listing(
                conn, project=project_id, overdue=overdue, include_done=include_done
            )
        return {"tasks": [task_json(t) for t in found]}

    @server.tool()
    @_guarded
    def complete_task(number: int) -> dict[str, Any]:
        """Mark task N done."""
        _who(auth.HUMAN)
        with access.connection() as conn:
            task = tasks.update(conn, number, done=True)
        return task_json(task)


# ---------------------------------------------------------------------- resources, prompt


def _resources(server: MCPServer, access: Access) -> None:
    import json

    @server.resource("mc://board", mime_type="application/json", description="The board")
    def board_resource() -> str:
        try:
            text: str = json.dumps(board_summary_of(access), default=str)
            return text
        except McError as exc:
            raise _tool_error(exc) from None

    @server.resource(
        "mc://project/{project_id}", mime_type="application/json", description="One project"
    )
    def project_resource(project_id: str) -> str:
        from mcp.server.mcpserver.exceptions import ResourceNotFoundError

        try:
            _who(auth.READ)
            return json.dumps(_project_json(access, project_id), default=str)
        except McError as exc:
            raise ResourceNotFoundError(str(exc)) from None

    @server.prompt()
    def delegate(request: str) -> str:
        """Turn a request into a well-formed project on the board."""
        return (
            "Put this request on the Mission Control board as one project an agent can "
            "finish unattended.\n\n"
            f"Request: {request}\n\n"
            "1. Call board_summary to see the archetypes (coder, researcher, writer, ops, ...) "
            "and what is already there (search_projects, so nothing is done twice).\n"
            "2. Write a short, specific title, pick the archetype, and write the brief "
            "(description): the goal, the context, the constraints and what to deliver.\n"
            "3. Write 2-5 acceptance criteria a reviewer can check.\n"
            "4. For code, give the workspace (a git repository).\n"
            "5. Call create_project with queue=true if it should start now, else leave it "
            "in the backlog and say so.\n"
            "The person approves the result themselves; never claim it is done before then."
        )
