"""The board's past (time travel): its branch's commits, and the board at any of them.

Read from the repository alone, never the database: a commit is immutable, so the board
at a commit is too, and git keeps every one of them. The tree of a past commit is read
the way the tip's is (``Board.snapshot``: lane trees through the running cat-file, each
blob parsed once), so a 1,000-project board of last month costs what today's does.

What a person may type for a point in time (``at``) is checked here, before anything
reaches git: a commit id is hex and must be on the board branch, a date is ISO
(``2026-11-20`` is the end of that day in the given zone, or a datetime); anything
else is refused in one line naming ``at``. Nothing a person types becomes a git argument.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

from mc.board.board import Board, Entry, order
from mc.board.config import Config
from mc.errors import BeforeHistory, InvalidTimePoint, NotFound

_HEX = re.compile(r"[0-9a-f]{4,40}")
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_FIELDS = [
    "%H", "%cI", "%an",
    "%(trailers:key=Mc-Actor,valueonly,separator=%x2C)",
    "%(trailers:key=Mc-Action,valueonly,separator=%x2C)",
    "%s",
]  # fmt: skip
MAX_PAGE = 500


class Point(NamedTuple):
    """One commit of the board branch, as the history slider and the banner show it."""

    commit: str
    time: str  # ISO 8601, the committer's time
    author: str
    actor: str  # Mc-Actor (dispatcher, executor, reviewer, human), "" when none
    action: str  # Mc-Action (queue, dispatch, complete, review, ...), "" when none
    subject: str


class PastBoard(NamedTuple):
    """The board as one commit has it: its projects (parsed) and its mc.yaml."""

    at: Point
    entries: list[Entry]
    config: Config


def commits(board: Board, limit: int = 100, before: str | None = None) -> list[Point]:
    """The board branch's commits, newest first: ``limit`` of them, the ones older than
    the commit ``before`` when given (a page of a long history)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidTimePoint(f"limit: {limit} is not between 1 and {MAX_PAGE}")
    start = board.tip
    if start is None:
        return []
    if before is not None:
        start = board.cat.resolve(f"{on_branch(board, before, 'before')}^1")
        if start is None:
            return []  # before the root: nothing older
    records = board.repo.log_records(start, _FIELDS, limit=limit, first_parent=True)
    return [Point(*rec) for rec in records]


def on_branch(board: Board, commit: str, name: str = "at") -> str:
    """The full id of ``commit`` (hex, 4 to 40 digits), which must be on the board branch."""
    if not _HEX.fullmatch(commit):
        raise InvalidTimePoint(f"{name}: {commit[:80]!r} is not a commit id (4 to 40 hex digits)")
    tip = board.tip
    obj = board.cat.read(f"{commit}^{{commit}}")
    if tip is None or obj is None or obj[1] != "commit":
        raise NotFound(f"{name}: no commit {commit} in the board's repository")
    sha = obj[0]
    if sha != tip and not board.repo.is_ancestor(sha, tip):
        raise NotFound(f"{name}: commit {commit} is not on the board branch")
    return sha


def resolve(board: Board, at: str, tz: dt.tzinfo) -> str:
    """The commit ``at`` names: a commit id, or the last commit on or before a date
    (a day means the end of that day in ``tz``; a datetime without a zone is in ``tz``)."""
    at = at.strip()
    if _HEX.fullmatch(at):
        return on_branch(board, at)
    when = parse_time(at, tz)
    tip = board.tip
    found = board.repo.last_commit_at(tip, int(when.timestamp())) if tip else None
    if found is None:
        raise BeforeHistory(
            f"at: {at} is before the board's first commit (made {first_time(board)})"
        )
    return found


def parse_time(at: str, tz: dt.tzinfo) -> dt.datetime:
    """An ISO date or datetime, as an aware datetime; a one-line refusal naming ``at``."""
    if not _ISO.fullmatch(at):
        raise InvalidTimePoint(
            f"at: {at[:80]!r} is neither a commit id (hex) nor an ISO date "
            "(2026-11-20 or 2026-11-20T14:00)"
        )
    try:
        if len(at) == 10:
            day = dt.date.fromisoformat(at)
            return dt.datetime.combine(day, dt.time.max, tzinfo=tz)
        when = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidTimePoint(f"at: {at!r} is not a real date or time ({exc})") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def first_time(board: Board) -> str:
    """When the board branch began (its root commit's time)."""
    tip = board.tip
    roots = board.repo.roots(tip) if tip else []
    if not roots:
        return "-"
    return board.repo.log_records(roots[-1], ["%cI"], limit=1)[0][0]


def point(board: Board, commit: str) -> Point:
    """The commit's time, author, trailers and subject."""
    return Point(*board.repo.log_records(commit, _FIELDS, limit=1)[0])


def board_at(board: Board, commit: str) -> PastBoard:
    """The board as ``commit`` (a full id, from ``resolve``) has it: every project file
    in its lanes, sorted as every listing sorts, and that commit's mc.yaml."""
    entries = sorted(board.entries(board.snapshot(commit)), key=order)
    return PastBoard(point(board, commit), entries, board.read_config(commit))
