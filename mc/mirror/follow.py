"""Following the board: a wake-up on every change, for a view that redraws (`mc board --watch`).

Two sources set the same event, so the view is current whichever is there:
- the live feed: LISTEN on the board channel (``db.BOARD_CHANNEL``), when the board's
  database is running (`mc up`): the daemon NOTIFYs after each sync, including commits it
  fetched from a shared remote;
- the repository itself: watchdog (inotify) on the board branch's ref and packed-refs,
  so a commit is seen at once with no database at all (or one no daemon feeds).
A slow tick (``POLL_SECONDS``) covers anything both missed, as the daemon's own poll does.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from mc.board.board import Board
from mc.errors import McError
from mc.mirror import db

POLL_SECONDS = 5.0


class _RefWatcher(FileSystemEventHandler):
    def __init__(self, paths: set[str], changed: threading.Event) -> None:
        self.paths = paths
        self.changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        names = {str(event.src_path), str(getattr(event, "dest_path", "") or "")}
        if names & self.paths and event.event_type != "opened":
            self.changed.set()


class Follower:
    """Wakes ``wait`` when the board may have changed; ``close`` stops its threads."""

    def __init__(self, board: Board) -> None:
        self.changed = threading.Event()
        self._stop = threading.Event()
        self.via: list[str] = []  # which sources are on: "database", "git"
        self._observer: Any = None
        self._watch_refs(board)
        self._listen(board)

    def _watch_refs(self, board: Board) -> None:
        common = Path(board.repo.common)
        ref = common / board.ref
        ref.parent.mkdir(parents=True, exist_ok=True)
        handler = _RefWatcher({str(ref), str(common / "packed-refs")}, self.changed)
        observer = Observer()
        observer.schedule(handler, str(ref.parent), recursive=False)
        observer.schedule(handler, str(common), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer
        self.via.append("git")

    def _listen(self, board: Board) -> None:
        """LISTEN when the board's database is up; never started here (a view must not
        start a cluster, and works the same without one)."""
        from mc.mirror.target import target

        where = target(board)
        if where.cluster is not None and not where.cluster.running():
            return
        try:
            db.connect(where.url).close()
        except McError:
            return
        thread = threading.Thread(
            target=db.listen,
            args=(where.url, [db.BOARD_CHANNEL]),
            kwargs={
                "stop": self._stop,
                "on_notify": lambda channel, payload: self.changed.set(),
                "name": "mc board --watch",
            },
            daemon=True,
        )
        thread.start()
        self.via.append("database")

    def wait(self, timeout: float = POLL_SECONDS) -> bool:
        """Until a change (True) or ``timeout`` seconds (False)."""
        got = self.changed.wait(timeout)
        self.changed.clear()
        return got

    def close(self) -> None:
        self._stop.set()
        if self._observer is not None:
            with contextlib.suppress(Exception):
                self._observer.stop()
