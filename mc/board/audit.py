"""Checking commits against the board's rules: pre-commit, pre-receive, `mc verify`, the daemon.

One engine for every layer. Given the files a commit changes and who is proven to
have made it (from the signature, checked against the parent's allowed signers),
it checks the files (valid, in the right place, one file per id) and asks
``rules.check`` about every project the commit touches.

Stdlib + PyYAML only, and lazy about what it reads: the pre-commit hook runs this
on every commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from mc.board import rules
from mc.board.commits import CommitInfo, actor_for, parse_commit, trailers
from mc.board.git import CatFile, FileChange, Repo, parse_raw_diff
from mc.board.layout import (
    ARTIFACTS_DIR,
    BOARD_FOLDERS,
    CONFIG_FILE,
    GPG_DIR,
    LANE_NAMES_ORDERED,
    SERVICE_KEY_PATH,
    SIGNERS_PATH,
    Lane,
    PathKind,
    artifacts_prefix,
    classify,
    is_signers_path,
    project_path,
)
from mc.board.projectfile import review_of
from mc.board.rules import Actor, Change, Role, State
from mc.board.trust import Trust
from mc.errors import ConfigError, InvalidProjectFile, McError

if TYPE_CHECKING:
    from mc.board.signing import Keyring

_SHA = re.compile(r"[0-9a-f]{40}")


_REGULAR = frozenset({"100644", "100755"})
MERGE_REFUSED = "merge commit: the board branch keeps a linear history"


class Violation(NamedTuple):
    path: str | None
    message: str
    hint: str = ""
    commit: str | None = None
    project_id: str | None = None
    invalid: bool = False  # the file does not parse (not a rule refusing a valid change)

    def __str__(self) -> str:
        where = f"{self.commit[:12]}: " if self.commit else ""
        where += f"{self.path}: " if self.path else ""
        return where + self.message + (f" ({self.hint})" if self.hint else "")


class _Where(NamedTuple):
    """Where a change set is judged: its commit (None: not made yet), its parent, the
    commit's info (trailers), the signers and mc.yaml the history accepted before it."""

    commit: str | None
    parent: str | None
    info: CommitInfo | None
    signers_before: str | None
    config_spec: str | None


