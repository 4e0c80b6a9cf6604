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
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from mc.board.audit import Auditor, CommitInfo, Trust, Violation
from mc.board.board import Board
from mc.board.git import FileChange, diff_trees, parse_tree, tree_has
from mc.board.layout import (
    BY_NAME,
    CONFIG_FILE,
    LANE_NAMES_ORDERED,
    SIGNERS_PATH,
    Lane,
    PathKind,
    classify,
    project_path,
    project_paths,
)
from mc.board.projectfile import to_json
from mc.errors import InvalidProjectFile
from mc.mirror import db

META_LAST = "last_synced_commit"
META_AT = "last_synced_at"
META_ACTIVITY_FLOOR = "activity_floor"  # the first activity id of the last rebuild
# The allowed signers the mirror accepted: a refused change to them must not let its
# keys sign later commits (signatures are judged against this, not git's parent).
META_SIGNERS = "accepted_signers"
META_GPG_BASE = "accepted_gpg_commit"  # whose .mc/gpg keys count ("": git's)
# The mc.yaml the pipeline runs with: the last one the rules accepted (a blob id), and
# the newest refused change git still holds ({"commit", "reason"} as JSON, "": none).
META_CONFIG = "accepted_config"
META_CONFIG_REFUSED = "config_refused"
META_TRUST = (META_SIGNERS, META_GPG_BASE, META_CONFIG, META_CONFIG_REFUSED)
MAX_WALK = 200_000
_REGULAR_MODES = frozenset({None, "100644", "100755"})
_POSITION = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<reason>.*)$")


class Accepted(NamedTuple):
    """What the database holds for a project: the last version the rules allowed."""

    lane: Lane
    blob: str | None  # None: never valid (only an invalid file was seen)
    data: dict[str, Any] | None
    flagged: str | None = None
    flagged_commit: str | None = None
    commit: str | None = None
    lane_since: dt.datetime | None = None
    created_at: dt.datetime | None = None


class Attempt(NamedTuple):
    lane: Lane
    commit: str
    blob: str
    error: str


class SyncResult(NamedTuple):
    commit: str
    commits: int
    projects: list[str]
    activity: list[int]
    violations: int
    rebuilt: bool = False


