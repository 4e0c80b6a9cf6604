"""The task tracker (mc.tasks) against a real PostgreSQL: due parsing, overdue logic
across time zones, and add/list/done/edit/link/unlink on real rows.

Every test gets its own migrated database (``database_url``); no mocks.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from mc.board import actions
from mc.board.board import Board
from mc.errors import InvalidInput, ProjectNotFound
from mc.mirror import db, tasks
from mc.mirror.sync import Syncer
from mc.mirror.tasks import Task, TaskNotFound, parse_due
from mc.settings import Settings

UTC = dt.UTC
TOKYO = ZoneInfo("Asia/Tokyo")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")

# Wednesday 2026-11-25, 12:00 UTC (also Wednesday in Berlin, Tokyo and Los Angeles).
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WED = dt.date(2026, 11, 25)


def day(offset: int) -> dt.date:
    return WED + dt.timedelta(days=offset)


@pytest.fixture
def conn(database_url: str) -> Iterator[db.Connection]:
    with db.connect(database_url) as c:
        yield c


@pytest.fixture
def project(board: Board, conn: db.Connection) -> str:
    """A project on the board, mirrored into the database's projects table."""
    actions.new_project(board, "Fix the roof", "coder", project_id="roof")
    result = Syncer(board).sync(conn)
    assert result is not None
    assert db.fetch_one(conn, "project_exists", {"id": "roof"}) is not None
    return "roof"


def ids(found: list[Task]) -> list[int]:
    return [t.id for t in found]


def set_due(
    conn: db.Connection, number: int, due_date: dt.date | None, due_at: dt.datetime | None
) -> None:
    """Write a due straight into the row (the way a task made on another day would look)."""
    conn.execute(
        "UPDATE tasks SET due_date = %s, due_at = %s WHERE id = %s", (due_date, due_at, number)
    )
    conn.commit()


# ---------------------------------------------------------------------- parse_due


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", day(0)),
        ("Today", day(0)),
        ("tomorrow", day(1)),
        ("yesterday", day(-1)),
        ("wed", day(0)),  # today's weekday is today
        ("wednesday", day(0)),
        ("next wed", day(7)),  # "next" skips today
        ("next wednesday", day(7)),
        ("thu", day(1)),
        ("fri", day(2)),
        ("friday", day(2)),
        ("next fri", day(2)),
        ("sat", day(3)),
        ("sun", day(4)),
        ("mon", day(5)),
        ("tue", day(6)),
        ("tuesday", day(6)),
        ("next week", day(7)),
        ("in 3 days", day(3)),
        ("in 1 day", day(1)),
        ("3 days", day(3)),
        ("3d", day(3)),
        ("+2w", day(14)),
        ("in 2 weeks", day(14)),
        ("+10d", day(10)),
        ("2026-12-01", dt.date(2026, 12, 1)),
        ("  2026-12-01  ", dt.date(2026, 12, 1)),
    ],
)
def test_parse_due_days(text: str, expected: dt.date) -> None:
    assert parse_due(text, now=NOW, tz=UTC) == (expected, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 5 hours", NOW + dt.timedelta(hours=5)),
        ("+5h", NOW + dt.timedelta(hours=5)),
        ("in 1 hour", NOW + dt.timedelta(hours=1)),
        # A local time is read in the given zone (Berlin is UTC+1 in December).
        ("2026-12-01 17:00", dt.datetime(2026, 12, 1, 16, 0, tzinfo=UTC)),
        ("2026-12-01T17:00", dt.datetime(2026, 12, 1, 16, 0, tzinfo=UTC)),
        # An explicit offset wins over the zone.
        ("2026-12-01T17:00+01:00", dt.datetime(2026, 12, 1, 16, 0, tzinfo=UTC)),
        ("2026-12-01T17:00-05:00", dt.datetime(2026, 12, 1, 22, 0, tzinfo=UTC)),
        ("2026-12-01T17:00Z", dt.datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
    ],
)
def test_parse_due_moments(text: str, expected: dt.datetime) -> None:
    due_date, due_at = parse_due(text, now=NOW, tz=BERLIN)
    assert due_date is None
    assert due_at == expected
    assert due_at is not None and due_at.utcoffset() == dt.timedelta(0)


