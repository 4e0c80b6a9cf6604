"""Shared fixtures: real git repositories, real ssh-keygen keys, an isolated git config."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mc.board import actions
from mc.board.board import Board
from mc.board.init import init
from mc.settings import reset as reset_settings


@dataclass(frozen=True)
class Key:
    name: str
    private: Path

    @property
    def public(self) -> Path:
        return self.private.with_name(self.private.name + ".pub")

    @property
    def public_text(self) -> str:
        return self.public.read_text().strip()


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Key]:
    """Real ed25519 keys: alice approves, bob is a second approver, mallory is nobody."""
    folder = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("alice", "bob", "mallory"):
        path = folder / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
            check=True,
        )
        out[name] = Key(name, path)
    return out


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Each test sees the MC_* variables it sets (a process reads them once: mc.settings)."""
    reset_settings()
    yield
    reset_settings()


@pytest.fixture(autouse=True)
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: dict[str, Key]) -> Path:
    """Each test gets its own global git config (alice's identity and SSH signing key)."""
    home = tmp_path / "home"
    home.mkdir()
    config = home / ".gitconfig"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("MC_BOARD", raising=False)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    for key, value in (
        ("user.name", "Alice"),
        ("user.email", "alice@example.com"),
        ("init.defaultBranch", "main"),
        ("gpg.format", "ssh"),
        ("user.signingkey", str(keys["alice"].public)),
    ):
        subprocess.run(["git", "config", "--global", key, value], check=True)
    return config


