"""The only module that runs git.

Plain git plumbing through subprocesses: it is faster than GitPython for what the
board does (GitPython's object traversal is ~10x slower than ``cat-file --batch``)
and its semantics are git's own (signing, ref compare-and-swap, hooks bypassed).
Stdlib only: the git hooks import it.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pathlib import Path

from mc.errors import GitError

ZERO = "0" * 40
GIT = os.environ.get("MC_GIT", "git")

# Git must not ask anything, page anything or pick up a terminal editor.
_BASE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
    "GIT_EDITOR": "true",
    "LC_ALL": "C",
}


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(_BASE_ENV)
    if extra:
        env.update(extra)
    return env


DETACHED_TIMEOUT = 60


class Repo(NamedTuple):
    """A git repository: its work tree (None when bare) and its git dir."""

    # Plain strings: pathlib costs the pre-commit hook ~10 ms of import on every commit.
    git_dir: str
    work_tree: str | None
    # A linked worktree has its own git dir (HEAD, index) but shares objects, refs and
    # config with the main repository's: its "common" dir. None: the same as git_dir.
    common_dir: str | None = None

    @property
    def common(self) -> str:
        return self.common_dir or self.git_dir

    def common_path(self, *parts: str) -> Path:
        from pathlib import Path

        return Path(self.common, *parts)

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self.top)

    @property
    def top(self) -> str:
        """The work tree, or the git dir of a bare repository."""
        return self.work_tree if self.work_tree is not None else self.git_dir

    def git_path(self, *parts: str) -> Path:
        from pathlib import Path

        return Path(self.git_dir, *parts)

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        config: Sequence[str] = (),
        detached: bool = False,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run git here. ``detached``: in a session of its own, without the terminal (a
        server's request must fail, not wait, when signing would ask for a passphrase),
        and given at most DETACHED_TIMEOUT seconds."""
        argv = [GIT, f"--git-dir={self.git_dir}"]
        if self.work_tree is not None:
            argv.append(f"--work-tree={self.work_tree}")
        for item in config:
            argv += ["-c", item]
        argv += args
        try:
            proc = subprocess.run(
                argv,
                input=input,
                capture_output=True,
                env=_env(env),
                cwd=self.top,
                stdin=None if input is not None else subprocess.DEVNULL,
                start_new_session=detached,
                timeout=DETACHED_TIMEOUT if detached else None,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} did not finish in {DETACHED_TIMEOUT} s") from None
        if check and proc.returncode != 0:
            raise GitError(f"git {args[0]} failed: {_first_line(proc.stderr)}")
        return proc

    def out(self, *args: str, **kw: object) -> str:
        return self.run(*args, **kw).stdout.decode("utf-8", "replace")  # type: ignore[arg-type]

    # ----------------------------------------------------------------- refs

    def rev_parse(self, rev: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        return (proc.stdout.decode().strip() or None) if proc.returncode == 0 else None

    def symbolic_head(self) -> str | None:
        """The branch HEAD names ("refs/heads/main"), or None when it is detached."""
        try:
            # The common case without a process: a plain HEAD file ("ref: refs/heads/main").
            with open(os.path.join(self.git_dir, "HEAD")) as fh:
                text = fh.read().strip()
            if text.startswith("ref: refs/"):
                return text[5:]
            if len(text) == 40:
                return None
        except OSError:
            pass
        proc = self.run("symbolic-ref", "--quiet", "HEAD", check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def update_ref(self, ref: str, new: str, old: str | None, message: str) -> bool:
        """Compare-and-swap: move ``ref`` to ``new`` only if it is still at ``old``."""
        proc = self.run("update-ref", "-m", message, ref, new, old or ZERO, check=False)
        return proc.returncode == 0

    # ----------------------------------------------------------------- objects

    def commit_tree(
        self,
        tree: str,
        parents: Iterable[str],
        message: str,
        *,
        sign: bool,
        config: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        detached: bool = False,
    ) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        args.append("-S" if sign else "--no-gpg-sign")
        proc = self.run(
            *args, input=message.encode(), env=env, config=config, check=False, detached=detached
        )
        if proc.returncode != 0:
            err = _first_line(proc.stderr)
            if sign:
                from mc.errors import SigningError

                raise SigningError(f"git could not sign the commit: {err}")
            raise GitError(f"git commit-tree failed: {err}")
        return proc.stdout.decode().strip()

    def ls_tree(
        self, rev: str, paths: Sequence[str] = (), recursive: bool = True
    ) -> list[TreeEntry]:
        args = ["ls-tree", "-z", "--full-tree"]
        if recursive:
            args.append("-r")
        args += [rev, "--", *paths]
        data = self.run(*args).stdout
        return [TreeEntry.parse(item) for item in data.split(b"\0") if item]

    def last_commit(self, rev: str, paths: Sequence[str], grep: str | None = None) -> str | None:
        """The newest commit from ``rev`` back that touched ``paths`` (and matches ``grep``)."""
        args = ["log", "-1", "--format=%H"]
        if grep:
            args += ["-E", f"--grep={grep}"]
        proc = self.run(*args, rev, "--", *paths, check=False)
        return proc.stdout.decode().strip() or None

    def config_get(self, key: str) -> str | None:
        """A git config value (the last one set), read once per process for all keys."""
        values = self._config().get(key.lower())
        return values[-1] if values else None

    def config_bool(self, key: str) -> bool:
        value = self.config_get(key)
        return value is not None and value.lower() in ("true", "yes", "on", "1", "")

    def set_config(self, key: str, value: str) -> None:
        self.run("config", key, value)
        _CONFIG.pop(self._config_key(), None)

    def _config_key(self) -> tuple[object, ...]:
        """The config files git reads and when each changed: a cached read is never stale."""
        env = os.environ
        home = env.get("HOME", "")
        xdg = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        files = [
            os.path.join(self.common, "config"),
            env.get("GIT_CONFIG_GLOBAL") or os.path.join(home, ".gitconfig"),
            os.path.join(xdg, "git", "config"),
        ]
        if not env.get("GIT_CONFIG_NOSYSTEM"):
            files.append(env.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig")
        stamps: list[object] = [
            env.get("GIT_CONFIG_PARAMETERS", ""),
            env.get("GIT_CONFIG_COUNT", ""),
        ]
        for path in files:
            try:
                st = os.stat(path)
                stamps.append((path, st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                stamps.append((path, None))
        return tuple(stamps)

    def _config(self) -> dict[str, list[str]]:
        key = self._config_key()
        cached = _CONFIG.get(key)
        if cached is None:
            out = self.run("config", "--list", "-z", check=False).stdout
            cached = {}
            for item in out.split(b"\0"):
                if item:
                    # git prints section and key names in lower case; a key given
                    # without a value (a bare boolean) comes without the newline.
                    name, _, value = item.decode("utf-8", "replace").partition("\n")
                    cached.setdefault(name, []).append(value)
            _CONFIG[key] = cached
        return cached


_CONFIG: dict[tuple[object, ...], dict[str, list[str]]] = {}


class TreeEntry(NamedTuple):
    mode: str
    type: str
    sha: str
    path: str

    @classmethod
    def parse(cls, item: bytes) -> TreeEntry:
        meta, _, path = item.partition(b"\t")
        mode, typ, sha = meta.decode().split()
        return cls(mode, typ, sha, path.decode("utf-8", "surrogateescape"))


def _first_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[0] if lines else "no output"


def find_repo(start: str | os.PathLike[str]) -> Repo:
    """The repository containing ``start`` (a work tree or a bare repository)."""
    proc = subprocess.run(
        [
            GIT,
            "rev-parse",
            "--absolute-git-dir",
            "--is-bare-repository",
            "--git-common-dir",
            "--show-toplevel",
        ],
        cwd=start,
        capture_output=True,
        env=_env(None),
    )
    lines = proc.stdout.decode().splitlines()
    if proc.returncode != 0 and len(lines) < 2:
        from mc.errors import BoardNotFound

        raise BoardNotFound(f"{start} is not in a git repository")
    git_dir = lines[0]
    common = os.path.abspath(os.path.join(start, lines[2])) if len(lines) > 2 else git_dir
    common_dir = None if os.path.samefile(common, git_dir) else common
    if lines[1] == "true":
        return Repo(git_dir, None, common_dir)
    return Repo(git_dir, lines[3], common_dir)


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
                [GIT, f"--git-dir={self.repo.git_dir}", "cat-file", "--batch"],
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
                    [GIT, f"--git-dir={self.repo.git_dir}", "cat-file", "--batch-check"],
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


def parse_raw_diff(out: bytes) -> list[tuple[str, str | None, str | None, str | None]]:
    """`diff --raw -z` output (no commit headers) as (path, old blob, new blob, new mode)."""
    result = []
    tokens = out.split(b"\0")
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith(b":"):
            i += 1
            continue
        meta = tok[1:].split()
        new_mode, old, new = meta[1].decode(), meta[2].decode(), meta[3].decode()
        path = tokens[i + 1].decode("utf-8", "surrogateescape")
        i += 2
        result.append(
            (
                path,
                None if set(old) == {"0"} else old,
                None if set(new) == {"0"} else new,
                None if set(new) == {"0"} else new_mode,
            )
        )
    return result


def _entries(obj: tuple[str, str, bytes] | None, tree: str | None) -> dict[str, tuple[str, str]]:
    if tree is None:
        return {}
    if obj is None or obj[1] != "tree":
        raise GitError(f"tree {tree} is missing")
    return {name: (mode, sha) for mode, name, sha in parse_tree(obj[2])}
