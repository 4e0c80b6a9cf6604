"""The tools that read the board: its summary, projects, search, the activity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mc.board.board import Entry
from mc.board.layout import Lane, parse_lane
from mc.mirror import auth, db
from mc.mirror.view import activity_json, entry_json

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

from mc.mcp.access import LIST_MAX, Access, CursorArg, LaneArg, LimitArg, TextArg, caller, guarded


def board_summary_of(access: Access) -> dict[str, Any]:
    """Lanes with their projects (id, title, state), and what waits for the person."""
    caller(auth.READ)
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


def project_json(access: Access, project_id: str) -> dict[str, Any]:
    from mc.mirror import view

    with access.reading():
        board = access.current()
        entry = board.get(project_id)
        with access.connection() as conn:
            entries, diverged = view.accepted(board, conn, [entry])
    out = entry_json(entries[0], diverged)
    return out


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
        """Projects (the accepted state), newest lanes first; at most 500."""
        caller(auth.READ)
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
    @guarded
    def search_projects(text: str) -> dict[str, Any]:
        """Every project (done included) whose title, brief, acceptance or labels contain
        ``text`` (case-insensitive): id, title and lane."""
        caller(auth.READ)
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
        """What happened on the board after ``cursor``, oldest first, and the cursor to
        ask with next time."""
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
