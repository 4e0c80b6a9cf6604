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
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Send

from mc.mirror import db
from mc.mirror.view import activity_json
from mc.pipeline import jobs

if TYPE_CHECKING:
    from mc.web.lanes import Lanes

log = logging.getLogger("mc.web")

PATCH_MAX = 5000  # bytes of a board patch; a bigger change says "reload" instead

QUEUE_LIMIT = 2000  # frames a slow client may lag behind before it is dropped (it reconnects)
PING_SECONDS = 15.0
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
    (b"x-content-type-options", b"nosniff"),
]


REPLAY_LIMIT = 1000


def replay_rows(conn: db.Connection, last_id: int) -> list[dict[str, Any]]:
    """What a reconnecting client missed: activity rows after its Last-Event-ID — none
    when that id is from before a rebuild, from another database, or too far back (the
    client reloads the board instead)."""
    bounds = db.fetch_one(conn, "activity_bounds") or {"top": 0, "floor": 0}
    if last_id >= bounds["top"] or last_id < bounds["floor"] - 1:
        return []  # nothing new, or ids from another life of the table
    rows = db.fetch_all(conn, "activity_since", {"after": last_id, "limit": REPLAY_LIMIT + 1})
    return [] if len(rows) > REPLAY_LIMIT else rows


def frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    text = json.dumps(data, separators=(",", ":"), default=str)
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {text}\n\n".encode()