def test_parse_due_local_time_depends_on_zone() -> None:
    _, in_tokyo = parse_due("2026-12-01 17:00", now=NOW, tz=TOKYO)
    _, in_la = parse_due("2026-12-01 17:00", now=NOW, tz=LOS_ANGELES)
    assert in_tokyo == dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert in_la == dt.datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["none", "None", "", "  ", "no", "-"])
def test_parse_due_none(text: str) -> None:
    assert parse_due(text, now=NOW, tz=UTC) == (None, None)


def test_relative_days_count_from_the_local_day() -> None:
    late = dt.datetime(2026, 11, 25, 23, 30, tzinfo=UTC)  # already Thursday in Tokyo
    assert parse_due("today", now=late, tz=UTC) == (dt.date(2026, 11, 25), None)
    assert parse_due("today", now=late, tz=TOKYO) == (dt.date(2026, 11, 26), None)
    assert parse_due("tomorrow", now=late, tz=TOKYO) == (dt.date(2026, 11, 27), None)
    # Thursday in Tokyo: "thu" is today there, a week less a day away in UTC terms.
    assert parse_due("thu", now=late, tz=TOKYO) == (dt.date(2026, 11, 26), None)
    assert parse_due("next thu", now=late, tz=TOKYO) == (dt.date(2026, 12, 3), None)
    early = dt.datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # still Wednesday in Los Angeles
    assert parse_due("today", now=early, tz=LOS_ANGELES) == (dt.date(2026, 11, 25), None)


@pytest.mark.parametrize(
    "text",
    [
        "someday",
        "2026-13-01",
        "2026-02-30",
        "in three days",
        "in 3 fortnights",
        "fri-ish",
        "thurs",
        "in 99999 days",
        "2026-12-01 25:00",
        "next",
    ],
)
def test_parse_due_rejects(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_due(text, now=NOW, tz=UTC)
    message = str(info.value)
    assert "--due" in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["friday 17:00", "fri 17:00", "friday 2026-11-27T17:00"])
def test_parse_due_never_drops_part_of_the_text(text: str) -> None:
    """A weekday followed by more text is either understood whole or refused, never
    silently read as the bare weekday (a due time must not be thrown away)."""
    try:
        due_date, due_at = parse_due(text, now=NOW, tz=UTC)
    except InvalidInput:
        return
    assert due_date is None and due_at == dt.datetime(2026, 11, 27, 17, 0, tzinfo=UTC), (
        f"{text!r} was read as {(due_date, due_at)}"
    )


# ---------------------------------------------------------------------- overdue


def test_overdue_date_depends_on_the_zone(conn: db.Connection) -> None:
    task = tasks.add(conn, "Send invoice")
    set_due(conn, task.id, dt.date(2026, 11, 25), None)
    late = dt.datetime(2026, 11, 25, 23, 30, tzinfo=UTC)

    def overdue(now: dt.datetime, zone: str) -> list[int]:
        return ids(tasks.listing(conn, overdue=True, now=now, tz=ZoneInfo(zone)))

    # 23:30 UTC: the 25th is not over in UTC, it is over in Tokyo (08:30 on the 26th).
    assert overdue(late, "UTC") == []
    assert overdue(late, "Asia/Tokyo") == [task.id]
    assert overdue(late, "Europe/London") == []
    # 03:00 UTC on the 26th: over in UTC, still the 25th (19:00) in Los Angeles.
    early = dt.datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert overdue(early, "UTC") == [task.id]
    assert overdue(early, "America/Los_Angeles") == []
    assert overdue(early, "Asia/Tokyo") == [task.id]
    # During the due day itself it is never overdue.
    assert overdue(dt.datetime(2026, 11, 25, 0, 1, tzinfo=UTC), "UTC") == []
    # And the flag on the task agrees with the filter.
    row = tasks.get(conn, task.id)
    assert row.overdue(late, TOKYO) and not row.overdue(late, UTC)
    assert row.to_json(late, TOKYO)["overdue"] is True
    assert row.to_json(late, UTC)["overdue"] is False


