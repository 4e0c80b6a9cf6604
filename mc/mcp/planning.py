"""The tools a person's token plans with: create, edit, queue, rework, cancel, comment."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Any

from mc.board.layout import Lane
from mc.mirror import auth

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

from mc.mcp.access import (
    Access,
    ArchetypeArg,
    BriefArg,
    DateArg,
    FieldsArg,
    IdArg,
    NotesArg,
    PriorityArg,
    QueueArg,
    WorkspaceArg,
    caller,
    guarded,
)
from mc.mcp.reading import project_json


def _as_person() -> contextlib.AbstractContextManager[None]:
    """A person's token, and what it commits names it (Mc-Via: mcp: NAME (token))."""
    from mc.board.store import acting_for

    who = caller(auth.HUMAN)
    return acting_for(f"{who.name} ({who.via})", "mcp")


def planning_tools(server: MCPServer, access: Access) -> None:
    """Adding and changing projects: create (and queue), edit."""
    from mc.board import actions

    @server.tool()
    @guarded
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
        with _as_person(), access.writer() as board:
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
        return {**project_json(access, pid), "commit": made.commit}

    @server.tool()
    @guarded
    def edit_project(
        project_id: str,
        fields: FieldsArg,
    ) -> dict[str, Any]:
        """Change a project's person-owned fields (not in done): one commit."""
        from mc.board.projectfile import DELETE

        updates = {k: (DELETE if v is None else v) for k, v in fields.items()}
        with _as_person(), access.writer() as board:
            made = actions.edit(board, project_id, updates)
        access.invalidate()
        return {**project_json(access, project_id), "commit": made.commit}

    moving_tools(server, access)


def moving_tools(server: MCPServer, access: Access) -> None:
    """A person's moves: queue, rework, cancel; and comments (an agent's too)."""
    from mc.board import actions

    def lane_move(project_id: str, lane: Lane, action: str, notes: str = "") -> dict[str, Any]:
        from mc.pipeline import control

        with _as_person(), access.writer() as board, access.connection() as conn:
            if action == "rework":
                made = actions.rework(board, project_id, notes)
            else:
                made = control.move(board, conn, project_id, lane, action)
        access.invalidate()
        return {**project_json(access, project_id), "commit": made.commit}

    @server.tool()
    @guarded
    def queue_project(project_id: str) -> dict[str, Any]:
        """backlog → up-next: an agent of its archetype starts on it."""
        return lane_move(project_id, Lane.UP_NEXT, "queue")

    @server.tool()
    @guarded
    def rework_project(
        project_id: str,
        notes: NotesArg = "",
    ) -> dict[str, Any]:
        """review → up-next: send the work back with notes."""
        return lane_move(project_id, Lane.UP_NEXT, "rework", notes)

    @server.tool()
    @guarded
    def cancel_project(project_id: str) -> dict[str, Any]:
        """→ backlog: park it; a running job is cancelled and its agent stopped."""
        return lane_move(project_id, Lane.BACKLOG, "cancel")

    @server.tool()
    @guarded
    def comment(project_id: str, text: str) -> dict[str, Any]:
        """A comment on the project's page and in the activity feed."""
        from mc.mirror import comments

        who = caller(auth.HUMAN_OR_AGENT)
        with access.reading():
            access.current().get(project_id)
        with access.connection() as conn:
            row = comments.add(conn, project_id, who.name, who.role, text)
        return {"id": row["id"], "project_id": project_id, "text": row["text"]}
