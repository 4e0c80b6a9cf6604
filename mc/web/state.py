"""The web server's state: the database pool, the live feed, the board reader and caches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mc.board.board import Board
from mc.errors import McError
from mc.mirror import db
from mc.mirror.tasks import local_zone
from mc.web import metrics
from mc.web.events import Hub

if TYPE_CHECKING:
    from mc.web.lanes import Lanes

BOARD_CACHE_SECONDS = 30.0  # the undelivered-notification alerts change without a commit


class Web:
    """The server's state: the database pool, the live feed, caches."""

    def __init__(self, board_path: Path, url: str, *, hosts: set[str]) -> None:
        self.board_path = board_path
        self.url = url
        self.hosts = hosts  # acceptable Host headers ("127.0.0.1:8765", ...)
        self.pool = db.pool(url)
        self.tz = local_zone()
        self._board_lock = threading.Lock()
        self._board: Board | None = None
        self._cache: tuple[float, int, Any, int] | None = None
        self._generation = 0
        self._builds = 0
        self._can_sign: tuple[float, str | None] | None = None
        self._templates: tuple[str | None, list[str]] | None = None
        self._tip: str | None = None
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry()  # one collector: its one-second cache holds
        self.registry.register(metrics.Collector(self.metrics_now))
        from mc.web.lanes import Lanes
        from mc.web.projects import row_card

        tz = self.tz
        self.lanes = Lanes(lambda row, now: row_card(row, now, tz))
        self.encoded_board: tuple[tuple[str, int], bytes] | None = None  # see board_json
        self.hub = Hub(url, on_change=self.invalidate, lanes=self.lanes)

    def invalidate(self) -> None:
        """Something besides the cards may have changed (config, templates, alerts)."""
        self._generation += 1

    def lanes_ready(self, conn: db.Connection) -> Lanes:
        """The cards in memory, read from the mirror the first time (then kept current
        by the feed's listener and clock, see Hub)."""
        lanes = self.lanes
        if not lanes.built:
            lanes.build(conn)
        return lanes

    def connection(self) -> Any:
        return db.pooled(self.pool)

    def current(self) -> Board:
        """The reader, with mc.yaml read again when the tip moved (callers hold ``reading``)."""
        if self._board is None:
            self._board = Board.open(self.board_path)
        board = self._board
        tip = board.tip
        if tip != self._tip:
            board.refresh()
            self._tip = tip
        return board

    def reading(self) -> threading.Lock:
        return self._board_lock

    def writer(self) -> Board:
        """A Board of its own for one write (the store keeps per-board state)."""
        return Board.open(self.board_path)

    def cached_frame(self, build: Callable[[], Any]) -> tuple[int, Any]:
        """The board answer's parts besides its cards (config, templates, alerts), built
        again after any change the feed reports and every BOARD_CACHE_SECONDS (alerts
        about undelivered notifications change without a board change). Returns
        (an id of this build, the parts)."""
        cached = self._cache
        if (
            cached is not None
            and cached[1] == self._generation
            and time.monotonic() - cached[0] < BOARD_CACHE_SECONDS
        ):
            return cached[3], cached[2]
        generation = self._generation  # a change while building leaves it stale
        data = build()
        self._builds += 1
        self._cache = (time.monotonic(), generation, data, self._builds)
        return self._builds, data

    def template_names(self, board: Board) -> list[str]:
        """The tip's template names (listing them is a git process: kept per tip)."""
        from mc.board.actions import templates

        tip = board.tip
        if self._templates is None or self._templates[0] != tip:
            self._templates = (tip, sorted(templates(board)))
        return self._templates[1]

    def can_sign(self) -> bool:
        """Can this server sign an approval as the person (their own key, an approver)?"""
        return self.signer() is not None

    def sandbox(self) -> dict[str, str]:
        """Whether agents run confined here (the page warns when they do not)."""
        from mc.pipeline import sandbox

        with self.reading():
            enabled = self.current().config.sandbox
        state, message = sandbox.state(enabled)
        return {"state": state, "message": message}

    def signer(self) -> str | None:
        """The approver this server signs approvals as (the person's key), if any."""
        now = time.monotonic()
        if self._can_sign is None or now - self._can_sign[0] > 30:
            from mc.board.actions import approver_principal

            try:
                with self.writer() as board:
                    principal: str | None = approver_principal(board)
            except McError:
                principal = None
            self._can_sign = (now, principal)
        return self._can_sign[1]

    def metrics_now(self, conn: db.Connection | None = None) -> dict[str, Any]:
        if conn is None:
            with self.connection() as own:
                return self.metrics_now(own)
        return metrics.compute(conn, self.tz, self._sync_lag(conn))

    def _sync_lag(self, conn: db.Connection) -> float | None:
        """Seconds the mirror is behind the tip's commit time (0 when it has the tip)."""
        row = db.fetch_one(conn, "meta_get", {"key": "last_synced_commit"})
        conn.commit()
        with self.reading():
            board = self.current()
            tip = board.tip
            if tip is None or (row and row["value"] == tip):
                return 0.0
            when = board.repo.commit_time(tip)
        return max(0.0, time.time() - when)

    def close(self) -> None:
        self.hub.close()
        self.pool.close()
        if self._board is not None:
            self._board.close()
