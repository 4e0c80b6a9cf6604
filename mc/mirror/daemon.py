"""`mc daemon`: keeps the database in step with the board as commits land.

Wake-ups come from watchdog (inotify): the board branch's ref file being replaced
(or packed-refs) means a commit; a change in a lane folder means uncommitted edits
to report. One commit makes ~150 filesystem events under .git, so only the ref and
lane folders are watched and everything else is dropped. A slow poll (5 s) covers
anything missed (an inotify overflow, a ref written by another machine's push).
Lost database connections are retried with backoff; a sync resumes from the last
synced commit, so a crash at any point ends in the same state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from mc.board.board import Board
from mc.board.layout import LANE_NAMES_ORDERED
from mc.errors import McError
from mc.mirror import db
from mc.mirror.sync import Syncer, SyncResult, scan_uncommitted, store_uncommitted

log = logging.getLogger("mc.daemon")

POLL_SECONDS = 5.0
UNCOMMITTED_DEBOUNCE = 0.05
PENDING_RETRY = 0.05  # seconds between tries at a checkout update the index held up
_IGNORED = (FileOpenedEvent, FileClosedEvent, FileClosedNoWriteEvent, DirCreatedEvent)


class _Watcher(FileSystemEventHandler):
    """Turns filesystem events into two signals: "a ref moved" and "a lane file changed"."""

    def __init__(
        self, git_dir: Path, ref: str, on_ref: Callable[[], None], on_tree: Callable[[], None]
    ):
        self.ref_paths = {str(git_dir / ref), str(git_dir / "packed-refs")}
        self.on_ref = on_ref
        self.on_tree = on_tree
        self.git_dir = str(git_dir)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, _IGNORED):
            return
        paths = {str(event.src_path), str(getattr(event, "dest_path", "") or "")}
        if paths & self.ref_paths:
            if event.event_type in ("moved", "created", "modified", "deleted", "closed"):
                self.on_ref()
            return
        if any(p.startswith(self.git_dir) for p in paths if p):
            return
        name = os.path.basename(str(event.src_path))
        if ".mc-tmp-" in name:
            return  # the store's own atomic writes
        self.on_tree()


class Daemon:
    def __init__(
        self,
        board_path: Path,
        url: str,
        *,
        poll: float = POLL_SECONDS,
        on_sync: Callable[[SyncResult], None] | None = None,
        ensure_database: Callable[[], None] | None = None,
        dispatch: Callable[[Board, db.Connection], None] | None = None,
        remote: str | None = None,
        notify: bool = True,
    ) -> None:
        self.board = Board.open(board_path)
        self.notify = notify  # send the outbox's notifications (mc.mirror.outbox)
        # Remote mode (workers on other machines): the board is the remote's branch,
        # fetched on every pass; workers say db.PUSHED_CHANNEL after each push they make.
        self.remote = remote
        self.board.remote = remote
        self.url = url
        self.poll = poll
        self.on_sync = on_sync
        self.ensure_database = ensure_database
        self.syncer = Syncer(self.board)
        # The dispatcher (mc.pipeline.dispatch.step), run after each sync and poll.
        self.dispatch = dispatch
        self.wake = threading.Event()
        self.tree_changed = threading.Event()
        self.stop = threading.Event()
        self.conn: db.Connection | None = None
        self.last_synced: str | None = None
        self.syncs = 0
        self.observer: Any = None
        self.woken_at: float | None = None  # when the first unhandled ref event came
        self.uncommitted: list[dict[str, Any]] | None = None  # as last stored

    # ------------------------------------------------------------------ watching

    def _signal_ref(self) -> None:
        if self.woken_at is None:
            self.woken_at = time.perf_counter()
        self.wake.set()

    def _signal_tree(self) -> None:
        self.tree_changed.set()
        self.wake.set()

    def start_watching(self) -> None:
        repo = self.board.repo
        git_dir = Path(repo.git_dir)
        handler = _Watcher(git_dir, self.board.ref, self._signal_ref, self._signal_tree)
        observer = Observer()
        ref_dir = (git_dir / self.board.ref).parent
        ref_dir.mkdir(parents=True, exist_ok=True)
        observer.schedule(handler, str(ref_dir), recursive=False)
        observer.schedule(handler, str(git_dir), recursive=False)  # packed-refs
        if repo.work_tree is not None:
            for lane in LANE_NAMES_ORDERED:
                folder = Path(repo.work_tree) / lane
                if folder.is_dir():
                    observer.schedule(handler, str(folder), recursive=True)
        observer.daemon = True
        observer.start()
        self.observer = observer

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Sync until stopped (SIGTERM/SIGINT set ``stop``)."""
        # The watcher threads take the GIL for each burst of inotify events; a shorter
        # switch interval (default 5 ms) lets the sync start as soon as it is woken.
        sys.setswitchinterval(0.0005)
        self.start_watching()
        if self.remote:
            threading.Thread(target=self._listen_pushes, name="mc-pushes", daemon=True).start()
        self.tree_changed.set()  # report uncommitted edits once at start
        if self.notify:
            threading.Thread(target=self._notify, name="mc-notify", daemon=True).start()
        backoff = 0.1
        try:
            while not self.stop.is_set():
                try:
                    self.step()
                    backoff = 0.1
                except Exception as exc:
                    if db.is_disconnect(exc):
                        log.warning("database unavailable (%s); retrying in %.1fs", exc, backoff)
                    else:
                        log.error("sync failed: %s", exc, exc_info=not isinstance(exc, McError))
                        self._reopen_board()
                    self._drop_connection()
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, 5.0) * random.uniform(0.8, 1.2)
                    continue
                # A checkout update left pending (the person's git held the index) is
                # finished as soon as the index is free: look again soon.
                pending = not self.remote and not self._finish_checkout()
                if not self.wake.wait(PENDING_RETRY if pending else self.poll):
                    self.tree_changed.set()  # the poll also catches index-only changes
                self.wake.clear()
        finally:
            if self.observer is not None:
                self.observer.stop()
            self._drop_connection()
            self.board.close()

    def _notify(self) -> None:
        """The notification sender, on a board reader of its own, until the daemon stops."""
        from mc.mirror import outbox, served
        from mc.mirror.sync import use_accepted_config

        board = Board.open(self.board.root)
        board.remote = self.remote

        def targets(conn: db.Connection) -> tuple[Any, ...]:
            board.refresh()
            use_accepted_config(board, conn)  # a refused mc.yaml never chooses targets
            return board.config.notifications

        def link(project_id: str | None) -> str | None:
            info = served.current(board.root) or {}
            base = str(info.get("url") or "").rstrip("/")
            if not base:
                return None
            return f"{base}/#/project/{project_id}" if project_id else f"{base}/"

        try:
            outbox.Sender(self.url, targets, link).run(self.stop)
        except Exception:  # never takes the daemon down; said in the log
            log.exception("the notification sender stopped")
        finally:
            board.close()

    def _finish_checkout(self) -> bool:
        """Finish the person's checkout update if one is pending; True when none is."""
        from mc.board.store import Store

        try:
            return Store(self.board).finish_checkout(wait=False)
        except McError as exc:
            log.warning("could not update the checkout: %s", exc)
            return True

    def step(self) -> SyncResult | None:
        """One pass: sync if the tip moved, refresh the uncommitted list if lanes changed."""
        result = None
        if self.remote:
            self.board.fetch()
        tip = self.board.tip
        woken, self.woken_at = self.woken_at, None
        if woken is None:
            self.board.refresh()  # mc.yaml (the branch name) is re-read on the poll
            tip = self.board.tip
        if tip != self.last_synced:
            conn = self._connection()
            result = self.syncer.sync(conn)
            self.last_synced = tip if result is None else result.commit
            if result is not None:
                self.syncs += 1
                if woken is not None:
                    log.info(
                        "synced %s (%d commits, %d projects) %.1f ms after the ref event",
                        result.commit[:12],
                        result.commits,
                        len(result.projects),
                        (time.perf_counter() - woken) * 1000,
                    )
                if self.on_sync is not None:
                    self.on_sync(result)
        if self.dispatch is not None and (result is not None or woken is None):
            self.dispatch(self.board, self._connection())
        # In remote mode this clone's files are nobody's edits: the board is the remote.
        edited = self.tree_changed.is_set() and not self.remote
        if not self.remote and (edited or result is not None):  # committed files leave
            self.tree_changed.clear()
            if edited:
                time.sleep(UNCOMMITTED_DEBOUNCE)  # an editor's save is several events
            rows = scan_uncommitted(self.board)
            if rows != self.uncommitted:  # no transaction when nothing changed
                store_uncommitted(self._connection(), rows)
                self.uncommitted = rows
        return result

    def _reopen_board(self) -> None:
        """After an unexpected failure (a git process died...), start git afresh."""
        with contextlib.suppress(Exception):
            self.board.close()
        self.board = Board.open(self.board.root)
        self.board.remote = self.remote
        self.syncer = Syncer(self.board)

    def _listen_pushes(self) -> None:
        """Wake when a worker on another machine has pushed (the poll is the safety net)."""
        db.listen(
            self.url,
            [db.PUSHED_CHANNEL],
            stop=self.stop,
            on_notify=lambda _channel, _payload: self._signal_ref(),
            name="mc daemon listen",
        )

    def _connection(self) -> db.Connection:
        if self.conn is None or self.conn.closed:
            if self.ensure_database is not None:
                self.ensure_database()
            self.conn = db.connect(self.url, application_name=f"mc daemon {os.getpid()}")
            row = db.fetch_one(self.conn, "meta_get", {"key": "last_synced_commit"})
            self.conn.commit()
            self.last_synced = row["value"] if row else None
        return self.conn

    def _drop_connection(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close
                self.conn.close()
            self.conn = None
            self.last_synced = None
            self.uncommitted = None