class Auditor:
    def __init__(
        self,
        repo: Repo,
        cat: CatFile | None = None,
        parser: Callable[[str, str, bytes | None], Any] | None = None,
        configs: Callable[[str], Any] | None = None,
    ) -> None:
        """``parser(blob, name, data)``: a project parser to share (the board's cached
        one); ``configs(blob)``: the same for mc.yaml (the board's, cached by blob)."""
        self.repo = repo
        self.cat = cat or CatFile(repo)
        self.parser = parser
        self.configs = configs
        # Pushed blobs can be huge: ask their size before reading (costs a process).
        self.guard_size = False
        self._parsed: dict[str, tuple[dict[str, object] | None, str | None]] = {}
        self._configs: dict[str, list[str] | None] = {}
        self._archetypes_at: dict[str, list[str] | None] = {}
        # Blobs of a change not committed yet (the store judges before it writes).
        self.pending: Mapping[str, bytes] = {}

    def close(self) -> None:
        self.cat.close()

    # ------------------------------------------------------------------ one change set

    def check_changes(
        self,
        actor: Actor | None,
        changes: Sequence[FileChange],
        lanes_of: Callable[[str], list[Lane]],
        *,
        commit: str | None = None,
        parent: str | None = None,
        info: CommitInfo | None = None,
        signers_before: str | None = None,
        config_spec: str | None = None,
        signer: Actor | None = None,
    ) -> list[Violation]:
        """Violations in one change set — the one judging path: the store (before it
        commits), the pre-commit and pre-receive hooks, `mc verify` and the mirror all
        come here. ``actor`` None: a person, signature unknown yet.

        ``lanes_of(id)`` says which lanes hold a file for that id after the change;
        ``config_spec`` names the mc.yaml the change is judged with (e.g. ``:mc.yaml``
        for the index, ``<commit>:mc.yaml``); ``info`` the commit (its trailers name
        the review an approval covers).
        """
        where = _Where(commit, parent, info, signers_before, config_spec)
        found: list[Violation] = []
        signed_by = actor if actor is not None else signer
        projects, artifacts = self._check_files(changes, signed_by, where, found)
        person = actor or rules.HUMAN
        for pid in sorted(projects.keys() | artifacts):
            violation = self._check_project(
                person, pid, projects.get(pid, []), pid in artifacts, lanes_of, where
            )
            if violation is not None:
                found.append(violation)
        return found

    def _check_files(
        self,
        changes: Sequence[FileChange],
        signed_by: Actor | None,
        where: _Where,
        found: list[Violation],
    ) -> tuple[dict[str, list[tuple[Lane, str | None, str | None]]], set[str]]:
        """Each changed path by what it is on a board: project files are gathered by id
        (and artifacts by project) for the rules; everything else is judged here."""
        projects: dict[str, list[tuple[Lane, str | None, str | None]]] = {}
        artifacts: set[str] = set()

        def add(path: str | None, message: str, hint: str = "", pid: str | None = None) -> None:
            found.append(Violation(path, message, hint, where.commit, pid))

        for ch in changes:
            if ch.new is not None and not self._regular_in_board_folders(ch, add):
                continue
            kind, lane, pid = classify(ch.path)
            if kind is PathKind.PROJECT:
                assert lane is not None and pid is not None
                projects.setdefault(pid, []).append((lane, ch.old, ch.new))
            elif kind is PathKind.MISPLACED and ch.new is not None:
                add(
                    ch.path,
                    "lane folders hold only project files named <id>.yaml, where the id is "
                    "lowercase letters, digits and - (at most 64)",
                )
            elif kind is PathKind.STRAY_PROJECT and ch.new is not None:
                if self._looks_like_project(ch.new):
                    add(ch.path, "project files belong in a lane folder", "mc project new TITLE")
            elif ch.path.startswith(ARTIFACTS_DIR + "/"):
                parts = ch.path.split("/")
                if len(parts) >= 3:
                    artifacts.add(parts[1])
                else:
                    add(ch.path, "artifacts live in artifacts/<project-id>/")
            elif ch.path == SERVICE_KEY_PATH and ch.new is not None:
                add(ch.path, "the service's private key must never be committed")
            elif ch.path == CONFIG_FILE or is_signers_path(ch.path):
                self._check_board_file(ch, signed_by, where, add)
        return projects, artifacts

    @staticmethod
    def _regular_in_board_folders(ch: FileChange, add: Callable[..., None]) -> bool:
        """The board's folders hold regular files, and nothing else takes their names."""
        top = ch.path.split("/", 1)[0]
        if top in BOARD_FOLDERS and "/" not in ch.path:
            add(ch.path, f"{top} is one of the board's folders; it cannot be a file or link")
            return False
        if top in BOARD_FOLDERS and ch.mode is not None and ch.mode not in _REGULAR:
            # A project file that is a link is no project (12.5): the mirror must not
            # take its target in as the project's state.
            kind, _, pid = classify(ch.path)
            add(
                ch.path,
                "only regular files here (no symlinks or submodules)",
                pid=pid if kind is PathKind.PROJECT else None,
            )
            return False
        return True

    def _check_board_file(
        self,
        ch: FileChange,
        signed_by: Actor | None,
        where: _Where,
        add: Callable[..., None],
    ) -> None:
        """mc.yaml (valid, and it names the branch and the commands agents run) and the
        signers: once the board has an approver, only an approver changes them."""
        if ch.path == CONFIG_FILE:
            if ch.new is None:
                add(ch.path, "a board needs its mc.yaml")
            else:
                from mc.board.config import load as load_config

                try:
                    load_config(self._read(ch.new), ch.path)
                except ConfigError as exc:
                    add(None, exc.message)
        if signed_by is None or where.parent is None:
            return
        count = self.approvers_at(where.parent, where.signers_before)
        decision = rules.check_signers_change(signed_by, count, ch.path)
        if not decision:
            add(ch.path, decision.reason, decision.hint)

    def approvers_at(self, rev: str, signers_text: str | None = None) -> int:
        """How many approvers the board has at ``rev``: the SSH approvers of its allowed
        signers (``signers_text`` when given: what the history accepted) and every
        .mc/gpg/*.asc (fail closed). The one count every layer uses."""
        from mc.board.signing import approver_count, gpg_key_files

        if signers_text is None:
            signers_text = (self._read_spec(f"{rev}:{SIGNERS_PATH}") or b"").decode(
                "utf-8", "replace"
            )
        return approver_count(signers_text) + len(gpg_key_files(self.cat, rev))

    def _check_project(
        self,
        person: Actor,
        pid: str,
        files: Sequence[tuple[Lane, str | None, str | None]],
        artifacts_changed: bool,
        lanes_of: Callable[[str], list[Lane]],
        where: _Where,
    ) -> Violation | None:
        """One project's change (its files by lane, before and after) under the rules."""
        states = self._states(pid, files)
        if isinstance(states, Violation):
            return states._replace(commit=where.commit)
        before, after, added = states

        def refuse(path: str | None, message: str, hint: str = "") -> Violation:
            return Violation(path, message, hint, where.commit, pid)

        if after is not None and person.role.is_person and where.config_spec is not None:
            names = self._archetypes(where.config_spec)
            archetype = after.data.get("archetype")
            if names is not None and archetype not in names:
                return refuse(
                    project_path(after.lane, pid),
                    f"archetype: {archetype!r} is not one of mc.yaml's archetypes "
                    f"({', '.join(names)})",
                )
        if added and after is not None:
            others = [lane for lane in lanes_of(pid) if lane is not after.lane]
            if others:
                return refuse(
                    project_path(after.lane, pid),
                    f"a second file with the id {pid} (also in {others[0].value}/): "
                    "ids are unique across lanes",
                )
        reviewed, since = self._review_covered(person, pid, before, after, where)
        change = Change(
            pid,
            before,
            after,
            artifacts_changed=artifacts_changed,
            reviewed=reviewed,
            artifacts_changed_since_review=since,
            approved_head=(where.info.trailers.get("Mc-Approved-Head") or None)
            if reviewed is not None and where.info is not None
            else None,
        )
        decision = rules.check(person, change)
        if decision:
            return None
        shown = after or before
        path = project_path(shown.lane, pid) if shown else artifacts_prefix(pid)
        return refuse(path, decision.reason, decision.hint)

    def _states(
        self, pid: str, files: Sequence[tuple[Lane, str | None, str | None]]
    ) -> tuple[State | None, State | None, bool] | Violation:
        """(before, after, added) from a project's changed files; a Violation when the
        new file does not parse. ``added``: a file for this id appeared in a lane."""
        before: State | None = None
        after: State | None = None
        before_lane: Lane | None = None
        added = False
        for lane, old, new in files:
            if old is not None:
                before_lane = lane
                data, _ = self._parse(old, project_path(lane, pid))
                before = State(lane, data if data is not None else {})
            if new is not None:
                added = added or old is None
                data, error = self._parse(new, project_path(lane, pid))
                if data is None:
                    # The message starts with file:line:col.
                    return Violation(None, error or "invalid", "", None, pid, invalid=True)
                after = State(lane, data)
        if before is not None and before_lane is not None and not before.data:
            # The old file was invalid (already reported where it was made): judge the
            # lane move, not the fields we cannot read.
            before = State(before_lane, _pipeline_only(after.data) if after else {})
        return before, after, added

    def _review_covered(
        self,
        person: Actor,
        pid: str,
        before: State | None,
        after: State | None,
        where: _Where,
    ) -> tuple[State | None, bool]:
        """For an approval: the state its named review passed, and whether the artifacts
        changed since (rules.Change). Nothing for any other change."""
        if (
            before is None
            or after is None
            or before.lane is not Lane.REVIEW
            or after.lane is not Lane.DONE
            or person.role is not Role.APPROVER
            or where.info is None
            or where.parent is None
        ):
            return None, False
        return self.approval_evidence(
            pid,
            where.info.trailers.get("Mc-Reviewed-Commit"),
            where.parent,
            where.info.trailers.get("Mc-Review-Job", ""),
        )

    def approval_evidence(
        self, pid: str, reviewed_commit: str | None, parent: str, review_job: str | None = None
    ) -> tuple[State | None, bool]:
        """The project as a genuine passing review left it, and whether artifacts changed since.

        Genuine: the named commit is an ancestor, made by the reviewer (trailers) and
        signed by the service key (as its own parent's allowed signers have it), it
        wrote review/<id>.yaml, and left it passing and ready for a human. Anything
        else gives (None, False), which the rules refuse.
        """
        from mc.board import signing

        if not reviewed_commit or not _SHA.fullmatch(reviewed_commit):
            return None, False
        if not self.is_ancestor(reviewed_commit, parent):
            return None, False
        obj = self.cat.read(reviewed_commit)
        if obj is None or obj[1] != "commit":
            return None, False
        info = parse_commit(reviewed_commit, obj[2])
        if info.trailers.get("Mc-Action") != "review" or info.trailers.get("Mc-Actor") != (
            Role.REVIEWER.value
        ):
            return None, False
        path = project_path(Lane.REVIEW, pid)
        blob = self._sha_of(f"{reviewed_commit}:{path}")
        if blob is None:
            return None, False
        if info.parents and self._sha_of(f"{info.parents[0]}:{path}") == blob:
            return None, False  # it did not write the project's review
        base = info.parents[0] if info.parents else reviewed_commit
        signers = (self._read_spec(f"{base}:{SIGNERS_PATH}") or b"").decode("utf-8", "replace")
        sig = signing.verify(self.repo, [reviewed_commit], signers).get(reviewed_commit)
        if sig is None or not sig.good or sig.signer != signing.SERVICE_PRINCIPAL:
            return None, False
        data, _ = self._parse(blob, path)
        if data is None:
            return None, False
        review = review_of(data)
        if review is None or not review.passed:
            return None, False
        if not data.get("ready_for_human"):
            return None, False
        if review_job is not None and review.job != review_job:
            return None, False
        then = self._sha_of(f"{reviewed_commit}:{artifacts_prefix(pid)}")
        now = self._sha_of(f"{parent}:{artifacts_prefix(pid)}")
        return State(Lane.REVIEW, data), then != now

    def is_ancestor(self, maybe: str, of: str) -> bool:
        return self.repo.is_ancestor(maybe, of)

    # ------------------------------------------------------------------ commits

    def read_infos(self, commits: Sequence[str]) -> dict[str, CommitInfo]:
        infos = {}
        for sha, obj in self.cat.read_many(list(commits)):
            if obj is None or obj[1] != "commit":
                raise ValueError(f"{sha} is not a commit")
            infos[sha] = parse_commit(sha, obj[2])
        return infos

    def signatures(
        self, commits: Sequence[str], infos: Mapping[str, CommitInfo]
    ) -> tuple[dict[str, Actor], dict[str, str]]:
        """Who each commit is proven to be from, and the allowed signers it was judged by.

        Each commit is judged by the allowed signers (and GPG keys) of its parent.
        Unsigned commits are known unsigned without asking git.
        """
        from mc.board import signing

        signer_texts: dict[str, str] = {}
        by_signers: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
        bases = {sha: infos[sha].parents[0] if infos[sha].parents else sha for sha in commits}
        signed = [sha for sha in commits if infos[sha].signed]
        gpg_dirs = dict(self.cat.read_many(sorted({f"{bases[s]}:{GPG_DIR}" for s in signed})))
        for sha in commits:
            base = bases[sha]
            text = (self._read_spec(f"{base}:{SIGNERS_PATH}") or b"").decode("utf-8", "replace")
            signer_texts[sha] = text
            if infos[sha].signed:
                gpg_files = signing.asc_files(gpg_dirs[f"{base}:{GPG_DIR}"])
                by_signers.setdefault((text, tuple(sorted(gpg_files.items()))), []).append(sha)
        sigs: dict[str, signing.Signature] = {}
        keyrings: dict[tuple[tuple[str, str], ...], signing.Keyring | None] = {}
        try:
            for (text, gpg_keys), group in by_signers.items():
                if gpg_keys not in keyrings:
                    keyrings[gpg_keys] = self._keyring(gpg_keys)
                sigs.update(signing.verify(self.repo, group, text, keyrings[gpg_keys]))
        finally:
            for keyring in keyrings.values():
                if keyring is not None:
                    keyring.close()
        actors = {
            sha: actor_for(
                infos[sha], sigs.get(sha), signing.parse_allowed_signers(signer_texts[sha])
            )
            for sha in commits
        }
        return actors, signer_texts

    def check_commits(
        self, commits: Sequence[str], *, allow_merges: bool = False, trust: Trust | None = None
    ) -> list[Violation]:
        """Check commits (oldest first) one by one, each against its first parent and what
        the history before it accepted (``trust``: carried on by the caller, else fresh)."""
        if not commits:
            return []
        infos = self.read_infos(commits)
        actors, signer_texts = self.signatures(commits, infos)
        diffs = self._diff_tree(commits, infos)
        ids = self._lane_ids(infos[commits[0]].parents[0] if infos[commits[0]].parents else None)
        found: list[Violation] = []
        trust = trust or Trust()
        for sha in commits:
            info = infos[sha]
            actor, signers = trust.judge_signature(self, info, actors[sha], signer_texts[sha])
            changes = trust.changes(diffs.get(sha, []))
            _apply(ids, changes)
            violations = self.check_commit(
                info,
                actor,
                changes,
                lambda pid: sorted(ids.get(pid, ()), key=LANE_NAMES_ORDERED.index),
                signers=signers,
                config_spec=trust.config_spec(sha, changes),
                allow_merges=allow_merges,
            )
            trust.after(info, diffs.get(sha, []), changes, violations, signers)
            found += violations
        return found

    def check_commit(
        self,
        info: CommitInfo,
        actor: Actor,
        changes: Sequence[FileChange],
        lanes_of: Callable[[str], list[Lane]],
        *,
        signers: str,
        config_spec: str,
        allow_merges: bool = False,
    ) -> list[Violation]:
        """One commit of the board branch: linear history, and its changes (judged from
        what the history accepted) under the rules."""
        found = []
        if len(info.parents) > 1 and not allow_merges:
            found.append(Violation(None, MERGE_REFUSED, "", info.sha))
        return found + self.check_changes(
            actor,
            changes,
            lanes_of,
            commit=info.sha,
            parent=info.parents[0] if info.parents else None,
            info=info,
            signers_before=signers,
            config_spec=config_spec,
        )

    def _diff_tree(
        self, commits: Sequence[str], infos: dict[str, CommitInfo]
    ) -> dict[str, list[FileChange]]:
        lines = []
        for sha in commits:
            parents = infos[sha].parents
            lines.append(f"{sha} {parents[0]}" if parents else sha)
        return parse_raw_diff(self.repo.raw_changes(lines), with_commits=True)

    def _lane_ids(self, commit: str | None) -> dict[str, set[Lane]]:
        ids: dict[str, set[Lane]] = {}
        if commit is None:
            return ids
        for entry in self.repo.ls_tree(commit, LANE_NAMES_ORDERED):
            kind, lane, pid = classify(entry.path)
            if kind is PathKind.PROJECT and lane is not None and pid is not None:
                ids.setdefault(pid, set()).add(lane)
        return ids

    # ------------------------------------------------------------------ reading

    def _read(self, blob: str) -> bytes:
        """A blob's bytes; a pushed 300 MB "project file" is never read whole."""
        from mc.board.yamlsafe import MAX_FILE_BYTES

        if blob in self.pending:
            return self.pending[blob]
        size = self.cat.size(blob) if self.guard_size else None
        if size is not None and size > MAX_FILE_BYTES:
            return b"\0" * (MAX_FILE_BYTES + 1)  # the parser refuses it by size
        obj = self.cat.read(blob)
        return obj[2] if obj else b""

    def _read_spec(self, spec: str) -> bytes | None:
        obj = self.cat.read(spec)
        return obj[2] if obj else None

    def _sha_of(self, spec: str) -> str | None:
        obj = self.cat.read(spec)
        return obj[0] if obj else None

    def _parse(self, blob: str, name: str) -> tuple[dict[str, object] | None, str | None]:
        from mc.board.projectfile import load

        if blob not in self._parsed:
            try:
                if self.parser is not None:
                    project = self.parser(blob, name, self.pending.get(blob))
                else:
                    project = load(self._read(blob), name)
                self._parsed[blob] = (dict(project.data), None)
            except InvalidProjectFile as exc:
                self._parsed[blob] = (None, exc.message)
        data, error = self._parsed[blob]
        return data, error

    def _archetypes(self, spec: str) -> list[str] | None:
        """The archetypes a project may name under that mc.yaml (None: it is unreadable)."""
        if spec in self._archetypes_at and not spec.startswith(":"):
            return self._archetypes_at[spec]
        self._archetypes_at[spec] = names = self._archetypes_of(spec)
        return names

    def _archetypes_of(self, spec: str) -> list[str] | None:
        from mc.board.config import load as load_config

        blob = self._sha_of(spec)
        key = f"config:{blob}"
        if key not in self._configs:
            try:
                if blob and blob not in self.pending and self.configs is not None:
                    config = self.configs(blob)
                else:
                    config = load_config(self._read(blob) if blob else None)
                self._configs[key] = config.work_archetypes()
            except ConfigError:
                self._configs[key] = None
        return self._configs[key]

    def _looks_like_project(self, blob: str) -> bool:
        """A YAML file outside the lanes with a title and an archetype: a project put astray."""
        from mc.board.yamlsafe import parse

        try:
            values = parse(self._read(blob), "<top>").values
        except McError:
            return False
        return "title" in values and "archetype" in values

    def _keyring(self, files: Iterable[tuple[str, str]]) -> Keyring | None:
        """A throwaway keyring with these .mc/gpg files' keys (None: no GPG approvers)."""
        from mc.board.signing import gpg_keyring, read_gpg_keys

        keys = read_gpg_keys(self.cat, files)
        return gpg_keyring(keys) if keys else None


