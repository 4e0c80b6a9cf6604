"""The embedded PostgreSQL: a private cluster for one board, on a unix socket only.

`mc up` / `mc daemon` use it when no database URL is configured. The cluster lives
in the board's git-ignored ``.mc/pg/`` (data, socket, log), listens on no TCP port,
and is started and stopped with the system's own ``pg_ctl``. As root it runs as the
unprivileged ``postgres`` user (initdb refuses root); when that user cannot reach the
board's folder (a 0700 parent such as /tmp/pytest-of-root), the cluster lives in
``/var/tmp/mc-pg/<hash>`` and ``.mc/pg`` is a symlink to it.

Nothing here imports psycopg: creating databases is the db module's job.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from mc.errors import EmbeddedError
from mc.settings import Settings, current

PORT = 5432  # only names the socket file (.s.PGSQL.5432); nothing listens on TCP
SOCKET_MAX = 100  # unix socket paths must stay under ~107 bytes

INSTALL_HINT = (
    "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found: install them "
    "(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql), "
    "or pip install 'mc[embedded-pg]', or point MC_DATABASE_URL at a PostgreSQL >= 14"
)


def _zombie(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"


class User(NamedTuple):
    name: str
    uid: int
    gid: int


def find_bindir() -> Path:
    """The folder with initdb, pg_ctl and postgres: PATH, the usual install folders, pgserver."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for pattern in (
        "/usr/lib/postgresql/*/bin",
        "/usr/local/pgsql/bin",
        "/usr/pgsql-*/bin",
        "/opt/homebrew/opt/postgresql*/bin",
        "/usr/local/opt/postgresql*/bin",
    ):
        found = sorted(glob.glob(pattern), key=_version_key, reverse=True)
        candidates += [Path(p) for p in found]
    try:  # the optional extra: pip install 'mc[embedded-pg]'
        import pgserver  # type: ignore[import-not-found]

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    for folder in candidates:
        if all((folder / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise EmbeddedError(INSTALL_HINT)


def _version_key(path: str) -> tuple[int, ...]:
    digits = [int(part) for part in path.replace("-", "/").split("/") if part.isdigit()]
    return tuple(digits) or (0,)


def server_user() -> User | None:
    """Who runs the server: ourselves, or (as root) an unprivileged user."""
    if os.geteuid() != 0:
        return None
    import pwd

    name = current().pg_user
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise EmbeddedError(
            f"running as root, the embedded PostgreSQL needs an unprivileged user {name!r} "
            f"(apt-get install postgresql creates it, or set {Settings.pg_user.variable})"
        ) from None
    return User(name, entry.pw_uid, entry.pw_gid)


def _reachable_by(path: Path, user: User) -> bool:
    """Can ``user`` traverse every folder down to ``path``?"""
    for folder in [*reversed(path.parents), path]:
        if not folder.exists():
            break
        st = folder.stat()
        if st.st_uid == user.uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == user.gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


class Cluster:
    """One PostgreSQL cluster in a folder: data/, the socket, postgres.log."""

    def __init__(self, root: Path, *, user: User | None = None) -> None:
        self.user = user if user is not None else server_user()
        self.root = self._place(root)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.socket_dir = self._socket_dir()
        self._bindir: Path | None = None

    @classmethod
    def for_board(cls, board_root: Path) -> Cluster:
        return cls(board_root / ".mc" / "pg")

    # ------------------------------------------------------------------ places

    def _place(self, root: Path) -> Path:
        root = root.absolute()
        if self.user is None or root.is_symlink() or _reachable_by(root.parent, self.user):
            return root.resolve() if root.is_symlink() else root
        # The server user cannot reach the board: keep the cluster where it can, and
        # leave .mc/pg pointing at it.
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
        parent = Path("/var/tmp/mc-pg")
        parent.mkdir(parents=True, exist_ok=True)
        os.chmod(parent, 0o755)
        if root.exists():  # a folder of its own there (made by an earlier version)
            home = parent / digest
            home.mkdir(exist_ok=True)
            return home
        # A folder of its own for each new cluster, never one found by the path alone: a
        # board deleted (or moved away) and made again at the same path would otherwise
        # get the old board's database — its tasks, jobs and tokens.
        root.parent.mkdir(parents=True, exist_ok=True)
        home = Path(tempfile.mkdtemp(prefix=f"{digest}-", dir=parent))
        os.chmod(home, 0o755)
        try:
            root.symlink_to(home)
        except FileExistsError:  # another mc process placed it first: use that one
            home.rmdir()
            return root.resolve()
        return home

    def _socket_dir(self) -> Path:
        if len(str(self.root / f".s.PGSQL.{PORT}")) <= SOCKET_MAX:
            return self.root
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        return Path("/tmp") / f"mc-pg-{digest}"

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir

    @property
    def superuser(self) -> str:
        if self.user is not None:
            return self.user.name
        import getpass

        return getpass.getuser()

    def url(self, dbname: str = "mc") -> str:
        return f"postgresql://{quote(self.superuser)}@/{quote(dbname)}?host={quote(str(self.socket_dir))}"

    # ------------------------------------------------------------------ running tools

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs = {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": str(self.root),
        }
        proc = subprocess.run(
            [str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            **kwargs,  # type: ignore[call-overload]
        )
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise EmbeddedError(f"{tool} failed: {detail[-1] if detail else proc.returncode}")
        return proc  # type: ignore[no-any-return]

    def _own(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.uid, self.user.gid)

    # ------------------------------------------------------------------ lifecycle

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self, *, fast: bool = False) -> None:
        """initdb, once. ``fast`` skips fsync (for throwaway clusters in tests)."""
        if self.initialised:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self._own(self.root)
        args = [
            "-D",
            str(self.data),
            "-U",
            self.superuser,
            "--auth-local=peer",
            "--auth-host=reject",
            "-E",
            "UTF8",
            "--no-locale",
        ]
        if fast:
            args.append("--no-sync")
        self._run("initdb", *args)
        self._write_auth()
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# Mission Control: a private cluster on a unix socket only.\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "unix_socket_permissions = 0700\n"
                "max_connections = 200\n"
                "shared_buffers = 32MB\n"
            )
            if fast:
                conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")

    # ------------------------------------------------------------------ who may connect

    def client_user(self) -> str:
        """The OS user that owns this cluster's board: the only one that may connect."""
        import getpass

        return getpass.getuser()

    def _write_auth(self) -> None:
        """Peer authentication for the owner only: no other local user — and no agent,
        whatever socket it finds — connects, and there is no password to steal. As root
        the server runs as its own user; root is mapped to that superuser."""
        hba = (
            "# Mission Control: only the board's owner, over the unix socket (peer).\n"
            "local all all peer map=mc\n"
        )
        ident = (
            "# Mission Control: OS user -> database user\n"
            f"mc {self.client_user()} {self.superuser}\n"
        )
        if self.user is not None:
            ident += f"mc {self.user.name} {self.superuser}\n"
        for name, text in (("pg_hba.conf", hba), ("pg_ident.conf", ident)):
            path = self.data / name
            path.write_text(text)
            os.chmod(path, 0o600)
            self._own(path)

    def _ensure_auth(self) -> bool:
        """Clusters made before peer authentication trusted every local connection:
        take that back (True when the files changed)."""
        hba = self.data / "pg_hba.conf"
        try:
            current = hba.read_text()
        except OSError:
            return False
        if "map=mc" in current and "trust" not in current:
            return False
        self._write_auth()
        return True

    def running(self) -> bool:
        if not self.initialised:
            return False
        self._await_reaping(10)
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def start(self, timeout: int = 60) -> None:
        """Start (initialising first if needed); a running cluster is left as it is.

        Two processes starting one cluster at once (mc up, and a command typed right
        after it) take turns: the second finds it running."""
        with self._starting():
            self._start(timeout)

    @contextlib.contextmanager
    def _starting(self) -> Iterator[None]:
        from mc.locks import exclusive

        with exclusive(Path(f"{self.root}.lock")):  # a start takes a few seconds at most
            yield

    def _start(self, timeout: int) -> None:
        self.init()
        if self._ensure_auth() and self.running():
            self._run("pg_ctl", "-D", str(self.data), "reload")
        if self.running():
            return
        if self.socket_dir != self.root:
            self.socket_dir.mkdir(mode=0o700, exist_ok=True)
            self._own(self.socket_dir)
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(timeout),
            "-o",
            f"-k {self.socket_dir} -c listen_addresses=''",
            "start",
        )

    def _await_reaping(self, timeout: float) -> None:
        """A killed postmaster stays a zombie until its parent (init, by then) reaps it,
        and until then both pg_ctl and postgres take it for a live server. Some inits
        reap every few seconds: wait for it here rather than fail or back off longer."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        deadline = time.monotonic() + timeout
        while _zombie(pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-m",
            "fast",
            "-w",
            "-l",
            str(self.log),
            "-o",
            f"-k {self.socket_dir} -c listen_addresses=''",
            "restart",
        )
