"""Repositories: the commands mc runs in one (mc.board.git is the only code that runs git).

Plain git plumbing through subprocesses: it is faster than GitPython for what the
board does (GitPython's object traversal is ~10x slower than ``cat-file --batch``)
and its semantics are git's own (signing, ref compare-and-swap, hooks bypassed).
Stdlib only: the git hooks import it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pathlib import Path

from mc.errors import GitError
from mc.settings import current

ZERO = "0" * 40

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

# Git talks to a workspace's remote only over these: never ext:: (runs a command), fd::
# or a remote helper a URL could name.
SAFE_TRANSPORTS = (
    "protocol.allow=never",
    "protocol.file.allow=always",
    "protocol.ssh.allow=always",
    "protocol.https.allow=always",
    "protocol.git.allow=always",
)


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
        argv = [current().git, f"--git-dir={self.git_dir}"]
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

    # ----------------------------------------------------------------- history

    def commits(self, span: str, *, exclude_branches: bool = False) -> list[str]:
        """The commits of ``span`` ("new", "old..new"), oldest first, parents before
        children. ``exclude_branches``: without what any branch already holds."""
        extra = ["--not", "--branches"] if exclude_branches else []
        return self.out("rev-list", "--reverse", "--topo-order", span, *extra).split()

    def first_parent_commits(self, tip: str) -> list[str]:
        """``tip``'s first-parent line, oldest first."""
        return self.out("rev-list", "--reverse", "--first-parent", tip).split()

    def merges(self, span: str) -> list[str]:
        return self.out("rev-list", "--min-parents=2", span).split()

    def roots(self, rev: str) -> list[str]:
        """The parentless commits ``rev`` descends from ([] when ``rev`` does not exist)."""
        proc = self.run("rev-list", "--max-parents=0", rev, check=False)
        return proc.stdout.decode().split() if proc.returncode == 0 else []

    def count_commits(self, span: str) -> int:
        return len(self.out("rev-list", span).split())

    def is_ancestor(self, maybe: str, of: str) -> bool:
        return self.run("merge-base", "--is-ancestor", maybe, of, check=False).returncode == 0

    def merge_base(self, a: str, b: str) -> str:
        return self.out("merge-base", a, b).strip()

    def commit_time(self, rev: str) -> int:
        """When ``rev`` was committed (Unix seconds)."""
        return int(self.out("log", "-1", "--format=%ct", rev).strip())

    def log_records(
        self,
        rev: str,
        fields: Sequence[str],
        paths: Sequence[str] = (),
        *,
        limit: int | None = None,
        first_parent: bool = False,
    ) -> list[list[str]]:
        """One record per commit from ``rev`` back (touching ``paths``), newest first:
        the values of ``fields`` (git log format placeholders) in order; at most
        ``limit`` of them, along the first-parent line when ``first_parent``."""
        sep = "%x1f"
        args = ["log", "-z", f"--format={sep.join(fields)}"]
        if limit is not None:
            args.append(f"--max-count={int(limit)}")
        if first_parent:
            args.append("--first-parent")
        out = self.out(*args, "--end-of-options", rev, "--", *paths)
        return [rec.split("\x1f") for rec in out.split("\0") if rec]

    def last_commit_at(self, rev: str, when: int) -> str | None:
        """The newest commit on ``rev``'s first-parent line committed at or before
        ``when`` (Unix seconds), or None when every commit is later."""
        found = self.out(
            "rev-list", "-1", "--first-parent", f"--before=@{int(when)}", "--end-of-options", rev
        ).split()
        return found[0] if found else None

    def signature_records(
        self,
        commits: Sequence[str],
        allowed_signers: str,
        env: Mapping[str, str] | None = None,
    ) -> list[list[str]]:
        """Per commit: sha, %G? (the verdict), %GF, %GP, %GS, judged with the
        allowed-signers file at ``allowed_signers`` (and ``env``'s GNUPGHOME)."""
        proc = self.run(
            "log",
            "--no-walk=unsorted",
            "--format=%H%x1f%G?%x1f%GF%x1f%GP%x1f%GS",
            "--stdin",
            input=("\n".join(commits) + "\n").encode(),
            config=[f"gpg.ssh.allowedSignersFile={allowed_signers}"],
            env=env,
        )
        text = proc.stdout.decode("utf-8", "replace")
        return [line.split("\x1f", 4) for line in text.splitlines() if line]

    def raw_changes(self, commits_and_parents: Sequence[str]) -> bytes:
        """``diff-tree --raw -z`` of each "<commit> [<parent>]" line (renames as
        delete + add), for objects.parse_raw_diff(with_commits=True)."""
        return self.run(
            "diff-tree",
            "-r",
            "-z",
            "--raw",
            "--no-renames",
            "--root",
            "--stdin",
            input=("\n".join(commits_and_parents) + "\n").encode(),
        ).stdout

    # ----------------------------------------------------------------- the index and checkout

    def staged_raw_changes(self) -> bytes:
        """The index against HEAD (against the empty tree before the first commit),
        ``--raw -z`` for objects.parse_raw_diff."""
        args = ("diff-index", "--cached", "-z", "--raw", "--no-renames")
        proc = self.run(*args, "HEAD", check=False)
        if proc.returncode != 0:  # no commit yet: everything staged is new
            from mc.board.git.objects import EMPTY_TREE

            proc = self.run(*args, EMPTY_TREE)
        return proc.stdout

    def indexed_paths(self, paths: Sequence[str]) -> list[str]:
        out = self.run("ls-files", "-z", "--", *paths).stdout
        return [raw.decode("utf-8", "surrogateescape") for raw in out.split(b"\0") if raw]

    def dirty_paths(
        self, paths: Sequence[str], *, since: str | None = None, take_locks: bool = True
    ) -> list[str]:
        """Files under ``paths`` that differ from the index or HEAD, or are untracked —
        or, ``since`` a commit, that differ from it. ``take_locks=False``: never take
        .git/index.lock from the person's own git (a status refreshes the index)."""
        env = None if take_locks else {"GIT_OPTIONAL_LOCKS": "0"}
        if since is None:
            out = self.run(
                "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths, env=env
            ).stdout
            return [
                item[3:].decode("utf-8", "replace") for item in out.split(b"\0") if len(item) > 3
            ]
        changed = self.run("diff", "--name-only", "-z", since, "--", *paths, env=env).stdout
        new = self.run("ls-files", "-o", "-z", "--exclude-standard", "--", *paths, env=env).stdout
        return [item.decode("utf-8", "replace") for item in (changed + new).split(b"\0") if item]

    def status_entries(self, paths: Sequence[str]) -> list[tuple[str, str]]:
        """(two-letter status, path) of what is not committed under ``paths``, read
        without taking the index lock from the person's own git."""
        out = self.run(
            "--no-optional-locks",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--",
            *paths,
        ).stdout
        return [
            (item[:2].decode(), item[3:].decode("utf-8", "replace"))
            for item in out.split(b"\0")
            if len(item) > 3 and item[2:3] == b" "
        ]

    def move_checkout(self, old: str, new: str, env: Mapping[str, str] | None = None) -> bool:
        """Move the index and files from tree ``old`` to ``new`` as git merges them
        (read-tree -m -u: refuses to overwrite local edits); False when git would not."""
        proc = self.run("read-tree", "-m", "-u", old, new, check=False, env=env)
        if proc.returncode != 0 and b"index.lock" not in proc.stderr:
            # e.g. stale stat data: refresh and try once more.
            self.run("update-index", "-q", "--refresh", check=False, env=env)
            proc = self.run("read-tree", "-m", "-u", old, new, check=False, env=env)
        return proc.returncode == 0

    def commit_all(self, message: str, env: Mapping[str, str] | None = None) -> bool:
        """Stage everything in the work tree and commit it unsigned, hooks skipped;
        False when there was nothing to commit."""
        self.run("add", "-A")
        if self.run("diff", "--cached", "--quiet", check=False).returncode == 0:
            return False
        self.run("commit", "-q", "--no-gpg-sign", "--no-verify", "-m", message, env=env)
        return True

    def diff(self, span: str, *, stat: bool = False) -> str:
        """No external diff or textconv (see ``review_diff``): a patch, whatever the
        branch's .gitattributes say."""
        plain = ["--no-color", "--no-ext-diff", "--no-textconv"]
        return self.out("diff", *(["--stat"] if stat else []), *plain, span)

    def review_diff(
        self, base: str, head: str, limit: int, *, numstat: bool = False
    ) -> tuple[bytes, bool]:
        """The patch ``base..head`` as a reviewer reads it (renames found, names unquoted,
        no colour), read up to ``limit`` bytes: (patch, whether it was cut). Streamed, so
        a 50 MB change costs ``limit`` bytes of memory, not 50 MB. No external diff and no
        textconv: the branch's .gitattributes are an agent's to write, and must not pick
        a command for the server to run. ``numstat``: the ``--numstat -z`` listing instead
        (every file with its counts, small whatever the change's size)."""
        argv = [current().git, f"--git-dir={self.git_dir}", "-c", "core.quotePath=false"]
        argv += ["diff", "--no-color", "--no-ext-diff", "--no-textconv", "--find-renames"]
        argv += ["--numstat", "-z"] if numstat else []
        argv.append(f"{base}..{head}")
        return self._read_capped(argv, limit, "diff")

    def blob_prefix(self, blob: str, limit: int) -> tuple[bytes, bool]:
        """A blob's first ``limit`` bytes (and whether there was more), streamed."""
        argv = [current().git, f"--git-dir={self.git_dir}", "cat-file", "blob", blob]
        return self._read_capped(argv, limit, "cat-file")

    def _read_capped(self, argv: list[str], limit: int, what: str) -> tuple[bytes, bool]:
        """Run git, keep at most ``limit`` bytes of its output and stop it there."""
        with subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=_env(None),
            cwd=self.top,
        ) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            data = proc.stdout.read(limit + 1)
            cut = len(data) > limit
            if cut:
                proc.kill()
            stderr = proc.stderr.read()
            code = proc.wait()
        if not cut and code != 0:
            raise GitError(f"git {what} failed: {_first_line(stderr)}")
        return data[:limit], cut

    # ----------------------------------------------------------------- remotes, refs, worktrees

    def fetch(self, remote: str, branch: str, into: str) -> None:
        """Bring ``remote``'s ``branch`` to the local ref ``into`` (forced, no tags)."""
        self.run("fetch", "-q", "--no-tags", remote, f"+refs/heads/{branch}:{into}")

    def push(self, remote: str, commit: str, branch: str) -> tuple[bool, str]:
        """Push ``commit`` to ``remote``'s ``branch`` (fast-forward only): (ok, what git said)."""
        proc = self.run(
            "push", "-q", "--porcelain", remote, f"{commit}:refs/heads/{branch}", check=False
        )
        return proc.returncode == 0, (proc.stdout + proc.stderr).decode("utf-8", "replace")

    def set_ref(self, ref: str, commit: str) -> None:
        self.run("update-ref", ref, commit)

    def fetch_refs(self, url: str, refspecs: Sequence[str]) -> None:
        """Fetch ``refspecs`` from ``url`` (a workspace's remote), only over the
        transports SAFE_TRANSPORTS allows."""
        self.run("fetch", "-q", "--no-tags", "--", url, *refspecs, config=SAFE_TRANSPORTS)

    def push_refs(
        self, url: str, refspecs: Sequence[str], *, lease: tuple[str, str] | None = None
    ) -> tuple[bool, str]:
        """Push ``refspecs`` to ``url`` (fast-forwards only, unless a refspec says +);
        ``lease`` (ref, expected sha): only if the remote ref is still there (a
        compare-and-swap on the remote). (ok, what git said)."""
        extra = [f"--force-with-lease={lease[0]}:{lease[1]}"] if lease else []
        proc = self.run(
            "push", "-q", "--porcelain", *extra, "--", url, *refspecs,
            check=False, config=SAFE_TRANSPORTS,
        )  # fmt: skip
        return proc.returncode == 0, _first_line(proc.stderr) if proc.returncode else ""

    def merge_tree(self, ours: str, theirs: str) -> tuple[str, list[str]]:
        """Merge ``theirs`` into ``ours`` in objects only (no index, no working tree):
        the merged tree, and the paths that conflict ([] when it merges cleanly)."""
        proc = self.run(
            "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs,
            check=False,
        )  # fmt: skip
        if proc.returncode not in (0, 1):
            raise GitError(f"git merge-tree failed: {_first_line(proc.stderr)}")
        tree, *paths = [p.decode("utf-8", "surrogateescape") for p in proc.stdout.split(b"\0")]
        return tree.strip(), sorted({p for p in paths if p})

    def tree_of(self, commit: str) -> str:
        return self.out("rev-parse", f"{commit}^{{tree}}").strip()

    def merge_into_checkout(self, commit: str, env: Mapping[str, str] | None = None) -> list[str]:
        """In this work tree: merge ``commit`` without committing (the next commit is the
        merge commit); the paths left with conflict markers ([] when it merged cleanly)."""
        proc = self.run(
            "merge", "--no-ff", "--no-commit", "-q", commit,
            check=False, env=env, config=["core.hooksPath=/dev/null"],
        )  # fmt: skip
        if proc.returncode != 0 and not self.git_path("MERGE_HEAD").exists():
            raise GitError(f"git merge failed: {_first_line(proc.stderr)}")
        out = self.run("diff", "--name-only", "--diff-filter=U", "-z").stdout
        return sorted(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p)

    def delete_ref(self, ref: str, old: str) -> bool:
        """Compare-and-swap delete: ``ref`` goes only if it still points at ``old``."""
        return self.run("update-ref", "-d", ref, old, check=False).returncode == 0

    def worktrees(self) -> list[tuple[str, str | None]]:
        """Every worktree of the repository: (its folder, the ref it has checked out or
        None when detached or bare)."""
        out = self.out("worktree", "list", "--porcelain", "-z")
        found: list[tuple[str, str | None]] = []
        for record in out.split("\0\0"):
            fields = {}
            for line in record.split("\0"):
                name, _, value = line.partition(" ")
                fields[name] = value
            if "worktree" in fields and "bare" not in fields:
                found.append((fields["worktree"], fields.get("branch") or None))
        return found

    def prune_worktrees(self) -> None:
        self.run("worktree", "prune")

    def has_tracked_changes(self) -> bool:
        """Uncommitted changes to tracked files, in the index or the work tree (read
        without taking the person's index lock)."""
        out = self.run(
            "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=no"
        ).stdout
        return bool(out.strip(b"\0"))

    def fast_forward_checkout(self, commit: str) -> tuple[bool, str]:
        """In this work tree: move its checked-out branch, index and files forward to
        ``commit`` (``merge --ff-only``: refuses anything but a fast-forward, and never
        overwrites a local change). The person's hooks do not run: mc's merge is not theirs
        to react to. (ok, what git said)."""
        proc = self.run(
            "merge", "--ff-only", "-q", "--no-edit", commit,
            check=False, config=["core.hooksPath=/dev/null"],
        )  # fmt: skip
        return proc.returncode == 0, _first_line(proc.stderr) if proc.returncode else ""

    def hooks_dir(self) -> Path:
        from pathlib import Path

        return Path(self.out("rev-parse", "--git-path", "hooks").strip())

    def add_worktree(self, path: Path, branch: str, start: str | None = None) -> None:
        """A worktree at ``path`` on ``branch``: a new branch from ``start``, or the
        existing one (start None)."""
        self.run("worktree", "prune")
        if start is None:
            self.run("worktree", "add", "--force", str(path), branch)
        else:
            self.run("worktree", "add", "-b", branch, str(path), start)

    def remove_worktree(self, path: Path) -> None:
        self.run("worktree", "remove", "--force", str(path))

    def remove_worktree_if_clean(self, path: str) -> None:
        """Remove a worktree only if nothing in it is uncommitted (git refuses otherwise)."""
        self.run("worktree", "remove", path)

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
        found = self.touching(rev, paths, grep, limit=1)
        return found[0] if found else None

    def touching(
        self, rev: str, paths: Sequence[str], grep: str | None = None, limit: int = 20
    ) -> list[str]:
        """The newest ``limit`` commits from ``rev`` back that touched ``paths`` (and
        whose message matches the extended regex ``grep``), newest first."""
        args = ["log", f"-{limit}", "--format=%H"]
        if grep:
            args += ["-E", f"--grep={grep}"]
        proc = self.run(*args, rev, "--", *paths, check=False)
        return proc.stdout.decode().split()

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
            current().git,
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


def clone_bare(url: str, path: str | os.PathLike[str]) -> Repo:
    """A bare clone of ``url`` at ``path`` (its branches as local branches), over the
    transports SAFE_TRANSPORTS allows."""
    argv = [current().git]
    for item in SAFE_TRANSPORTS:
        argv += ["-c", item]
    argv += ["clone", "-q", "--bare", "--no-tags", "--", url, str(path)]
    proc = subprocess.run(argv, capture_output=True, env=_env(None), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise GitError(f"git clone {url} failed: {_first_line(proc.stderr)}")
    return find_repo(path)


def init_repo(path: str | os.PathLike[str]) -> Repo:
    """``git init`` a new repository (branch main) at ``path``."""
    proc = subprocess.run(
        [current().git, "init", "-q", "-b", "main", str(path)], capture_output=True
    )
    if proc.returncode != 0:
        raise GitError(f"git init {path} failed: {proc.stderr.decode().strip()}")
    return find_repo(path)