def _pipeline_only(data: object) -> dict[str, object]:
    from mc.board.projectfile import PIPELINE_KEYS

    assert isinstance(data, dict)
    return {k: v for k, v in data.items() if k in PIPELINE_KEYS}


def _apply(ids: dict[str, set[Lane]], changes: Iterable[FileChange]) -> None:
    for ch in changes:
        kind, lane, pid = classify(ch.path)
        if kind is not PathKind.PROJECT or lane is None or pid is None:
            continue
        if ch.old is not None and ch.new is None:
            ids.get(pid, set()).discard(lane)
        elif ch.new is not None:
            ids.setdefault(pid, set()).add(lane)


def verify_history(repo: Repo, cat: CatFile, spec: str) -> tuple[int, list[Violation]]:
    """`mc verify`: every commit of ``spec`` (a ref or a range), and — for a whole
    branch — that its history starts at the board's first commit as this clone
    recorded it (a replaced history vouches for itself otherwise)."""
    commits = repo.commits(spec)
    auditor = Auditor(repo, cat)
    found: list[Violation] = []
    root = repo.config_get("mc.boardroot")
    if root and commits and ".." not in spec and not auditor.is_ancestor(root, commits[-1]):
        found.append(
            Violation(
                None,
                f"this history does not start at the board's first commit {root[:12]}",
                "someone replaced the board's history; compare with your other clones",
                commits[-1],
            )
        )
    return len(commits), found + auditor.check_commits(commits)


__all__ = [
    "Auditor",
    "CommitInfo",
    "Trust",
    "Violation",
    "parse_commit",
    "trailers",
    "verify_history",
]
