"""The board as every surface shows it: the mirror's accepted state, marked where git differs.

Git can hold what the rules refused (a `--no-verify` move into done, an unsigned edit).
The mirror keeps the last accepted version of such a project, flagged with the commit
and the reason. The page reads the mirror; the CLI reads git (it works without the
database), and overlays the mirror's accepted version wherever the mirror flagged a
project — so `mc board`, `mc project list/show`, `/api/board` and `/api/projects/ID`
agree on the lane and say the same thing about the divergence (issue 12.6).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from mc.board.board import Board, Entry, order
from mc.board.layout import Lane, project_path
from mc.errors import InvalidProjectFile, McError
from mc.mirror import db
from mc.mirror.words import activity_text


class Diverged(NamedTuple):
    """Git holds a version of the project the rules refused; the board shows the accepted."""

    commit: str | None  # the commit that was refused
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "reason": self.reason}

    def __str__(self) -> str:
        at = f" at {self.commit[:12]}" if self.commit else ""
        return f"git differs{at}, refused: {self.reason}"


def diverged_of(row: Any) -> Diverged | None:
    """The divergence a mirror row records (its flag), if any."""
    if row is None or not row.get("flagged"):
        return None
    return Diverged(row.get("flagged_commit"), row["flagged"])


@contextmanager
def mirror(board: Board, *, sync: bool = True) -> Iterator[db.Connection | None]:
    """The board's database (brought to the tip, unless ``sync`` is False), when it is
    running: never started here, so a command works the same without it."""
    from mc.mirror.sync import Syncer
    from mc.mirror.target import target

    where = target(board)
    if where.cluster is not None and not where.cluster.running():
        yield None
        return
    try:
        conn = db.connect(where.url)
    except McError:
        yield None
        return
    try:
        try:
            if sync:
                Syncer(board).sync(conn)
        except McError:
            conn.rollback()
        yield conn
    finally:
        conn.close()


def accepted(
    board: Board, conn: db.Connection | None, entries: Sequence[Entry]
) -> tuple[list[Entry], dict[str, Diverged]]:
    """``entries`` (git's) with each flagged project replaced by its accepted version."""
    if conn is None:
        return list(entries), {}
    rows = {r["id"]: r for r in db.fetch_all(conn, "projects_flagged")}
    conn.commit()
    if not rows:
        return list(entries), {}
    out: list[Entry] = []
    marks: dict[str, Diverged] = {}
    seen = set()
    for entry in entries:
        seen.add(entry.id)
        row = rows.get(entry.id)
        if row is None:
            out.append(entry)
            continue
        marks[entry.id] = Diverged(row["flagged_commit"], row["flagged"])
        out.append(_accepted_entry(board, row) or entry)
    for pid, row in rows.items():  # deleted in git by a refused commit: still on the board
        if pid not in seen and (kept := _accepted_entry(board, row)) is not None:
            marks[pid] = Diverged(row["flagged_commit"], row["flagged"])
            out.append(kept)
    out.sort(key=order)
    return out, marks


def _accepted_entry(board: Board, row: dict[str, Any]) -> Entry | None:
    blob, lane = row["applied_blob"], Lane(row["lane"])
    if not blob:
        return None
    try:
        project = board.parse_blob(blob, project_path(lane, row["id"]))
    except (InvalidProjectFile, McError):
        return None
    return Entry(row["id"], lane, blob, project)


def entry_json(entry: Entry, diverged: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A project as the CLI's --json and the assistant's tools give it: its fields (the
    accepted version), where it is, and ``diverged`` when git holds a refused one."""
    from mc.board.projectfile import to_json

    out: dict[str, Any] = {"id": entry.id, "lane": entry.lane.value, "path": entry.path}
    mark = (diverged or {}).get(entry.id)
    out["diverged"] = mark.to_json() if mark is not None else None
    if entry.project is not None:
        out.update(to_json(dict(entry.project.data)))
        out["valid"] = True
    else:
        out["valid"] = False
        out["error"] = entry.error
    return out


def activity_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the activity history, as the live feed and the tools give it: the
    facts, and ``text``, the event in words (mc/mirror/words.py)."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "project_id": row["project_id"],
        "from_lane": row["from_lane"],
        "to_lane": row["to_lane"],
        "action": row["action"],
        "actor": row["actor"],
        "who": row["who"],
        "summary": row["summary"],
        "title": row.get("title"),
        "text": activity_text(row),
        "at": row["at"].isoformat(),
    }
