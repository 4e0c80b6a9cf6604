"""`mc daemon`, run for real (DESIGN §4, issue 3): the event-driven sync into PostgreSQL.

Every test starts the real daemon in a subprocess (`python -m mc --board B daemon`) and
judges it by what it leaves in the database (rows, the meta table, pg_stat_activity,
NOTIFYs on `mc_board`), never by what it prints. Its output goes to a log file that is
shown when an assertion fails. Waits are polling loops with generous deadlines (a slow
2-core machine); the safety-net poll is set to 30 s wherever a test proves that a
filesystem event, not the poll, woke the daemon.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql

from mc.board.board import Board
from mc.mirror import db
from mc.mirror.embedded import Cluster
from mc.mirror.sync import Syncer

from ..conftest import git, head, run_mc, write

T = TypeVar("T")

LONG_POLL = 30.0  # longer than any wait below: whatever happens sooner was event-driven
EVENT_DEADLINE = 4.0  # commit -> row + NOTIFY (typically well under 0.2 s; slack for a slow box)
START_DEADLINE = 60.0  # daemon start-up: imports, connect, first sync (initdb when embedded)
QUIET = 1.0  # how long "nothing arrives" is watched for
LANES = ("backlog", "up-next", "in-progress", "review", "done")

# The columns a rebuild and an incremental sync must agree on (not updated_at: wall clock).
PROJECT_COLUMNS = (
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
    "attempted_commit",
    "attempted_blob",
    "error",
    "flagged",
    "flagged_commit",
    "lane_since",
    "created_at",
)
ACTIVITY_COLUMNS = (
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
)


# ---------------------------------------------------------------------- helpers


def wait_for(
    check: Callable[[], T | None],
    what: str,
    *,
    timeout: float,
    interval: float = 0.02,
    context: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{context()}" if context is not None else ""
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}{extra}")
        time.sleep(interval)


def query(url: str, text: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with db.connect(url, autocommit=True, application_name="mc test") as conn:
        return conn.execute(text, params).fetchall()


def last_synced(url: str) -> str | None:
    rows = query(url, "SELECT value FROM mc_meta WHERE key = 'last_synced_commit'")
    return rows[0]["value"] if rows else None


def project_row(url: str, pid: str) -> dict[str, Any] | None:
    rows = query(url, "SELECT * FROM projects WHERE id = %(id)s", {"id": pid})
    return rows[0] if rows else None


def uncommitted(url: str) -> list[dict[str, Any]]:
    return query(url, "SELECT path, project_id, status FROM uncommitted ORDER BY path")


def mc_ok(board_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = run_mc(board_path, *args, env=env)
    assert proc.returncode == 0, f"mc {' '.join(args)}: exit {proc.returncode}\n{proc.stderr}"
    return proc.stdout


def status_json(board_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    return json.loads(mc_ok(board_path, "status", "--json", env=env))  # type: ignore[no-any-return]


def project_yaml(title: str, archetype: str = "coder") -> str:
    return f"title: {title}\narchetype: {archetype}\n"


def activity_duplicates(url: str) -> list[dict[str, Any]]:
    return query(
        url,
        "SELECT commit, project_id, kind, count(*) AS n FROM activity "
        "GROUP BY commit, project_id, kind HAVING count(*) > 1",
    )


def mirror(url: str) -> tuple[list[tuple[Any, ...]], Counter[tuple[Any, ...]], set[Any]]:
    """What must equal between two databases mirroring one board."""
    projects = [
        tuple(r[c] for c in PROJECT_COLUMNS)
        for r in query(url, "SELECT * FROM projects ORDER BY id")
    ]
    activity = Counter(
        tuple(r[c] for c in ACTIVITY_COLUMNS) for r in query(url, "SELECT * FROM activity")
    )
    violations = {
        (r["commit"], r["project_id"], r["path"], r["message"])
        for r in query(url, "SELECT * FROM violations")
    }
    return projects, activity, violations


class Listener:
    """LISTEN mc_board on its own autocommit connection."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("LISTEN mc_board")

    def close(self) -> None:
        self.conn.close()

    def collect(self, seconds: float) -> list[dict[str, Any]]:
        """Every payload that arrives within ``seconds``."""
        out = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            for n in self.conn.notifies(timeout=left):
                assert n.channel == "mc_board"
                out.append(json.loads(n.payload))
        return out

    def until_sync(self, commit: str, timeout: float) -> list[dict[str, Any]]:
        """Payloads up to and including the sync of ``commit``; fails at the deadline."""
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for n in self.conn.notifies(timeout=left, stop_after=1):
                payload = json.loads(n.payload)
                out.append(payload)
                if payload.get("kind") == "sync" and payload.get("commit") == commit:
                    return out
        raise AssertionError(f"no sync NOTIFY for {commit[:12]} within {timeout}s; got {out}")