def test_overdue_moment_is_the_same_everywhere(conn: db.Connection) -> None:
    task = tasks.add(conn, "Call the bank")
    due = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    set_due(conn, task.id, None, due)
    zones = ["UTC", "Asia/Tokyo", "America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Pago_Pago"]
    for zone in zones:
        tz = ZoneInfo(zone)
        after = tasks.listing(conn, overdue=True, now=due + dt.timedelta(minutes=1), tz=tz)
        before = tasks.listing(conn, overdue=True, now=due - dt.timedelta(minutes=1), tz=tz)
        assert ids(after) == [task.id], zone
        assert before == [], zone


def test_done_and_undated_tasks_are_never_overdue(conn: db.Connection) -> None:
    dated = tasks.add(conn, "Old chore")
    moment = tasks.add(conn, "Old call")
    undated = tasks.add(conn, "Whenever")
    set_due(conn, dated.id, dt.date(2020, 1, 1), None)
    set_due(conn, moment.id, None, dt.datetime(2020, 1, 1, tzinfo=UTC))
    assert sorted(ids(tasks.listing(conn, overdue=True, now=NOW, tz=UTC))) == [dated.id, moment.id]
    tasks.update(conn, dated.id, done=True)
    tasks.update(conn, moment.id, done=True)
    conn.commit()
    for zone in ("UTC", "Asia/Tokyo", "America/Los_Angeles"):
        found = tasks.listing(conn, overdue=True, include_done=True, now=NOW, tz=ZoneInfo(zone))
        assert found == []
    assert not tasks.get(conn, undated.id).overdue(NOW, UTC)
    assert tasks.is_overdue(dt.date(2020, 1, 1), None, NOW, NOW, UTC) is False
    assert tasks.is_overdue(None, None, None, NOW, UTC) is False


# ---------------------------------------------------------------------- round trips


def test_add_stores_every_field(conn: db.Connection) -> None:
    task = tasks.add(
        conn,
        "  Buy milk  ",
        due="2026-12-01",
        priority=2,
        tags=["home", "errand"],
        notes="semi-skimmed",
    )
    conn.commit()
    assert task.id > 0
    assert task.title == "Buy milk"
    assert task.due_date == dt.date(2026, 12, 1) and task.due_at is None
    assert task.priority == 2
    assert task.tags == ["home", "errand"]
    assert task.notes == "semi-skimmed"
    assert task.project_id is None and task.done_at is None
    assert task.created_at.tzinfo is not None
    assert tasks.get(conn, task.id) == task
    # The row is really there, as the database sees it (from a second connection).
    with db.connect(conn.info.dsn) as other:
        row = other.execute("SELECT title, tags, priority FROM tasks WHERE id = %s", (task.id,))
        assert row.fetchone() == {"title": "Buy milk", "tags": ["home", "errand"], "priority": 2}


def test_add_with_a_time_due(conn: db.Connection) -> None:
    task = tasks.add(conn, "Dentist", due="2026-12-01T09:30+01:00")
    assert task.due_date is None
    assert task.due_at == dt.datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    js = task.to_json(NOW, UTC)
    assert js["due_at"].startswith("2026-12-01T08:30") and js["due_date"] is None


