"""The change a coder project made, for a person to review: files, hunks and lines.

Where it comes from: the branch ``mc/<project-id>`` in the project's workspace, from the
merge-base of the branch and the workspace's HEAD (where the branch started, as
``worktree.open_worktree`` computes it) to the branch head. When the workspace is not
on this machine (folder or branch absent), the ``changes.patch`` artifact the run
committed is read instead: the same change, as of the last run.

The patch is parsed here, on the server (the UI has no build step, and the parse is
unidiff's, a maintained unified-diff parser), into immutable values. Sizes are capped:
at most PATCH_MAX bytes are read (the rest is announced, never parsed), a page holds
files up to PAGE_LINES changed lines, and a file over COLLAPSE_LINES changed lines is
sent without its lines until it is asked for by name.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

from mc.board import artifacts
from mc.board.board import Board
from mc.board.git import Repo, find_repo
from mc.errors import GitError, InvalidInput, McError, NotFound

PATCH_MAX = 8 << 20  # bytes of patch read; a bigger change is cut, and says so
NUMSTAT_MAX = 4 << 20  # bytes of the file listing read when the patch was cut
PAGE_LINES = 3000  # changed lines per page (a page has at least one file)
COLLAPSE_LINES = 400  # a file with more is sent without its lines ("Show file")
PATCH_ARTIFACT = "changes.patch"

Side = Literal["old", "new"]


@dataclass(frozen=True)
class Line:
    kind: str  # "+" added, "-" removed, " " context
    old: int | None  # its number in the old file (None: added)
    new: int | None  # its number in the new file (None: removed)
    text: str

    def number(self, side: Side) -> int | None:
        return self.old if side == "old" else self.new


@dataclass(frozen=True)
class Hunk:
    header: str
    old_start: int
    new_start: int
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class FileDiff:
    path: str  # the new path (the old one for a removed file)
    old_path: str | None  # set for a rename
    status: str  # added, removed, renamed, modified
    binary: bool
    added: int
    removed: int
    hunks: tuple[Hunk, ...]
    omitted: bool = False  # listed (numstat) but past the cut: no lines to show

    @property
    def changed(self) -> int:
        return self.added + self.removed

    def lines_on(self, side: Side) -> dict[int, str]:
        """Line number → text of every line this diff shows on ``side``."""
        out: dict[int, str] = {}
        for hunk in self.hunks:
            for line in hunk.lines:
                n = line.number(side)
                if n is not None:
                    out[n] = line.text
        return out


@dataclass(frozen=True)
class Diff:
    source: str  # "branch", "artifact" or "none" (no change yet)
    branch: str
    base: str | None
    head: str | None  # the commit the change ends at (None: unknown, an old artifact)
    files: tuple[FileDiff, ...]
    truncated: bool  # the patch was over PATCH_MAX: files after the cut are missing

    def file(self, path: str) -> FileDiff | None:
        """The file at ``path`` (its new or, for a rename, its old path)."""
        for f in self.files:
            if path in (f.path, f.old_path):
                return f
        return None


# ---------------------------------------------------------------------- where it comes from


def project_diff(board: Board, project_id: str) -> Diff:
    """The project's change: from its branch when the workspace is here, else from the
    committed patch; when there is neither (no run yet, not a coder project) an empty
    change whose source is "none" (nothing is wrong: there is nothing to show yet)."""
    entry = board.get(project_id)
    data = entry.project.data if entry.project is not None else {}
    branch = f"mc/{project_id}"
    workspace = data.get("workspace")
    if isinstance(workspace, str) and workspace.strip():
        found = _branch_span(Path(workspace).expanduser(), branch)
        if found is not None:
            repo, base, head = found
            return _from_branch(repo, base, head, branch)
    for path, blob in artifacts.files(board, project_id):
        if path == PATCH_ARTIFACT:
            return _from_artifact(board, project_id, blob, branch)
    return Diff("none", branch, None, None, (), False)


def _branch_span(folder: Path, branch: str) -> tuple[Repo, str, str] | None:
    """(repo, base, head) of ``branch`` in the workspace at ``folder``, or None when that
    folder, repository or branch is not on this machine."""
    if not folder.is_dir():
        return None
    try:
        repo = find_repo(folder)
        head = repo.rev_parse(f"refs/heads/{branch}")
        start = repo.rev_parse("HEAD")
        if head is None or start is None:
            return None
        return repo, repo.merge_base(head, start), head
    except McError:
        return None


@functools.lru_cache(maxsize=16)
def _from_branch(repo: Repo, base: str, head: str, branch: str) -> Diff:
    """Cached by commits: the same two commits always give the same diff."""
    try:
        raw, cut = repo.review_diff(base, head, PATCH_MAX)
        files = parse(raw, cut)
        if cut:  # the list stays whole: the files past the cut, from git's counts
            listing, _ = repo.review_diff(base, head, NUMSTAT_MAX, numstat=True)
            files = with_omitted(files, listing)
    except GitError as exc:
        raise NotFound(f"{branch}: {exc.message}") from None
    return Diff("branch", branch, base, head, files, cut)


def with_omitted(files: tuple[FileDiff, ...], numstat: bytes) -> tuple[FileDiff, ...]:
    """``files`` and, after them, every file of git's ``--numstat -z`` listing that the
    cut left out, with its counts and no lines."""
    shown = {f.path for f in files}
    fields = numstat.decode("utf-8", "replace").split("\0")
    out = list(files)
    i = 0
    while i < len(fields) - 1:
        parts = fields[i].split("\t", 2)
        if len(parts) != 3:  # the end of a listing cut at NUMSTAT_MAX
            break
        added, removed, path = parts
        old = None
        if path == "":  # a rename: the two paths follow, each in a field of its own
            if i + 2 >= len(fields) - 1:
                break
            old, path = fields[i + 1], fields[i + 2]
            i += 2
        i += 1
        if path in shown:
            continue
        binary = added == "-"
        out.append(
            FileDiff(
                path=path,
                old_path=old,
                status="renamed" if old else "changed",  # numstat does not say which
                binary=binary,
                added=0 if binary else int(added),
                removed=0 if binary else int(removed),
                hunks=(),
                omitted=True,
            )
        )
    return tuple(out)


_ARTIFACTS: dict[str, tuple[tuple[FileDiff, ...], bool]] = {}  # blob -> parsed (a few kept)
_ARTIFACTS_KEPT = 16
_ARTIFACTS_LOCK = threading.Lock()


def _from_artifact(board: Board, project_id: str, blob: str, branch: str) -> Diff:
    """The committed patch, parsed once per blob (a blob's content never changes)."""
    parsed = _ARTIFACTS.get(blob)
    if parsed is None:
        raw, cut = board.repo.blob_prefix(blob, PATCH_MAX)
        parsed = (parse(raw, cut), cut)
        with _ARTIFACTS_LOCK:  # requests run on the server's thread pool
            while len(_ARTIFACTS) >= _ARTIFACTS_KEPT:
                _ARTIFACTS.pop(next(iter(_ARTIFACTS)))
            _ARTIFACTS[blob] = parsed
    head = None
    for path, other in artifacts.files(board, project_id):
        if path == "branch.txt":
            words = (board.read_blob(other) or b"").decode("utf-8", "replace").split()
            head = words[1] if len(words) == 2 else None
    return Diff("artifact", branch, None, head, parsed[0], parsed[1])


# ---------------------------------------------------------------------- parsing


def parse(raw: bytes, cut: bool = False) -> tuple[FileDiff, ...]:
    """Files of a unified diff. A cut patch is parsed up to its last whole file."""
    text = raw.decode("utf-8", "replace")
    if cut:
        end = text.rfind("\ndiff --git ")
        text = text[: end + 1] if end >= 0 else ""
    try:
        patch = PatchSet(text)
    except UnidiffParseError as exc:
        raise InvalidInput(f"changes.patch: not a unified diff ({exc})") from None
    return tuple(_file(f) for f in patch)


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


def _file(f: Any) -> FileDiff:
    old = _strip(f.source_file, "a/")
    new = _strip(f.target_file, "b/")
    if f.is_added_file:
        status, path = "added", new
    elif f.is_removed_file:
        status, path = "removed", old
    elif f.is_rename or old != new:
        status, path = "renamed", new
    else:
        status, path = "modified", new
    hunks = tuple(_hunk(h) for h in f)
    return FileDiff(
        path=path,
        old_path=old if status == "renamed" else None,
        status=status,
        binary=bool(f.is_binary_file),
        added=int(f.added),
        removed=int(f.removed),
        hunks=hunks,
    )


def _hunk(h: Any) -> Hunk:
    lines = tuple(
        Line(ln.line_type, ln.source_line_no, ln.target_line_no, ln.value.removesuffix("\n"))
        for ln in h
        if ln.line_type in ("+", "-", " ")  # not "\ No newline at end of file"
    )
    header = f"@@ -{h.source_start},{h.source_length} +{h.target_start},{h.target_length} @@"
    if h.section_header:
        header += f" {h.section_header}"
    return Hunk(header, int(h.source_start), int(h.target_start), lines)


# ---------------------------------------------------------------------- pages and JSON


def pages(diff: Diff) -> list[list[FileDiff]]:
    """Files grouped into pages of at most PAGE_LINES changed lines (a collapsed file
    counts as none: its lines are not sent), each page at least one file."""
    out: list[list[FileDiff]] = [[]]
    size = 0
    for f in diff.files:
        weight = 0 if f.changed > COLLAPSE_LINES or f.omitted else f.changed
        if out[-1] and size + weight > PAGE_LINES:
            out.append([])
            size = 0
        out[-1].append(f)
        size += weight
    return out


def split_rows(hunk: Hunk) -> list[dict[str, Any]]:
    """Side-by-side rows of a hunk: a run of removed lines faces the added lines that
    follow it, row by row; context faces itself."""
    rows: list[dict[str, Any]] = []
    dels: list[Line] = []
    adds: list[Line] = []

    def flush() -> None:
        for i in range(max(len(dels), len(adds))):
            rows.append(
                {
                    "old": line_json(dels[i]) if i < len(dels) else None,
                    "new": line_json(adds[i]) if i < len(adds) else None,
                }
            )
        dels.clear()
        adds.clear()

    for line in hunk.lines:
        if line.kind == "-":
            if adds:
                flush()
            dels.append(line)
        elif line.kind == "+":
            adds.append(line)
        else:
            flush()
            rows.append({"old": line_json(line), "new": line_json(line)})
    flush()
    return rows


def line_json(line: Line) -> dict[str, Any]:
    return {"kind": line.kind, "old": line.old, "new": line.new, "text": line.text}


def file_summary(f: FileDiff, page: int) -> dict[str, Any]:
    """A file as the list shows it: names, kind, counts, its page."""
    return {
        "path": f.path,
        "old_path": f.old_path,
        "status": f.status,
        "binary": f.binary,
        "added": f.added,
        "removed": f.removed,
        "page": page,
        "omitted": f.omitted,
    }


def file_json(f: FileDiff, page: int, *, with_lines: bool, view: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        **file_summary(f, page),
        "collapsed": f.changed > COLLAPSE_LINES and not f.omitted,
        "hunks": None,
    }
    if with_lines and not f.binary and not f.omitted:
        out["hunks"] = [
            {
                "header": h.header,
                "lines": [line_json(ln) for ln in h.lines] if view == "unified" else None,
                "rows": split_rows(h) if view == "split" else None,
            }
            for h in f.hunks
        ]
    return out


def diff_json(diff: Diff, page: int, view: str, only: str | None = None) -> dict[str, Any]:
    """One page of the diff (or, with ``only``, the one file of that path with all its
    lines), with the list of every file and the page each is on."""
    if view not in ("unified", "split"):
        raise InvalidInput(f"view: expected unified or split, got {view[:20]!r}")
    grouped = pages(diff)
    if not 1 <= page <= len(grouped):
        raise InvalidInput(f"page: expected 1 to {len(grouped)}, got {page}")
    listing = [(n, f) for n, group in enumerate(grouped, 1) for f in group]
    if only is not None:
        found = diff.file(only)
        if found is None:
            raise NotFound(f"file: {only[:200]!r} is not in this diff")
        shown = [file_json(found, 0, with_lines=True, view=view)]
    else:
        shown = [
            file_json(f, page, with_lines=f.changed <= COLLAPSE_LINES, view=view)
            for f in grouped[page - 1]
        ]
    notice = None
    if diff.truncated:
        notice = (
            f"The change is over {PATCH_MAX >> 20} MiB: the files after that point are listed "
            f"with their counts, not shown. Read them on the branch {diff.branch}."
        )
    return {
        "source": diff.source,
        "branch": diff.branch,
        "base": diff.base,
        "head": diff.head,
        "view": view,
        "page": page,
        "pages": len(grouped),
        "truncated": diff.truncated,
        "notice": notice,
        "files": [file_summary(f, n) for n, f in listing],
        "shown": shown,
    }