class DaemonProc:
    """One `mc daemon` subprocess with its output in a log file."""

    def __init__(self, board_path: Path, url: str | None, log: Path, poll: float) -> None:
        env = dict(os.environ)
        env.pop("MC_DATABASE_URL", None)
        if url is not None:
            env["MC_DATABASE_URL"] = url
        self.log = log
        self.url = url
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mc",
                    "--board",
                    str(board_path),
                    "daemon",
                    "--poll",
                    str(poll),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=board_path,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def application_name(self) -> str:
        return f"mc daemon {self.proc.pid}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- daemon log ({self.log}) ---\n{text[-6000:]}"

    def check_alive(self) -> None:
        assert self.alive(), f"the daemon exited with {self.proc.returncode}\n{self.output()}"

    def wait_synced(self, url: str, commit: str, timeout: float = START_DEADLINE) -> None:
        def done() -> bool:
            self.check_alive()
            return last_synced(url) == commit

        wait_for(done, f"the daemon to sync {commit[:12]}", timeout=timeout, context=self.output)

    def terminate(self, timeout: float = 15.0) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took)."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"no exit within {timeout}s of SIGTERM\n{self.output()}") from None
        return code, time.monotonic() - start

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait(30)


StartDaemon = Callable[..., DaemonProc]


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[StartDaemon]:
    """Start daemons; every one still running at the end is killed."""
    started: list[DaemonProc] = []

    def start(board_path: Path, url: str | None, *, poll: float = LONG_POLL) -> DaemonProc:
        log = tmp_path / f"daemon-{len(started)}.log"
        daemon = DaemonProc(board_path, url, log, poll)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


@pytest.fixture
def other_database_url(pg_cluster: object) -> Iterator[str]:
    """A second fresh, migrated database (for a clean rebuild to compare with)."""
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


def remove_cluster(cluster: Cluster) -> None:
    """Stop a throwaway cluster and delete its folders (it may live in /var/tmp/mc-pg)."""
    try:
        if cluster.running():
            cluster.stop("immediate")
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)
        if cluster.socket_dir != cluster.root:
            shutil.rmtree(cluster.socket_dir, ignore_errors=True)


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A PostgreSQL cluster of this test's own (it gets restarted), with a migrated `mc`."""
    cluster = Cluster(tmp_path / "pg")
    try:
        cluster.init(fast=True)
        cluster.start()
        db.ensure_database(cluster.url("postgres"), "mc")
        with db.connect(cluster.url("mc")) as conn:
            db.migrate(conn)
            conn.commit()
        yield cluster
    finally:
        remove_cluster(cluster)


