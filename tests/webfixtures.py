"""A running web board for tests: the real daemon and the real server (uvicorn) on threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mc.mirror import db
from mc.mirror.auth import create_token
from mc.mirror.daemon import Daemon
from mc.web.server import WebServer


class Running:
    def __init__(self, board_path: Path, url: str) -> None:
        self.board_path = board_path
        self.url = url
        self.daemon = Daemon(board_path, url, poll=0.5, dispatch=None)
        self.daemon_thread = threading.Thread(target=self.daemon.run)
        self.daemon_thread.start()
        self.server = WebServer(board_path, url, port=0).start()
        self.origin = self.server.origin

    def wait_synced(self, seconds: float = 15) -> None:
        """Until the mirror has the board's tip."""
        from mc.board.board import Board

        with Board.open(self.board_path) as board:
            tip = board.tip
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with db.connect(self.url) as conn:
                row = db.fetch_one(conn, "meta_get", {"key": "last_synced_commit"})
            if row and row["value"] == tip:
                return
            time.sleep(0.05)
        raise AssertionError("the mirror did not catch up")

    def token(self, role: str, name: str | None = None, scope: str | None = None) -> str:
        with db.connect(self.url) as conn:
            return create_token(conn, name or f"{role}-token", role, scope=scope)

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.origin, headers=headers, timeout=10, **kw)

    def session(self) -> tuple[httpx.Client, str]:
        """A logged-in browser-like client (cookie) and its CSRF value."""
        client = httpx.Client(base_url=self.origin, timeout=10)
        login = client.get(self.server.login_url().removeprefix(self.origin))
        assert login.status_code == 200, login.text
        csrf = client.get("/api/session").json()["csrf"]
        return client, csrf

    def close(self) -> None:
        self.server.stop()
        self.daemon.stop.set()
        self.daemon.wake.set()
        self.daemon_thread.join(30)


@pytest.fixture
def web(board_path: Path, database_url: str) -> Iterator[Running]:
    running = Running(board_path, database_url)
    try:
        running.wait_synced()
        yield running
    finally:
        running.close()
