"""Git objects: reading them in bulk (cat-file --batch), writing blobs and trees
without an index, and comparing trees and raw diffs. Stdlib only: the hooks use it."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from mc.board.git.repo import Repo, _env
from mc.errors import GitError
from mc.settings import current


class FileChange(NamedTuple):
    """A path changed between two trees."""

    path: str
    old: str | None  # blob before (None: added)
    new: str | None  # blob after (None: deleted)
    mode: str | None = None  # git file mode after (100644, 120000 for a symlink, ...)


def parse_raw_diff(out: bytes, with_commits: bool = False) -> dict[str, list[FileChange]]:
    """Parse `--raw -z` output; keyed by commit (or "" when there are no commit headers)."""
    result: dict[str, list[FileChange]] = {}
    current = ""
    tokens = out.split(b"\0")
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok:
            i += 1
            continue
        if tok.startswith(b":"):
            meta = tok[1:].split()
            old, new, status = meta[2].decode(), meta[3].decode(), meta[4].decode()
            path = tokens[i + 1].decode("utf-8", "surrogateescape")
            i += 2
            gone = status.startswith("D") or set(new) == {"0"}
            result.setdefault(current, []).append(
                FileChange(
                    path,
                    None if status.startswith("A") or set(old) == {"0"} else old,
                    None if gone else new,
                    None if gone else meta[1].decode(),
                )
            )
            continue
        if with_commits:
            current = tok.decode().strip()
        i += 1
    return result


class CatFile:
    """A long-running ``git cat-file --batch``: read many objects for one process start."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._proc: subprocess.Popen[bytes] | None = None
        self._check: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        # Recently read tree objects by id (immutable): a sync reads the same lane
        # trees for the diff and for the duplicate-id check.
        self._trees: dict[str, tuple[str, str, bytes]] = {}

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [current().git, f"--git-dir={self.repo.git_dir}", "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=_env(None),
                cwd=self.repo.top,
            )
        return self._proc

    def read(self, spec: str) -> tuple[str, str, bytes] | None:
        """(sha, type, content) of an object, or None if it does not exist."""
        cached = self._trees.get(spec)
        if cached is not None:
            return cached
        obj = self._read(spec)
        if obj is not None and obj[1] == "tree" and spec == obj[0]:
            if len(self._trees) >= 32:
                self._trees.pop(next(iter(self._trees)))
            self._trees[spec] = obj
        return obj

    def _read(self, spec: str) -> tuple[str, str, bytes] | None:
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(spec.encode("utf-8", "surrogateescape") + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline()
            if not header or header.endswith(b" missing\n") or header.endswith(b" ambiguous\n"):
                if not header:
                    raise GitError("git cat-file stopped unexpectedly")
                return None
            sha, typ, size = header.decode().split()
            data = proc.stdout.read(int(size) + 1)[:-1]
            return sha, typ, data

    def size(self, spec: str) -> int | None:
        """An object's size without reading it (a second, --batch-check process)."""
        with self._lock:
            if self._check is None or self._check.poll() is not None:
                self._check = subprocess.Popen(
                    [current().git, f"--git-dir={self.repo.git_dir}", "cat-file", "--batch-check"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=_env(None),
                    cwd=self.repo.top,
                )
            proc = self._check
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(spec.encode("utf-8", "surrogateescape") + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            return int(header[2]) if len(header) == 3 and header[2].isdigit() else None

    def resolve(self, rev: str) -> str | None:
        """The object id ``rev`` names (a ref, HEAD, ...), without starting a process."""
        obj = self.read(rev)
        return obj[0] if obj else None

    def read_many(
        self, specs: Sequence[str]
    ) -> Iterator[tuple[str, tuple[str, str, bytes] | None]]:
        """Pipelined reads: write all requests, then read all answers (no round trips)."""
        if not specs:
            return
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            payload = b"".join(s.encode("utf-8", "surrogateescape") + b"\n" for s in specs)
            writer = None
            if len(payload) <= 32 * 1024:
                _feed(proc.stdin, payload)  # fits the pipe: cannot block on our reads
            else:
                # Feed stdin from a thread so a large batch cannot deadlock on full pipes.
                writer = threading.Thread(target=_feed, args=(proc.stdin, payload), daemon=True)
                writer.start()
            out = proc.stdout
            for spec in specs:
                header = out.readline()
                if not header:
                    raise GitError("git cat-file stopped unexpectedly")
                if header.endswith((b" missing\n", b" ambiguous\n")):
                    yield spec, None
                    continue
                sha, typ, size = header.decode().split()
                yield spec, (sha, typ, out.read(int(size) + 1)[:-1])
            if writer is not None:
                writer.join()

    def close(self) -> None:
        for proc in (self._proc, self._check):
            if proc is not None:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait()
                if proc.stdout:
                    proc.stdout.close()
        self._proc = self._check = None

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _feed(stream: object, payload: bytes) -> None:
    stream.write(payload)  # type: ignore[attr-defined]
    stream.flush()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- trees by hand
#
# Why by hand: a transition changes two or three files, and git's own way to make the
# tree (a private index: read-tree, update-index, write-tree, plus hash-object) costs
# four process starts and an index the size of the board. Reading trees through the
# running cat-file and writing the few changed objects as loose objects costs none.
# The object format is git's documented one; repositories using SHA-256 object ids
# are refused by the commit step (commit-tree does not find the SHA-1 tree) rather
# than corrupted.


def parse_tree(data: bytes) -> list[tuple[str, str, str]]:
    """(mode, name, sha) entries of a raw tree object."""
    out = []
    i, n = 0, len(data)
    while i < n:
        space = data.index(b" ", i)
        nul = data.index(b"\0", space)
        mode = data[i:space].decode()
        name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
        out.append((mode, name, data[nul + 1 : nul + 21].hex()))
        i = nul + 21
    return out


def _tree_sort_key(entry: tuple[str, str, str]) -> bytes:
    mode, name, _ = entry
    raw = name.encode("utf-8", "surrogateescape")
    return raw + b"/" if mode == "40000" else raw


def format_tree(entries: Iterable[tuple[str, str, str]]) -> bytes:
    return b"".join(
        mode.encode() + b" " + name.encode("utf-8", "surrogateescape") + b"\0" + bytes.fromhex(sha)
        for mode, name, sha in sorted(entries, key=_tree_sort_key)
    )


def _shared_mode(repo: Repo) -> str | None:
    """core.sharedRepository: new object folders must be writable by the group (or all)."""
    value = (repo.config_get("core.sharedrepository") or "").lower()
    if value in ("", "false", "umask", "0", "no", "off"):
        return None
    return "all" if value in ("all", "world", "everybody", "2") else "group"


def object_id(kind: str, data: bytes) -> str:
    import hashlib

    return hashlib.sha1(f"{kind} {len(data)}".encode() + b"\0" + data).hexdigest()


def blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob."""
    return object_id("blob", data)


class ObjectWriter:
    """Writes loose objects into a repository's object store, as git does."""

    def __init__(self, repo: Repo) -> None:
        objects = os.environ.get("GIT_OBJECT_DIRECTORY")
        self.objects = objects or os.path.join(repo.common, "objects")
        self.shared = _shared_mode(repo)

    def write(self, kind: str, data: bytes) -> str:
        import zlib

        raw = f"{kind} {len(data)}".encode() + b"\0" + data
        sha = object_id(kind, data)
        folder = os.path.join(self.objects, sha[:2])
        path = os.path.join(folder, sha[2:])
        if os.path.exists(path):
            return sha
        if not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
            if self.shared:
                os.chmod(folder, 0o2775 if self.shared == "group" else 0o2777)
        tmp = os.path.join(folder, f"tmp_obj_mc_{os.getpid()}_{threading.get_ident()}")
        # Like git (core.fsync's default), no fsync: the ref update is what publishes.
        with open(tmp, "wb") as fh:
            fh.write(zlib.compress(raw, 1))
        os.chmod(tmp, 0o444 if not self.shared else 0o664 if self.shared == "group" else 0o666)
        try:
            os.link(tmp, path)  # never replaces: an existing object is the same bytes
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return sha


def build_tree(
    cat: CatFile,
    writer: ObjectWriter,
    base: str | None,
    changes: Mapping[str, tuple[str, str] | None],
) -> str:
    """``base`` (a tree sha, or None for empty) with ``changes`` (path -> (mode, sha) or None)."""
    here: dict[str, tuple[str, str] | None] = {}
    below: dict[str, dict[str, tuple[str, str] | None]] = {}
    for path, entry in changes.items():
        head, sep, rest = path.partition("/")
        if sep:
            below.setdefault(head, {})[rest] = entry
        else:
            here[head] = entry
    entries: dict[str, tuple[str, str]] = {}
    if base is not None:
        obj = cat.read(base)
        if obj is None or obj[1] != "tree":
            raise GitError(f"tree {base} is missing")
        entries = {name: (mode, sha) for mode, name, sha in parse_tree(obj[2])}
    for name, sub in below.items():
        current = entries.get(name)
        sub_base = current[1] if current and current[0] == "40000" else None
        sha = build_tree(cat, writer, sub_base, sub)
        if sha == EMPTY_TREE:
            entries.pop(name, None)
        else:
            entries[name] = ("40000", sha)
    for name, entry in here.items():
        if entry is None:
            entries.pop(name, None)
        else:
            entries[name] = entry
    return writer.write("tree", format_tree((m, n, s) for n, (m, s) in entries.items()))


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def diff_trees(
    cat: CatFile, old: str | None, new: str | None, prefix: str = ""
) -> list[tuple[str, str | None, str | None, str | None]]:
    """(path, old blob, new blob, new mode) for every file that differs between two trees.

    Walks only the subtrees whose ids differ, through the running cat-file: a commit
    that moves one project on a small board reads four small trees and starts no
    process, and parses only the entries that differ (see _changed_entries).
    """
    if old == new:
        return []
    before_obj = cat.read(old) if old else None
    after_obj = cat.read(new) if new else None
    if before_obj and after_obj and before_obj[1] == after_obj[1] == "tree":
        before, after = _changed_entries(before_obj[2], after_obj[2])
    else:
        before = _entries(before_obj, old)
        after = _entries(after_obj, new)
    out: list[tuple[str, str | None, str | None, str | None]] = []
    for name in sorted(before.keys() | after.keys()):
        a, b = before.get(name), after.get(name)
        if a == b:
            continue
        path = prefix + name
        a_tree = a is not None and a[0] == "40000"
        b_tree = b is not None and b[0] == "40000"
        if a_tree or b_tree:
            out += diff_trees(
                cat, a[1] if a_tree and a else None, b[1] if b_tree and b else None, path + "/"
            )
        a_file = a is not None and not a_tree
        b_file = b is not None and not b_tree
        if a_file or b_file:
            out.append(
                (
                    path,
                    a[1] if a_file and a else None,
                    b[1] if b_file and b else None,
                    b[0] if b_file and b else None,
                )
            )
    return out


_ENTRY_START = re.compile(rb"(?:100644|100755|120000|160000|40000) [^\0/]+\0")


def _changed_entries(
    a: bytes, b: bytes
) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """The entries that differ between two big tree objects, without parsing them whole.

    A lane of 10,000 projects is a 400 KB tree in which a commit changes one entry:
    find the common head and tail with memcmp (binary search over slices), parse only
    the few entries between them, and check that the parse lands exactly on the
    common tail. Anything unexpected falls back to parsing both trees.
    """
    head = _common_length(a, b, lambda n: a[:n] == b[:n], min(len(a), len(b)))
    tail = _common_length(
        a, b, lambda n: a[len(a) - n :] == b[len(b) - n :], min(len(a), len(b)) - head
    )
    start = head
    while start > 0:  # back to the start of the entry the difference is in
        if start >= 21 and a[start - 21] == 0 and _ENTRY_START.match(a, start):
            break
        start -= 1
    parsed = (_entries_between(a, start, len(a) - tail), _entries_between(b, start, len(b) - tail))
    if (
        parsed[0] is None
        or parsed[1] is None
        or parsed[0][1] - (len(a) - tail) != parsed[1][1] - (len(b) - tail)
    ):
        whole = ({n: (m, s) for m, n, s in parse_tree(a)}, {n: (m, s) for m, n, s in parse_tree(b)})
        return whole
    return parsed[0][0], parsed[1][0]


def tree_has(data: bytes, name: str) -> bool:
    """Does a raw tree object have an entry ``name``? (A find, not a parse.)"""
    needle = b" " + name.encode("utf-8", "surrogateescape") + b"\0"
    at = data.find(needle)
    while at >= 0:
        for width in (6, 5):  # "100644" / "40000"
            begin = at - width
            boundary = begin == 0 or (begin >= 21 and data[begin - 21] == 0)
            if begin >= 0 and boundary and _ENTRY_START.match(data, begin):
                return True
        at = data.find(needle, at + 1)
    return False


def _common_length(a: bytes, b: bytes, equal: Callable[[int], bool], limit: int) -> int:
    lo, hi = 0, max(limit, 0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if equal(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _entries_between(
    data: bytes, start: int, end: int
) -> tuple[dict[str, tuple[str, str]], int] | None:
    """Entries from ``start`` up to the first entry boundary at or past ``end``."""
    out: dict[str, tuple[str, str]] = {}
    i = start
    while i < end:
        m = _ENTRY_START.match(data, i)
        if m is None:
            return None
        space = data.index(b" ", i)
        nul = m.end() - 1
        if nul + 21 > len(data):
            return None
        name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
        out[name] = (data[i:space].decode(), data[nul + 1 : nul + 21].hex())
        i = nul + 21
    return out, i


def _entries(obj: tuple[str, str, bytes] | None, tree: str | None) -> dict[str, tuple[str, str]]:
    if tree is None:
        return {}
    if obj is None or obj[1] != "tree":
        raise GitError(f"tree {tree} is missing")
    return {name: (mode, sha) for mode, name, sha in parse_tree(obj[2])}