def person_git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git run by a person next to a running daemon, retried while .git/index.lock is taken.

    The daemon's `git status` takes that lock now and then (a bug of its own, proven by
    test_daemon_never_holds_the_index_lock_against_the_person); retrying keeps the other
    tests about what they test.
    """
    deadline = time.monotonic() + 10
    while True:
        proc = git(cwd, *args, check=False)
        if proc.returncode == 0:
            return proc
        if "index.lock" not in proc.stderr or time.monotonic() > deadline:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        time.sleep(0.05)


def new_project(board_path: Path, pid: str, *extra: str) -> str:
    """`mc project new` (a signed-by-nobody human commit through the hooks); the new tip."""
    mc_ok(board_path, "project", "new", f"Project {pid}", "-a", "coder", "--id", pid, *extra)
    return head(board_path)


# ---------------------------------------------------------------------- event-driven sync


def test_cli_commit_is_synced_by_the_ref_event_and_notified(
    board_path: Path, database_url: str, start_daemon: StartDaemon
) -> None:
    daemon = start_daemon(board_path, database_url, poll=LONG_POLL)
    daemon.wait_synced(database_url, head(board_path))
    listener = Listener(database_url)
    try:
        started = time.monotonic()
        tip = new_project(board_path, "wake")
        row = wait_for(
            lambda: project_row(database_url, "wake"),
            "the new project's row",
            timeout=EVENT_DEADLINE,
            interval=0.005,
            context=daemon.output,
        )
        took = time.monotonic() - started
        assert took < EVENT_DEADLINE < LONG_POLL
        assert row["lane"] == "backlog"
        assert row["title"] == "Project wake"
        assert row["applied_commit"] == tip
        assert row["error"] is None and row["flagged"] is None
        created = tip
        payloads = listener.until_sync(tip, EVENT_DEADLINE)
        sync = payloads[-1]
        assert sync["projects"] == ["wake"]
        assert last_synced(database_url) == tip

        # A lane move, the same way.
        started = time.monotonic()
        mc_ok(board_path, "project", "queue", "wake")
        tip = head(board_path)
        wait_for(
            lambda: (project_row(database_url, "wake") or {}).get("lane") == "up-next",
            "the queued project's lane",
            timeout=EVENT_DEADLINE,
            interval=0.005,
            context=daemon.output,
        )
        assert time.monotonic() - started < EVENT_DEADLINE
        payloads = listener.until_sync(tip, EVENT_DEADLINE)
        assert payloads[-1]["projects"] == ["wake"]
        moved = project_row(database_url, "wake")
        assert moved is not None and moved["applied_commit"] == tip

        # The NOTIFY carries ids only: those of the activity rows the sync made.
        activity = query(database_url, "SELECT * FROM activity ORDER BY id")
        assert [(a["kind"], a["from_lane"], a["to_lane"], a["commit"]) for a in activity] == [
            ("create", None, "backlog", created),
            ("move", "backlog", "up-next", tip),
        ]
        assert payloads[-1]["activity"] == [activity[1]["id"]]
        assert set(payloads[-1]) == {"kind", "commit", "projects", "activity"}
        daemon.check_alive()
    finally:
        listener.close()


def test_exactly_one_notify_per_commit_and_none_for_git_noise(
    board_path: Path, database_url: str, start_daemon: StartDaemon
) -> None:
    daemon = start_daemon(board_path, database_url, poll=LONG_POLL)
    daemon.wait_synced(database_url, head(board_path))
    listener = Listener(database_url)
    try:
        seen: list[dict[str, Any]] = []
        commits = []
        for i in range(5):
            tip = new_project(board_path, f"p{i}")
            commits.append(tip)
            seen += listener.until_sync(tip, EVENT_DEADLINE)
            daemon.check_alive()
        seen += listener.collect(QUIET)  # anything late (a second sync of the same commit)
        syncs = Counter(p["commit"] for p in seen if p["kind"] == "sync")
        assert syncs == Counter(commits), seen
        for payload, pid in zip(
            [p for p in seen if p["kind"] == "sync"], [f"p{i}" for i in range(5)], strict=True
        ):
            assert payload["projects"] == [pid]
        assert last_synced(database_url) == commits[-1]

        # Busy work inside .git that is not a commit: no sync, no NOTIFY at all.
        git(board_path, "status")
        person_git(board_path, "gc", "--quiet")  # packs the refs: refs/heads/main is deleted
        git(board_path, "log", "--oneline")
        person_git(board_path, "update-index", "--refresh")
        write(board_path / ".git" / "mc-test-noise", "scratch\n")
        (board_path / ".git" / "mc-test-noise").unlink()
        write(board_path / ".git" / "description", "noise\n")
        noise = listener.collect(2 * QUIET)  # the daemon reacts in ms; 2 s is plenty
        assert noise == [], noise
        assert last_synced(database_url) == commits[-1]
        assert not (board_path / ".git" / "refs" / "heads" / "main").exists()  # now packed

        # Still listening after the refs were packed: the next commit is one NOTIFY again.
        tip = new_project(board_path, "after-gc")
        later = listener.until_sync(tip, EVENT_DEADLINE) + listener.collect(QUIET)
        assert [p["commit"] for p in later if p["kind"] == "sync"] == [tip], later
        assert project_row(database_url, "after-gc") is not None
        daemon.check_alive()
    finally:
        listener.close()


def test_uncommitted_edits_are_listed_not_synced(
    board_path: Path, database_url: str, start_daemon: StartDaemon
) -> None:
    new_project(board_path, "x")
    daemon = start_daemon(board_path, database_url, poll=LONG_POLL)
    daemon.wait_synced(database_url, head(board_path))
    before = project_row(database_url, "x")
    assert before is not None
    assert uncommitted(database_url) == []
    synced = last_synced(database_url)

    # An edit in the checkout, not committed: listed, and not board state.
    path = board_path / "backlog" / "x.yaml"
    path.write_text(path.read_text().replace("title: Project x", "title: Edited, not committed"))
    rows = wait_for(
        lambda: uncommitted(database_url),
        "the uncommitted edit to be listed",
        timeout=EVENT_DEADLINE,
        context=daemon.output,
    )
    assert rows == [{"path": "backlog/x.yaml", "project_id": "x", "status": "M"}]
    assert project_row(database_url, "x") == before
    assert last_synced(database_url) == synced

    # A new file nobody has added yet: listed as untracked.
    write(board_path / "up-next" / "draft.yaml", project_yaml("Draft"))
    wait_for(
        lambda: len(uncommitted(database_url)) == 2,
        "the untracked file to be listed",
        timeout=EVENT_DEADLINE,
        context=daemon.output,
    )
    assert {(r["path"], r["project_id"], r["status"]) for r in uncommitted(database_url)} == {
        ("backlog/x.yaml", "x", "M"),
        ("up-next/draft.yaml", "draft", "??"),
    }
    (board_path / "up-next" / "draft.yaml").unlink()
    wait_for(
        lambda: len(uncommitted(database_url)) == 1,
        "the deleted untracked file to leave the list",
        timeout=EVENT_DEADLINE,
        context=daemon.output,
    )
    assert project_row(database_url, "x") == before

    # Committing it (through the hooks): the row takes it, the list empties.
    person_git(board_path, "commit", "-qam", "Edit x")
    tip = head(board_path)
    wait_for(
        lambda: last_synced(database_url) == tip and uncommitted(database_url) == [],
        "the commit to be synced and the uncommitted list to clear",
        timeout=EVENT_DEADLINE,
        context=daemon.output,
    )
    after = project_row(database_url, "x")
    assert after is not None
    assert after["title"] == "Edited, not committed"
    assert after["applied_commit"] == tip

    # A commit made with the CLI leaves nothing behind in the list either.
    new_project(board_path, "y")
    mc_ok(board_path, "project", "queue", "y")
    tip = head(board_path)
    daemon.wait_synced(database_url, tip, timeout=EVENT_DEADLINE)
    assert git(board_path, "status", "--porcelain").stdout == ""
    time.sleep(0.3)  # let any scan that was under way finish
    wait_for(
        lambda: uncommitted(database_url) == [],
        "no uncommitted rows after CLI commits (the checkout is clean)",
        timeout=EVENT_DEADLINE,
        context=lambda: f"{uncommitted(database_url)}\n{daemon.output()}",
    )
    daemon.check_alive()


def test_uncommitted_list_follows_index_only_changes_by_the_poll(
    board_path: Path, database_url: str, start_daemon: StartDaemon
) -> None:
    """`git add` / `git reset` change what git status says without touching a lane file.

    No lane event comes, so only the safety-net poll (1 s here) can notice: the
    list must catch up within a few polls, as it does for any other missed event.
    """
    daemon = start_daemon(board_path, database_url, poll=1.0)
    daemon.wait_synced(database_url, head(board_path))
    write(board_path / "up-next" / "draft.yaml", project_yaml("Draft"))

    def listed(status: str) -> bool:
        return uncommitted(database_url) == [
            {"path": "up-next/draft.yaml", "project_id": "draft", "status": status}
        ]

    wait_for(
        lambda: listed("??"),
        "the untracked file to be listed",
        timeout=EVENT_DEADLINE,
        context=daemon.output,
    )
    time.sleep(0.5)  # let the scans the write caused finish: what follows has no event
    person_git(board_path, "add", "up-next/draft.yaml")  # staged: the index alone changes
    wait_for(
        lambda: listed("A"),
        "the staged file to be listed as added (poll: 1 s)",
        timeout=6,
        interval=0.1,
        context=lambda: f"uncommitted: {uncommitted(database_url)}\n{daemon.output()}",
    )
    person_git(board_path, "reset", "-q")  # unstaged again
    wait_for(
        lambda: listed("??"),
        "the unstaged file to be listed as untracked again (poll: 1 s)",
        timeout=6,
        interval=0.1,
        context=lambda: f"uncommitted: {uncommitted(database_url)}\n{daemon.output()}",
    )
    daemon.check_alive()


def test_uncommitted_list_with_a_path_git_reports_twice(
    board_path: Path, database_url: str, start_daemon: StartDaemon
) -> None:
    """`git rm --cached` then an edit: git status lists the path as "D " and as "??"."""
    new_project(board_path, "x")
    daemon = start_daemon(board_path, database_url, poll=1.0)
    tip = head(board_path)
    daemon.wait_synced(database_url, tip)
    person_git(board_path, "rm", "-q", "--cached", "backlog/x.yaml")
    path = board_path / "backlog" / "x.yaml"
    path.write_text(path.read_text() + "owner: alice\n")
    rows = wait_for(
        lambda: uncommitted(database_url),
        "backlog/x.yaml to be listed as uncommitted",
        timeout=EVENT_DEADLINE,
        context=daemon.output,
    )
    assert [(r["path"], r["project_id"]) for r in rows] == [("backlog/x.yaml", "x")]
    row = project_row(database_url, "x")
    assert row is not None and row["applied_commit"] == tip  # still board state as committed
    daemon.check_alive()


def test_daemon_never_holds_the_index_lock_against_the_person(
    board_path: Path, database_url: str, start_daemon: StartDaemon
) -> None:
    """The daemon's `git status` must not take .git/index.lock (git's optional lock).

    A person saves a file and runs `git add` / `git commit` right away; if the daemon's
    scan refreshes the index at that moment, their command fails with "index.lock: File
    exists". Here a thread keeps saving a lane file (so the daemon scans all the time)
    while the test runs index-writing git commands: none may find the lock taken.
    """
    new_project(board_path, "x")
    daemon = start_daemon(board_path, database_url, poll=LONG_POLL)
    daemon.wait_synced(database_url, head(board_path))
    path = board_path / "backlog" / "x.yaml"
    original = path.read_text()
    stop = threading.Event()

    def keep_saving() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            path.write_text(original + f"owner: editor-{n}\n")
            time.sleep(0.01)

    editor = threading.Thread(target=keep_saving, daemon=True)
    editor.start()
    failures: list[str] = []
    runs = 0
    try:
        wait_for(
            lambda: uncommitted(database_url),
            "the daemon to scan the edits",
            timeout=EVENT_DEADLINE,
            context=daemon.output,
        )
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            for args in (("add", "backlog/x.yaml"), ("reset", "-q")):
                runs += 1
                proc = git(board_path, *args, check=False)
                if proc.returncode != 0 and "index.lock" in proc.stderr:
                    failures.append(proc.stderr.strip().splitlines()[0])
    finally:
        stop.set()
        editor.join(5)
    assert failures == [], f"{len(failures)} of {runs} git commands failed: {failures[:3]}"
    daemon.check_alive()


def test_rewritten_history_is_rebuilt(
    board_path: Path,
    database_url: str,
    other_database_url: str,
    start_daemon: StartDaemon,
) -> None:
    new_project(board_path, "kept")
    new_project(board_path, "dropped")
    daemon = start_daemon(board_path, database_url, poll=LONG_POLL)
    daemon.wait_synced(database_url, head(board_path))
    listener = Listener(database_url)
    try:
        person_git(board_path, "reset", "-q", "--hard", "HEAD~1")  # the ref moves back
        tip = head(board_path)
        payloads = listener.until_sync(tip, EVENT_DEADLINE)
        assert payloads[-1].get("rebuilt") is True
    finally:
        listener.close()
    assert project_row(database_url, "dropped") is None
    assert project_row(database_url, "kept") is not None
    with Board.open(board_path) as board, db.connect(other_database_url) as conn:
        Syncer(board).rebuild(conn)
    assert mirror(database_url) == mirror(other_database_url)
    daemon.check_alive()


# ---------------------------------------------------------------------- crashes and restarts


def test_kill_9_mid_sync_then_restart_ends_in_the_rebuilt_state(
    board_path: Path,
    database_url: str,
    other_database_url: str,
    start_daemon: StartDaemon,
) -> None:
    new_project(board_path, "early")
    mc_ok(board_path, "project", "queue", "early")
    daemon = start_daemon(board_path, database_url, poll=1.0)
    before = head(board_path)
    daemon.wait_synced(database_url, before)

    # One commit with many projects: a sync transaction long enough to be killed in.
    count = 600
    for i in range(count):
        write(board_path / "backlog" / f"bulk-{i:04d}.yaml", project_yaml(f"Bulk {i}"))
    person_git(board_path, "add", "backlog")
    person_git(board_path, "commit", "-q", "--no-verify", "-m", f"{count} projects")
    tip = head(board_path)

    watcher = db.connect(database_url, autocommit=True, application_name="mc test")
    caught = False
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # The daemon holds the sync lock only inside its sync transaction.
            locked = watcher.execute(
                "SELECT a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = 7171 AND l.granted "
                "AND a.application_name = %(name)s",
                {"name": daemon.application_name},
            ).fetchall()
            if locked:
                os.kill(daemon.pid, signal.SIGKILL)
                caught = True
                break
            row = watcher.execute(
                "SELECT value FROM mc_meta WHERE key = 'last_synced_commit'"
            ).fetchone()
            if row and row["value"] == tip:
                os.kill(daemon.pid, signal.SIGKILL)  # too late: finished already
                break
            daemon.check_alive()
            time.sleep(0.002)
        else:
            raise AssertionError(f"the sync never started\n{daemon.output()}")
        daemon.proc.wait(30)
        assert daemon.proc.returncode == -signal.SIGKILL

        # All or nothing: the killed transaction left no half of the commit behind.
        wait_for(
            lambda: (
                not query(
                    database_url,
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = %(n)s",
                    {"n": daemon.application_name},
                )
            ),
            "the killed daemon's backend to go away",
            timeout=30,
        )
        bulk = query(
            database_url,
            "SELECT count(*) AS n FROM projects WHERE id LIKE %(p)s",
            {"p": "bulk-%"},
        )
        synced = last_synced(database_url)
        if synced == before:
            assert bulk[0]["n"] == 0
        else:
            assert synced == tip and bulk[0]["n"] == count
        if caught:
            assert synced == before, "killed inside the sync transaction, yet it committed"
    finally:
        watcher.close()

    # Restart: it resumes from the last synced commit and ends where a clean rebuild does.
    again = start_daemon(board_path, database_url, poll=1.0)
    again.wait_synced(database_url, tip)
    with Board.open(board_path) as board, db.connect(other_database_url) as conn:
        Syncer(board).rebuild(conn)
    assert mirror(database_url) == mirror(other_database_url)
    rows = query(database_url, "SELECT id, lane FROM projects ORDER BY id")
    in_git = {
        Path(p).stem: Path(p).parent.name
        for p in git(board_path, "ls-tree", "-r", "--name-only", tip).stdout.split()
        if p.endswith(".yaml") and Path(p).parent.name in LANES
    }
    assert {r["id"]: r["lane"] for r in rows} == in_git
    assert len(rows) == count + 1
    assert activity_duplicates(database_url) == []
    creates = query(
        database_url,
        "SELECT count(*) AS n FROM activity WHERE kind = 'create' AND commit = %(c)s",
        {"c": tip},
    )
    assert creates[0]["n"] == count
    again.check_alive()


def test_postgres_restart_under_a_running_daemon(
    board_path: Path, own_cluster: Cluster, start_daemon: StartDaemon
) -> None:
    url = own_cluster.url("mc")
    daemon = start_daemon(board_path, url, poll=1.0)
    daemon.wait_synced(url, head(board_path))

    # A restart while it idles: the next commit finds a dead connection and reconnects.
    own_cluster.restart()
    tip = new_project(board_path, "after-restart")
    daemon.wait_synced(url, tip, timeout=30)
    assert project_row(url, "after-restart") is not None

    # Down while a commit lands: synced once the database is back, nothing lost.
    own_cluster.stop()
    tip = new_project(board_path, "while-down")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # let it fail to connect at least once
        daemon.check_alive()
        time.sleep(0.1)
    own_cluster.start()
    daemon.wait_synced(url, tip, timeout=30)
    row = project_row(url, "while-down")
    assert row is not None and row["applied_commit"] == tip and row["lane"] == "backlog"
    assert activity_duplicates(url) == []
    assert {r["project_id"] for r in query(url, "SELECT project_id FROM activity")} == {
        "after-restart",
        "while-down",
    }

    # And it keeps following the board afterwards, on one connection.
    tip = new_project(board_path, "later")
    daemon.wait_synced(url, tip, timeout=EVENT_DEADLINE)
    conns = query(
        url,
        "SELECT pid FROM pg_stat_activity WHERE application_name = %(n)s",
        {"n": daemon.application_name},
    )
    assert len(conns) == 1

    # SIGTERM while it waits for a database that is down: a prompt, clean exit.
    own_cluster.stop()
    new_project(board_path, "never-synced")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # let it notice and back off
        daemon.check_alive()
        time.sleep(0.1)
    code, took = daemon.terminate()
    assert code == 0, daemon.output()
    assert took < 5.0, f"SIGTERM during backoff took {took:.1f}s"


def test_sigterm_stops_the_daemon_with_exit_code_0(
    board_path: Path, database_url: str, start_daemon: StartDaemon
) -> None:
    daemon = start_daemon(board_path, database_url, poll=LONG_POLL)
    daemon.wait_synced(database_url, head(board_path))
    code, took = daemon.terminate()
    assert code == 0, daemon.output()
    assert took < 5.0, f"SIGTERM took {took:.1f}s"
    wait_for(
        lambda: (
            not query(
                database_url,
                "SELECT 1 FROM pg_stat_activity WHERE application_name = %(n)s",
                {"n": daemon.application_name},
            )
        ),
        "the daemon's connection to close",
        timeout=10,
    )

    # Ctrl-C (SIGINT) is a clean stop too, and a restarted daemon picks up where it was.
    tip = new_project(board_path, "after-stop")
    daemon = start_daemon(board_path, database_url, poll=LONG_POLL)
    daemon.wait_synced(database_url, tip)
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGINT)
    assert daemon.proc.wait(15) == 0, daemon.output()
    assert time.monotonic() - started < 5.0


# ---------------------------------------------------------------------- the embedded database


def test_daemon_without_a_url_runs_and_stops_the_embedded_cluster(
    board_path: Path, start_daemon: StartDaemon
) -> None:
    no_url = {"MC_DATABASE_URL": ""}  # empty counts as unset: the embedded default
    daemon = start_daemon(board_path, None, poll=1.0)
    try:

        def synced() -> dict[str, Any] | None:
            daemon.check_alive()
            if not Cluster.for_board(board_path).running():
                return None
            report = status_json(board_path, no_url)
            ok = (
                report["database"]["state"] == "up"
                and report["daemon"]["running"]
                and report["sync"].get("behind") == 0
            )
            return report if ok else None

        report = wait_for(
            synced,
            "the embedded database up and synced",
            timeout=START_DEADLINE,
            interval=0.3,
            context=daemon.output,
        )
        cluster = Cluster.for_board(board_path)
        assert report["database"]["where"].startswith("embedded")
        assert report["sync"]["last_synced_commit"] == head(board_path)
        # Under .mc/pg (a symlink to /var/tmp/mc-pg/<hash> when the server user cannot
        # reach the board's folder), git-ignored, on a unix socket only.
        assert (board_path / ".mc" / "pg").resolve() == cluster.root.resolve()
        assert cluster.initialised
        assert git(board_path, "status", "--porcelain").stdout == ""
        assert stat.S_ISSOCK((cluster.socket_dir / ".s.PGSQL.5432").stat().st_mode)
        with db.connect(cluster.url("mc")) as conn:
            settings = conn.execute("SHOW listen_addresses").fetchone()
        assert settings is not None and settings["listen_addresses"] == ""  # no TCP port

        # It follows commits as with any database.
        tip = new_project(board_path, "embedded", "--queue")
        daemon.wait_synced(cluster.url("mc"), tip, timeout=EVENT_DEADLINE * 2)
        report = status_json(board_path, no_url)
        assert report["lanes"] == {"up-next": 1}

        code, took = daemon.terminate(timeout=30)
        assert code == 0, daemon.output()
        assert took < 15.0, f"SIGTERM (and stopping PostgreSQL) took {took:.1f}s"
        assert not Cluster.for_board(board_path).running()
        report = status_json(board_path, no_url)
        assert report["database"]["state"].startswith("stopped")
    finally:
        daemon.kill()
        remove_cluster(Cluster.for_board(board_path))


# ---------------------------------------------------------------------- mc status


def test_a_board_made_again_where_one_was_deleted_gets_a_database_of_its_own(
    tmp_path: Path,
) -> None:
    """The server user cannot reach the board's folder, so its cluster lives in
    /var/tmp/mc-pg: a board deleted and made again at the same path must not find the
    old board's cluster there (its tasks, jobs and tokens) by the path alone."""
    from mc.mirror.embedded import User

    parent = tmp_path / "private"
    parent.mkdir(mode=0o700)
    nobody = User("nobody", 65534, 65534)  # someone who cannot reach `parent`
    first = again = Cluster(parent / "board" / ".mc" / "pg", user=nobody)
    try:
        assert first.root.parent == Path("/var/tmp/mc-pg")
        (first.root / "data").mkdir()  # the old board's data
        shutil.rmtree(parent / "board")  # the board is deleted, and made again
        again = Cluster(parent / "board" / ".mc" / "pg", user=nobody)
        assert again.root != first.root
        assert list(again.root.iterdir()) == []
        assert (parent / "board" / ".mc" / "pg").resolve() == again.root
        # Another process looking at the same board finds the same cluster.
        assert Cluster(parent / "board" / ".mc" / "pg", user=nobody).root == again.root
    finally:
        for root in {first.root, again.root}:
            shutil.rmtree(root, ignore_errors=True)