class Hub:
    """Subscribers and the one listener thread."""

    def __init__(
        self, url: str, on_change: Callable[[], None] = lambda: None, lanes: Lanes | None = None
    ) -> None:
        self.url = url
        self.on_change = on_change  # e.g. drop the cached board
        self.lanes = lanes  # the server's cards, patched here from each notification
        self.subscribers: set[
            asyncio.Queue[tuple[list[tuple[int | None, bytes]], bytes] | None]
        ] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing = threading.Event()
        self.thread: threading.Thread | None = None
        self._reader: db.Connection | None = None  # the listener thread's query connection
        self.last_activity: int | None = None  # the newest activity id sent (listener thread)

    # ------------------------------------------------------------------ loop side

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread = threading.Thread(target=self._listen, name="mc-web-listen", daemon=True)
        self.thread.start()
        if self.lanes is not None:
            threading.Thread(target=self._clock, name="mc-web-clock", daemon=True).start()
        loop.call_later(PING_SECONDS, self._ping)

    def _ping(self) -> None:
        """A comment frame now and then keeps proxies and idle timeouts from closing streams."""
        if self.closing.is_set() or self.loop is None:
            return
        self.publish([(None, b": ping\n\n")])
        self.loop.call_later(PING_SECONDS, self._ping)

    def close(self) -> None:
        """End every stream now (shutdown must not wait for clients to hang up)."""
        self.closing.set()
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._end_all)

    def disconnect_all(self) -> None:
        """End every open stream now; clients reconnect (and replay what they missed)."""
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._end_all)

    def _end_all(self) -> None:
        for queue in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    def publish(self, frames: list[tuple[int | None, bytes]]) -> None:
        """On the loop: the same bytes to every subscriber."""
        item = (frames, b"".join(data for _, data in frames))  # joined once for everyone
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:  # too slow: drop it; it reconnects and replays
                self.subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    async def serve(
        self,
        send: Send,
        receive: Receive,
        last_id: int | None,
        replay: Callable[[int], list[dict[str, Any]]],
    ) -> None:
        """One client's stream, as a plain ASGI response: a retry hint, the activity it
        missed (Last-Event-ID), then live frames until it hangs up or the server stops.
        (Plain ASGI rather than StreamingResponse: with a thousand clients, the fewer
        steps per frame the sooner the last one has it.)"""
        queue: asyncio.Queue[tuple[list[tuple[int | None, bytes]], bytes] | None]
        queue = asyncio.Queue(QUEUE_LIMIT)
        self.subscribers.add(queue)  # before the replay query: nothing falls in between

        async def body(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        async def hung_up() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

        watcher = asyncio.ensure_future(hung_up())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            await body(b"retry: 2000\n\n")
            # Frames the replay sent are skipped when they also come live (and only
            # those: ids may commit out of order, so "below the last id" proves nothing).
            replayed: set[int] = set()
            replay_top = 0
            if last_id is not None:
                from starlette.concurrency import run_in_threadpool

                for row in await run_in_threadpool(replay, last_id):
                    await body(frame("activity", activity_json(row), row["id"]))
                    replayed.add(row["id"])
                replay_top = max(replayed, default=0)
                # Whether or not all was replayed (ids from before a rebuild, a gap too
                # long, an id from another database), the board is fetched afresh.
                await body(frame("board", {"reload": True}))
            while not self.closing.is_set():
                item = await queue.get()  # no wait_for: it costs a task per frame per client
                if item is None:
                    break
                frames, joined = item
                if replayed:
                    ids = [i for i, _ in frames if i is not None]
                    if any(i in replayed for i in ids):
                        joined = b"".join(d for i, d in frames if i is None or i not in replayed)
                    if any(i > replay_top for i in ids):
                        replayed.clear()  # live has passed the replay
                if joined:
                    await body(joined)
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-write
        finally:
            watcher.cancel()
            self.subscribers.discard(queue)

    # ------------------------------------------------------------------ listener thread

    def _listen(self) -> None:
        db.listen(
            self.url,
            [db.BOARD_CHANNEL, db.JOBS_CHANNEL],
            stop=self.closing,
            on_notify=lambda channel, payload: self._emit(self._frames(channel, payload)),
            on_connect=self._caught_up,
            name="mc web listen",
        )
        if self._reader is not None:
            self._reader.close()

    def _clock(self) -> None:
        """ "Overdue" changes with the clock, not with a commit: the cards it flips are sent
        as a board event like any other change (Lanes.tick)."""
        from mc.web import lanes

        while not self.closing.wait(min(lanes.CLOCK_SECONDS, 5.0)):
            if self.lanes is None or not self.lanes.built:
                continue
            patch = self.lanes.tick()
            if patch is not None:
                data = frame("board", patch)
                if len(data) > PATCH_MAX:
                    data = frame("board", {"reload": True, "version": patch["version"]})
                self._emit([(None, data)])

    def _read(self) -> db.Connection:
        """The listener thread's connection for the queries a notification needs."""
        if self._reader is None or self._reader.closed:
            self._reader = db.connect(self.url, autocommit=True, application_name="mc web read")
        return self._reader

    def _caught_up(self) -> None:
        """After each (re)connection: the activity since the last one sent, then a reload."""
        if self._reader is not None:  # it may have failed with the listener: start afresh
            self._reader.close()
            self._reader = None
        missed: list[tuple[int | None, bytes]] = []
        if self.last_activity is None:  # the first connection: from now on
            top = db.fetch_one(self._read(), "activity_max")
            self.last_activity = top["id"] if top else 0
        else:
            rows = db.fetch_all(
                self._read(), "activity_since", {"after": self.last_activity, "limit": 500}
            )
            missed = [(r["id"], frame("activity", activity_json(r), r["id"])) for r in rows]
        if self.lanes is not None:  # read now (the first answer is quick), or again:
            self.lanes.build(self._read())  # notifications were missed
        self._emit([*missed, (None, frame("board", {"reload": True}))])

    def _emit(self, frames: list[tuple[int | None, bytes]]) -> None:
        if not frames:
            return
        ids = [i for i, _ in frames if i is not None]
        if ids:
            self.last_activity = max([*ids, self.last_activity or 0])
        if any(b"event: log" not in data for _, data in frames):
            self.on_change()  # an agent's output does not change the board
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self.publish, frames)

    def _frames(self, channel: str, payload: str) -> list[tuple[int | None, bytes]]:
        try:
            note = json.loads(payload)
        except ValueError:
            return []
        if channel == db.JOBS_CHANNEL:
            if "log" in note:
                return [(None, frame("log", {"job": note["log"]}))]
            ids = note.get("jobs") or ([note["job"]] if "job" in note else [])
            out: list[tuple[int | None, bytes]] = []
            projects = []
            for job_id in ids[:50]:
                job = jobs.find(self._read(), job_id)
                if job is not None:
                    data = {"job": job_id, "project": job.project_id, "state": job.state}
                    out.append((None, frame("job", data)))
                    projects.append(job.project_id)
            patch = self._patch(projects)  # the card shows its job
            return ([] if patch is None else [patch]) + out
        out = []
        if note.get("activity"):
            ids = {"ids": note["activity"][:500]}
            for row in db.fetch_all(self._read(), "activity_by_ids", ids):
                out.append((row["id"], frame("activity", activity_json(row), row["id"])))
        if note.get("rebuilt"):
            if self.lanes is not None and self.lanes.built:
                self.lanes.build(self._read())
            out.append((None, frame("board", {"reload": True})))
        elif note.get("kind") == "sync":
            patch = self._patch(note.get("projects", []))
            # no card changed: the commit was mc.yaml, templates or artifacts, which the
            # board answer also shows
            out.append(patch or (None, frame("board", {"reload": True})))
        # (kind "uncommitted": edits not committed are not board state; the board answer
        # does not show them, so the page has nothing to fetch)
        return out

    def _patch(self, projects: list[str]) -> tuple[None, bytes] | None:
        """The board event for a change of these projects' cards: the changed cards
        themselves (see Lanes.apply), or "reload" when that would be too big to send."""
        if self.lanes is None or not projects:
            return None
        if not self.lanes.built:  # no page holds a version of this server yet
            return (None, frame("board", {"projects": projects[:100]}))
        patch = self.lanes.apply(self._read(), projects)
        if patch is None:
            return None
        data = frame("board", patch)
        if len(data) > PATCH_MAX:
            data = frame("board", {"reload": True, "version": patch["version"]})
        return (None, data)