class _Replay:
    """Commit-by-commit judgement, shared by the incremental sync and the rebuild."""

    def __init__(self, board: Board, auditor: Auditor, accepted: dict[str, Accepted | None]):
        self.board = board
        self.auditor = auditor
        self.accepted = accepted  # id -> accepted state (None: no row); loaded lazily
        self.touched: set[str] = set()
        self.deleted: set[str] = set()
        self.attempts: dict[str, Attempt] = {}
        self.activity: list[dict[str, Any]] = []
        self.violations: list[dict[str, Any]] = []
        # The accepted signers and mc.yaml: judged by what was accepted, not git's parent.
        self.trust = Trust()
        # job id -> ("review", project, verdict) or None when there is no such job; set
        # by the incremental sync, which can see the job records (a rebuild may not).
        self.review_job: Callable[[str], tuple[str, str, str] | None] | None = None

    def resume(self, meta: dict[str, str]) -> None:
        """Carry on from what an earlier sync accepted (see :meth:`meta`)."""
        self.trust.signers = meta.get(META_SIGNERS)
        self.trust.gpg_base = meta.get(META_GPG_BASE) or None
        self.trust.config = meta.get(META_CONFIG) or None
        refused = json.loads(meta.get(META_CONFIG_REFUSED) or "null")
        self.trust.refused = (refused["commit"], refused["reason"]) if refused else None

    def meta(self, tip: str) -> dict[str, str]:
        """What this replay accepted, as the mirror keeps it, concrete at ``tip``."""
        trust = self.trust
        signers = trust.signers
        if signers is None:
            obj = self.board.cat.read(f"{tip}:{SIGNERS_PATH}")
            signers = (obj[2] if obj else b"").decode("utf-8", "replace")
        refused = trust.refused
        return {
            META_SIGNERS: signers,
            META_GPG_BASE: trust.gpg_base or "",
            META_CONFIG: trust.config or self.board.cat.resolve(f"{tip}:{CONFIG_FILE}") or "",
            META_CONFIG_REFUSED: (
                json.dumps({"commit": refused[0], "reason": refused[1]}) if refused else ""
            ),
        }

    def run(self, commits: Sequence[str], load: Any) -> None:
        if not commits:
            return
        infos = self.auditor.read_infos(commits)
        actors, signer_texts = self.auditor.signatures(commits, infos)
        trust = self.trust
        for sha in commits:
            info = infos[sha]
            actor, signers = trust.judge_signature(
                self.auditor, info, actors[sha], signer_texts[sha]
            )
            parent = info.parents[0] if info.parents else None
            parent_tree = infos[parent].tree if parent in infos else self._tree_of(parent)
            raw = [
                FileChange(path, old, new, mode)
                for path, old, new, mode in diff_trees(self.board.cat, parent_tree, info.tree)
            ]
            changes = trust.changes(raw)
            found = self._commit(info, actor, changes, signers, load)
            trust.after(info, raw, changes, found, signers)

    def _lane_index(self, tree: str) -> dict[str, list[Lane]]:
        index: dict[str, list[Lane]] = {}
        root = self.board.cat.read(tree)
        assert root is not None
        for mode, name, sha in parse_tree(root[2]):
            if mode != "40000" or name not in LANE_NAMES_ORDERED:
                continue
            obj = self.board.cat.read(sha)
            assert obj is not None
            for _, file, _ in parse_tree(obj[2]):
                if file.endswith(".yaml"):
                    index.setdefault(file[:-5], []).append(BY_NAME[name])
        return index

    def _tree_of(self, commit: str | None) -> str | None:
        if commit is None:
            return None
        return self.board.cat.resolve(f"{commit}^{{tree}}")

    def _commit(
        self,
        info: CommitInfo,
        actor: Any,
        changes: list[FileChange],
        signers: str,
        load: Any,
    ) -> list[Violation]:
        """Judge one commit's changes into the accepted state; the auditor's violations."""
        at = dt.datetime.fromtimestamp(info.time, dt.UTC)
        by_id: dict[str, list[tuple[Lane, str | None, str | None, str | None]]] = {}
        others: list[FileChange] = []
        for ch in changes:
            kind, lane, pid = classify(ch.path)
            if kind is PathKind.PROJECT and lane is not None and pid is not None:
                by_id.setdefault(pid, []).append((lane, ch.old, ch.new, ch.mode))
            else:
                others.append(ch)
        load(by_id.keys())

        def still_there(pid: str) -> tuple[Lane, str] | None:
            found = [
                (BY_NAME[spec.split(":", 1)[1].split("/", 1)[0]], obj[0])
                for spec, obj in self.board.cat.read_many(
                    [f"{info.sha}:{path}" for path in project_paths(pid)]
                )
                if obj is not None
            ]
            return found[0] if len(found) == 1 else None

        self.board.prefetch(
            (n, project_path(lane, pid))
            for pid, files in by_id.items()
            for lane, _, n, _ in files
            if n
        )
        # The change as the database sees it: from what it accepted to what git has now.
        judged: list[FileChange] = list(others)
        after: dict[str, tuple[Lane, str] | None] = {}
        modes: dict[str, str | None] = {}
        for pid, files in by_id.items():
            new = next(((lane, n) for lane, _, n, _ in files if n is not None), None)
            if new is None:
                new = still_there(pid)
            modes[pid] = next((m for _, _, n, m in files if n is not None), None)
            after[pid] = new
            acc = self.accepted.get(pid)
            old = (acc.lane, acc.blob) if acc is not None and acc.blob is not None else None
            if old == new:
                continue
            if old is not None and new is not None and old[0] is new[0]:
                judged.append(FileChange(project_path(old[0], pid), old[1], new[1], modes[pid]))
                continue
            if old is not None:
                judged.append(FileChange(project_path(old[0], pid), old[1], None))
            if new is not None:
                judged.append(FileChange(project_path(new[0], pid), None, new[1], modes[pid]))

        index: dict[str, list[Lane]] | None = None

        def lanes_of(pid: str) -> list[Lane]:
            nonlocal index
            if len(by_id) > 20:  # many projects at once: list the lanes once
                if index is None:
                    index = self._lane_index(info.tree)
                return index.get(pid, [])
            return [lane for lane, data in lane_trees() if tree_has(data, f"{pid}.yaml")]

        trees: list[tuple[Lane, bytes]] | None = None

        def lane_trees() -> list[tuple[Lane, bytes]]:
            nonlocal trees
            if trees is None:
                cat = self.board.cat
                root = cat.read(info.tree)
                assert root is not None
                trees = []
                for mode, name, sha in parse_tree(root[2]):
                    lane = BY_NAME.get(name)
                    obj = cat.read(sha) if lane is not None and mode == "40000" else None
                    if lane is not None and obj is not None:
                        trees.append((lane, obj[2]))
            return trees

        found = self.auditor.check_commit(
            info,
            actor,
            judged,
            lanes_of,
            signers=signers,
            config_spec=self.trust.config_spec(info.sha, changes),
        )
        refused: dict[str, Violation] = {}
        who = actor.name if actor.name and actor.name != "mc-service" else info.author
        role = "human" if actor.role.is_person else actor.role.value
        for v in found:
            self.violations.append(
                {
                    "commit": info.sha,
                    "project_id": v.project_id,
                    "path": v.path,
                    "message": v.message + (f" ({v.hint})" if v.hint else ""),
                    "actor": role,
                    "at": at,
                }
            )
            if v.project_id:
                refused.setdefault(v.project_id, v)
            else:
                self.activity.append(
                    {
                        "kind": "violation",
                        "project_id": None,
                        "from_lane": None,
                        "to_lane": None,
                        "commit": info.sha,
                        "action": info.trailers.get("Mc-Action"),
                        "actor": role,
                        "who": who,
                        "summary": (v.path + ": " if v.path else "") + v.message,
                        "at": at,
                    }
                )
        action = info.trailers.get("Mc-Action")
        for pid, new in after.items():
            acc = self.accepted.get(pid)
            self.touched.add(pid)
            if new is not None and modes.get(pid) not in _REGULAR_MODES:
                new = None  # a link or submodule is no project file: never read (12.5)
                refused.setdefault(pid, Violation(None, "not a regular file", "", info.sha, pid))
            if new is not None:
                try:
                    project = self.board.parse_blob(new[1], project_path(new[0], pid))
                except InvalidProjectFile as exc:
                    self.attempts[pid] = Attempt(new[0], info.sha, new[1], exc.message)
                    self._note(
                        "invalid", pid, acc, new[0], info, action, role, who, exc.message, at
                    )
                    continue
            if pid not in refused and self.review_job is not None and new is not None:
                reason = self._unbacked_ready(pid, acc, info, project)
                if reason:
                    refused[pid] = Violation(project_path(new[0], pid), reason, "", info.sha, pid)
                    self.violations.append(
                        {
                            "commit": info.sha,
                            "project_id": pid,
                            "path": project_path(new[0], pid),
                            "message": reason,
                            "actor": role,
                            "at": at,
                        }
                    )
            if pid in refused:
                self.attempts.pop(pid, None)
                message = refused[pid].message
                if acc is not None:
                    self.accepted[pid] = acc._replace(flagged=message, flagged_commit=info.sha)
                self._note(
                    "violation",
                    pid,
                    acc,
                    new[0] if new else None,
                    info,
                    action,
                    role,
                    who,
                    message,
                    at,
                )
                continue
            self.attempts.pop(pid, None)
            if new is None:
                self.deleted.add(pid)
                if acc is not None:
                    self.accepted[pid] = None
                    self._note("delete", pid, acc, None, info, action, role, who, "", at)
                continue
            data = dict(project.data)
            if acc is not None and acc.blob == new[1] and acc.lane is new[0]:
                if acc.flagged:  # git is back where the database is: the flag is resolved
                    self.accepted[pid] = acc._replace(flagged=None, flagged_commit=None)
                    self._note("resolved", pid, acc, new[0], info, action, role, who, "", at)
                continue
            what, summary = _describe(acc, new[0], data)
            self.accepted[pid] = Accepted(
                new[0],
                new[1],
                data,
                None,
                None,
                info.sha,
                at if acc is None or acc.lane is not new[0] else acc.lane_since,
                acc.created_at if acc is not None and acc.created_at else at,
            )
            self.deleted.discard(pid)
            self._note(what, pid, acc, new[0], info, action, role, who, summary, at)
        return found

    def _unbacked_ready(
        self, pid: str, acc: Accepted | None, info: CommitInfo, project: Any
    ) -> str | None:
        """A commit setting ready_for_human needs a passing review job behind it."""
        was_ready = bool(acc is not None and acc.data and acc.data.get("ready_for_human"))
        if not project.get("ready_for_human") or was_ready:
            return None
        assert self.review_job is not None
        job_id = info.trailers.get("Mc-Job", "")
        found = self.review_job(job_id) if job_id.isdigit() else None
        if found is None or found != ("review", pid, "pass"):
            return (
                f"{pid}: ready_for_human without a passing review job behind it "
                f"(Mc-Job: {job_id or 'none'})"
            )
        return None

    def _note(
        self,
        kind: str,
        pid: str,
        acc: Accepted | None,
        to_lane: Lane | None,
        info: CommitInfo,
        action: str | None,
        actor: str,
        who: str,
        summary: str,
        at: dt.datetime,
    ) -> None:
        self.activity.append(
            {
                "kind": kind,
                "project_id": pid,
                "from_lane": acc.lane.value if acc is not None else None,
                "to_lane": to_lane.value if to_lane is not None else None,
                "commit": info.sha,
                "action": action,
                "actor": actor,
                "who": who,
                "summary": summary[:2000],
                "at": at,
            }
        )