def test_add_relative_due_is_from_today(
    conn: db.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MC_TZ", "UTC")
    task = tasks.add(conn, "Soon", due="tomorrow")
    assert task.due_date == dt.datetime.now(UTC).date() + dt.timedelta(days=1)


def test_add_rejects_bad_input(conn: db.Connection) -> None:
    for title in ("", "   ", "two\nlines", "x" * 501):
        with pytest.raises(InvalidInput, match="TITLE"):
            tasks.add(conn, title)
    for priority in (0, 5, -1):
        with pytest.raises(InvalidInput, match="--priority"):
            tasks.add(conn, "Fine title", priority=priority)
    with pytest.raises(InvalidInput, match="--due"):
        tasks.add(conn, "Fine title", due="someday")
    conn.commit()
    assert tasks.listing(conn, include_done=True) == []
    assert tasks.add(conn, "x" * 500).title == "x" * 500
    assert tasks.add(conn, "Top", priority=1).priority == 1
    assert tasks.add(conn, "Bottom", priority=4).priority == 4


@pytest.mark.parametrize("title", ["nul\x00byte", "carriage\rreturn"])
def test_title_with_control_characters_is_invalid_input(conn: db.Connection, title: str) -> None:
    """A title that is not one printable line is the person's mistake (InvalidInput,
    naming TITLE), not a database failure."""
    with pytest.raises(InvalidInput, match="TITLE"):
        tasks.add(conn, title)


def test_done_and_reopen(conn: db.Connection) -> None:
    task = tasks.add(conn, "Water plants")
    done = tasks.update(conn, task.id, done=True)
    conn.commit()
    assert done.done_at is not None
    assert done.updated_at >= task.updated_at
    # Done again keeps the first done time.
    again = tasks.update(conn, task.id, done=True)
    assert again.done_at == done.done_at
    assert tasks.listing(conn) == []
    assert ids(tasks.listing(conn, include_done=True)) == [task.id]
    reopened = tasks.update(conn, task.id, done=False)
    assert reopened.done_at is None
    assert ids(tasks.listing(conn)) == [task.id]


def test_edit(conn: db.Connection) -> None:
    task = tasks.add(conn, "Draft", due="2026-12-01", priority=3, tags=["a"], notes="n")
    edited = tasks.update(conn, task.id, title="Final", notes="m", priority=1, tags=["b", "c"])
    assert (edited.title, edited.notes, edited.priority, edited.tags) == (
        "Final",
        "m",
        1,
        ["b", "c"],
    )
    assert edited.due_date == dt.date(2026, 12, 1)  # untouched
    moved = tasks.update(conn, task.id, due="2026-12-24 18:00")
    assert moved.due_date is None and moved.due_at is not None
    cleared = tasks.update(conn, task.id, due="none", priority=None, tags=[])
    assert (cleared.due_date, cleared.due_at, cleared.priority, cleared.tags) == (
        None,
        None,
        None,
        [],
    )
    assert cleared.title == "Final"
    cleared_again = tasks.update(conn, task.id, due="")
    assert cleared_again.due_date is None
    with pytest.raises(InvalidInput, match="TITLE"):
        tasks.update(conn, task.id, title=" ")
    with pytest.raises(InvalidInput, match="--priority"):
        tasks.update(conn, task.id, priority=9)
    with pytest.raises(InvalidInput, match="--due"):
        tasks.update(conn, task.id, due="whenever")
    conn.commit()
    assert tasks.get(conn, task.id).title == "Final"


def test_unknown_task(conn: db.Connection) -> None:
    with pytest.raises(TaskNotFound, match="999"):
        tasks.get(conn, 999)
    with pytest.raises(TaskNotFound, match="999"):
        tasks.update(conn, 999, done=True)
    with pytest.raises(TaskNotFound):
        tasks.update(conn, 2**63, title="x")  # beyond bigint: still just "no such task"


def test_link_and_unlink(conn: db.Connection, project: str) -> None:
    task = tasks.add(conn, "Buy shingles", project=project)
    assert task.project_id == project
    other = tasks.add(conn, "Unrelated")
    linked = tasks.update(conn, other.id, project=project)
    conn.commit()
    assert linked.project_id == project
    assert ids(tasks.listing(conn, project=project)) == [task.id, other.id]
    unlinked = tasks.update(conn, task.id, project=None)
    conn.commit()
    assert unlinked.project_id is None
    assert ids(tasks.listing(conn, project=project)) == [other.id]
    # Done tasks stay linked and show with include_done.
    tasks.update(conn, other.id, done=True)
    assert tasks.listing(conn, project=project) == []
    assert ids(tasks.listing(conn, project=project, include_done=True)) == [other.id]


def test_link_to_an_unknown_project(conn: db.Connection, project: str) -> None:
    with pytest.raises(ProjectNotFound, match="nope"):
        tasks.add(conn, "Orphan", project="nope")
    task = tasks.add(conn, "Kept")
    with pytest.raises(ProjectNotFound, match="nope"):
        tasks.update(conn, task.id, project="nope")
    conn.commit()
    assert tasks.get(conn, task.id).project_id is None
    assert [t.title for t in tasks.listing(conn)] == ["Kept"]


def test_link_before_any_sync(conn: db.Connection, board: Board) -> None:
    """A project that is on the board but not mirrored yet cannot be linked."""
    actions.new_project(board, "Not synced", "coder", project_id="later")
    with pytest.raises(ProjectNotFound, match="later"):
        tasks.add(conn, "Too early", project="later")
    Syncer(board).sync(conn)
    assert tasks.add(conn, "In time", project="later").project_id == "later"


def test_ordering(conn: db.Connection) -> None:
    undated = tasks.add(conn, "Undated")
    later = tasks.add(conn, "Later", due="2026-12-10")
    sooner = tasks.add(conn, "Sooner", due="2026-12-01")
    moment = tasks.add(conn, "Moment", due="2026-12-05T10:00+00:00")
    high = tasks.add(conn, "Undated but urgent", priority=1)
    finished = tasks.add(conn, "Finished", due="2026-11-01")
    tasks.update(conn, finished.id, done=True)
    conn.commit()
    expected_open = [sooner.id, moment.id, later.id, high.id, undated.id]
    assert ids(tasks.listing(conn, now=NOW, tz=UTC)) == expected_open
    assert ids(tasks.listing(conn, include_done=True, now=NOW, tz=UTC)) == [
        *expected_open,
        finished.id,
    ]


def test_tags_round_trip(conn: db.Connection) -> None:
    task = tasks.add(conn, "Tagged", tags=["ünïcode", "with space", "x,y", '"quoted"'])
    conn.commit()
    assert tasks.get(conn, task.id).tags == ["ünïcode", "with space", "x,y", '"quoted"']
    assert tasks.add(conn, "Untagged").tags == []


def test_sql_injection_in_a_title_is_just_text(conn: db.Connection) -> None:
    nasty = "'); DROP TABLE tasks; --"
    task = tasks.add(
        conn, nasty, notes="'; DELETE FROM tasks; --", tags=["'); DROP TABLE tasks; --"]
    )
    conn.commit()
    assert tasks.get(conn, task.id).title == nasty
    edited = tasks.update(conn, task.id, title=nasty + " again")
    conn.commit()
    assert edited.title == nasty + " again"
    assert conn.execute("SELECT to_regclass('tasks') IS NOT NULL AS there").fetchone() == {
        "there": True
    }
    assert [t.title for t in tasks.listing(conn)] == [nasty + " again"]
    with pytest.raises(ProjectNotFound):
        tasks.add(conn, "x", project="' OR '1'='1")


def test_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    def settings() -> Settings:
        return Settings.from_env(os.environ)

    monkeypatch.setenv("MC_TZ", "Asia/Tokyo")
    monkeypatch.setenv("TZ", "UTC")
    assert tasks.local_zone(settings()) == TOKYO
    monkeypatch.delenv("MC_TZ")
    monkeypatch.setenv("TZ", ":America/Los_Angeles")
    assert tasks.local_zone(settings()) == LOS_ANGELES
    monkeypatch.setenv("MC_TZ", "Mars/Olympus")
    with pytest.raises(InvalidInput, match="MC_TZ"):
        tasks.local_zone(settings())
