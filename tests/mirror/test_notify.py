"""Notifications that are never lost: events written with the change that causes them,
delivered by the sender to a real HTTP receiver (apprise's json:// target) once, retried
while the receiver is down — across a restart of mc up — and reported when they cannot
be delivered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mc.board.board import Board
from mc.board.config import Notify
from mc.mirror import db, outbox
from mc.mirror.sync import Syncer

from ..conftest import git, mc_up, run_mc, to_review
from ..pipeline.test_worker import FAKE


class Receiver:
    """A local webhook: records each POST's JSON; ``status`` is what it answers."""

    def __init__(self, port: int = 0) -> None:
        self.got: list[dict[str, Any]] = []
        self.status = 200
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if received.status == 200:
                    received.got.append({"path": self.path, **json.loads(body)})
                self.send_response(received.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hooks/mc"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _sender(url: str, targets: list[Notify], **kw: Any) -> outbox.Sender:
    return outbox.Sender(
        url, lambda _conn: targets, lambda pid: f"http://board.test/#/project/{pid}", **kw
    )


def _events(url: str) -> list[dict[str, Any]]:
    with db.connect(url) as conn:
        return (
            db.fetch_all(conn, "outbox_unexpanded")
            + conn.execute("SELECT * FROM outbox WHERE expanded ORDER BY id").fetchall()
        )


def test_a_review_that_passes_is_an_event_in_the_same_sync_and_a_rebuild_adds_none(
    board: Board, database_url: str
) -> None:
    with db.connect(database_url) as conn:
        Syncer(board).sync(conn)  # the first sync is a rebuild: history tells nobody
        to_review(board, "alpha", title="Build a CLI tool", conns=(conn,))
        Syncer(board).sync(conn)
        rows = conn.execute("SELECT kind, project_id, title, detail FROM outbox").fetchall()
        assert rows == [
            {
                "kind": "ready_for_human",
                "project_id": "alpha",
                "title": "Build a CLI tool",
                "detail": "checked",
            }
        ]
        # The sync that took the project in and the event are one transaction: the
        # event's row is as new as the project row's acceptance.
        Syncer(board).rebuild(conn)  # replaying history tells nobody anything again
        assert conn.execute("SELECT count(*) AS n FROM outbox").fetchone()["n"] == 1


def test_an_event_is_delivered_once_with_what_to_do_and_a_link(
    board: Board, database_url: str, receiver: Receiver
) -> None:
    with db.connect(database_url) as conn:
        Syncer(board).sync(conn)
        to_review(board, "alpha", title="Build a CLI tool", conns=(conn,))
        Syncer(board).sync(conn)
        sender = _sender(database_url, [Notify(receiver.url)])
        assert sender.step(conn) == 1
        for _ in range(3):  # again and again: nothing more is sent
            assert sender.step(conn) == 0
    assert len(receiver.got) == 1
    got = receiver.got[0]
    assert got["path"] == "/hooks/mc" and got["type"] == "success"
    assert got["title"] == "Ready for your approval: Build a CLI tool"
    assert "mc approve alpha" in got["message"]
    assert "http://board.test/#/project/alpha" in got["message"]


def test_a_target_that_is_down_gets_it_later_and_only_once(
    board: Board, database_url: str, receiver: Receiver
) -> None:
    with db.connect(database_url) as conn:
        Syncer(board).sync(conn)
        to_review(board, "alpha", conns=(conn,))
        Syncer(board).sync(conn)
        receiver.status = 503  # down (it answers, but does not take it)
        sender = _sender(database_url, [Notify(receiver.url)], backoff=0.2)
        sender.step(conn)
        row = conn.execute("SELECT state, attempts, last_error FROM deliveries").fetchone()
        assert row["state"] == "pending" and row["attempts"] == 1 and row["last_error"]
        assert sender.step(conn) == 0  # not due yet: backoff
        receiver.status = 200
        deadline = time.monotonic() + 10
        while not receiver.got and time.monotonic() < deadline:
            sender.step(conn)
            time.sleep(0.05)
        for _ in range(3):
            sender.step(conn)
        assert conn.execute("SELECT state FROM deliveries").fetchone()["state"] == "sent"
    assert len(receiver.got) == 1


def test_two_senders_never_send_one_event_twice(board: Board, database_url: str) -> None:
    sent: list[str] = []
    lock = threading.Lock()

    def slow(url: str, msg: outbox.Message) -> None:
        time.sleep(0.05)
        with lock:
            sent.append(msg.title)

    with db.connect(database_url) as conn:
        for i in range(8):
            outbox.record(conn, "budget", title=f"hold {i}")
        conn.commit()
    targets = [Notify("json://a.test/x"), Notify("json://b.test/y")]

    def run() -> None:
        with db.connect(database_url) as conn:
            sender = _sender(database_url, targets, send=slow)
            while sender.step(conn):
                pass

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(sent) == sorted([f"Holding new work: hold {i}" for i in range(8)] * 2)


def test_an_unusable_url_is_given_up_at_once_and_mc_status_says_so(
    board: Board, board_path: Path, database_url: str
) -> None:
    with db.connect(database_url) as conn:
        Syncer(board).sync(conn)
        to_review(board, "alpha", conns=(conn,))
        Syncer(board).sync(conn)
        sender = _sender(database_url, [Notify("nosuchservice://x/y")])
        sender.step(conn)
        row = conn.execute("SELECT state, last_error FROM deliveries").fetchone()
    assert row["state"] == "dead" and "does not know this notification URL" in row["last_error"]
    env = {"MC_DATABASE_URL": database_url}
    status = json.loads(run_mc(board_path, "status", "--json", env=env).stdout)
    assert status["undelivered"][0]["target"] == "nosuchservice://x"  # never the whole URL
    assert status["undelivered"][0]["event"] == "ready_for_human"
    said = run_mc(board_path, "status", env=env).stdout
    assert "notify:   ready_for_human alpha to nosuchservice://x not delivered (given up)" in said


def test_a_dead_job_a_handoff_and_a_budget_hold_are_events(database_url: str) -> None:
    from mc.pipeline import dispatch, jobs

    with db.connect(database_url) as conn:
        job = jobs.enqueue(conn, "alpha", "work", "coder", max_attempts=1)
        assert job is not None
        claimed = jobs.claim(conn, "w1")
        assert claimed is not None
        jobs.fail(conn, claimed, "the agent crashed")
        other = jobs.enqueue(conn, "beta", "work", "ops")
        assert other is not None
        claimed = jobs.claim(conn, "w1")
        assert claimed is not None and claimed.project_id == "beta"
        jobs.await_report(conn, claimed)
        dispatch.note_holds(conn, {"the board's daily budget of $1.00 is spent": "gamma"})
        rows = conn.execute("SELECT kind, project_id, job_id, detail FROM outbox ORDER BY id")
        found = [(r["kind"], r["project_id"]) for r in rows.fetchall()]
    assert found == [("dead", "alpha"), ("handoff", "beta"), ("budget", "gamma")]


# ---------------------------------------------------------------------- through mc up


def _up(board_path: Path, mark: str) -> subprocess.Popen[str]:
    return mc_up(board_path, mark, workers=1, output=False)


def _stop(up: subprocess.Popen[str]) -> None:
    os.killpg(up.pid, signal.SIGINT)
    up.wait(60)


def test_nothing_is_lost_when_the_receiver_is_down_and_mc_up_restarts(
    board_path: Path, tmp_path: Path
) -> None:
    """The issue's test: a project reaches ready_for_human while the receiver is down;
    mc up is stopped and started again; the receiver comes back after 30 s; the event
    arrives, once."""
    receiver = Receiver()
    port = receiver.port
    receiver.close()  # down: connections refused
    runner = f"{{runner: command, command: [{sys.executable}, {FAKE}, ok], timeout: 60}}"
    (board_path / "mc.yaml").write_text(
        "branch: main\narchetypes:\n"
        + "".join(f"  {n}: {runner}\n" for n in ("coder", "writer", "reviewer"))
        + f"notifications:\n  - url: json://127.0.0.1:{port}/hooks/mc\n"
        + "    events: [ready_for_human]\n"
    )
    git(board_path, "commit", "-q", "-S", "-am", "a webhook")
    mark = uuid.uuid4().hex
    down_at = time.monotonic()
    up = _up(board_path, mark)
    try:
        made = run_mc(board_path, "project", "new", "Plan the trip", "-a", "writer", "--queue")
        assert made.returncode == 0, made.stderr
        pid = made.stdout.split()[1]
        review = board_path / "review" / f"{pid}.yaml"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if review.exists() and "ready_for_human: true" in review.read_text():
                break
            time.sleep(0.2)
        assert "ready_for_human: true" in review.read_text()
        time.sleep(2)  # a first attempt or two fail
    finally:
        _stop(up)
    up = _up(board_path, mark)  # the same board, a new mc up
    try:
        time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))  # down for 30 s in all
        back = Receiver(port)
        try:
            deadline = time.monotonic() + 120
            while not back.got and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)  # and nothing more comes
            assert len(back.got) == 1, back.got
            assert back.got[0]["title"] == "Ready for your approval: Plan the trip"
            assert f"mc approve {pid}" in back.got[0]["message"]
        finally:
            back.close()
    finally:
        _stop(up)
