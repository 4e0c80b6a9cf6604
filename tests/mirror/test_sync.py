"""The PostgreSQL mirror (DESIGN §3–4): commits in, rows, activity and violations out.

Real boards made by mc init, real commits (the library's own, and hand-made ones with
the hooks skipped or signed by the wrong key), a real PostgreSQL database per test.
Every test asserts on rows: projects, activity, violations, mc_meta, uncommitted.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from mc.board import actions
from mc.board.board import Board
from mc.mirror import db
from mc.mirror.embedded import Cluster
from mc.mirror.sync import Syncer, SyncResult, scan_uncommitted, store_uncommitted

from ..conftest import Key, back_review_job, git, head, run_mc, to_review, write

# What "the same mirror" means: every column a sync decides (not the clock's).
PROJECT_COLUMNS = (
    "id, lane, title, archetype, model, priority, owner, due_date, due_at, labels, "
    "ready_for_human, needs_human, data, applied_commit, applied_blob, attempted_commit, "
    "attempted_blob, error, error_path, error_line, error_col, flagged, flagged_commit"
)
# Not the id: activity ids keep counting up across rebuilds (they are the live feed's ids).
ACTIVITY_COLUMNS = (
    "kind, project_id, from_lane, to_lane, commit, action, actor, who, summary, title, detail"
)
VIOLATION_COLUMNS = "commit, project_id, path, message, actor"


# ---------------------------------------------------------------------- helpers


@dataclass
class Mirror:
    """One board mirrored into one database."""

    board: Board
    conn: db.Connection
    syncer: Syncer

    def sync(self) -> SyncResult | None:
        return self.syncer.sync(self.conn)

    def synced(self) -> SyncResult:
        result = self.sync()
        assert result is not None, "the sync found nothing new"
        return result

    def row(self, pid: str) -> dict[str, Any] | None:
        return db.fetch_one(self.conn, "project_get", {"id": pid})

    def must(self, pid: str) -> dict[str, Any]:
        row = self.row(pid)
        assert row is not None, f"no row for {pid}"
        return row

    def ids(self) -> list[str]:
        return [r["id"] for r in db.fetch_all(self.conn, "projects_all")]

    def activity(self, project: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Newest first, through the named query the activity feed uses."""
        return db.fetch_all(
            self.conn, "activity_recent", {"project": project, "before": None, "limit": limit}
        )

    def violations(self) -> list[dict[str, Any]]:
        return db.fetch_all(self.conn, "violations_recent", {"limit": 1000})

    def meta(self, key: str) -> str | None:
        row = db.fetch_one(self.conn, "meta_get", {"key": key})
        return row["value"] if row else None


Snapshot = dict[str, list[dict[str, Any]]]


def snapshot(conn: db.Connection) -> Snapshot:
    """Everything a sync decides, comparable between two databases."""

    def rows(query: str) -> list[dict[str, Any]]:
        return conn.execute(query).fetchall()

    return {
        "projects": rows(f"SELECT {PROJECT_COLUMNS} FROM projects ORDER BY id"),
        "activity": rows(f"SELECT {ACTIVITY_COLUMNS} FROM activity ORDER BY id"),
        "violations": rows(
            f"SELECT {VIOLATION_COLUMNS} FROM violations ORDER BY commit, project_id, message"
        ),
        "meta": rows("SELECT key, value FROM mc_meta WHERE key = 'last_synced_commit'"),
        # Commit times, not the clock's, for every row made from a valid file.
        "times": rows(
            "SELECT id, lane_since, created_at FROM projects "
            "WHERE applied_blob IS NOT NULL ORDER BY id"
        ),
    }


def assert_same(left: Snapshot, right: Snapshot) -> None:
    found = differences(left, right)
    assert not found, "the mirrors differ:\n  " + "\n  ".join(found)


def differences(left: Snapshot, right: Snapshot) -> list[str]:
    """What differs between two snapshots, row by row and column by column (empty: equal)."""
    out = []
    for table in left.keys() | right.keys():
        a, b = left.get(table, []), right.get(table, [])
        if len(a) != len(b):
            out.append(f"{table}: {len(a)} rows != {len(b)} rows")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            for column in x.keys() | y.keys():
                if x.get(column) != y.get(column):
                    key = x.get("id", i)
                    out.append(f"{table}[{key}].{column}: {x.get(column)!r} != {y.get(column)!r}")
    return sorted(out)


def sneak(path: Path, message: str, *, sign_with: Key | None = None) -> str:
    """Commit what is staged with the client hooks skipped (--no-verify); the new sha."""
    args = ["commit", "-q", "--no-verify", "-m", message]
    if sign_with is not None:
        args = ["-c", f"user.signingkey={sign_with.public}", *args, "-S"]
    git(path, *args)
    return head(path)


def commit_time(path: Path, sha: str) -> dt.datetime:
    seconds = int(git(path, "log", "-1", "--format=%ct", sha).stdout)
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def blob(path: Path, spec: str) -> str:
    return git(path, "rev-parse", f"HEAD:{spec}").stdout.strip()


def write_project(board_path: Path, rel: str, text: str) -> None:
    write(board_path / rel, text)
    git(board_path, "add", "--", rel)


def forged_approval(board_path: Path, pid: str, by: str) -> None:
    """Stage review/<pid>.yaml → done/<pid>.yaml with an approved block, as mc approve would."""
    text = (board_path / "review" / f"{pid}.yaml").read_text()
    git(board_path, "rm", "-q", f"review/{pid}.yaml")
    write_project(
        board_path,
        f"done/{pid}.yaml",
        text + f"approved:\n  by: {by}\n  at: 2026-01-02 03:04:05+00:00\n",
    )


def approval_message(board_path: Path, pid: str) -> str:
    reviewed = git(
        board_path, "log", "-1", "--format=%H", "--grep=^Mc-Action: review$", "HEAD"
    ).stdout.strip()
    return (
        f"Approve {pid}\n\nMc-Action: approve\nMc-Actor: human\nMc-Project: {pid}\n"
        f"Mc-Reviewed-Commit: {reviewed}\nMc-Review-Job: 2\n"
    )


def listen(url: str) -> db.Connection:
    conn = db.connect(url, autocommit=True)
    conn.execute("LISTEN mc_board")
    return conn


def drain(listener: db.Connection, timeout: float = 0.3) -> list[dict[str, Any]]:
    """Every notification that arrives within ``timeout``: their payloads, parsed."""
    return [json.loads(n.payload) for n in listener.notifies(timeout=timeout)]


