"""Who an MCP call runs as, what it works on, and the arguments' descriptions."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Protocol

from pydantic import Field

from mc.board.board import Board
from mc.errors import McError, NotAllowed
from mc.mirror import db
from mc.mirror.auth import Principal

PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "mc_mcp_principal", default=None
)

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


def caller(roles: frozenset[str]) -> Principal:
    who = PRINCIPAL.get()
    if who is None:
        raise NotAllowed("no principal: give a token (mc mcp --token, or a bearer token)")
    if who.role not in roles:
        raise NotAllowed(f"a {who.role} token may not do this")
    return who


def tool_error(exc: McError) -> Exception:
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(str(exc))


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The library's refusals reach the assistant as its one-line message."""
    import functools

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except McError as exc:
            raise tool_error(exc) from None

    return run


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
