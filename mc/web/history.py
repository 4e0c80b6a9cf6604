"""Time travel over HTTP: the board branch's commits (the page's history slider), the
board as of a commit or a date (read-only, from git, in /api/board's shape), and one
project's story (what ``mc project log`` prints, from the same ``Board.history``)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from typing import Any

from starlette.responses import Response

from mc.board import history
from mc.board.layout import LANE_NAMES_ORDERED, Lane
from mc.errors import InvalidTimePoint
from mc.web.http import Ctx, dumps, js
from mc.web.projects import _card

HISTORY_PAGE = 100
_CACHED_BOARDS = 32


class _PastBoards:
    """Encoded past boards by (board folder, commit): a commit never changes, so an
    answer never goes stale; only the least recently asked ones are dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def get(self, key: tuple[str, str]) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple[str, str], data: bytes) -> None:
        with self._lock:
            self._items[key] = data
            while len(self._items) > _CACHED_BOARDS:
                self._items.popitem(last=False)


_PAST = _PastBoards()


def _limit(c: Ctx) -> int:
    raw = c.query.get("limit")
    if raw is None or raw == "":
        return HISTORY_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= history.MAX_PAGE:
        raise InvalidTimePoint(f"limit: expected 1 to {history.MAX_PAGE}, got {raw[:40]!r}")
    return int(raw)


def get_history(c: Ctx) -> Response:
    """GET /api/history?limit=&before=: the board branch's commits, newest first;
    ``next`` is the ``before`` of the next (older) page, null at the first commit."""
    limit, before = _limit(c), c.query.get("before") or None
    with c.web.reading():
        points = history.commits(c.web.current(), limit + 1, before)
    page = points[:limit]
    return js(
        {
            "commits": [p._asdict() for p in page],
            "next": page[-1].commit if len(points) > limit else None,
        }
    )


def get_board_at(c: Ctx) -> Response:
    """GET /api/history/board?at=<commit|date>: the board as of then, read-only."""
    at = c.query.get("at")
    if not at:
        raise InvalidTimePoint("at: required (a commit id, or a date such as 2026-11-20)")
    with c.web.reading():
        board = c.web.current()
        commit = history.resolve(board, at, c.web.tz)
        key = (str(c.web.board_path), commit)
        data = _PAST.get(key)
        if data is None:
            data = dumps(_past_json(history.board_at(board, commit), c.web.tz))
            _PAST.put(key, data)
    return Response(data, headers={"cache-control": "no-store"}, media_type="application/json")


def _past_json(past: history.PastBoard, tz: dt.tzinfo) -> dict[str, Any]:
    """/api/board's shape (lanes of cards, from the one card builder) with no jobs, plus
    where in time it is and that it cannot be changed."""
    now = dt.datetime.fromisoformat(past.at.time)  # "overdue" as it was then
    lanes: dict[str, list[dict[str, Any]]] = {name: [] for name in LANE_NAMES_ORDERED}
    for e in past.entries:
        data = dict(e.project.data) if e.project is not None else {"title": e.id}
        card = _card(
            e.id,
            e.lane.value,
            data,
            None,
            invalid=e.error,
            diverged=None,
            etag=None,
            now=now,
            tz=tz,
        )
        lanes[e.lane.value].append(card)
    return {
        "version": past.at.commit,
        "config_refused": None,
        "lanes": [
            {"name": name, "wip_limit": past.config.wip_limits.get(Lane(name)), "projects": cards}
            for name, cards in lanes.items()
        ],
        "archetypes": list(past.config.work_archetypes()),
        "templates": [],
        "undelivered": [],
        "at": {"commit": past.at.commit, "time": past.at.time, "subject": past.at.subject},
        "read_only": True,
    }


def project_history(c: Ctx) -> Response:
    """GET /api/projects/{id}/history: the project's story, newest first, as
    ``mc project log --json`` gives it (one library call: ``Board.history``)."""
    pid = c.params["id"]
    with c.web.reading():
        board = c.web.current()
        entries = board.history(pid)
        if not entries:
            board.get(pid)  # an unknown id is a 404
    return js(entries)