def count_transactions(conn: db.Connection) -> Callable[[], int]:
    """Record the transaction id of every write to the mirror's tables (statement triggers).

    Returns a function giving the number of distinct transactions that wrote since.
    """
    conn.execute("CREATE TABLE test_xacts (xid xid8 NOT NULL, tbl text NOT NULL)")
    conn.execute(
        "CREATE FUNCTION test_note_xact() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO test_xacts VALUES (pg_current_xact_id(), TG_TABLE_NAME); RETURN NULL; "
        "END $$"
    )
    for table in ("projects", "activity", "violations", "mc_meta", "uncommitted"):
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER {} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {} "
                "FOR EACH STATEMENT EXECUTE FUNCTION test_note_xact()"
            ).format(sql.Identifier(f"test_xact_{table}"), sql.Identifier(table))
        )

    def count() -> int:
        row = conn.execute("SELECT count(DISTINCT xid) AS n FROM test_xacts").fetchone()
        assert row is not None
        conn.execute("TRUNCATE test_xacts")
        return int(row["n"])

    return count


# ---------------------------------------------------------------------- fixtures


@pytest.fixture
def make_database(pg_cluster: object) -> Iterator[Callable[[], str]]:
    """More fresh, migrated databases (clones of the template), dropped afterwards."""
    assert isinstance(pg_cluster, Cluster)
    made: list[str] = []

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with db.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE mc_template").format(sql.Identifier(name))
            )
        made.append(name)
        return pg_cluster.url(name)

    yield make
    with db.connect(pg_cluster.url("postgres"), autocommit=True) as admin:
        for name in made:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def conn(database_url: str) -> Iterator[db.Connection]:
    with db.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def mirror(board: Board, conn: db.Connection) -> Mirror:
    """The board (just made by mc init) already mirrored: later syncs are incremental."""
    m = Mirror(board, conn, Syncer(board))
    first = m.synced()
    assert first.rebuilt  # an empty database starts with a full replay
    return m


def rebuilt_copy(board: Board, url: str, jobs_from: db.Connection | None = None) -> Snapshot:
    """A full rebuild of the board into the (fresh) database at ``url``.

    ``jobs_from``: a database whose job records to bring along (they live only in
    the database, and a rebuild keeps them: review commits are checked against them).
    """
    with db.connect(url, autocommit=True) as other:
        if jobs_from is not None:
            for job in jobs_from.execute("SELECT * FROM jobs ORDER BY id").fetchall():
                other.execute(
                    "INSERT INTO jobs (id, project_id, kind, state, archetype, result, attempts) "
                    "OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        job["id"],
                        job["project_id"],
                        job["kind"],
                        job["state"],
                        job["archetype"],
                        db.jsonb(job["result"]),
                        job["attempts"],
                    ),
                )
        result = Syncer(board).rebuild(other)
        assert result is not None and result.rebuilt
        return snapshot(other)


# ---------------------------------------------------------------------- the first sync


def test_first_sync_of_a_new_board(board: Board, board_path: Path, conn: db.Connection) -> None:
    m = Mirror(board, conn, Syncer(board))
    assert m.meta("last_synced_commit") is None
    result = m.synced()
    assert result.rebuilt and result.commit == head(board_path)
    assert m.meta("last_synced_commit") == head(board_path)
    at = m.meta("last_synced_at")
    assert at is not None and dt.datetime.fromisoformat(at).tzinfo is not None
    assert m.ids() == [] and m.activity() == [] and m.violations() == []
    assert m.sync() is None  # nothing new


# ---------------------------------------------------------------------- one commit of each kind


def test_new_project(mirror: Mirror, board_path: Path) -> None:
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha", fields={"priority": 2})
    sha = head(board_path)
    result = mirror.synced()
    assert (result.commit, result.commits, result.projects, result.rebuilt) == (
        sha,
        1,
        ["alpha"],
        False,
    )
    row = mirror.must("alpha")
    assert row["lane"] == "backlog"
    assert (row["title"], row["archetype"], row["priority"]) == ("Alpha", "coder", 2)
    assert row["data"]["title"] == "Alpha" and row["data"]["priority"] == 2
    assert row["applied_commit"] == sha
    assert row["applied_blob"] == blob(board_path, "backlog/alpha.yaml")
    assert row["error"] is None and row["attempted_commit"] is None
    assert row["flagged"] is None and row["flagged_commit"] is None
    [a] = mirror.activity()
    assert a["id"] in result.activity
    assert (a["kind"], a["project_id"], a["from_lane"], a["to_lane"], a["commit"]) == (
        "create",
        "alpha",
        None,
        "backlog",
        sha,
    )
    assert (a["action"], a["actor"], a["who"]) == ("create", "human", "Alice")
    assert mirror.violations() == []
    assert mirror.meta("last_synced_commit") == sha


def test_edit_of_person_fields(mirror: Mirror, board_path: Path) -> None:
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    mirror.synced()
    before = mirror.must("alpha")
    actions.edit(
        mirror.board,
        "alpha",
        {"priority": 1, "owner": "alice", "labels": ["ops", "urgent"], "due": "2026-12-01"},
    )
    sha = head(board_path)
    mirror.synced()
    row = mirror.must("alpha")
    assert row["lane"] == "backlog"
    assert (row["priority"], row["owner"], row["labels"]) == (1, "alice", ["ops", "urgent"])
    assert row["due_date"] == dt.date(2026, 12, 1) and row["due_at"] is None
    assert row["data"]["owner"] == "alice" and row["data"]["due"] == "2026-12-01"
    assert row["applied_commit"] == sha
    assert row["applied_blob"] == blob(board_path, "backlog/alpha.yaml") != before["applied_blob"]
    assert row["lane_since"] == before["lane_since"]  # an edit is not a lane move
    assert row["created_at"] == before["created_at"]
    edit, _create = mirror.activity()
    assert (edit["kind"], edit["project_id"], edit["commit"], edit["actor"]) == (
        "edit",
        "alpha",
        sha,
        "human",
    )
    assert (edit["from_lane"], edit["to_lane"], edit["action"]) == ("backlog", "backlog", "edit")
    assert edit["summary"] == "due, labels, owner, priority"