def _describe(acc: Accepted | None, lane: Lane, data: dict[str, Any]) -> tuple[str, str]:
    if acc is None or acc.data is None:
        return "create", str(data.get("title", ""))
    if acc.lane is not lane:
        kind = "approve" if lane is Lane.DONE else "move"
        return kind, f"{acc.lane.value} → {lane.value}"
    before = acc.data
    changed = sorted(k for k in before.keys() | data.keys() if before.get(k) != data.get(k))
    return "edit", ", ".join(changed)


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
        self.auditor = Auditor(board.repo, board.cat, parser=board.parse_blob)
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

        replay = _Replay(self.board, self.auditor, accepted)
        replay.resume(meta)

        replay.review_job = _review_jobs(conn)
        replay.run(commits, load)
        now = dt.datetime.now(dt.UTC)
        ids: list[int] = []
        if replay.activity:  # one statement, for the ids the NOTIFY carries
            columns = {k: [a[k] for a in replay.activity] for k in replay.activity[0]}
            ids = [r["id"] for r in db.fetch_all(conn, "activity_insert_many", columns)]
        result = SyncResult(tip, len(commits), sorted(replay.touched), ids, len(replay.violations))
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
        replay = _Replay(self.board, self.auditor, accepted)
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
                + [r["at"], accepted[r["id"]].created_at or r["at"], now]  # type: ignore[union-attr]
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