def test_status_reports_sync_lag_lanes_invalid_and_violations(
    board_path: Path, database_url: str, start_daemon: StartDaemon
) -> None:
    env = {"MC_DATABASE_URL": database_url}
    new_project(board_path, "a")
    new_project(board_path, "b", "--queue")
    new_project(board_path, "c")
    daemon = start_daemon(board_path, database_url, poll=1.0)
    daemon.wait_synced(database_url, head(board_path))

    # An invalid edit (hooks skipped): the row keeps its last valid version plus the error.
    write(board_path / "backlog" / "c.yaml", "title: Broken\narchetype: [unclosed\n")
    person_git(board_path, "commit", "-qam", "Break c", "--no-verify")
    broken = head(board_path)
    # A forbidden move (backlog -> done, unsigned, hooks skipped): a violation.
    person_git(board_path, "mv", "backlog/a.yaml", "done/a.yaml")
    person_git(board_path, "commit", "-qm", "Sneak a into done", "--no-verify")
    forbidden = head(board_path)
    daemon.wait_synced(database_url, forbidden, timeout=30)

    report = status_json(board_path, env)
    assert report["database"]["state"] == "up"
    assert report["daemon"]["running"] is True
    assert [c["name"] for c in report["daemon"]["connections"]] == [daemon.application_name]
    assert report["sync"]["tip"] == forbidden
    assert report["sync"]["last_synced_commit"] == forbidden
    assert report["sync"]["behind"] == 0
    assert report["sync"]["last_synced_at"]
    assert report["lanes"] == {"backlog": 2, "up-next": 1}  # a stays where it was accepted
    invalid = {p["id"]: p for p in report["invalid"]}
    assert set(invalid) == {"c"}
    assert invalid["c"]["attempted_commit"] == broken
    assert invalid["c"]["error_path"] == "backlog/c.yaml"
    assert invalid["c"]["error"]
    row = project_row(database_url, "c")
    assert row is not None and row["title"] == "Project c"  # the last valid version stays
    # Both commits skipped the hooks to do what the hooks refuse: each is a violation.
    violations = {(v["commit"], v["project_id"]): v for v in report["violations"]}
    assert set(violations) == {(broken, "c"), (forbidden, "a")}, report["violations"]
    assert "backlog/c.yaml:3" in violations[broken, "c"]["message"]
    assert violations[forbidden, "a"]["path"] == "done/a.yaml"
    assert "done" in violations[forbidden, "a"]["message"]
    assert {v["actor"] for v in violations.values()} == {"human"}
    row = project_row(database_url, "a")
    assert row is not None and row["lane"] == "backlog" and row["flagged"]

    # Daemon stopped, two commits made: the lag says so.
    code, _ = daemon.terminate()
    assert code == 0, daemon.output()
    new_project(board_path, "d")
    new_project(board_path, "e")
    tip = head(board_path)

    def stopped() -> dict[str, Any] | None:
        report = status_json(board_path, env)
        return report if not report["daemon"]["running"] else None

    report = wait_for(stopped, "status to see no daemon", timeout=15, interval=0.2)
    assert report["sync"]["tip"] == tip
    assert report["sync"]["last_synced_commit"] == forbidden
    assert report["sync"]["behind"] == 2
    assert report["daemon"]["connections"] == []
    assert report["lanes"] == {"backlog": 2, "up-next": 1}

    # Started again, it catches up.
    daemon = start_daemon(board_path, database_url, poll=1.0)
    daemon.wait_synced(database_url, tip)
    report = status_json(board_path, env)
    assert report["sync"]["behind"] == 0
    assert report["lanes"] == {"backlog": 4, "up-next": 1}