def test_lane_move(mirror: Mirror, board_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    mirror.synced()
    created = mirror.must("alpha")
    actions.queue(mirror.board, "alpha")
    sha = head(board_path)
    result = mirror.synced()
    row = mirror.must("alpha")
    assert row["lane"] == "up-next"
    assert row["applied_commit"] == sha
    assert row["applied_blob"] == created["applied_blob"]  # the same file, another folder
    assert row["lane_since"] == commit_time(board_path, sha)
    assert row["created_at"] == created["created_at"]
    move, _create = mirror.activity()
    assert result.activity == [move["id"]]
    assert (move["kind"], move["from_lane"], move["to_lane"], move["commit"]) == (
        "move",
        "backlog",
        "up-next",
        sha,
    )
    assert (move["action"], move["actor"], move["summary"]) == (
        "queue",
        "human",
        "backlog → up-next",
    )
    actions.cancel(mirror.board, "alpha")
    mirror.synced()
    assert mirror.must("alpha")["lane"] == "backlog"
    assert [(a["kind"], a["from_lane"], a["to_lane"], a["action"]) for a in mirror.activity()] == [
        ("move", "up-next", "backlog", "cancel"),
        ("move", "backlog", "up-next", "queue"),
        ("create", None, "backlog", "create"),
    ]

    # Created and moved within one sync: created_at is the creation's time, lane_since the move's.
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-01T10:00:00+00:00")
    actions.new_project(mirror.board, "Beta", "coder", project_id="beta")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-03-02T10:00:00+00:00")
    actions.queue(mirror.board, "beta")
    mirror.synced()
    beta = mirror.must("beta")
    assert beta["lane_since"] == dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
    assert beta["created_at"] == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)


def test_delete(mirror: Mirror, board_path: Path) -> None:
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    actions.new_project(mirror.board, "Beta", "coder", project_id="beta")
    mirror.synced()
    actions.delete(mirror.board, "alpha")
    sha = head(board_path)
    result = mirror.synced()
    assert result.projects == ["alpha"]
    assert mirror.row("alpha") is None
    assert mirror.ids() == ["beta"]
    latest = mirror.activity()[0]
    assert (latest["kind"], latest["project_id"], latest["from_lane"], latest["to_lane"]) == (
        "delete",
        "alpha",
        "backlog",
        None,
    )
    assert (latest["commit"], latest["actor"], latest["action"]) == (sha, "human", "delete")


def test_rename_of_id_is_a_delete_and_a_create(mirror: Mirror, board_path: Path) -> None:
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    mirror.synced()
    old_blob = mirror.must("alpha")["applied_blob"]
    git(board_path, "mv", "backlog/alpha.yaml", "backlog/beta.yaml")
    sha = sneak(board_path, "rename alpha to beta")
    result = mirror.synced()
    assert result.projects == ["alpha", "beta"]
    assert mirror.ids() == ["beta"]
    row = mirror.must("beta")
    assert (row["lane"], row["title"], row["applied_blob"], row["applied_commit"]) == (
        "backlog",
        "Alpha",
        old_blob,
        sha,
    )
    new = sorted(
        (a["kind"], a["project_id"], a["from_lane"], a["to_lane"], a["commit"])
        for a in mirror.activity()[:2]
    )
    assert new == [
        ("create", "beta", None, "backlog", sha),
        ("delete", "alpha", "backlog", None, sha),
    ]
    assert mirror.violations() == []


def test_invalid_file_keeps_the_last_valid_row(mirror: Mirror, board_path: Path) -> None:
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    mirror.synced()
    valid = mirror.must("alpha")
    write_project(board_path, "backlog/alpha.yaml", "title: Alpha\narchetype: coder\npriority: 9\n")
    bad = sneak(board_path, "priority out of range")
    mirror.synced()
    row = mirror.must("alpha")
    # The last valid version stays...
    for column in ("lane", "title", "priority", "data", "applied_commit", "applied_blob"):
        assert row[column] == valid[column], column
    # ...and the attempt is recorded beside it, with where the file is wrong.
    assert row["attempted_commit"] == bad
    assert row["attempted_blob"] == blob(board_path, "backlog/alpha.yaml")
    assert "priority" in row["error"]
    assert (row["error_path"], row["error_line"]) == ("backlog/alpha.yaml", 3)
    assert isinstance(row["error_col"], int) and row["error_col"] >= 1
    invalid = db.fetch_all(mirror.conn, "projects_invalid")
    assert [(r["id"], r["attempted_commit"]) for r in invalid] == [("alpha", bad)]
    latest = mirror.activity()[0]
    assert (latest["kind"], latest["project_id"], latest["commit"]) == ("invalid", "alpha", bad)

    # Fixing the file applies it and clears the error.
    write_project(board_path, "backlog/alpha.yaml", "title: Alpha\narchetype: coder\npriority: 2\n")
    fixed = sneak(board_path, "priority fixed")
    mirror.synced()
    row = mirror.must("alpha")
    assert (row["priority"], row["applied_commit"]) == (2, fixed)
    assert row["applied_blob"] == blob(board_path, "backlog/alpha.yaml")
    for column in ("attempted_commit", "attempted_blob", "error", "error_path", "error_line"):
        assert row[column] is None, column
    assert db.fetch_all(mirror.conn, "projects_invalid") == []


def test_invalid_file_reverted_to_the_applied_version(mirror: Mirror, board_path: Path) -> None:
    """Going back to exactly the applied file clears the error and keeps its applied commit."""
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    created = head(board_path)
    mirror.synced()
    good = (board_path / "backlog" / "alpha.yaml").read_text()
    write_project(board_path, "backlog/alpha.yaml", "title: [Alpha\n")
    sneak(board_path, "broken")
    mirror.synced()
    assert mirror.must("alpha")["error"] is not None
    write_project(board_path, "backlog/alpha.yaml", good)
    sneak(board_path, "back to the applied version")
    mirror.synced()
    row = mirror.must("alpha")
    assert row["error"] is None and row["attempted_blob"] is None
    assert row["applied_blob"] == blob(board_path, "backlog/alpha.yaml")
    assert row["applied_commit"] == created


def test_never_valid_file_has_an_error_and_no_data(mirror: Mirror, board_path: Path) -> None:
    write_project(board_path, "backlog/ghost.yaml", "title: Ghost\narchetype: coder\nsize: 3\n")
    bad = sneak(board_path, "a file that never was valid")
    mirror.synced()
    row = mirror.must("ghost")
    assert row["lane"] == "backlog"
    assert row["data"] is None and row["title"] is None
    assert row["applied_blob"] is None and row["applied_commit"] is None
    assert (row["attempted_commit"], row["attempted_blob"]) == (
        bad,
        blob(board_path, "backlog/ghost.yaml"),
    )
    assert "size" in row["error"] and row["error_path"] == "backlog/ghost.yaml"
    assert row["error_line"] == 3

    # Made valid later: it becomes a normal row, created by that commit.
    write_project(board_path, "backlog/ghost.yaml", "title: Ghost\narchetype: coder\n")
    good = sneak(board_path, "ghost fixed")
    mirror.synced()
    row = mirror.must("ghost")
    assert (row["title"], row["applied_commit"], row["error"]) == ("Ghost", good, None)
    assert mirror.activity()[0]["kind"] == "create"


