"""The MCP server: the tools, resources and prompt an assistant uses.

Every tool is one call (or two, create-and-queue) on the library the CLI and the web
board use, run as the principal the transport authenticated (``PRINCIPAL``): the token
named by `mc mcp --token`, or the bearer token of an HTTP request. The role check is the
web's (``mc.mirror.auth``: READ, HUMAN, HUMAN_OR_AGENT); a refusal is the library's own
one-line error. There is no approve tool: an approval is a person's signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

from mc.mcp.access import Access
from mc.mcp.planning import planning_tools
from mc.mcp.reading import read_tools
from mc.mcp.resources import resource_tools
from mc.mcp.working import job_tools, task_tools


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
    read_tools(server, access)
    planning_tools(server, access)
    job_tools(server, access)
    task_tools(server, access)
    resource_tools(server, access)
    return server
