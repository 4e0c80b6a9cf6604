"""Replaying commits into the accepted state: each commit judged by the auditor, from
what the mirror accepted so far; a refused change is flagged and the accepted state
kept, an invalid file noted, everything else taken. Shared by the incremental sync and
the rebuild (mc.mirror.sync)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
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
from mc.board.projectfile import approved_of, needs_human_of, review_of
from mc.board.rules import Actor
from mc.errors import InvalidProjectFile
from mc.mirror.words import detail_of

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


class _Step(NamedTuple):
    """The commit being replayed, as its activity lines name it."""

    info: CommitInfo
    action: str | None  # Mc-Action
    role: str  # human, or the service role
    who: str
    at: dt.datetime


def _by_project(
    changes: list[FileChange],
) -> tuple[dict[str, list[tuple[Lane, str | None, str | None, str | None]]], list[FileChange]]:
    """Project files by id (lane, old, new, mode), and every other change."""
    by_id: dict[str, list[tuple[Lane, str | None, str | None, str | None]]] = {}
    others: list[FileChange] = []
    for ch in changes:
        kind, lane, pid = classify(ch.path)
        if kind is PathKind.PROJECT and lane is not None and pid is not None:
            by_id.setdefault(pid, []).append((lane, ch.old, ch.new, ch.mode))
        else:
            others.append(ch)
    return by_id, others


class Replay:
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
        # What the person is told of (mc.mirror.outbox), when ``announce``: the
        # incremental sync's news, never a rebuild's replay of history.
        self.announce = False
        self.events: list[dict[str, Any]] = []
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
        actor: Actor,
        changes: list[FileChange],
        signers: str,
        load: Any,
    ) -> list[Violation]:
        """Judge one commit's changes into the accepted state; the auditor's violations."""
        by_id, others = _by_project(changes)
        load(by_id.keys())
        self.board.prefetch(
            (n, project_path(lane, pid))
            for pid, files in by_id.items()
            for lane, _, n, _ in files
            if n
        )
        judged, after, modes = self._from_accepted(info, by_id, others)
        found = self.auditor.check_commit(
            info,
            actor,
            judged,
            self._lanes_at(info, len(by_id)),
            signers=signers,
            config_spec=self.trust.config_spec(info.sha, changes),
        )
        at = dt.datetime.fromtimestamp(info.time, dt.UTC)
        who = actor.name if actor.name and actor.name != "mc-service" else info.author
        role = "human" if actor.role.is_person else actor.role.value
        step = _Step(info, info.trailers.get("Mc-Action"), role, who, at)
        refused = self._record(step, found)
        for pid, new in after.items():
            self._take(step, pid, new, modes.get(pid), refused)
        return found

    def _from_accepted(
        self,
        info: CommitInfo,
        by_id: dict[str, list[tuple[Lane, str | None, str | None, str | None]]],
        others: list[FileChange],
    ) -> tuple[list[FileChange], dict[str, tuple[Lane, str] | None], dict[str, str | None]]:
        """The change as the database sees it: from what it accepted to what git has now
        (a refused state stays refused until git comes back to the accepted one). Also
        where each project is after the commit, and its file's mode."""
        judged: list[FileChange] = list(others)
        after: dict[str, tuple[Lane, str] | None] = {}
        modes: dict[str, str | None] = {}
        for pid, files in by_id.items():
            new = next(((lane, n) for lane, _, n, _ in files if n is not None), None)
            if new is None:
                new = self._still_there(info, pid)
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
        return judged, after, modes

    def _still_there(self, info: CommitInfo, pid: str) -> tuple[Lane, str] | None:
        """The project's one file at the commit (a file removed from one lane while
        another stays), or None."""
        found = [
            (BY_NAME[spec.split(":", 1)[1].split("/", 1)[0]], obj[0])
            for spec, obj in self.board.cat.read_many(
                [f"{info.sha}:{path}" for path in project_paths(pid)]
            )
            if obj is not None
        ]
        return found[0] if len(found) == 1 else None

    def _lanes_at(self, info: CommitInfo, projects: int) -> Callable[[str], list[Lane]]:
        """lanes_of for the auditor: which lanes hold a file for an id at the commit —
        read from the lane trees, or, for many projects at once, one listing of all."""
        index: dict[str, list[Lane]] | None = None
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

        def lanes_of(pid: str) -> list[Lane]:
            nonlocal index
            if projects > 20:
                if index is None:
                    index = self._lane_index(info.tree)
                return index.get(pid, [])
            return [lane for lane, data in lane_trees() if tree_has(data, f"{pid}.yaml")]

        return lanes_of

    def _record(self, step: _Step, found: list[Violation]) -> dict[str, Violation]:
        """Keep each violation (and, for a board-wide one, an activity line); the first
        violation of each project, which refuses its change."""
        refused: dict[str, Violation] = {}
        for v in found:
            self.violations.append(
                {
                    "commit": step.info.sha,
                    "project_id": v.project_id,
                    "path": v.path,
                    "message": v.message + (f" ({v.hint})" if v.hint else ""),
                    "actor": step.role,
                    "at": step.at,
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
                        "commit": step.info.sha,
                        "action": step.action,
                        "actor": step.role,
                        "who": step.who,
                        "summary": (v.path + ": " if v.path else "") + v.message,
                        "title": None,
                        "detail": "",
                        "at": step.at,
                    }
                )
        return refused

    def _take(
        self,
        step: _Step,
        pid: str,
        new: tuple[Lane, str] | None,
        mode: str | None,
        refused: dict[str, Violation],
    ) -> None:
        """One project after the commit: refused (flagged, the accepted state kept),
        invalid (an attempt noted), deleted, unchanged, or accepted."""
        acc = self.accepted.get(pid)
        self.touched.add(pid)
        info = step.info
        if new is not None and mode not in _REGULAR_MODES:
            new = None  # a link or submodule is no project file: never read (12.5)
            refused.setdefault(pid, Violation(None, "not a regular file", "", info.sha, pid))
        project = None
        if new is not None:
            try:
                project = self.board.parse_blob(new[1], project_path(new[0], pid))
            except InvalidProjectFile as exc:
                self.attempts[pid] = Attempt(new[0], info.sha, new[1], exc.message)
                self._note(step, "invalid", pid, acc, new[0], exc.message)
                return
        if pid not in refused and self.review_job is not None and project is not None:
            assert new is not None
            self._check_ready(step, pid, acc, new, project, refused)
        if pid in refused:
            self.attempts.pop(pid, None)
            message = refused[pid].message
            if acc is not None:
                self.accepted[pid] = acc._replace(flagged=message, flagged_commit=info.sha)
            self._note(step, "violation", pid, acc, new[0] if new else None, message)
            return
        self.attempts.pop(pid, None)
        if new is None or project is None:
            self.deleted.add(pid)
            if acc is not None:
                self.accepted[pid] = None
                self._note(step, "delete", pid, acc, None, "")
            return
        self._accept(step, pid, acc, new, dict(project.data))

    def _news(self, pid: str, acc: Accepted | None, lane: Lane, data: dict[str, Any]) -> None:
        """Events for the person: ready for approval, needing them, approved."""
        before = (acc.data if acc is not None else None) or {}
        title = str(data.get("title") or pid)
        if data.get("ready_for_human") and not before.get("ready_for_human"):
            review = review_of(data)
            notes = review.notes if review is not None and review.notes else ""
            self.events.append(
                {"kind": "ready_for_human", "project_id": pid, "title": title, "detail": notes}
            )
        needs = needs_human_of(data)
        if needs is not None and not before.get("needs_human"):
            self.events.append(
                {"kind": "needs_human", "project_id": pid, "title": title, "detail": needs.reason}
            )
        approved = approved_of(data)
        if lane is Lane.DONE and (acc is None or acc.lane is not Lane.DONE) and approved:
            self.events.append(
                {
                    "kind": "approved",
                    "project_id": pid,
                    "title": title,
                    "detail": f"approved by {approved.by}",
                }
            )

    def _check_ready(
        self,
        step: _Step,
        pid: str,
        acc: Accepted | None,
        new: tuple[Lane, str],
        project: Any,
        refused: dict[str, Violation],
    ) -> None:
        """A commit setting ready_for_human needs a passing review job behind it."""
        reason = self._unbacked_ready(pid, acc, step.info, project)
        if not reason:
            return
        path = project_path(new[0], pid)
        refused[pid] = Violation(path, reason, "", step.info.sha, pid)
        self.violations.append(
            {
                "commit": step.info.sha,
                "project_id": pid,
                "path": path,
                "message": reason,
                "actor": step.role,
                "at": step.at,
            }
        )

    def _accept(
        self,
        step: _Step,
        pid: str,
        acc: Accepted | None,
        new: tuple[Lane, str],
        data: dict[str, Any],
    ) -> None:
        if acc is not None and acc.blob == new[1] and acc.lane is new[0]:
            if acc.flagged:  # git is back where the database is: the flag is resolved
                self.accepted[pid] = acc._replace(flagged=None, flagged_commit=None)
                self._note(step, "resolved", pid, acc, new[0], "")
            return
        if self.announce:
            self._news(pid, acc, new[0], data)
        what, summary = _describe(acc, new[0], data)
        at = step.at
        self.accepted[pid] = Accepted(
            new[0],
            new[1],
            data,
            None,
            None,
            step.info.sha,
            at if acc is None or acc.lane is not new[0] else acc.lane_since,
            acc.created_at if acc is not None and acc.created_at else at,
        )
        self.deleted.discard(pid)
        self._note(step, what, pid, acc, new[0], summary, data)

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
        step: _Step,
        kind: str,
        pid: str,
        acc: Accepted | None,
        to_lane: Lane | None,
        summary: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        """One activity row; ``data`` is the project as the commit left it (when accepted),
        else its accepted version names it."""
        source = data if data is not None else (acc.data if acc is not None else None)
        title = (source or {}).get("title")
        self.activity.append(
            {
                "kind": kind,
                "project_id": pid,
                "from_lane": acc.lane.value if acc is not None else None,
                "to_lane": to_lane.value if to_lane is not None else None,
                "commit": step.info.sha,
                "action": step.action,
                "actor": step.role,
                "who": step.who,
                "summary": summary[:2000],
                "title": str(title)[:500] if title else None,
                "detail": detail_of(step.action, data),
                "at": step.at,
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