def test_never_valid_file_deleted_leaves_no_row(mirror: Mirror, board_path: Path) -> None:
    write_project(board_path, "backlog/ghost.yaml", "title: Ghost\nsize: 3\n")
    sneak(board_path, "a file that never was valid")
    mirror.synced()
    assert mirror.must("ghost")["error"] is not None
    git(board_path, "rm", "-q", "backlog/ghost.yaml")
    sneak(board_path, "remove it")
    mirror.synced()
    # Git has no such file any more: the mirror must not keep showing its error.
    assert mirror.row("ghost") is None
    assert db.fetch_all(mirror.conn, "projects_invalid") == []


# ---------------------------------------------------------------------- forbidden commits


def test_person_moving_review_to_done_is_refused_and_flagged(
    mirror: Mirror, board_path: Path
) -> None:
    to_review(mirror.board, "alpha", conns=(mirror.conn,))
    mirror.synced()
    accepted = mirror.must("alpha")
    assert (accepted["lane"], accepted["ready_for_human"]) == ("review", True)
    git(board_path, "mv", "review/alpha.yaml", "done/alpha.yaml")
    bad = sneak(board_path, "ship it myself")
    mirror.synced()
    row = mirror.must("alpha")
    assert row["lane"] == "review"  # the database did not take the forbidden state
    for column in ("data", "applied_blob", "applied_commit", "lane_since"):
        assert row[column] == accepted[column], column
    assert row["flagged"] and row["flagged_commit"] == bad
    [v] = mirror.violations()
    assert (v["commit"], v["project_id"], v["actor"]) == (bad, "alpha", "human")
    assert v["path"] in ("done/alpha.yaml", "review/alpha.yaml")
    latest = mirror.activity()[0]
    assert (latest["kind"], latest["project_id"], latest["commit"], latest["actor"]) == (
        "violation",
        "alpha",
        bad,
        "human",
    )
    assert (latest["from_lane"], latest["to_lane"]) == ("review", "done")

    # Putting git back where the database is clears the flag; nothing else changes.
    git(board_path, "mv", "done/alpha.yaml", "review/alpha.yaml")
    back = sneak(board_path, "undo")
    mirror.synced()
    row = mirror.must("alpha")
    assert row["lane"] == "review" and row["flagged"] is None and row["flagged_commit"] is None
    for column in ("data", "applied_blob", "applied_commit", "lane_since"):
        assert row[column] == accepted[column], column
    assert [v["commit"] for v in mirror.violations()] == [bad]  # the record stays
    latest = mirror.activity()[0]
    assert (latest["kind"], latest["commit"], latest["project_id"]) == ("resolved", back, "alpha")


def test_move_to_done_signed_by_a_non_approver_is_refused(
    mirror: Mirror, board_path: Path, keys: dict[str, Key]
) -> None:
    to_review(mirror.board, "alpha", conns=(mirror.conn,))
    mirror.synced()
    accepted = mirror.must("alpha")
    forged_approval(board_path, "alpha", "mallory")
    bad = sneak(board_path, approval_message(board_path, "alpha"), sign_with=keys["mallory"])
    assert git(board_path, "cat-file", "-p", "HEAD").stdout.count("gpgsig") == 1
    mirror.synced()
    row = mirror.must("alpha")
    assert row["lane"] == "review" and row["data"] == accepted["data"]
    assert "approved" not in row["data"]
    assert row["flagged"] and row["flagged_commit"] == bad
    assert [(v["commit"], v["project_id"]) for v in mirror.violations()] == [(bad, "alpha")]
    assert mirror.activity()[0]["kind"] == "violation"


def test_service_trailers_without_the_service_signature_are_refused(
    mirror: Mirror, board_path: Path
) -> None:
    """A person's commit claiming to be the dispatcher: up-next → in-progress is refused."""
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    actions.queue(mirror.board, "alpha")
    mirror.synced()
    git(board_path, "mv", "up-next/alpha.yaml", "in-progress/alpha.yaml")
    bad = sneak(
        board_path,
        "Dispatch alpha (job 1)\n\nMc-Action: dispatch\nMc-Actor: dispatcher\nMc-Project: alpha\n",
    )
    mirror.synced()
    row = mirror.must("alpha")
    assert (row["lane"], row["flagged_commit"]) == ("up-next", bad)
    [v] = mirror.violations()
    assert (v["commit"], v["project_id"], v["actor"]) == (bad, "alpha", "human")


def test_a_second_file_with_the_same_id_is_refused_and_its_removal_resolves_it(
    mirror: Mirror, board_path: Path
) -> None:
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    mirror.synced()
    accepted = mirror.must("alpha")
    write_project(
        board_path, "up-next/alpha.yaml", (board_path / "backlog" / "alpha.yaml").read_text()
    )
    bad = sneak(board_path, "a copy in up-next")
    mirror.synced()
    row = mirror.must("alpha")
    assert (row["lane"], row["flagged_commit"]) == ("backlog", bad)
    assert [v["commit"] for v in mirror.violations()] == [bad]

    # Removing the copy leaves git with backlog/alpha.yaml, exactly what the database has.
    git(board_path, "rm", "-q", "up-next/alpha.yaml")
    sneak(board_path, "remove the copy")
    mirror.synced()
    kept = mirror.row("alpha")
    assert kept is not None, "the project still in backlog/ was deleted from the mirror"
    assert (kept["lane"], kept["flagged"], kept["applied_blob"]) == (
        "backlog",
        None,
        accepted["applied_blob"],
    )


def test_forbidden_commit_without_a_project_is_a_violation_with_activity(
    mirror: Mirror, board_path: Path
) -> None:
    """DESIGN §3: a forbidden commit is recorded as a violation (activity + board alert)."""
    write_project(board_path, "backlog/Notes.txt", "not a project\n")
    bad = sneak(board_path, "a stray file in a lane folder")
    result = mirror.synced()
    [v] = mirror.violations()
    assert (v["commit"], v["project_id"], v["path"]) == (bad, None, "backlog/Notes.txt")
    assert result.violations == 1
    assert [(a["kind"], a["commit"]) for a in mirror.activity()] == [("violation", bad)]


