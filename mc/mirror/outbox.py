"""Notifications that are never lost: an outbox in PostgreSQL and a sender.

An event (a project ready for the person, one that needs them, a dead job, an approval,
a budget hold, a hand-off) is written to ``outbox`` by ``record`` in the same
transaction as the change that causes it: if the change commits, the event exists; if
not, neither does. The sender — a thread of the daemon — gives each event a delivery
per target configured in mc.yaml (``notifications:``, the accepted mc.yaml) and sends
it with apprise, retrying with backoff (1 s doubling to 10 min) while a target is down,
across restarts of mc up: deliveries are rows, held by the sender that claimed them for
a while, so one that dies lets them go. A delivery acknowledged by its target is marked
sent and never sent again; one that keeps failing (MAX_ATTEMPTS, about a day and a half
of retries) or whose URL apprise cannot use is dead, and mc status and the page say so.

Written by hand because a job queue (procrastinate) would add a second queue beside
``jobs`` for a table of rows this small, and the per-target, send-once bookkeeping is
ours either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from mc.board.config import Notify
from mc.errors import McError, Undeliverable
from mc.mirror import db

log = logging.getLogger("mc.notify")

MAX_ATTEMPTS = 200
BACKOFF_CAP = 600.0
HOLD_SECONDS = 120  # a claim: longer than one send may take (apprise's own timeouts)
SEND_TIMEOUT = 30
POLL_SECONDS = 5.0


def record(
    conn: db.Connection,
    kind: str,
    *,
    project_id: str | None = None,
    job_id: int | None = None,
    title: str | None = None,
    detail: str = "",
) -> None:
    """An event, in the caller's transaction (``title`` None: the project's, from the
    mirror). The sender is woken when it commits."""
    db.fetch_one(
        conn,
        "outbox_insert",
        {
            "kind": kind,
            "project_id": project_id,
            "job_id": job_id,
            "title": title,
            "detail": detail[:4000],
        },
    )
    db.notify(conn, db.OUTBOX_CHANNEL)


def target_id(url: str) -> str:
    """A target's name in the database: its URL's digest (a URL may hold a secret)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def label(url: str) -> str:
    """A target as mc status shows it: scheme and host only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}" if parts.scheme else "(not a URL)"


class Message(NamedTuple):
    title: str
    body: str
    kind: str  # apprise's notify type: info, success, warning, failure


def message(event: dict[str, Any], link: str | None) -> Message:
    """What the person reads: the project, what happened, what to do, and its page."""
    pid, title, detail = event["project_id"], event["title"], event["detail"]
    at = f"\n{link}" if link else ""
    kind = event["kind"]
    if kind == "ready_for_human":
        return Message(
            f"Ready for your approval: {title}",
            f"The reviewer passed {title} ({pid}). Look at the work, then approve it: "
            f"mc approve {pid}{at}",
            "success",
        )
    if kind == "needs_human":
        return Message(
            f"Needs you: {title}",
            f"{title} ({pid}) is waiting for you: {detail}. Look at it, then rework or "
            f"cancel it.{at}",
            "warning",
        )
    if kind == "dead":
        return Message(
            f"A job failed for good: {title}",
            f"Job {event['job_id']} of {title} ({pid}) is dead: {detail}. Run it again with "
            f"mc project retry {pid}, or look at its log.{at}",
            "failure",
        )
    if kind == "approved":
        return Message(f"Approved: {title}", f"{title} ({pid}) is done: {detail}.{at}", "success")
    if kind == "handoff":
        return Message(
            f"Handed off to you: {title}",
            f"Job {event['job_id']} of {title} ({pid}) waits for you or your assistant to do "
            f"the work, then: mc job complete {event['job_id']} --notes '...'{at}",
            "info",
        )
    return Message(f"Holding new work: {title}", detail or title, "warning")  # budget


Send = Callable[[str, Message], "str | None"]  # (url, message) -> None, or why it failed


def apprise_send(url: str, msg: Message) -> str | None:
    """Send with apprise: None when the target took it, else what went wrong."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        raise Undeliverable("apprise does not know this notification URL")
    result = sender.notify(
        title=msg.title, body=msg.body, notify_type=msg.kind, timeout=SEND_TIMEOUT
    )
    if result:
        return None
    said = [entry.message for entry in result.logs()] if hasattr(result, "logs") else []
    return (said[-1] if said else f"the target did not take it ({result.status})")[:500]


