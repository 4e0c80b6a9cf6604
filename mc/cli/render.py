"""Plain-text views of the board for the terminal."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Mapping, Sequence

from mc.board.board import Entry
from mc.board.layout import LANES, Lane


def _state(entry: Entry) -> str:
    """The one-word status a card shows."""
    if entry.project is None:
        return "INVALID"
    p = entry.project
    if p.needs_human:
        return "needs-human"
    if p.approved:
        return "approved"
    if p.ready_for_human:
        return "ready"
    review = p.review
    if entry.lane is Lane.IN_PROGRESS and review is not None and not review.passed:
        return "rework"
    run = p.run
    return (run.outcome or "") if run is not None else ""


def _due(entry: Entry) -> str:
    if entry.project is None or entry.project.get("due") is None:
        return ""
    due = entry.project.get("due")
    day = due.date() if isinstance(due, dt.datetime) else due
    text = day.isoformat()
    return text + " !" if day < dt.date.today() and entry.lane is not Lane.DONE else text


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def project_table(entries: Sequence[Entry], diverged: Mapping[str, object] = {}) -> str:
    """One line per project; a project git holds differently than accepted is marked ⚠."""
    if not entries:
        return "No projects. Add one: mc project new TITLE --archetype coder\n"
    rows = [("ID", "LANE", "P", "ARCHETYPE", "DUE", "STATE", "TITLE")]
    for e in entries:
        p = e.project
        rows.append(
            (
                e.id,
                e.lane.value,
                str(p.get("priority", "")) if p else "",
                p.archetype if p else "?",
                _due(e),
                _state(e) + (" ⚠" if e.id in diverged else ""),
                p.title if p else (e.error or ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines + _divergence_notes(diverged)) + "\n"


def _divergence_notes(diverged: Mapping[str, object]) -> list[str]:
    if not diverged:
        return []
    return ["", "⚠ shown as accepted; git holds a refused change:"] + [
        f"  {pid}: {mark}" for pid, mark in sorted(diverged.items())
    ]


def project_detail(
    entry: Entry, tasks: Sequence[object] | None = None, diverged: object | None = None
) -> str:
    lines = [f"{entry.id}  [{entry.lane.value}]"]
    if diverged is not None:
        lines.append(f"⚠ shown as accepted; {diverged}")
    if entry.project is None:
        lines.append(f"INVALID: {entry.error}")
        return "\n".join(lines) + "\n"
    data = entry.project.data
    lines.append(entry.project.title)
    for key in ("archetype", "model", "priority", "owner", "due", "labels", "workspace"):
        if key in data:
            value = data[key]
            lines.append(f"  {key}: {', '.join(value) if isinstance(value, list) else value}")
    if data.get("description"):
        lines += ["", "Description:", *("  " + ln for ln in str(data["description"]).splitlines())]
    if data.get("acceptance"):
        lines += ["", "Acceptance:", *(f"  - {a}" for a in data["acceptance"])]
    for key in ("run", "review", "needs_human", "approved"):
        if key in data:
            block = data[key]
            lines += ["", f"{key.replace('_', ' ').capitalize()}:"]
            lines += [f"  {k}: {v}" for k, v in block.items()]
    if data.get("ready_for_human"):
        lines += ["", "Ready for you: mc approve " + entry.id]
    if tasks is None:
        lines += ["", "Tasks: (the database is not reachable)"]
    elif tasks:
        from mc.mirror.tasks import local_zone

        now, tz = dt.datetime.now(dt.UTC), local_zone()
        lines += ["", "Tasks:", *("  " + task_line(t, now, tz) for t in tasks)]
    return "\n".join(lines) + "\n"


COLUMN_MIN = 24  # narrower lanes than this are stacked: an id and a few words of title


def board_columns(
    entries: Sequence[Entry],
    limits: Mapping[Lane, int],
    width: int,
    diverged: Mapping[str, object] = {},
) -> str:
    """The five lanes in ``width`` columns of text: side by side when each lane gets at
    least COLUMN_MIN, else one under the other; every line fits, titles cut with …."""
    width = max(width, 20)
    by_lane = {lane: [e for e in entries if e.lane is lane] for lane in LANES}
    heads = {lane: _lane_head(lane, len(by_lane[lane]), limits) for lane in LANES}
    col = (width - 2 * (len(LANES) - 1)) // len(LANES)
    if col >= COLUMN_MIN:
        lines = _side_by_side(by_lane, heads, col, diverged)
    else:
        lines = _stacked(by_lane, heads, width, diverged)
    notes = [
        part
        for line in _divergence_notes(diverged)
        for part in textwrap.wrap(line, width, subsequent_indent="    ") or [""]
    ]  # the reason matters more than one line: wrapped, never cut
    return "\n".join(lines + notes) + "\n"


def _lane_head(lane: Lane, count: int, limits: Mapping[Lane, int]) -> str:
    limit = f"/{limits[lane]}" if lane in limits else ""
    return f"{lane.title} ({count}{limit})"


def _card_text(entry: Entry, diverged: Mapping[str, object], id_width: int = 0) -> str:
    """A project in one line: its id, its title, and a mark for what waits on a person."""
    mark = {"ready": " ✓", "needs-human": " !", "INVALID": " ✗"}.get(_state(entry), "")
    mark += " ⚠" if entry.id in diverged else ""
    title = entry.project.title if entry.project else (entry.error or "")
    return f"{entry.id.ljust(id_width)}  {title}{mark}"


def _side_by_side(
    by_lane: Mapping[Lane, list[Entry]],
    heads: Mapping[Lane, str],
    col: int,
    diverged: Mapping[str, object],
) -> list[str]:
    lines = ["  ".join(_cut(heads[lane], col).ljust(col) for lane in LANES).rstrip()]
    lines.append("  ".join("─" * col for _ in LANES))
    depth = max((len(v) for v in by_lane.values()), default=0)
    for i in range(depth):
        cells = []
        for lane in LANES:
            items = by_lane[lane]
            text = _card_text(items[i], diverged) if i < len(items) else ""
            cells.append(_cut(text, col).ljust(col))
        lines.append("  ".join(cells).rstrip())
    return lines


def _stacked(
    by_lane: Mapping[Lane, list[Entry]],
    heads: Mapping[Lane, str],
    width: int,
    diverged: Mapping[str, object],
) -> list[str]:
    lines: list[str] = []
    for lane in LANES:
        if lines:
            lines.append("")
        lines += [_cut(heads[lane], width), "─" * min(width, max(len(heads[lane]), 12))]
        items = by_lane[lane]
        id_width = max((len(e.id) for e in items), default=0)
        lines += [_cut("  " + _card_text(e, diverged, id_width), width) for e in items] or [
            "  (empty)"
        ]
    return lines


def task_line(task: object, now: dt.datetime, tz: dt.tzinfo) -> str:
    from mc.mirror.tasks import Task

    assert isinstance(task, Task)
    mark = "x" if task.done_at else ("!" if task.overdue(now, tz) else " ")
    if task.due_at is not None:
        due = task.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    else:
        due = task.due_date.isoformat() if task.due_date else ""
    extra = []
    if task.priority:
        extra.append(f"p{task.priority}")
    if task.project_id:
        extra.append(f"@{task.project_id}")
    extra += [f"#{t}" for t in task.tags]
    tail = f"  {' '.join(extra)}" if extra else ""
    return f"[{mark}] {task.id:>4}  {due:<16}  {task.title}{tail}"


def status_text(data: Mapping[str, object]) -> str:
    lines = []
    database = data.get("database") or {}
    assert isinstance(database, dict)
    lines.append(f"database: {database.get('state')} ({database.get('where')})")
    daemon = data.get("daemon") or {}
    assert isinstance(daemon, dict)
    lines.append(f"daemon:   {'running' if daemon.get('running') else 'not running'}")
    sync = data.get("sync") or {}
    assert isinstance(sync, dict)
    if sync:
        last = sync.get("last_synced_commit") or "never"
        lines.append(
            f"synced:   {str(last)[:12]}, tip {str(sync.get('tip') or '-')[:12]}, "
            f"{sync.get('behind', '?')} commits behind, "
            f"last sync {sync.get('last_synced_at') or '-'}"
        )
    lanes = data.get("lanes") or {}
    assert isinstance(lanes, dict)
    if lanes:
        lines.append("lanes:    " + ", ".join(f"{k} {v}" for k, v in lanes.items()))
    refused = data.get("config_refused")
    if isinstance(refused, dict):
        lines.append(
            f"mc.yaml:  refused at {refused['commit'][:12]}, running the last accepted one: "
            f"{refused['reason']}"
        )
    for reason in data.get("held") or []:  # type: ignore[attr-defined]
        lines.append(f"held:     {reason}")
    for item in data.get("invalid") or []:  # type: ignore[attr-defined]
        lines.append(f"invalid:  {item['id']}: {item['error']}")
    for item in data.get("violations") or []:  # type: ignore[attr-defined]
        lines.append(
            f"violation: {str(item['commit'])[:12]} {item.get('project_id') or ''}: "
            f"{item['message']}"
        )
    for item in data.get("undelivered") or []:  # type: ignore[attr-defined]
        given_up = "given up" if item["state"] == "dead" else f"{item['attempts']} tries"
        lines.append(
            f"notify:   {item['event']} {item.get('project_id') or ''} to {item['target']} "
            f"not delivered ({given_up}): {item['error']}"
        )
    return "\n".join(lines) + "\n"