def test_edit_in_done_and_delete_from_review_are_refused(mirror: Mirror, board_path: Path) -> None:
    to_review(mirror.board, "alpha", conns=(mirror.conn,))
    to_review(mirror.board, "beta", jobs=(3, 4), conns=(mirror.conn,))
    actions.approve(mirror.board, "alpha")
    mirror.synced()
    done = mirror.must("alpha")
    in_review = mirror.must("beta")
    path = board_path / "done" / "alpha.yaml"
    write_project(board_path, "done/alpha.yaml", path.read_text() + "owner: mallory\n")
    edit_done = sneak(board_path, "edit a done project")
    git(board_path, "rm", "-q", "review/beta.yaml")
    delete_review = sneak(board_path, "delete a project in review")
    result = mirror.synced()
    assert result.commits == 2
    alpha, beta = mirror.must("alpha"), mirror.must("beta")
    assert (alpha["lane"], alpha["owner"], alpha["data"]) == ("done", None, done["data"])
    assert alpha["flagged_commit"] == edit_done
    assert (beta["lane"], beta["data"]) == ("review", in_review["data"])
    assert beta["flagged_commit"] == delete_review
    assert sorted((v["project_id"], v["commit"]) for v in mirror.violations()) == [
        ("alpha", edit_done),
        ("beta", delete_review),
    ]


def test_a_flagged_project_that_gets_an_invalid_file_stays_flagged(
    mirror: Mirror, board_path: Path, make_database: Callable[[], str]
) -> None:
    to_review(mirror.board, "alpha", conns=(mirror.conn,))
    mirror.synced()
    accepted = mirror.must("alpha")
    git(board_path, "mv", "review/alpha.yaml", "done/alpha.yaml")
    flagged = sneak(board_path, "skip the approval")
    mirror.synced()
    write_project(board_path, "done/alpha.yaml", "title: [Alpha\n")
    broken = sneak(board_path, "and break it")
    mirror.synced()
    alpha = mirror.must("alpha")
    assert (alpha["lane"], alpha["attempted_commit"]) == ("review", broken)
    assert alpha["applied_commit"] == accepted["applied_commit"]
    assert alpha["flagged"] and alpha["flagged_commit"] == flagged  # still flagged, by that commit
    assert_same(snapshot(mirror.conn), rebuilt_copy(mirror.board, make_database(), mirror.conn))


def test_an_invalid_file_then_a_refused_version_matches_a_rebuild(
    mirror: Mirror, board_path: Path, make_database: Callable[[], str]
) -> None:
    """Synced commit by commit or replayed at once, the row ends the same."""
    actions.new_project(mirror.board, "Beta", "coder", project_id="beta")
    mirror.synced()
    write_project(board_path, "backlog/beta.yaml", "title: Beta\narchetype: coder\npriority: 0\n")
    sneak(board_path, "an invalid beta")
    mirror.synced()
    git(board_path, "rm", "-q", "backlog/beta.yaml")
    write_project(board_path, "review/beta.yaml", "title: Beta\narchetype: coder\n")
    skipped = sneak(board_path, "beta straight to review")
    mirror.synced()
    beta = mirror.must("beta")
    assert (beta["lane"], beta["flagged_commit"]) == ("backlog", skipped)
    assert_same(snapshot(mirror.conn), rebuilt_copy(mirror.board, make_database(), mirror.conn))


def test_an_approver_added_by_a_refused_commit_cannot_approve(
    mirror: Mirror, board_path: Path, keys: dict[str, Key]
) -> None:
    """The database judges against what it accepted: a signer list it refused gives no one
    the right to approve."""
    to_review(mirror.board, "alpha", conns=(mirror.conn,))
    mirror.synced()
    signers = board_path / ".mc" / "allowed_signers"
    key = keys["mallory"].public_text.split()
    write_project(
        board_path,
        ".mc/allowed_signers",
        signers.read_text() + f'mallory namespaces="git" {key[0]} {key[1]}\n',
    )
    added = sneak(board_path, "mallory approves now")  # unsigned: refused
    mirror.synced()
    assert [(v["commit"], v["path"]) for v in mirror.violations()] == [
        (added, ".mc/allowed_signers")
    ]
    forged_approval(board_path, "alpha", "mallory")
    approval = sneak(board_path, approval_message(board_path, "alpha"), sign_with=keys["mallory"])
    mirror.synced()
    row = mirror.must("alpha")
    assert row["lane"] == "review", "an approval signed by a key from a refused commit was taken"
    assert row["flagged_commit"] == approval
    assert approval in {v["commit"] for v in mirror.violations()}


def test_two_syncers_at_once_apply_each_commit_once(
    board: Board, board_path: Path, database_url: str
) -> None:
    import threading

    with db.connect(database_url, autocommit=True) as first:
        Syncer(board).sync(first)
    for pid in ("alpha", "beta", "gamma"):
        actions.new_project(board, pid, "coder", project_id=pid)
    results: list[SyncResult | None] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        with Board.open(board_path) as own, db.connect(database_url, autocommit=True) as c:
            barrier.wait()
            results.append(Syncer(own).sync(c))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r is None for r in results) == [False, True]
    with db.connect(database_url, autocommit=True) as c:
        activity = db.fetch_all(
            c, "activity_recent", {"project": None, "before": None, "limit": 99}
        )
        assert sorted(a["project_id"] for a in activity) == ["alpha", "beta", "gamma"]


# ---------------------------------------------------------------------- the pipeline


