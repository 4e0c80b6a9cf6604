"""The task tracker: small to-dos kept in PostgreSQL, linked to projects by id.

Due is either a day (``due_date``) or a moment (``due_at``). A task is overdue when
it is not done and its due moment has passed — for a day, when that day is over
in the person's time zone (``MC_TZ``, else ``TZ``, else the machine's).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mc.errors import InvalidInput, StaleVersion, TaskNotFound
from mc.mirror import db
from mc.settings import Settings, current

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Task(NamedTuple):
    id: int
    title: str
    notes: str
    due_date: dt.date | None
    due_at: dt.datetime | None
    priority: int | None
    tags: list[str]
    project_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    done_at: dt.datetime | None

    def overdue(self, now: dt.datetime, tz: dt.tzinfo) -> bool:
        return is_overdue(self.due_date, self.due_at, self.done_at, now, tz)

    def to_json(self, now: dt.datetime, tz: dt.tzinfo) -> dict[str, Any]:
        out = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in self._asdict().items()}
        out["overdue"] = self.overdue(now, tz)
        return out


def is_overdue(
    due_date: dt.date | None,
    due_at: dt.datetime | None,
    done_at: dt.datetime | None,
    now: dt.datetime,
    tz: dt.tzinfo,
) -> bool:
    if done_at is not None:
        return False
    if due_at is not None:
        return due_at < now
    if due_date is not None:
        return due_date < now.astimezone(tz).date()
    return False


def local_zone(settings: Settings | None = None) -> dt.tzinfo:
    """The person's time zone: MC_TZ, else TZ, else the machine's."""
    zone = (settings or current()).tz
    if zone is not None:
        return zone
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"TZ={name!r} is not a time zone (e.g. Europe/Berlin)") from None
    local = dt.datetime.now().astimezone().tzinfo
    return local or dt.UTC


_IN = re.compile(r"(?:in\s+)?\+?(\d{1,4})\s*(d|day|days|w|week|weeks|h|hour|hours)$")


def parse_due(
    text: str, *, now: dt.datetime | None = None, tz: dt.tzinfo | None = None
) -> tuple[dt.date | None, dt.datetime | None]:
    """`--due` text -> (day, moment): today, tomorrow, yesterday, fri, in 3 days, +2w,
    2026-12-01, 2026-12-01 17:00, 2026-12-01T17:00+01:00 ("" or none: no due)."""
    tz = tz or local_zone()
    now = (now or dt.datetime.now(dt.UTC)).astimezone(tz)
    raw = " ".join(text.strip().lower().split())
    today = now.date()
    if raw in ("", "none", "no", "-"):
        return None, None
    if raw == "today":
        return today, None
    if raw == "tomorrow":
        return today + dt.timedelta(days=1), None
    if raw == "yesterday":
        return today - dt.timedelta(days=1), None
    if raw in ("next week",):
        return today + dt.timedelta(days=7), None
    day = raw.removeprefix("next ")
    if day[:3] in WEEKDAYS and day in (day[:3], _full(day[:3])):
        ahead = (WEEKDAYS.index(day[:3]) - today.weekday()) % 7
        if raw.startswith("next ") and ahead == 0:
            ahead = 7
        return today + dt.timedelta(days=ahead), None
    m = _IN.fullmatch(raw)
    if m:
        n, unit = int(m.group(1)), m.group(2)[0]
        if unit == "h":
            return None, (now + dt.timedelta(hours=n)).astimezone(dt.UTC)
        return today + dt.timedelta(days=n * (7 if unit == "w" else 1)), None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            return dt.date.fromisoformat(raw), None
        moment = dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise InvalidInput(
            f"--due {text!r}: expected a date (2026-12-01), a time (2026-12-01 17:00), "
            "today, tomorrow, yesterday, a weekday (fri), or in N days/weeks/hours"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return None, moment.astimezone(dt.UTC)


def _full(short: str) -> str:
    return {
        "mon": "monday",
        "tue": "tuesday",
        "wed": "wednesday",
        "thu": "thursday",
        "fri": "friday",
        "sat": "saturday",
        "sun": "sunday",
    }[short]


def _task(row: dict[str, Any] | None, number: int) -> Task:
    if row is None:
        raise TaskNotFound(f"no task {number}")
    return Task(**{k: row[k] for k in Task._fields})


def _check_project(conn: db.Connection, project: str | None) -> None:
    if project is not None and db.fetch_one(conn, "project_exists", {"id": project}) is None:
        from mc.errors import ProjectNotFound

        raise ProjectNotFound(f"no project {project!r} on the board (is the daemon syncing?)")


def _check_title(title: str) -> str:
    title = title.strip()
    if not title or len(title) > 500 or len(title.splitlines()) != 1 or _CONTROL.search(title):
        raise InvalidInput("TITLE: one line of 1 to 500 characters, no control characters")
    return title


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _check_text(what: str, text: str) -> str:
    if "\x00" in text:
        raise InvalidInput(f"{what}: must not contain NUL characters")
    return text


def _check_tags(tags: list[str] | None) -> list[str]:
    out = []
    for tag in tags or []:
        tag = tag.strip()
        if not tag or len(tag) > 100 or _CONTROL.search(tag) or "\n" in tag:
            raise InvalidInput(f"--tag {tag!r}: one line of at most 100 characters")
        out.append(tag)
    return out


def _check_priority(priority: int | None) -> int | None:
    if priority is not None and not 1 <= priority <= 4:
        raise InvalidInput("--priority: 1 (highest) to 4")
    return priority


def add(
    conn: db.Connection,
    title: str,
    *,
    due: str | None = None,
    project: str | None = None,
    priority: int | None = None,
    tags: list[str] | None = None,
    notes: str = "",
) -> Task:
    due_date, due_at = parse_due(due) if due else (None, None)
    with db.translated(), conn.transaction():
        _check_project(conn, project)
        row = db.fetch_one(
            conn,
            "task_insert",
            {
                "title": _check_title(title),
                "notes": _check_text("--notes", notes),
                "due_date": due_date,
                "due_at": due_at,
                "priority": _check_priority(priority),
                "tags": _check_tags(tags),
                "project_id": project,
            },
        )
    return _task(row, 0)


def get(conn: db.Connection, number: int) -> Task:
    return _task(db.fetch_one(conn, "task_get", {"id": number}), number)


def listing(
    conn: db.Connection,
    *,
    overdue: bool = False,
    project: str | None = None,
    include_done: bool = False,
    now: dt.datetime | None = None,
    tz: dt.tzinfo | None = None,
) -> list[Task]:
    tz = tz or local_zone()
    now = now or dt.datetime.now(dt.UTC)
    rows = db.fetch_all(
        conn,
        "task_list",
        {
            "project": project,
            "include_done": include_done,
            "tz": str(tz) if isinstance(tz, ZoneInfo) else "UTC",
        },
    )
    tasks = [_task(r, 0) for r in rows]
    if overdue:
        tasks = [t for t in tasks if t.overdue(now, tz)]
    return tasks


_UNSET: Any = object()


def update(
    conn: db.Connection,
    number: int,
    *,
    title: str | None = None,
    notes: str | None = None,
    due: str | None = _UNSET,
    priority: int | None = _UNSET,
    tags: list[str] | None = None,
    project: str | None = _UNSET,
    done: bool | None = None,
    expect: str | None = None,
) -> Task:
    """Change task N; with ``expect`` (an etag, "*" for any), only if it is still that
    version (StaleVersion otherwise), checked while the task is held."""
    with db.translated(), conn.transaction():
        task = _held(conn, number, expect)
        values = task._asdict()
        if title is not None:
            values["title"] = _check_title(title)
        if notes is not None:
            values["notes"] = _check_text("--notes", notes)
        if due is not _UNSET:
            values["due_date"], values["due_at"] = parse_due(due) if due else (None, None)
        if priority is not _UNSET:
            values["priority"] = _check_priority(priority)
        if tags is not None:
            values["tags"] = _check_tags(tags)
        if project is not _UNSET:
            _check_project(conn, project)
            values["project_id"] = project
        if done is not None:
            values["done_at"] = (task.done_at or dt.datetime.now(dt.UTC)) if done else None
        row = db.fetch_one(conn, "task_update", values)
    return _task(row, number)


def delete(conn: db.Connection, number: int, *, expect: str | None = None) -> Task:
    """Remove task N (what it was is returned); with ``expect``, only that version."""
    with db.translated(), conn.transaction():
        _held(conn, number, expect)
        row = db.fetch_one(conn, "task_delete", {"id": number})
    return _task(row, number)


def etag(task: Task) -> str:
    """The version of a task, for If-Match: it changes with every update."""
    return f"t{task.id}-{task.updated_at.timestamp():.6f}"


def _held(conn: db.Connection, number: int, expect: str | None) -> Task:
    """Task N, held for this transaction; StaleVersion unless it is ``expect``."""
    db.fetch_one(conn, "task_lock", {"id": number})
    task = _task(db.fetch_one(conn, "task_get", {"id": number}), number)
    if expect not in (None, "*") and etag(task) != expect:
        raise StaleVersion(f"task {number} changed since you read it: reload it")
    return task
