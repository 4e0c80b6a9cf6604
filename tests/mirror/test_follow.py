"""mc.mirror.follow: a wake-up on every board change, from the database's board channel
(a real PostgreSQL NOTIFY) and from the branch ref (a real commit), and nothing otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mc import settings
from mc.board import actions
from mc.board.board import Board
from mc.mirror import db
from mc.mirror.follow import Follower


@pytest.fixture
def follower(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Follower]:
    monkeypatch.setenv("MC_DATABASE_URL", database_url)
    settings.reset()
    with Board.open(board_path) as board:
        f = Follower(board)
    try:
        yield f
    finally:
        f.close()
        settings.reset()


def _settle(f: Follower) -> None:
    while f.wait(0.3):  # the LISTEN connection's first wake-up, if any
        pass


def test_a_notify_on_the_board_channel_wakes_it(follower: Follower, database_url: str) -> None:
    assert follower.via == ["git", "database"]
    _settle(follower)
    assert follower.wait(0.5) is False  # nothing happened
    with db.connect(database_url) as conn:
        for _ in range(50):  # LISTEN may still be on its way: say it until it is heard
            db.notify(conn, db.BOARD_CHANNEL, "")
            conn.commit()
            if follower.wait(0.2):
                break
        else:
            raise AssertionError("the NOTIFY did not wake the follower")
        db.notify(conn, db.JOBS_CHANNEL, "")  # another channel: not the board
        conn.commit()
    assert follower.wait(0.5) is False


def test_a_commit_wakes_it_without_the_database(
    board_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MC_DATABASE_URL", "postgresql://127.0.0.1:1/none")  # nothing there
    settings.reset()
    try:
        with Board.open(board_path) as board:
            f = Follower(board)
            try:
                assert f.via == ["git"]
                assert f.wait(0.3) is False
                actions.new_project(board, "Alpha", "coder", project_id="alpha")
                assert f.wait(3) is True
            finally:
                f.close()
    finally:
        settings.reset()