def test_service_transitions_and_approval(mirror: Mirror, board_path: Path) -> None:
    """Each pipeline step is accepted and logged with its actor; approve lands in done."""
    board = mirror.board
    back_review_job(mirror.conn, "alpha", 2, "fail")
    back_review_job(mirror.conn, "alpha", 4, "pass")
    steps: list[tuple[Callable[[], object], str, str, str | None, str, str]] = [
        (lambda: actions.new_project(board, "Alpha", "coder", project_id="alpha"),
         "create", "human", None, "backlog", "create"),
        (lambda: actions.queue(board, "alpha"), "move", "human", "backlog", "up-next", "queue"),
        (lambda: actions.dispatch(board, "alpha", "1"),
         "move", "dispatcher", "up-next", "in-progress", "dispatch"),
        (lambda: actions.complete(board, "alpha", "1", {"report.md": b"# Done\n"}),
         "move", "executor", "in-progress", "review", "complete"),
        (lambda: actions.record_review(board, "alpha", "2", "fail", "again", rework=True),
         "move", "reviewer", "review", "in-progress", "review"),
        (lambda: actions.complete(board, "alpha", "3", {"report.md": b"# Done v2\n"}),
         "move", "executor", "in-progress", "review", "complete"),
        (lambda: actions.record_review(board, "alpha", "4", "pass", "good", rework=False),
         "edit", "reviewer", "review", "review", "review"),
        (lambda: actions.approve(board, "alpha"), "approve", "human", "review", "done", "approve"),
    ]  # fmt: skip
    expected = []
    for step, kind, actor, from_lane, to_lane, action in steps:
        step()
        sha = head(board_path)
        result = mirror.synced()
        assert (result.commit, result.commits, result.violations) == (sha, 1, 0)
        row = mirror.must("alpha")
        assert (row["lane"], row["applied_commit"], row["flagged"]) == (to_lane, sha, None)
        assert row["applied_blob"] == blob(board_path, f"{to_lane}/alpha.yaml")
        expected.append((kind, "alpha", from_lane, to_lane, sha, action, actor))
    assert mirror.violations() == []
    got = [
        (a["kind"], a["project_id"], a["from_lane"], a["to_lane"], a["commit"], a["action"],
         a["actor"])
        for a in mirror.activity()
    ]  # fmt: skip
    assert got == expected[::-1]  # newest first
    ids = [a["id"] for a in mirror.activity()]
    assert ids == sorted(ids, reverse=True)
    row = mirror.must("alpha")
    assert row["data"]["approved"]["by"] == "alice@example.com"
    assert row["data"]["run"]["job"] == "3" and row["data"]["review"]["verdict"] == "pass"
    assert row["ready_for_human"] is True
    activity = mirror.activity()
    assert activity[0]["who"] == "alice@example.com"  # the approver key's principal
    assert activity[-3]["who"].startswith("Mission Control")  # the dispatcher's commit


def test_activity_recent_pages_newest_first(mirror: Mirror) -> None:
    for pid in ("a1", "a2", "a3"):
        actions.new_project(mirror.board, pid, "coder", project_id=pid)
    actions.queue(mirror.board, "a2")
    mirror.synced()
    everything = mirror.activity()
    assert [(a["kind"], a["project_id"]) for a in everything] == [
        ("move", "a2"),
        ("create", "a3"),
        ("create", "a2"),
        ("create", "a1"),
    ]
    page = db.fetch_all(
        mirror.conn, "activity_recent", {"project": None, "before": everything[1]["id"], "limit": 2}
    )
    assert [a["id"] for a in page] == [everything[2]["id"], everything[3]["id"]]
    only_a2 = mirror.activity(project="a2")
    assert [a["kind"] for a in only_a2] == ["move", "create"]


# ---------------------------------------------------------------------- transactions and NOTIFY


def test_one_transaction_and_one_notify_per_sync(
    mirror: Mirror, board_path: Path, database_url: str
) -> None:
    transactions = count_transactions(mirror.conn)
    listener = listen(database_url)
    try:
        actions.new_project(mirror.board, "Secret title", "coder", project_id="alpha")
        actions.new_project(mirror.board, "Hidden title", "coder", project_id="beta")
        actions.queue(mirror.board, "alpha")
        result = mirror.synced()
        assert result.commits == 3
        assert transactions() == 1
        [note] = drain(listener)
        activity = mirror.activity()
        assert note == {
            "kind": "sync",
            "commit": head(board_path),
            "projects": ["alpha", "beta"],
            "activity": sorted(a["id"] for a in activity),
        }
        assert "title" not in json.dumps(note).lower()  # ids only

        # Nothing new: no transaction that writes, no NOTIFY.
        assert mirror.sync() is None
        assert transactions() == 0
        assert drain(listener, 0.2) == []

        # One commit, one sync, one NOTIFY (the daemon's way: a connection not in autocommit).
        with db.connect(database_url) as daemon_conn:
            actions.edit(mirror.board, "beta", {"priority": 1})
            again = mirror.syncer.sync(daemon_conn)
            assert again is not None and again.projects == ["beta"]
        assert transactions() == 1
        [note] = drain(listener)
        assert (note["projects"], note["commit"]) == (["beta"], head(board_path))
        assert note["activity"] == [mirror.activity()[0]["id"]]
        assert mirror.must("beta")["priority"] == 1
    finally:
        listener.close()


def test_a_rebuild_notifies_once_without_ids(
    mirror: Mirror, board_path: Path, database_url: str
) -> None:
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    mirror.synced()
    transactions = count_transactions(mirror.conn)
    listener = listen(database_url)
    try:
        result = mirror.syncer.rebuild(mirror.conn)
        assert result is not None and result.rebuilt
        assert transactions() == 1
        assert drain(listener) == [{"kind": "sync", "commit": head(board_path), "rebuilt": True}]
    finally:
        listener.close()


# ---------------------------------------------------------------------- incremental = rebuild


def scripted_history(
    board: Board, board_path: Path, keys: dict[str, Key]
) -> list[Callable[[], object]]:
    """Commits of every kind, one callable per commit."""

    def sneak_mv(src: str, dst: str, message: str) -> Callable[[], str]:
        def step() -> str:
            git(board_path, "mv", src, dst)
            return sneak(board_path, message)

        return step

    def sneak_write(rel: str, text: str, message: str) -> Callable[[], str]:
        def step() -> str:
            write_project(board_path, rel, text)
            return sneak(board_path, message)

        return step

    def mallory_approves() -> str:
        forged_approval(board_path, "delta", "mallory")
        return sneak(board_path, approval_message(board_path, "delta"), sign_with=keys["mallory"])

    return [
        lambda: actions.new_project(board, "Alpha", "coder", project_id="alpha"),
        lambda: actions.new_project(board, "Beta", "writer", project_id="beta"),
        lambda: actions.edit(board, "alpha", {"priority": 2, "labels": ["x"], "due": "2026-05-01"}),
        lambda: actions.queue(board, "alpha"),
        sneak_mv("backlog/beta.yaml", "backlog/beta-two.yaml", "rename beta"),
        sneak_write("backlog/beta-two.yaml", "title: Beta\narchetype: coder\npriority: 7\n", "bad"),
        sneak_write("backlog/ghost.yaml", "title: [Ghost\n", "never valid"),
        lambda: actions.dispatch(board, "alpha", "1"),
        lambda: actions.complete(board, "alpha", "1", {"out.txt": b"x\n"}),
        lambda: actions.record_review(board, "alpha", "2", "pass", "ok", rework=False),
        sneak_mv("review/alpha.yaml", "done/alpha.yaml", "skip the approval"),
        sneak_mv("done/alpha.yaml", "review/alpha.yaml", "undo"),
        lambda: actions.approve(board, "alpha"),
        lambda: actions.new_project(board, "Gamma", "coder", project_id="gamma"),
        lambda: actions.delete(board, "gamma"),
        lambda: to_review(board, "delta", jobs=(11, 12)),
        mallory_approves,
        sneak_write("backlog/beta-two.yaml", "title: Beta\narchetype: coder\npriority: 3\n", "fix"),
        lambda: actions.new_project(board, "Epsilon", "coder", project_id="epsilon"),
    ]