class Sender:
    """Delivers the outbox: run() until ``stop`` is set (a thread of the daemon)."""

    def __init__(
        self,
        url: str,
        targets: Callable[[db.Connection], Sequence[Notify]],
        link: Callable[[str | None], str | None],
        *,
        send: Send = apprise_send,
        poll: float = POLL_SECONDS,
        backoff: float = 1.0,
    ) -> None:
        self.url = url
        self.targets = targets  # the accepted mc.yaml's notifications
        self.link = link  # a project's page, when the board is served
        self.send = send
        self.poll = poll
        self.backoff = backoff  # seconds before the first retry (doubling)
        self.wake = threading.Event()

    def run(self, stop: threading.Event) -> None:
        listener = threading.Thread(
            target=db.listen,
            args=(self.url, [db.OUTBOX_CHANNEL]),
            kwargs={
                "stop": stop,
                "on_notify": lambda _c, _p: self.wake.set(),
                "on_connect": self.wake.set,
                "name": "mc notify listen",
            },
            daemon=True,
        )
        listener.start()
        conn: db.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = db.connect(self.url, application_name="mc notify")
                while self.step(conn) and not stop.is_set():
                    pass
                wait = self._until_next(conn)
            except McError as exc:
                log.warning("notifications: %s", exc)
                with contextlib.suppress(Exception):
                    if conn is not None:
                        conn.close()
                conn, wait = None, 1.0
            self.wake.wait(wait)
            self.wake.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def step(self, conn: db.Connection) -> int:
        """Expand new events into deliveries, then send what is due; how many it sent
        or gave up on (0: nothing to do now). The targets (the accepted mc.yaml) are
        read only when there is something to do."""
        work = db.fetch_one(conn, "outbox_work")
        conn.commit()
        if work is None or not (work["new"] or work["due"]):
            return 0
        targets = self.targets(conn)  # (it reads the accepted mc.yaml: its own transaction)
        self.expand(conn, targets)
        with db.translated(), conn.transaction():
            due = db.fetch_all(conn, "deliveries_claim", {"hold": HOLD_SECONDS, "limit": 20})
        urls = {target_id(t.url): t.url for t in targets}
        for d in due:
            self._deliver(conn, d, urls.get(d["target"]))
        return len(due)

    def expand(self, conn: db.Connection, targets: Sequence[Notify]) -> int:
        """Each new event gets a delivery per target that wants its kind."""
        with db.translated(), conn.transaction():
            events = db.fetch_all(conn, "outbox_unexpanded")
            if not events:
                return 0
            for event in events:
                for t in targets:
                    if event["kind"] in t.events:
                        db.execute(
                            conn,
                            "delivery_insert",
                            {
                                "outbox_id": event["id"],
                                "target": target_id(t.url),
                                "label": label(t.url),
                            },
                        )
            db.execute(conn, "outbox_expanded", {"ids": [e["id"] for e in events]})
        return len(events)

    def _deliver(self, conn: db.Connection, d: dict[str, Any], url: str | None) -> None:
        key = {"outbox_id": d["outbox_id"], "target": d["target"]}
        if url is None:
            self._failed(conn, key, d, "no longer in mc.yaml's notifications", dead=True)
            return
        try:
            error = self.send(url, message(d, self.link(d["project_id"])))
        except Undeliverable as exc:
            self._failed(conn, key, d, str(exc), dead=True)
            return
        except Exception as exc:  # a target's library failing is that target's failure
            error = f"{type(exc).__name__}: {exc}"[:500]
        if error is None:
            with db.translated(), conn.transaction():
                db.execute(conn, "delivery_sent", key)
            log.info("notified %s of %s %s", d["label"], d["kind"], d["project_id"] or "")
            return
        self._failed(conn, key, d, error, dead=d["attempts"] + 1 >= MAX_ATTEMPTS)

    def _failed(
        self, conn: db.Connection, key: dict[str, Any], d: dict[str, Any], error: str, *, dead: bool
    ) -> None:
        delay = min(self.backoff * 2 ** d["attempts"], BACKOFF_CAP)
        with db.translated(), conn.transaction():
            db.execute(
                conn, "delivery_failed", {**key, "error": error, "delay": delay, "dead": dead}
            )
        log.warning(
            "notification to %s %s: %s", d["label"], "given up" if dead else "failed", error
        )

    def _until_next(self, conn: db.Connection) -> float:
        import datetime as dt

        row = db.fetch_one(conn, "deliveries_next_due")
        conn.commit()
        if row is None or row["at"] is None:
            return self.poll
        left: float = (row["at"] - dt.datetime.now(dt.UTC)).total_seconds()
        return max(0.05, min(self.poll, left))


def undeliverable(conn: db.Connection) -> list[dict[str, Any]]:
    """Deliveries that are dead or keep failing (for mc status and the page)."""
    rows = db.fetch_all(conn, "deliveries_undeliverable")
    conn.commit()
    return [
        {
            "target": r["label"],
            "state": r["state"],
            "attempts": r["attempts"],
            "error": r["last_error"],
            "event": r["kind"],
            "project_id": r["project_id"],
            "at": r["created_at"].isoformat(),
        }
        for r in rows
    ]
