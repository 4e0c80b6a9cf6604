"""The tools that read the board: its summary, projects, search, the activity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mc.board.board import Entry
from mc.board.layout import Lane, parse_lane
from mc.mirror import auth, db, view
from mc.mirror.view import Diverged, activity_json, entry_json

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

from mc.mcp.access import LIST_MAX, Access, CursorArg, LaneArg, LimitArg, TextArg, caller, guarded


def accepted_projects(
    access: Access, lane: Lane | None = None, text: str | None = None
) -> tuple[list[Entry], dict[str, Diverged]]:
    """The projects as every surface shows them: the mirror's accepted version where git
    holds one the rules refused (marked ``diverged``), filtered by ``text``."""
    with access.reading():
        board = access.current()
        with access.connection() as conn:
            entries, diverged = view.accepted(board, conn, board.projects(lane))
    if text:
        needle = text.lower()
        entries = [e for e in entries if needle in _searchable(e)]
    return entries, diverged


def board_summary_of(access: Access) -> dict[str, Any]:
    """Lanes with their projects (id, title, state), and what waits for the person."""
    caller(auth.READ)
    entries, diverged = accepted_projects(access)
    with access.reading():
        config = access.current().config
    lanes: dict[str, list[dict[str, Any]]] = {lane.value: [] for lane in Lane}
    waiting = []
    for e in entries:
        p = e.project
        card: dict[str, Any] = {"id": e.id, "title": p.title if p else None, "valid": bool(p)}
        card["diverged"] = diverged[e.id].to_json() if e.id in diverged else None
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


def project_json(access: Access, project_id: str) -> dict[str, Any]:
    """One project as the CLI's --json gives it: the accepted version, marked diverged."""
    with access.reading():
        board = access.current()
        entry = board.get(project_id)
        with access.connection() as conn:
            entries, diverged = view.accepted(board, conn, [entry])
    return entry_json(entries[0], diverged)


def read_tools(server: MCPServer, access: Access) -> None:
    @server.tool()
    @guarded
    def board_summary() -> dict[str, Any]:
        """The board: each lane's projects and count, and what waits for the person."""
        return board_summary_of(access)

    @server.tool()
    @guarded
    def list_projects(
        lane: LaneArg = None,
        text: TextArg = None,
    ) -> dict[str, Any]:
        """Projects (the accepted state), in lane order; at most 500."""
        caller(auth.READ)
        entries, diverged = accepted_projects(access, parse_lane(lane) if lane else None, text)
        return {
            "projects": [entry_json(e, diverged) for e in entries[:LIST_MAX]],
            "total": len(entries),
        }

    @server.tool()
    @guarded
    def search_projects(text: str) -> dict[str, Any]:
        """Every project (done included) whose title, brief, acceptance or labels contain
        ``text`` (case-insensitive): id, title and lane."""
        caller(auth.READ)
        entries, _ = accepted_projects(access, text=text)
        found = [
            {"id": e.id, "title": e.project.title if e.project else None, "lane": e.lane.value}
            for e in entries
        ]
        return {"projects": found[:LIST_MAX], "total": len(found)}

    @server.tool()
    @guarded
    def show_project(project_id: str) -> dict[str, Any]:
        """One project: every field (the accepted version), its lane, and whether git
        holds a version the rules refused (diverged)."""
        caller(auth.READ)
        return project_json(access, project_id)

    @server.tool()
    @guarded
    def activity_since(
        cursor: CursorArg = 0,
        limit: LimitArg = 100,
    ) -> dict[str, Any]:
        """What happened on the board after ``cursor``, oldest first (each event's ``text``
        says it in words), and the cursor to ask with next time."""
        caller(auth.READ)
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