def test_incremental_syncs_equal_a_rebuild(
    board: Board,
    board_path: Path,
    keys: dict[str, Key],
    database_url: str,
    make_database: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    step_url, batch_url, rebuild_url = database_url, make_database(), make_database()
    for url in (step_url, batch_url, rebuild_url):  # the job records the history names
        with db.connect(url, autocommit=True) as c:
            back_review_job(c, "alpha", 2)
            back_review_job(c, "delta", 12)
    with (
        db.connect(step_url, autocommit=True) as step_conn,
        db.connect(batch_url, autocommit=True) as batch_conn,
    ):
        one_by_one, batched = (
            Mirror(board, step_conn, Syncer(board)),
            Mirror(board, batch_conn, Syncer(board)),
        )
        one_by_one.synced()
        batched.synced()
        for minute, step in enumerate(scripted_history(board, board_path, keys)):
            # A minute apart: created_at and lane_since differ whenever the lanes do.
            monkeypatch.setenv("GIT_COMMITTER_DATE", f"{1_780_000_000 + 60 * minute} +0000")
            step()
            one_by_one.sync()
        result = batched.synced()
        assert not result.rebuilt and result.commits > 20
        incremental = snapshot(step_conn)
        assert_same(snapshot(batch_conn), incremental)
        rebuilt = rebuilt_copy(board, rebuild_url)
        assert_same(rebuilt, incremental)

        # The history gave what it should: a sanity check of the compared state.
        lanes = {r["id"]: (r["lane"], bool(r["flagged"]), r["error"] is not None)
                 for r in db.fetch_all(step_conn, "projects_all")}  # fmt: skip
        assert lanes == {
            "alpha": ("done", False, False),
            "beta-two": ("backlog", False, False),
            "delta": ("review", True, False),
            "epsilon": ("backlog", False, False),
            "ghost": ("backlog", False, True),
        }
        assert len(one_by_one.violations()) >= 2

        # A rebuild is idempotent, here and over the incremental mirror.
        assert Syncer(board).rebuild(step_conn) is not None
        assert_same(snapshot(step_conn), rebuilt)
    assert_same(rebuilt_copy(board, rebuild_url), rebuilt)


def test_rebuild_twice_gives_the_same_rows_and_ids(
    board: Board, board_path: Path, conn: db.Connection
) -> None:
    to_review(board, "alpha", conns=(conn,))
    actions.new_project(board, "Beta", "coder", project_id="beta")
    git(board_path, "mv", "review/alpha.yaml", "done/alpha.yaml")
    sneak(board_path, "forbidden")
    syncer = Syncer(board)
    first = syncer.rebuild(conn)
    assert first is not None and first.violations == 1
    once = snapshot(conn)
    violation_ids = [v["id"] for v in db.fetch_all(conn, "violations_recent", {"limit": 100})]
    first_ids = [r["id"] for r in conn.execute("SELECT id FROM activity ORDER BY id")]
    syncer.rebuild(conn)
    assert_same(snapshot(conn), once)
    assert [v["id"] for v in db.fetch_all(conn, "violations_recent", {"limit": 100})] == (
        violation_ids
    )
    assert len(once["activity"]) == 7
    again = [r["id"] for r in conn.execute("SELECT id FROM activity ORDER BY id")]
    assert again[0] > first_ids[-1]  # new ids: a client's Last-Event-ID never aliases
    floor = db.fetch_one(conn, "meta_get", {"key": "activity_floor"})
    assert floor is not None and int(floor["value"]) == again[0]


def test_dropping_the_rows_and_resyncing_rebuilds_every_project(
    mirror: Mirror, board_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for minute, pid in enumerate(("alpha", "beta", "gamma")):
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"2026-04-01T10:0{minute}:00+00:00")
        actions.new_project(mirror.board, pid, "coder", project_id=pid)
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-04-01T11:00:00+00:00")
    actions.queue(mirror.board, "beta")
    mirror.synced()
    before = snapshot(mirror.conn)
    mirror.conn.execute("TRUNCATE projects, activity, violations, mc_meta RESTART IDENTITY")
    result = mirror.synced()
    assert result.rebuilt
    assert_same(snapshot(mirror.conn), before)


# ---------------------------------------------------------------------- history rewritten


def test_history_rewritten_under_the_mirror_rebuilds(
    mirror: Mirror, board_path: Path, make_database: Callable[[], str]
) -> None:
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    keep = head(board_path)
    actions.new_project(mirror.board, "Beta", "coder", project_id="beta")
    actions.queue(mirror.board, "alpha")
    mirror.synced()
    assert mirror.ids() == ["alpha", "beta"]

    git(board_path, "reset", "-q", "--hard", keep)
    actions.new_project(mirror.board, "Gamma", "coder", project_id="gamma")
    result = mirror.synced()
    assert result.rebuilt and result.commit == head(board_path)
    assert mirror.ids() == ["alpha", "gamma"]
    assert mirror.must("alpha")["lane"] == "backlog"
    assert mirror.meta("last_synced_commit") == head(board_path)
    assert_same(snapshot(mirror.conn), rebuilt_copy(mirror.board, make_database(), mirror.conn))
    assert {a["commit"] for a in mirror.activity()} <= set(
        git(board_path, "rev-list", "HEAD").stdout.split()
    )

    # Back to an older commit with nothing new on top: also a rebuild.
    git(board_path, "reset", "-q", "--hard", keep)
    result = mirror.synced()
    assert result.rebuilt and mirror.ids() == ["alpha"]


# ---------------------------------------------------------------------- uncommitted edits


def test_uncommitted_lane_files_are_listed_until_committed(
    mirror: Mirror, board_path: Path, database_url: str
) -> None:
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    actions.new_project(mirror.board, "Beta", "coder", project_id="beta")
    mirror.synced()
    assert scan_uncommitted(mirror.board) == []
    write(board_path / "backlog" / "alpha.yaml", "title: Alpha edited\narchetype: coder\n")
    write(board_path / "up-next" / "fresh.yaml", "title: Fresh\narchetype: coder\n")
    (board_path / "backlog" / "beta.yaml").unlink()
    write(board_path / "README-notes.md", "outside the lanes\n")
    rows = scan_uncommitted(mirror.board)
    assert sorted((r["path"], r["project_id"], r["status"]) for r in rows) == [
        ("backlog/alpha.yaml", "alpha", "M"),
        ("backlog/beta.yaml", "beta", "D"),
        ("up-next/fresh.yaml", "fresh", "??"),
    ]

    listener = listen(database_url)
    try:
        assert store_uncommitted(mirror.conn, rows) is True
        stored = db.fetch_all(mirror.conn, "uncommitted_all")
        assert [(r["path"], r["project_id"]) for r in stored] == [
            ("backlog/alpha.yaml", "alpha"),
            ("backlog/beta.yaml", "beta"),
            ("up-next/fresh.yaml", "fresh"),
        ]
        [note] = drain(listener)
        assert note["kind"] == "uncommitted"
        assert sorted(note["paths"]) == [r["path"] for r in stored]
        # Not board state: the rows are untouched, no sync happens.
        assert mirror.sync() is None
        assert mirror.must("alpha")["title"] == "Alpha" and mirror.row("beta") is not None

        # The same list again: nothing changes, nothing is sent.
        assert store_uncommitted(mirror.conn, scan_uncommitted(mirror.board)) is False
        assert drain(listener, 0.2) == []

        git(board_path, "add", "-A", "backlog", "up-next")
        sneak(board_path, "commit the edits")
        assert scan_uncommitted(mirror.board) == []
        assert store_uncommitted(mirror.conn, []) is True
        assert db.fetch_all(mirror.conn, "uncommitted_all") == []
        assert drain(listener) == [{"kind": "uncommitted", "paths": []}]
        assert store_uncommitted(mirror.conn, scan_uncommitted(mirror.board)) is False
        assert drain(listener, 0.2) == []
        mirror.synced()
        assert mirror.must("alpha")["title"] == "Alpha edited"
        assert mirror.ids() == ["alpha", "fresh"]
    finally:
        listener.close()


# ---------------------------------------------------------------------- many commits at once


def test_a_hundred_commits_in_one_sync(
    mirror: Mirror, board_path: Path, database_url: str, make_database: Callable[[], str]
) -> None:
    transactions = count_transactions(mirror.conn)
    for i in range(100):
        pid = f"p{i % 20:02d}"
        write_project(
            board_path, f"backlog/{pid}.yaml", f"title: P {i % 20}\narchetype: coder\nowner: o{i}\n"
        )
        sneak(board_path, f"commit {i}")
    listener = listen(database_url)
    try:
        result = mirror.synced()
        assert (result.commits, result.commit, len(result.projects)) == (100, head(board_path), 20)
        assert transactions() == 1
        [note] = drain(listener)
        assert len(note["activity"]) == 100 and note["commit"] == head(board_path)
    finally:
        listener.close()
    assert len(mirror.ids()) == 20
    kinds = [a["kind"] for a in mirror.activity()]
    assert kinds.count("create") == 20 and kinds.count("edit") == 80
    assert mirror.must("p19")["owner"] == "o99"
    assert_same(snapshot(mirror.conn), rebuilt_copy(mirror.board, make_database(), mirror.conn))


def test_ready_for_human_needs_a_passing_review_job_behind_it(mirror: Mirror) -> None:
    """Even signed by the service key: no such job, a failing one, or another project's."""
    back_review_job(mirror.conn, "beta", 2)  # a passing review, but of another project
    back_review_job(mirror.conn, "gamma", 6, "fail")
    to_review(mirror.board, "alpha", jobs=(1, 9))  # job 9 does not exist
    to_review(mirror.board, "beta", jobs=(3, 2))  # backed
    to_review(mirror.board, "gamma", jobs=(5, 2))  # job 2 is beta's
    mirror.synced()
    assert mirror.must("beta")["ready_for_human"] and not mirror.must("beta")["flagged"]
    for pid, job in (("alpha", 9), ("gamma", 2)):
        row = mirror.must(pid)
        assert (row["lane"], row["ready_for_human"]) == ("review", False)
        assert row["flagged"] == (
            f"{pid}: ready_for_human without a passing review job behind it (Mc-Job: {job})"
        )


def test_a_linked_project_file_gets_no_row_and_a_stray_one_deep_down_is_flagged(
    mirror: Mirror, board_path: Path, make_database: Callable[[], str]
) -> None:
    """Issue 12.5: a symlink where a project file goes is flagged and never becomes (or
    changes) a row; a project-looking YAML file in the person's own folders is flagged."""
    write_project(board_path, "notes/real.yaml", "title: Real\narchetype: coder\n")
    stray = sneak(board_path, "a project astray")
    (board_path / "backlog" / "linked.yaml").symlink_to("../notes/real.yaml")
    git(board_path, "add", "backlog/linked.yaml")
    linked = sneak(board_path, "a linked project")
    mirror.synced()
    assert mirror.row("linked") is None
    assert mirror.row("real") is None
    found = {(v["commit"], v["path"]) for v in mirror.violations()}
    assert (linked, "backlog/linked.yaml") in found
    assert (stray, "notes/real.yaml") in found
    # A project that is replaced by a link keeps its accepted state, flagged.
    actions.new_project(mirror.board, "Alpha", "coder", project_id="alpha")
    mirror.synced()
    git(board_path, "rm", "-q", "backlog/alpha.yaml")
    (board_path / "backlog" / "alpha.yaml").symlink_to("../notes/real.yaml")
    git(board_path, "add", "backlog/alpha.yaml")
    swapped = sneak(board_path, "alpha is a link now")
    mirror.synced()
    alpha = mirror.must("alpha")
    assert (alpha["title"], alpha["flagged_commit"]) == ("Alpha", swapped)
    assert_same(snapshot(mirror.conn), rebuilt_copy(mirror.board, make_database(), mirror.conn))
    proc = run_mc(board_path, "verify", "--json")
    flagged = {(v["commit"], v["path"]) for v in json.loads(proc.stdout)}
    assert {(stray, "notes/real.yaml"), (linked, "backlog/linked.yaml")} <= flagged
