"""mc.board.history: which commit a point in time names, on a real board repository."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mc.board import actions, history
from mc.board.board import Board
from mc.errors import BeforeHistory, InvalidTimePoint, NotFound

from ..conftest import git

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def late(board_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Board, str]]:
    """A project made at 03:00 UTC on Dec 11, 2026: still Dec 10 in New York."""
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-12-11T03:00:00Z")
    with Board.open(board_path) as board:
        actions.new_project(board, "Late", "coder", project_id="late")
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    commit = git(board_path, "rev-parse", "HEAD").stdout.strip()
    with Board.open(board_path) as board:
        yield board, commit


def test_a_day_ends_in_the_given_zone(late: tuple[Board, str]) -> None:
    board, commit = late
    assert history.resolve(board, "2026-12-10", NEW_YORK) == commit
    assert history.resolve(board, "2026-12-10", dt.UTC) != commit  # Dec 11 there
    assert history.resolve(board, "2026-12-11", dt.UTC) == commit
    # a datetime without a zone is in the given zone; with one, in its own
    assert history.resolve(board, "2026-12-10T22:00", NEW_YORK) == commit
    assert history.resolve(board, "2026-12-10T21:59", NEW_YORK) != commit
    assert history.resolve(board, "2026-12-11T03:00:00Z", NEW_YORK) == commit
    assert history.resolve(board, "2026-12-11T02:59:59+00:00", NEW_YORK) != commit


def test_a_commit_id_short_or_full(late: tuple[Board, str]) -> None:
    board, commit = late
    assert history.resolve(board, commit, dt.UTC) == commit
    assert history.resolve(board, commit[:7], dt.UTC) == commit
    past = history.board_at(board, commit)
    assert [e.id for e in past.entries] == ["late"] and past.at.commit == commit
    assert past.at.action == "create" and past.at.actor == "human"


@pytest.mark.parametrize(
    "bad", ["--output=/tmp/x", "HEAD~1;rm", "2026-13-45", "HEAD", "main~1", "@{1}", "2026-1-5"]
)
def test_anything_else_is_refused_naming_at(late: tuple[Board, str], bad: str) -> None:
    board, _ = late
    with pytest.raises(InvalidTimePoint, match=r"^at: "):
        history.resolve(board, bad, dt.UTC)


def test_before_the_first_commit_and_unknown_commits(late: tuple[Board, str]) -> None:
    board, _ = late
    with pytest.raises(BeforeHistory, match="before the board's first commit"):
        history.resolve(board, "1999-12-31", dt.UTC)
    with pytest.raises(NotFound, match="no commit"):
        history.resolve(board, "0123456789abcdef", dt.UTC)


def test_pages_of_commits(late: tuple[Board, str]) -> None:
    board, commit = late
    everything = history.commits(board, 100)
    assert everything[0].commit == commit and len(everything) == 2
    older = history.commits(board, 100, before=commit)
    assert [p.commit for p in older] == [everything[1].commit]
    assert history.commits(board, 100, before=everything[1].commit) == []
    with pytest.raises(InvalidTimePoint, match=r"^limit: "):
        history.commits(board, 0)