def git(
    cwd: Path, *args: str, check: bool = True, **kw: object
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc  # type: ignore[no-any-return]


def wait_for_file(path: Path, seconds: float = 10) -> None:
    """Until ``path`` exists (something another process or thread writes)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {seconds} s")
        time.sleep(0.05)


def run_mc(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "mc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def board_path(tmp_path: Path) -> Path:
    """A new board, made by mc init, with alice as its approver."""
    path = tmp_path / "board"
    init(path)
    return path


@pytest.fixture
def board(board_path: Path) -> Iterator[Board]:
    with Board.open(board_path) as b:
        yield b


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def head(path: Path) -> str:
    return git(path, "rev-parse", "HEAD").stdout.strip()


def to_review(
    board: Board,
    pid: str,
    *,
    title: str | None = None,
    verdict: str = "pass",
    jobs: tuple[int, int] = (1, 2),
    conns: tuple[object, ...] = (),
) -> None:
    """Take a project through the pipeline's service commits up to a review verdict.

    ``conns``: databases that get the job records the commits name (the mirror
    accepts ready_for_human only with a passing review job behind it).
    """
    work, review = jobs
    for conn in conns:
        back_review_job(conn, pid, review, verdict)
    actions.new_project(board, title or pid, "coder", project_id=pid)
    actions.queue(board, pid)
    actions.dispatch(board, pid, str(work))
    actions.complete(board, pid, str(work), {"report.md": b"# Done\n"})
    actions.record_review(board, pid, str(review), verdict, "checked", rework=verdict == "fail")


def coder_workspace(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    """A workspace: a git repository on main with one commit of ``files``."""
    repo = tmp_path / "code"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    for name, text in (files or {"README.md": "# code\n", "a.py": "a = 1\n"}).items():
        write(repo / name, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-gpg-sign", "-m", "start")
    return repo


def coder_to_review(
    board: Board,
    tmp_path: Path,
    pid: str,
    workspace: str,
    edits: dict[str, str],
    integrate_mode: str | None = None,
    conns: tuple[object, ...] = (),
) -> str:
    """Take a coder project through a real run in a worktree of ``workspace`` (as the
    worker does it: open_worktree, collect) and a passing review, as the pipeline
    commits them; the reviewed branch head. ``conns``: as for to_review."""
    from mc.pipeline.worktree import close_worktree, collect, open_worktree

    for conn in conns:
        back_review_job(conn, pid, 2)
    fields = {"workspace": workspace}
    if integrate_mode:
        fields["integrate"] = integrate_mode
    actions.new_project(board, f"Change {pid}", "coder", project_id=pid, fields=fields)
    actions.queue(board, pid)
    actions.dispatch(board, pid, "1")
    tree = open_worktree(workspace, pid, tmp_path / f"job-{pid}")
    try:
        for name, text in edits.items():
            write(tree.path / name, text)
        got = collect(tree, 1)
    finally:
        close_worktree(tree)
    change = {"head": got.head, **({"base": got.base_branch} if got.base_branch else {})}
    actions.complete(board, pid, "1", got.artifacts, change=change)
    actions.record_review(board, pid, "2", "pass", "looks right", rework=False)
    return got.head


def back_review_job(conn: object, pid: str, job_id: int, verdict: str = "pass") -> None:
    """The job record a review commit names, as a worker would have left it."""
    from mc.mirror import db as dbm

    assert isinstance(conn, dbm.psycopg.Connection)
    conn.execute(
        "INSERT INTO jobs (id, project_id, kind, state, archetype, result, attempts) "
        "OVERRIDING SYSTEM VALUE VALUES (%s, %s, 'review', 'succeeded', 'reviewer', %s, 1)",
        (job_id, pid, dbm.jsonb({"verdict": verdict, "notes": "checked"})),
    )
    if not conn.autocommit:
        conn.commit()


MakeBoard = Callable[..., Path]


# ---------------------------------------------------------------------- processes


def alive(pid: int) -> bool:
    """Running (a zombie that nobody reaps is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def marked_processes(name: str, value: str) -> list[int]:
    """Live processes whose environment has ``name=value``: an agent and everything it
    started (a sandbox keeps the variable, and its PIDs are only seen from here)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in environ and alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


# ---------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real PostgreSQL for the session, started with the product's own embedded-cluster code.

    A template database is migrated once; each test gets a clone of it.
    """
    import shutil

    from mc.mirror import db
    from mc.mirror.embedded import Cluster

    cluster = Cluster(tmp_path_factory.mktemp("pg") / "cluster")
    cluster.init(fast=True)
    cluster.start()
    db.ensure_database(cluster.url("postgres"), "mc_template")
    with db.connect(cluster.url("mc_template")) as conn:
        db.migrate(conn)
        conn.commit()
    yield cluster
    cluster.stop("immediate")
    shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture
def database_url(pg_cluster: object) -> Iterator[str]:
    """A fresh, migrated database of its own for one test (a clone of the template)."""
    import uuid

    from psycopg import sql

    from mc.mirror import db
    from mc.mirror.embedded import Cluster

    assert isinstance(pg_cluster, Cluster)
    name = f"t_{uuid.uuid4().hex[:16]}"
    with db.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE mc_template").format(sql.Identifier(name))
        )
    yield pg_cluster.url(name)
    with db.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# ---------------------------------------------------------------------- Chromium

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


def chromium_path() -> str:
    """Debian's Chromium (Playwright downloads no browser here), or MC_CHROMIUM."""
    import shutil

    for candidate in (os.environ.get("MC_CHROMIUM"), "/usr/lib/chromium/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("no Chromium: apt-get install chromium (or set MC_CHROMIUM)")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One real Chromium for the session (driven by Playwright)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def mc_up(
    board_path: Path, mark: str, *, workers: int = 2, output: bool = True
) -> subprocess.Popen[str]:
    """A real `mc up` on the board's embedded PostgreSQL, in a process group of its own
    (as a terminal's foreground job); its agents carry FAKE_MARK=mark. ``output``: its
    stdout and stderr in a pipe (else dropped)."""
    env = {k: v for k, v in os.environ.items() if k != "MC_DATABASE_URL"}  # embedded
    env["FAKE_MARK"] = mark
    return subprocess.Popen(
        [sys.executable, "-m", "mc", "--board", str(board_path), "up", "--port", "0",
         "--workers", str(workers), "--poll", "0.5"],
        env=env,
        stdout=subprocess.PIPE if output else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )  # fmt: skip
