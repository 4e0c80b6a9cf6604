"""Reading the board: which projects are in which lane at a commit.

The board state is the commit at the tip of the board branch; uncommitted edits
are not board state. Files are read through one long-lived ``git cat-file --batch``
and parsed once per blob.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from mc.board import config as config_mod
from mc.board.config import Config
from mc.board.git import CatFile, Repo, find_repo, parse_tree
from mc.board.layout import (
    BY_NAME,
    CONFIG_FILE,
    LANE_NAMES,
    LANE_NAMES_ORDERED,
    Lane,
    PathKind,
    artifacts_dir,
    classify,
    is_valid_id,
    project_path,
    project_paths,
)
from mc.board.projectfile import SCHEMA_VERSION, Project, load
from mc.errors import BoardNotFound, ConfigError, InvalidProjectFile, ProjectNotFound


class Entry(NamedTuple):
    """One project file as a commit has it; ``project`` is None when the file is invalid."""

    id: str
    lane: Lane
    blob: str
    project: Project | None
    error: str | None = None

    @property
    def path(self) -> str:
        return project_path(self.lane, self.id)

    @property
    def valid(self) -> bool:
        return self.project is not None


class Snapshot(NamedTuple):
    """The lanes at one commit: project id -> (lane, blob) for every project file."""

    commit: str | None
    files: dict[str, list[tuple[Lane, str]]] = {}  # noqa: RUF012 (never mutated)
    misplaced: tuple[str, ...] = ()

    def locate(self, project_id: str) -> list[tuple[Lane, str]]:
        return self.files.get(project_id, [])

    def duplicates(self) -> dict[str, list[Lane]]:
        return {
            pid: [lane for lane, _ in locs] for pid, locs in self.files.items() if len(locs) > 1
        }


class Board:
    """A board repository: reads its state and hands writes to the store."""

    def __init__(self, repo: Repo, config: Config | None = None) -> None:
        self.repo = repo
        self._config = config
        self._pinned: str | None = None  # the mc.yaml blob pinned by pin_config
        # A worker's clone shares the board through a remote (mc worker --remote R): its
        # state is the remote's branch, fetched, and its commits are pushed there.
        self.remote: str | None = None
        # blob -> parsed project, or the error message with "\0" where the file name goes
        self._parsed: dict[str, Project | str] = {}
        self._configs: dict[str, dict[str, object]] = {}  # mc.yaml blob -> checked values
        self._cache_loaded = False
        self._cache_dirty = False

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Board:
        """The board at ``path``, else the repository around the current folder."""
        start = Path(path or ".").expanduser()
        if not start.is_dir():
            what = "is a file, not a folder" if start.exists() else "no such folder"
            raise BoardNotFound(f"{start}: {what}")
        try:
            repo = find_repo(start.resolve())
        except BoardNotFound as exc:
            raise BoardNotFound(
                f"{exc}: run mc init DIR, pass --board DIR or set MC_BOARD"
            ) from None
        board = cls(repo)
        in_tree = repo.work_tree is not None and (repo.root / CONFIG_FILE).exists()
        if not in_tree and board.read_blob(f"HEAD:{CONFIG_FILE}") is None:
            board.close()
            raise BoardNotFound(
                f"{repo.root} is not a board (no {CONFIG_FILE}): run mc init {repo.root}"
            )
        return board

    @property
    def root(self) -> Path:
        return self.repo.root

    @cached_property
    def cat(self) -> CatFile:
        return CatFile(self.repo)

    def close(self) -> None:
        if self._cache_dirty:
            self._save_cache()
        if "cat" in self.__dict__:
            self.cat.close()

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> None:
        """Forget mc.yaml as read, for a long-running process (the daemon)."""
        self._config = None

    def pin_config(self, blob: str) -> None:
        """Run with this mc.yaml blob — the one the mirror last accepted — not the tip's.

        The pipeline does (issue 12.1): an mc.yaml change the rules refused (an unsigned
        commit naming a new agent command) is in git, but nothing runs it.
        """
        if self._config is not None and self._pinned == blob:
            return
        if self.cat.read(blob) is None:
            raise ConfigError(
                f"{CONFIG_FILE}: the accepted version ({blob[:12]}) is not in this clone; "
                "fetch the board branch"
            )
        self._pinned = blob
        self._config = self.config_from_blob(blob)

    @property
    def config(self) -> Config:
        """mc.yaml as the tip of the board branch has it (the branch is named in mc.yaml)."""
        if self._config is None:
            head_config = self.read_config("HEAD")
            tip = self.cat.resolve(head_config.ref)
            if tip is None or tip == self.cat.resolve("HEAD"):
                self._config = head_config
            else:
                self._config = self.read_config(tip)
        return self._config

    def read_config(self, rev: str) -> Config:
        """mc.yaml at ``rev`` (defaults when there is none), parsed once per blob."""
        blob = self.cat.resolve(f"{rev}:{CONFIG_FILE}")
        if blob is None:
            return config_mod.from_values({})
        return self.config_from_blob(blob)

    def config_from_blob(self, blob: str) -> Config:
        """The settings of one mc.yaml blob (checked once per blob, then cached)."""
        self._load_cache()
        values = self._configs.get(blob)
        if values is None:
            values = config_mod.read_values(self.read_blob(blob), CONFIG_FILE)
            self._configs[blob] = values
            self._cache_dirty = True
        return config_mod.from_values(values)

    @property
    def ref(self) -> str:
        return self.config.ref

    @property
    def tip(self) -> str | None:
        """The commit at the tip of the board branch (None before the first commit)."""
        return self.cat.resolve(self.tracking_ref if self.remote else self.ref)

    @property
    def tracking_ref(self) -> str:
        return f"refs/remotes/{self.remote}/{self.config.branch}"

    def fetch(self) -> None:
        """Bring the remote's board branch here (remote mode)."""
        if self.remote:
            self.repo.fetch(self.remote, self.config.branch, self.tracking_ref)

    # ------------------------------------------------------------------ reading

    def snapshot(self, commit: str | None = None, ids: Iterable[str] | None = None) -> Snapshot:
        """Project files at ``commit`` (default: the tip); only ``ids`` when given.

        Read from the tree objects through the running cat-file (no process start).
        """
        commit = commit or self.tip
        if commit is None:
            return Snapshot(None)
        files: dict[str, list[tuple[Lane, str]]] = {}
        if ids is not None:
            specs = [f"{commit}:{path}" for pid in ids for path in project_paths(pid)]
            for spec, obj in self.cat.read_many(specs):
                if obj is not None and obj[1] == "blob":
                    lane_name, _, name = spec.split(":", 1)[1].partition("/")
                    files.setdefault(name[: -len(".yaml")], []).append((BY_NAME[lane_name], obj[0]))
            return Snapshot(commit, files)
        misplaced = []
        root = self.cat.read(f"{commit}^{{tree}}")
        if root is None:
            raise BoardNotFound(f"{commit} is not a commit of this repository")
        lanes = [
            (BY_NAME[name], sha)
            for mode, name, sha in parse_tree(root[2])
            if mode == "40000" and name in LANE_NAMES
        ]
        for (lane, _), (_, obj) in zip(
            lanes, self.cat.read_many([sha for _, sha in lanes]), strict=True
        ):
            assert obj is not None
            for mode, name, sha in parse_tree(obj[2]):
                kind, _, pid = classify(f"{lane.value}/{name}")
                if kind is PathKind.PROJECT and mode in ("100644", "100755"):
                    assert pid is not None
                    files.setdefault(pid, []).append((lane, sha))
                elif name != ".gitkeep":
                    misplaced.append(f"{lane.value}/{name}")
        return Snapshot(commit, files, tuple(misplaced))

    def parse_blob(self, blob: str, name: str, data: bytes | None = None) -> Project:
        """Parse a project blob (cached by content); raise InvalidProjectFile.

        ``data``: the blob's bytes when the caller has them (a file about to be committed).
        """
        self._load_cache()
        cached = self._parsed.get(blob)
        if isinstance(cached, Project):
            return cached
        if isinstance(cached, str):
            raise InvalidProjectFile(cached.replace("\0", name, 1))
        if data is None:
            obj = self.cat.read(blob)
            if obj is None:
                raise InvalidProjectFile(f"{name}: blob {blob} is missing")
            data = obj[2]
        return self._remember(blob, data, name)

    def _remember(self, blob: str, data: bytes, name: str) -> Project:
        try:
            project = load(data, name)
        except InvalidProjectFile as exc:
            # Keep the message without the file name: the same blob may sit in another lane.
            self._parsed[blob] = exc.message.replace(name, "\0", 1)
            self._cache_dirty = True
            raise
        self._parsed[blob] = project
        self._cache_dirty = True
        return project

    def entry(self, project_id: str, lane: Lane, blob: str) -> Entry:
        name = project_path(lane, project_id)
        try:
            return Entry(project_id, lane, blob, self.parse_blob(blob, name))
        except InvalidProjectFile as exc:
            return Entry(project_id, lane, blob, None, exc.message)

    def prefetch(self, blobs: Iterable[tuple[str, str]]) -> None:
        """Parse many (blob, file name) pairs, reading the new ones in one pipelined batch."""
        self._load_cache()
        wanted = {blob: name for blob, name in blobs if blob not in self._parsed}
        if not wanted:
            return
        for blob, obj in self.cat.read_many(list(wanted)):
            if obj is not None:
                with contextlib.suppress(InvalidProjectFile):
                    self._remember(blob, obj[2], wanted[blob])

    def entries(self, snapshot: Snapshot) -> Iterator[Entry]:
        """Every project file of a snapshot, parsed (blobs read in one pipelined batch)."""
        self._load_cache()
        wanted = [
            blob for locs in snapshot.files.values() for _, blob in locs if blob not in self._parsed
        ]
        blobs = {}
        for spec, obj in self.cat.read_many(list(dict.fromkeys(wanted))):
            if obj is not None:
                blobs[spec] = obj[2]
        for pid, locs in snapshot.files.items():
            for lane, blob in locs:
                name = project_path(lane, pid)
                if blob in blobs and blob not in self._parsed:
                    with contextlib.suppress(InvalidProjectFile):
                        self._remember(blob, blobs[blob], name)
                yield self.entry(pid, lane, blob)

    def get(self, project_id: str, commit: str | None = None) -> Entry:
        if not is_valid_id(project_id):
            raise ProjectNotFound(
                f"{project_id!r} is not a project id (lowercase letters, digits and -, at most 64)"
            )
        snap = self.snapshot(commit, ids=[project_id])
        locs = snap.locate(project_id)
        if not locs:
            raise ProjectNotFound(f"no project {project_id!r} on the board")
        lane, blob = locs[-1]
        return self.entry(project_id, lane, blob)

    def history(self, project_id: str) -> list[dict[str, str]]:
        """Every commit that touched the project's file (in any lane) or its artifacts,
        newest first: commit, at, author, role (Mc-Actor), action (Mc-Action), subject."""
        if not is_valid_id(project_id):
            raise ProjectNotFound(f"{project_id!r} is not a project id")
        tip = self.tip
        if tip is None:
            return []
        fields = ["%H", "%aI", "%an", "%(trailers:key=Mc-Actor,valueonly,separator=%x2C)",
                  "%(trailers:key=Mc-Action,valueonly,separator=%x2C)", "%s"]  # fmt: skip
        records = self.repo.log_records(
            tip, fields, [*project_paths(project_id), artifacts_dir(project_id)]
        )
        keys = ("commit", "at", "author", "role", "action", "subject")
        return [dict(zip(keys, rec, strict=True)) for rec in records]

    def projects(self, lane: Lane | None = None) -> list[Entry]:
        entries = list(self.entries(self.snapshot()))
        if lane is not None:
            entries = [e for e in entries if e.lane is lane]
        return sorted(entries, key=order)

    # ------------------------------------------------------------------ parse cache

    @property
    def _cache_path(self) -> Path:
        return self.repo.common_path("mc", "parsed.pickle")

    def _load_cache(self) -> None:
        """Parsed project files of earlier runs, by blob: content-addressed, so never stale.

        Listing a 1,000-project board parses nothing that did not change. The file is in
        the clone's .git (never pushed or fetched) and is unpickled with only the date
        types allowed, so a tampered cache cannot run code.
        """
        if self._cache_loaded:
            return
        self._cache_loaded = True
        try:
            with open(self._cache_path, "rb") as fh:
                version, entries, configs = _SafeUnpickler(fh).load()
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
            return
        if version != _CACHE_VERSION or not isinstance(entries, dict):
            return
        if isinstance(configs, dict):
            for blob, values in configs.items():
                self._configs.setdefault(blob, values)
        for blob, value in entries.items():
            if blob in self._parsed:
                continue
            if isinstance(value, str):
                self._parsed[blob] = value
            elif isinstance(value, dict):
                self._parsed[blob] = Project(value["title"], value["archetype"], value)

    def _save_cache(self) -> None:
        entries = {
            blob: value if isinstance(value, str) else dict(value.data)
            for blob, value in self._parsed.items()
        }
        path = self._cache_path
        try:
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(
                    (_CACHE_VERSION, entries, self._configs), fh, protocol=pickle.HIGHEST_PROTOCOL
                )
            os.replace(tmp, path)
        except OSError:
            pass  # a cache is an optimisation; a read-only clone still works
        self._cache_dirty = False

    def read_blob(self, spec: str) -> bytes | None:
        obj = self.cat.read(spec)
        return obj[2] if obj else None


_CACHE_VERSION = f"{SCHEMA_VERSION}.{config_mod.SCHEMA_VERSION}"


class _SafeUnpickler(pickle.Unpickler):
    _ALLOWED = frozenset(
        {
            ("datetime", "date"),
            ("datetime", "datetime"),
            ("datetime", "timezone"),
            ("datetime", "timedelta"),
        }
    )

    def find_class(self, module: str, name: str) -> type:
        if (module, name) in self._ALLOWED:
            import datetime

            return getattr(datetime, name)  # type: ignore[no-any-return]
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the parse cache")


def order(entry: Entry) -> tuple[int, int, str]:
    """Lane, then priority, then id: how every listing sorts projects."""
    lane_index = LANE_NAMES_ORDERED.index(entry.lane.value)
    priority = entry.project.get("priority", 3) if entry.project else 9
    return (lane_index, priority, entry.id)
