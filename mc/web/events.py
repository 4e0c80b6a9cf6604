"""The live feed: one LISTEN connection per server, each event encoded once for all clients.

A thread LISTENs on the board and job channels (psycopg's notifies() is blocking, and
db.py is the only module that talks to PostgreSQL); it turns each notification into
SSE frames and hands them to the event loop, which puts the same bytes into every
subscriber's queue. Activity events carry the activity id as the SSE id, so a client
that reconnects with Last-Event-ID is sent what it missed (see ``replay``).

Written by hand because the libraries (sse-starlette) give a response class, not a
fan-out: the encode-once broadcast and the replay by activity id are ours either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from .. import db, jobs

log = logging.getLogger("mc.web")

QUEUE_LIMIT = 2000  # frames a slow client may lag behind before it is dropped (it reconnects)
PING_SECONDS = 15.0


def frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    text = json.dumps(data, separators=(",", ":"), default=str)
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {text}\n\n".encode()


def activity_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "project_id": row["project_id"],
        "from_lane": row["from_lane"],
        "to_lane": row["to_lane"],
        "action": row["action"],
        "actor": row["actor"],
        "who": row["who"],
        "summary": row["summary"],
        "at": row["at"].isoformat(),
    }


class Hub:
    """Subscribers and the one listener thread."""

    def __init__(self, url: str, on_change: Callable[[], None] = lambda: None) -> None:
        self.url = url
        self.on_change = on_change  # e.g. drop the cached board
        self.subscribers: set[asyncio.Queue[tuple[int | None, bytes] | None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing = threading.Event()
        self.connected = threading.Event()
        self.thread: threading.Thread | None = None
        self.sent = 0  # frames published (for the benchmark and tests)

    # ------------------------------------------------------------------ loop side

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread = threading.Thread(target=self._listen, name="mc-web-listen", daemon=True)
        self.thread.start()

    def close(self) -> None:
        """End every stream now (shutdown must not wait for clients to hang up)."""
        self.closing.set()
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._end_all)

    def _end_all(self) -> None:
        for queue in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    def publish(self, event_id: int | None, data: bytes) -> None:
        """On the loop: the same bytes to every subscriber."""
        self.sent += 1
        for queue in list(self.subscribers):
            try:
                queue.put_nowait((event_id, data))
            except asyncio.QueueFull:  # too slow: drop it; it reconnects and replays
                self.subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    async def stream(
        self, last_id: int | None, replay: Callable[[int], list[dict[str, Any]]]
    ) -> AsyncIterator[bytes]:
        """One client's frames: a retry hint, missed activity, then live events."""
        queue: asyncio.Queue[tuple[int | None, bytes] | None] = asyncio.Queue(QUEUE_LIMIT)
        self.subscribers.add(queue)  # before the replay query: nothing falls in between
        try:
            yield b"retry: 2000\n\n"
            sent = last_id or 0
            if last_id is not None:
                from starlette.concurrency import run_in_threadpool

                for row in await run_in_threadpool(replay, last_id):
                    yield frame("activity", activity_json(row), row["id"])
                    sent = max(sent, row["id"])
                yield frame("board", {"reload": True})
            while not self.closing.is_set():
                try:
                    item = await asyncio.wait_for(queue.get(), PING_SECONDS)
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if item is None:
                    return
                event_id, data = item
                if event_id is not None:
                    if event_id <= sent:
                        continue  # already replayed
                    sent = event_id
                yield data
        finally:
            self.subscribers.discard(queue)

    # ------------------------------------------------------------------ listener thread

    def _listen(self) -> None:
        backoff = 0.2
        while not self.closing.is_set():
            try:
                with (
                    db.connect(self.url, autocommit=True, application_name="mc web listen") as ln,
                    db.connect(self.url, autocommit=True, application_name="mc web read") as rd,
                ):
                    ln.execute(f"LISTEN {db.CHANNEL}")
                    ln.execute(f"LISTEN {jobs.CHANNEL}")
                    self.connected.set()
                    self._emit([(None, frame("board", {"reload": True}))])  # missed while down
                    backoff = 0.2
                    while not self.closing.is_set():
                        for note in ln.notifies(timeout=0.5):
                            self._emit(self._frames(rd, note.channel, note.payload))
            except Exception as exc:
                self.connected.clear()
                if self.closing.is_set():
                    return
                log.warning("live feed: database unavailable (%s); retrying", exc)
                self.closing.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _emit(self, frames: list[tuple[int | None, bytes]]) -> None:
        if not frames:
            return
        self.on_change()
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        for event_id, data in frames:
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(self.publish, event_id, data)

    def _frames(
        self, conn: db.Connection, channel: str, payload: str
    ) -> list[tuple[int | None, bytes]]:
        try:
            note = json.loads(payload)
        except ValueError:
            return []
        if channel == jobs.CHANNEL:
            if "log" in note:
                return [(None, frame("log", {"job": note["log"]}))]
            ids = note.get("jobs") or ([note["job"]] if "job" in note else [])
            out: list[tuple[int | None, bytes]] = []
            for job_id in ids[:50]:
                row = db.fetch_one(conn, "job_get", {"id": job_id})
                if row is not None:
                    data = {"job": job_id, "project": row["project_id"], "state": row["state"]}
                    out.append((None, frame("job", data)))
            return out
        out = []
        if note.get("activity"):
            for row in db.fetch_all(conn, "activity_by_ids", {"ids": note["activity"][:500]}):
                out.append((row["id"], frame("activity", activity_json(row), row["id"])))
        if note.get("rebuilt"):
            out.append((None, frame("board", {"reload": True})))
        elif note.get("kind") in ("sync", "uncommitted"):
            out.append((None, frame("board", {"projects": note.get("projects", [])})))
        return out
