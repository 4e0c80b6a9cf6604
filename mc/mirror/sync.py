"""Mirroring the board into PostgreSQL: commits in, rows, activity and violations out.

The database takes every commit between the last synced one and the tip, one at a
time, and judges each with the board's own rules (audit.Auditor) against the state
the database *accepted* — not git's — so a forbidden commit (hooks skipped, a bad
signature) never becomes database state: the project keeps its last accepted row
and is flagged, and a later commit that puts things right is judged against what
the database has. An invalid file keeps the last valid row and records the attempt
and its error. Each sync is one transaction ending in one NOTIFY (ids only).

A rebuild replays the whole history the same way, in memory, and bulk-loads the
result with COPY, so dropping the database and rebuilding gives exactly what the
incremental syncs gave.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from mc.board.audit import Auditor
from mc.board.board import Board
from mc.board.layout import (
    LANE_NAMES_ORDERED,
    Lane,
    classify,
    project_path,
)
from mc.board.projectfile import to_json
from mc.errors import InvalidProjectFile
from mc.mirror import db, outbox
from mc.mirror.replay import (
    _POSITION,
    MAX_WALK,
    META_ACTIVITY_FLOOR,
    META_AT,
    META_CONFIG,
    META_LAST,
    META_TRUST,
    Accepted,
    Attempt,
    Replay,
)


class SyncResult(NamedTuple):
    commit: str
    commits: int
    projects: list[str]
    activity: list[int]
    violations: int
    rebuilt: bool = False


def _row(pid: str, acc: Accepted) -> dict[str, Any]:
    data = acc.data or {}
    due = data.get("due")
    due_date = due if isinstance(due, dt.date) and not isinstance(due, dt.datetime) else None
    due_at = due if isinstance(due, dt.datetime) else None
    if due_at is not None and due_at.tzinfo is None:
        due_at = due_at.replace(tzinfo=dt.UTC)
    return {
        "id": pid,
        "lane": acc.lane.value,
        "title": data.get("title"),
        "archetype": data.get("archetype"),
        "model": data.get("model"),
        "priority": data.get("priority"),
        "owner": data.get("owner"),
        "due_date": due_date,
        "due_at": due_at,
        "labels": list(data.get("labels") or []),
        "ready_for_human": bool(data.get("ready_for_human")),
        "needs_human": bool(data.get("needs_human")),
        "data": db.jsonb(to_json(data)),
        "applied_commit": acc.commit,
        "applied_blob": acc.blob,
        "flagged": acc.flagged,
        "flagged_commit": acc.flagged_commit,
        "at": acc.lane_since or dt.datetime.now(dt.UTC),
        "created_at": acc.created_at or acc.lane_since or dt.datetime.now(dt.UTC),
    }


def _attempt_row(pid: str, attempt: Attempt, at: dt.datetime) -> dict[str, Any]:
    m = _POSITION.match(attempt.error)
    return {
        "id": pid,
        "lane": attempt.lane.value,
        "commit": attempt.commit,
        "blob": attempt.blob,
        "error": attempt.error,
        "path": m.group("path") if m else project_path(attempt.lane, pid),
        "line": int(m.group("line")) if m else None,
        "col": int(m.group("col")) if m else None,
        "at": at,
    }


def _from_db(board: Board, row: Mapping[str, Any]) -> Accepted | None:
    if row["applied_blob"] is None:
        return None  # only an invalid file was ever seen: nothing accepted yet
    lane = Lane(row["lane"])
    try:
        # The rules compare parsed values (dates, not their JSON text): parse the blob
        # the row was made from (from the parse cache, normally).
        data = dict(board.parse_blob(row["applied_blob"], project_path(lane, row["id"])).data)
    except InvalidProjectFile:
        data = _dates_back(row["data"] or {})
    return Accepted(
        lane,
        row["applied_blob"],
        data,
        row["flagged"],
        row["flagged_commit"],
        row["applied_commit"],
        row["lane_since"],
        row["created_at"],
    )


_TIMESTAMPS = {
    "run": ("started_at", "finished_at"),
    "review": ("at",),
    "needs_human": ("at",),
    "approved": ("at",),
}


def _dates_back(data: dict[str, Any]) -> dict[str, Any]:
    """JSON data with its dates parsed again (when the blob itself is gone)."""
    out = dict(data)
    if isinstance(out.get("due"), str):
        text = out["due"]
        out["due"] = dt.datetime.fromisoformat(text) if "T" in text else dt.date.fromisoformat(text)
    for key, fields in _TIMESTAMPS.items():
        block = out.get(key)
        if isinstance(block, dict):
            out[key] = {
                k: dt.datetime.fromisoformat(v) if k in fields and isinstance(v, str) else v
                for k, v in block.items()
            }
    return out


class Syncer:
    """Keeps one database in step with one board."""

    def __init__(self, board: Board) -> None:
        self.board = board
        self.auditor = Auditor(
            board.repo, board.cat, parser=board.parse_blob, configs=board.config_from_blob
        )
        self.syncs = 0  # transactions that changed something (for the daemon's counters)

    def sync(self, conn: db.Connection) -> SyncResult | None:
        """Bring the database to the tip: one transaction, one NOTIFY. None if already there."""
        with db.translated(), conn.transaction():
            db.execute(conn, "sync_lock")
            meta = {
                r["key"]: r["value"]
                for r in db.fetch_all(conn, "meta_many", {"keys": [META_LAST, *META_TRUST]})
            }
            last = meta.get(META_LAST)
            tip = self.board.tip
            if tip is None or tip == last:
                return None
            commits = self._since(last, tip) if last else None
            if commits is None:
                result = self._rebuild(conn, tip)
                self._finish(conn, result)
            else:
                result = self._incremental(conn, commits, tip, meta)
        self.syncs += 1
        return result

    def rebuild(self, conn: db.Connection) -> SyncResult | None:
        """Replace the mirror with a replay of the whole history (idempotent)."""
        with db.translated(), conn.transaction():
            db.execute(conn, "sync_lock")
            tip = self.board.tip
            if tip is None:
                return None
            result = self._rebuild(conn, tip)
            self._finish(conn, result)
        self.syncs += 1
        return result

    def _since(self, last: str, tip: str) -> list[str] | None:
        """First-parent commits after ``last`` up to ``tip``, oldest first.

        None when ``last`` is not on that line (history was rewritten): rebuild then.
        """
        from mc.board.audit import parse_commit

        out: list[str] = []
        sha: str | None = tip
        while sha is not None and sha != last and len(out) < MAX_WALK:
            obj = self.board.cat.read(sha)
            if obj is None:
                return None
            out.append(sha)
            info = parse_commit(sha, obj[2])
            sha = info.parents[0] if info.parents else None
        if sha != last:
            return None  # history was rewritten under us: rebuild
        out.reverse()
        return out

    def _incremental(
        self, conn: db.Connection, commits: list[str], tip: str, meta: dict[str, str]
    ) -> SyncResult:
        accepted: dict[str, Accepted | None] = {}

        def load(ids: Iterable[str]) -> None:
            missing = [pid for pid in ids if pid not in accepted]
            if missing:
                for pid in missing:
                    accepted[pid] = None
                for row in db.fetch_all(conn, "projects_by_ids", {"ids": missing}):
                    accepted[row["id"]] = _from_db(self.board, row)

        replay = Replay(self.board, self.auditor, accepted)
        replay.resume(meta)

        replay.review_job = _review_jobs(conn)
        replay.announce = True
        replay.run(commits, load)
        now = dt.datetime.now(dt.UTC)
        ids: list[int] = []
        if replay.activity:  # one statement, for the ids the NOTIFY carries
            columns = {k: [a[k] for a in replay.activity] for k in replay.activity[0]}
            ids = [r["id"] for r in db.fetch_all(conn, "activity_insert_many", columns)]
        result = SyncResult(tip, len(commits), sorted(replay.touched), ids, len(replay.violations))
        for event in replay.events:  # told in the same transaction as the change
            outbox.record(
                conn,
                event["kind"],
                project_id=event["project_id"],
                title=event["title"],
                detail=event["detail"],
            )
        with db.pipeline(conn):  # the rest in one round trip
            for key, value in replay.meta(tip).items():
                db.send(conn, "meta_set", {"key": key, "value": value})
            for pid in sorted(replay.touched):
                acc = accepted.get(pid)
                if pid in replay.deleted and acc is None:
                    db.send(conn, "project_delete", {"id": pid})
                elif acc is not None:
                    db.send(conn, "project_upsert", _row(pid, acc))
                if pid in replay.attempts:
                    db.send(conn, "project_attempt", _attempt_row(pid, replay.attempts[pid], now))
            for violation in replay.violations:
                db.send(conn, "violation_insert", violation)
            self._finish(conn, result)
        return result

    def _rebuild(self, conn: db.Connection, tip: str) -> SyncResult:
        commits = self.board.repo.first_parent_commits(tip)
        accepted: dict[str, Accepted | None] = {}
        replay = Replay(self.board, self.auditor, accepted)
        replay.review_job = _review_jobs(conn)
        replay.run(commits, lambda ids: None)
        db.execute(conn, "rebuild_truncate")
        db.execute(conn, "activity_truncate")
        for key, value in replay.meta(tip).items():
            db.execute(conn, "meta_set", {"key": key, "value": value})
        now = dt.datetime.now(dt.UTC)
        rows = [_row(pid, acc) for pid, acc in sorted(accepted.items()) if acc is not None]
        columns = [
            "id",
            "lane",
            "title",
            "archetype",
            "model",
            "priority",
            "owner",
            "due_date",
            "due_at",
            "labels",
            "ready_for_human",
            "needs_human",
            "data",
            "applied_commit",
            "applied_blob",
            "flagged",
            "flagged_commit",
            "lane_since",
            "created_at",
            "updated_at",
        ]
        db.copy_rows(
            conn,
            "projects",
            columns,
            [
                [r[c] for c in columns[:17]]
                + [r["at"], _created(accepted.get(r["id"])) or r["at"], now]
                for r in rows
            ],
        )
        for pid, attempt in sorted(replay.attempts.items()):
            db.execute(conn, "project_attempt", _attempt_row(pid, attempt, now))
        activity_cols = [
            "kind",
            "project_id",
            "from_lane",
            "to_lane",
            "commit",
            "action",
            "actor",
            "who",
            "summary",
            "title",
            "detail",
            "at",
        ]
        db.copy_rows(
            conn,
            "activity",
            activity_cols,
            [[a[c] for c in activity_cols] for a in replay.activity],
        )
        db.execute(conn, "activity_restore_comments")
        floor = db.fetch_one(conn, "activity_floor")
        db.execute(
            conn,
            "meta_set",
            {"key": META_ACTIVITY_FLOOR, "value": str(floor["id"] if floor else 0)},
        )
        db.execute_many(conn, "violation_insert", replay.violations)
        return SyncResult(
            tip, len(commits), sorted(replay.touched), [], len(replay.violations), True
        )

    def _finish(self, conn: db.Connection, result: SyncResult) -> None:
        db.send(conn, "meta_set", {"key": META_LAST, "value": result.commit})
        db.send(conn, "meta_set", {"key": META_AT, "value": dt.datetime.now(dt.UTC).isoformat()})
        payload: dict[str, Any] = {"kind": "sync", "commit": result.commit}
        if result.rebuilt:
            payload["rebuilt"] = True
        else:
            payload["projects"] = result.projects
            payload["activity"] = result.activity
        text = json.dumps(payload, separators=(",", ":"))
        if len(text) > 7000:  # NOTIFY payloads stop at 8000 bytes: say "reload" instead
            text = json.dumps({"kind": "sync", "commit": result.commit, "rebuilt": True})
        db.notify(conn, db.BOARD_CHANNEL, text)


def _review_jobs(conn: db.Connection) -> Callable[[str], tuple[str, str, str] | None]:
    """job id -> (kind, project, verdict) from the job records (kept across rebuilds)."""

    def review_job(job_id: str) -> tuple[str, str, str] | None:
        row = db.fetch_one(conn, "job_get", {"id": int(job_id)})
        if row is None:
            return None
        result = row["result"] if isinstance(row["result"], dict) else {}
        return (row["kind"], row["project_id"], str(result.get("verdict", "")))

    return review_job


def scan_uncommitted(board: Board) -> list[dict[str, Any]]:
    """Edits in lane folders that are not committed (for the board's "uncommitted" badge)."""
    if board.repo.work_tree is None:
        return []
    rows = []
    seen: set[str] = set()
    for status, path in board.repo.status_entries(LANE_NAMES_ORDERED):
        if path in seen:  # e.g. "D " and "??" for a file removed from the index, then edited
            continue
        seen.add(path)
        _, _, pid = classify(path)
        rows.append({"path": path, "project_id": pid, "status": status.strip() or "?"})
    return rows


def store_uncommitted(conn: db.Connection, rows: list[dict[str, Any]]) -> bool:
    """Replace the uncommitted list; NOTIFY when it changed. True if it changed."""
    with db.translated(), conn.transaction():
        current = db.fetch_all(conn, "uncommitted_all")
        if [(r["path"], r["status"]) for r in current] == sorted(
            (r["path"], r["status"]) for r in rows
        ):
            return False
        db.execute(conn, "uncommitted_clear")
        db.execute_many(conn, "uncommitted_insert", rows)
        db.notify(
            conn,
            db.BOARD_CHANNEL,
            json.dumps({"kind": "uncommitted", "paths": [r["path"] for r in rows][:100]}),
        )
    return True


def use_accepted_config(board: Board, conn: db.Connection) -> None:
    """Make ``board`` run with the mc.yaml the mirror last accepted, not the tip's.

    A refused mc.yaml change (unsigned, on a board with approvers) is in git but must
    never choose what agents run (issue 12.1). Before the first sync: the tip's.
    """
    row = db.fetch_one(conn, "meta_get", {"key": META_CONFIG})
    conn.commit()
    if row is not None and row["value"]:
        board.pin_config(row["value"])


def _created(acc: Accepted | None) -> dt.datetime | None:
    return acc.created_at if acc is not None else None
