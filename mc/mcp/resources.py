"""The resources an assistant attaches as context, and the delegate prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mc.errors import McError
from mc.mirror import auth

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

from mc.mcp.access import Access, caller, tool_error
from mc.mcp.reading import board_summary_of, project_json


def resource_tools(server: MCPServer, access: Access) -> None:
    import json

    @server.resource("mc://board", mime_type="application/json", description="The board")
    def board_resource() -> str:
        try:
            text: str = json.dumps(board_summary_of(access), default=str)
            return text
        except McError as exc:
            raise tool_error(exc) from None

    @server.resource(
        "mc://project/{project_id}", mime_type="application/json", description="One project"
    )
    def project_resource(project_id: str) -> str:
        from mcp.server.mcpserver.exceptions import ResourceNotFoundError

        try:
            caller(auth.READ)
            return json.dumps(project_json(access, project_id), default=str)
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
