"""The PostgreSQL side: schema vs migrations, the named queries, connection errors,
and the real `mc` CLI for tasks, `mc db`, `mc status` and `mc service`.

A real PostgreSQL (the session's ``pg_cluster``); each test gets a migrated database of
its own (``database_url``) or makes empty ones. No mocks.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from mc.board import actions
from mc.board.board import Board
from mc.board.layout import Lane
from mc.mirror import db, tasks
from mc.mirror.embedded import Cluster

from ..conftest import git, head, run_mc

SOURCE = Path(__file__).resolve().parents[2]
MakeDb = Callable[[], str]  # the empty_db fixture: makes an empty database, returns its URL


# ---------------------------------------------------------------------- helpers


def cluster_of(pg_cluster: object) -> Cluster:
    assert isinstance(pg_cluster, Cluster)
    return pg_cluster


@pytest.fixture
def empty_db(pg_cluster: object) -> Iterator[MakeDb]:
    """A factory of empty databases (dropped at the end): name -> URL."""
    cluster = cluster_of(pg_cluster)
    made: list[str] = []

    def make() -> str:
        name = f"e_{uuid.uuid4().hex[:16]}"
        db.ensure_database(cluster.url("postgres"), name)
        made.append(name)
        return cluster.url(name)

    yield make
    with db.connect(cluster.url("postgres"), autocommit=True) as admin:
        for name in made:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def schema_dump(cluster: Cluster, url: str) -> str:
    """pg_dump --schema-only, without the lines that name the dump itself."""
    proc = subprocess.run(
        [str(cluster.bindir / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges", url],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [
        line
        for line in proc.stdout.splitlines()
        if not line.startswith(("-- Dumped", "\\restrict", "\\unrestrict"))
    ]
    return "\n".join(lines)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(proc))


def fails(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A refusal: non-zero exit, exactly one `mc: ` line on stderr naming each needle."""
    assert proc.returncode != 0, f"command succeeded:\n{proc.stdout}"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    assert lines[0].startswith("mc: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def new_project(board_path: Path, pid: str, lane: Lane = Lane.BACKLOG) -> None:
    """A project committed to the board (in-process: each CLI run costs ~0.5 s)."""
    with Board.open(board_path) as board:
        actions.new_project(board, f"Project {pid}", "coder", project_id=pid, lane=lane)


class Mc:
    """The real CLI on one board against one database, in UTC."""

    def __init__(self, board: Path, url: str, **env: str) -> None:
        self.board = board
        self.env = {"MC_DATABASE_URL": url, "MC_TZ": "UTC", **env}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_mc(self.board, *args, env=self.env)


# ---------------------------------------------------------------------- schema


def test_migrated_equals_fresh(pg_cluster: object, empty_db: MakeDb) -> None:
    cluster = cluster_of(pg_cluster)
    fresh_url, stepped_url = empty_db(), empty_db()
    versions = [m[0] for m in db.migrations()]
    assert versions and versions == sorted(versions) and len(set(versions)) == len(versions)
    assert versions[0] == 1 and versions == list(range(1, len(versions) + 1))
    with db.connect(fresh_url) as conn:
        assert db.migrate(conn, fresh_from_schema=True) == versions
    with db.connect(stepped_url) as conn:
        assert db.migrate(conn, fresh_from_schema=False) == versions

    fresh, stepped = schema_dump(cluster, fresh_url), schema_dump(cluster, stepped_url)
    assert "CREATE TABLE public.tasks" in fresh
    assert "CREATE TABLE public.mc_migrations" in fresh
    assert fresh == stepped

    def recorded(url: str) -> list[tuple[int, str]]:
        with db.connect(url) as conn:
            rows = conn.execute("SELECT version, name FROM mc_migrations ORDER BY version")
            return [(r["version"], r["name"]) for r in rows]

    assert recorded(fresh_url) == recorded(stepped_url) == [(m[0], m[1]) for m in db.migrations()]


def test_template_database_equals_fresh(
    pg_cluster: object, database_url: str, empty_db: MakeDb
) -> None:
    """The database every test uses is the real schema, too."""
    cluster = cluster_of(pg_cluster)
    fresh_url = empty_db()
    with db.connect(fresh_url) as conn:
        db.migrate(conn)
    assert schema_dump(cluster, database_url) == schema_dump(cluster, fresh_url)


@pytest.mark.parametrize("fresh_from_schema", [True, False])
def test_migrate_is_idempotent(empty_db: MakeDb, fresh_from_schema: bool) -> None:
    url = empty_db()
    with db.connect(url) as conn:
        assert db.migrate(conn, fresh_from_schema=fresh_from_schema) != []
        assert db.migrate(conn, fresh_from_schema=fresh_from_schema) == []
        assert db.migrate(conn, fresh_from_schema=not fresh_from_schema) == []
        conn.execute("INSERT INTO tasks (title) VALUES ('survives')")
        conn.commit()
    with db.connect(url) as conn:
        assert db.migrate(conn) == []
        assert conn.execute("SELECT title FROM tasks").fetchall() == [{"title": "survives"}]
        applied = conn.execute("SELECT count(*) AS n FROM mc_migrations").fetchone()
        assert applied == {"n": len(db.migrations())}


def test_two_processes_migrating_at_once(empty_db: MakeDb) -> None:
    url = empty_db()
    results: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            with db.connect(url) as conn:
                start.wait()
                results.append(db.migrate(conn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(results, key=len) == [[], [m[0] for m in db.migrations()]]


def test_schema_file_and_migrations_are_plain_sql() -> None:
    schema = (db.SQL_DIR / "schema.sql").read_text()
    assert "CREATE TABLE tasks" in schema
    for path in sorted((db.SQL_DIR / "migrations").iterdir()):
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+\.sql", path.name), path.name
    # The migrations never manage the bookkeeping table themselves.
    for _, _, text in db.migrations():
        assert "mc_migrations" not in text


# ---------------------------------------------------------------------- named queries


def _used_query_names() -> set[str]:
    pattern = re.compile(
        r"\b(?:fetch_one|fetch_all|execute|execute_many)\(\s*\w+\s*,\s*\"([a-z_0-9]+)\"", re.S
    )
    direct = re.compile(r"\bq\(\s*\"([a-z_0-9]+)\"\s*\)")
    names: set[str] = set()
    for path in (SOURCE / "mc").rglob("*.py"):
        text = path.read_text()
        names |= set(pattern.findall(text)) | set(direct.findall(text))
    return names


def test_every_query_used_in_the_code_exists() -> None:
    used = _used_query_names()
    assert {"task_insert", "task_list", "task_update", "project_exists", "meta_get"} <= used
    missing = used - set(db.queries())
    assert not missing, f"used in mc/ but not in queries.sql: {sorted(missing)}"


def test_every_named_query_parses(database_url: str) -> None:
    placeholder = re.compile(r"%\((\w+)\)s")
    queries = db.queries()
    assert len(queries) >= 20
    with db.connect(database_url) as conn:
        for name, text in queries.items():
            assert text and not text.startswith("--name"), name
            assert "%s" not in text.replace("%%", ""), f"{name}: positional parameter"
            params = {p: None for p in placeholder.findall(text)}
            statement = text.lstrip()
            while statement.startswith("--"):  # a comment line under the name
                statement = statement.partition("\n")[2].lstrip()
            with conn.transaction(force_rollback=True):
                if statement.upper().startswith("TRUNCATE"):
                    conn.execute(text, params)  # utility statements cannot be EXPLAINed
                else:
                    conn.execute("EXPLAIN " + text, params)


def test_task_queries_bind_parameters(database_url: str) -> None:
    """Values travel as parameters: quotes in them are data, never SQL."""
    with db.connect(database_url) as conn:
        row = db.fetch_one(
            conn,
            "task_insert",
            {
                "title": "a'b\"c",
                "notes": "%(title)s",
                "due_date": None,
                "due_at": None,
                "priority": None,
                "tags": ["%s", "'"],
                "project_id": None,
            },
        )
        assert row is not None
        assert (row["title"], row["notes"], row["tags"]) == ("a'b\"c", "%(title)s", ["%s", "'"])


# ---------------------------------------------------------------------- errors


MISSING_SOCKET_DIR = "/nonexistent/mc-socket-folder"


def test_unreachable_database_is_one_line() -> None:
    url = f"postgresql://nobody@/mc?host={MISSING_SOCKET_DIR}"
    with pytest.raises(db.DatabaseError) as info:
        db.connect(url)
    message = str(info.value)
    assert "\n" not in message
    assert "database" in message
    assert info.value.http_status == 503


def test_unreachable_database_names_where() -> None:
    """The message says where it tried (the socket folder), so a person can act on it."""
    url = f"postgresql://nobody@/mc?host={MISSING_SOCKET_DIR}"
    with pytest.raises(db.DatabaseError) as info:
        db.connect(url)
    assert MISSING_SOCKET_DIR in str(info.value), str(info.value)


def test_cli_unreachable_database(board_path: Path) -> None:
    mc = Mc(board_path, f"postgresql://nobody@/mc?host={MISSING_SOCKET_DIR}")
    fails(mc("task", "add", "x"), "database")
    fails(mc("db", "migrate"), "database")
    status = as_json(mc("status", "--json"))
    assert status["database"]["state"].startswith("not reachable")
    # project show still works from git, saying the tasks cannot be read.
    new_project(board_path, "offline")
    assert "not reachable" in ok(mc("project", "show", "offline"))


# ---------------------------------------------------------------------- CLI: tasks


def test_cli_tasks(board_path: Path, database_url: str) -> None:
    mc = Mc(board_path, database_url)
    today = dt.datetime.now(dt.UTC).date()

    milk = as_json(mc("task", "add", "Buy milk", "--due", "tomorrow", "--json"))
    assert milk["title"] == "Buy milk"
    assert milk["due_date"] == (today + dt.timedelta(days=1)).isoformat()
    assert milk["overdue"] is False and milk["done_at"] is None
    rent = as_json(
        mc(
            "task",
            "add",
            "Pay rent",
            "--due",
            "yesterday",
            "--priority",
            "1",
            "-t",
            "home",
            "--tag",
            "money",
            "--json",
        )
    )
    assert rent["overdue"] is True and rent["priority"] == 1 and rent["tags"] == ["home", "money"]

    # The rows are in the database.
    with db.connect(database_url) as conn:
        rows = conn.execute("SELECT id, title, due_date FROM tasks ORDER BY id").fetchall()
        tasks.add(conn, "Read a book")
    assert [(r["id"], r["title"]) for r in rows] == [
        (milk["id"], "Buy milk"),
        (rent["id"], "Pay rent"),
    ]
    assert rows[1]["due_date"] == today - dt.timedelta(days=1)

    listed = as_json(mc("task", "list", "--json"))
    assert [t["title"] for t in listed] == ["Pay rent", "Buy milk", "Read a book"]
    assert [t["overdue"] for t in listed] == [True, False, False]
    text = ok(mc("task", "list", "--overdue"))
    assert len(text.splitlines()) == 1
    assert text.startswith("[!]") and "Pay rent" in text and "#home" in text

    done = as_json(mc("task", "done", str(rent["id"]), "--json"))
    assert done["done_at"] is not None and done["overdue"] is False
    lines = ok(mc("task", "list", "--all")).splitlines()
    assert [line[:3] for line in lines] == ["[ ]", "[ ]", "[x]"]
    assert "Buy milk" in lines[0] and "Pay rent" in lines[2]

    edited = as_json(
        mc(
            "task",
            "edit",
            str(milk["id"]),
            "--title",
            "Buy oat milk",
            "--due",
            "none",
            "--priority",
            "2",
            "--notes",
            "barista",
            "--json",
        )
    )
    assert edited["title"] == "Buy oat milk"
    assert edited["due_date"] is None and edited["due_at"] is None
    assert (edited["priority"], edited["notes"]) == (2, "barista")
    reopened = as_json(mc("task", "edit", str(rent["id"]), "--undone", "--json"))
    assert reopened["done_at"] is None and reopened["overdue"] is True

    # Refusals: one line, non-zero, nothing changed.
    fails(mc("task", "done", "999"), "999")
    fails(mc("task", "add", "x", "--due", "someday"), "--due")
    fails(mc("task", "add", "x", "--priority", "7"), "--priority")
    fails(mc("task", "add", "   "), "TITLE")
    with db.connect(database_url) as conn:
        assert [t.title for t in tasks.listing(conn, include_done=True)] == [
            "Pay rent",
            "Buy oat milk",
            "Read a book",
        ]


def test_cli_link_and_project_show(board_path: Path, database_url: str) -> None:
    mc = Mc(board_path, database_url)
    new_project(board_path, "roof")
    task = as_json(mc("task", "add", "Buy shingles", "--json"))
    number = str(task["id"])

    # No daemon ran: the command catches the mirror up itself, so the new project is known.
    linked = as_json(mc("task", "link", number, "roof", "--json"))
    assert linked["project_id"] == "roof"
    other = as_json(mc("task", "add", "Rent a ladder", "--project", "roof", "--json"))
    assert other["project_id"] == "roof"
    fails(mc("task", "link", number, "no-such-project"), "no-such-project")

    with db.connect(database_url) as conn:
        tasks.update(conn, other["id"], done=True)  # done tasks still show on the project
    shown = as_json(mc("project", "show", "roof", "--json"))
    assert shown["id"] == "roof"
    assert [t["title"] for t in shown["tasks"]] == ["Buy shingles", "Rent a ladder"]
    assert all(t["project_id"] == "roof" for t in shown["tasks"])
    assert shown["tasks"][1]["done_at"] is not None
    text = ok(mc("project", "show", "roof"))
    assert "Tasks:" in text and "Buy shingles" in text and "@roof" in text

    unlinked = as_json(mc("task", "unlink", number, "--json"))
    assert unlinked["project_id"] is None
    shown = as_json(mc("project", "show", "roof", "--json"))
    assert [t["title"] for t in shown["tasks"]] == ["Rent a ladder"]


# ---------------------------------------------------------------------- CLI: db, status


def test_cli_db_commands(board_path: Path, database_url: str) -> None:
    mc = Mc(board_path, database_url)
    assert ok(mc("db", "migrate")).strip() == "Schema is up to date"
    assert ok(mc("db", "url")).strip() == database_url

    new_project(board_path, "one")
    new_project(board_path, "two", Lane.UP_NEXT)
    first = ok(mc("db", "resync"))
    assert "2 projects" in first and head(board_path)[:12] in first
    assert ok(mc("db", "resync")) == first  # idempotent

    def mirror() -> list[tuple[str, str, str | None]]:
        with db.connect(database_url) as conn:
            rows = conn.execute("SELECT id, lane, title FROM projects ORDER BY id")
            return [(r["id"], r["lane"], r["title"]) for r in rows]

    assert mirror() == [("one", "backlog", "Project one"), ("two", "up-next", "Project two")]
    with db.connect(database_url) as conn:
        conn.execute("DELETE FROM projects")
        conn.execute("DELETE FROM mc_meta")
        conn.commit()
    assert mirror() == []
    assert ok(mc("db", "resync")) == first
    assert mirror() == [("one", "backlog", "Project one"), ("two", "up-next", "Project two")]


def test_cli_db_migrate_reports_what_it_applied(board_path: Path, empty_db: MakeDb) -> None:
    """On an empty database `mc db migrate` says which migrations it applied."""
    blank = Mc(board_path, empty_db())
    versions = [m[0] for m in db.migrations()]
    assert ok(blank("db", "migrate")).strip() == f"Applied migrations {versions}"
    assert ok(blank("db", "migrate")).strip() == "Schema is up to date"


def test_cli_status(board_path: Path, database_url: str) -> None:
    mc = Mc(board_path, database_url)
    new_project(board_path, "one")
    new_project(board_path, "two")
    new_project(board_path, "three", Lane.UP_NEXT)

    before = as_json(mc("status", "--json"))
    assert before["database"]["state"] == "up"
    assert before["sync"]["tip"] == head(board_path)
    assert before["sync"]["last_synced_commit"] is None
    assert before["sync"]["behind"] >= 3
    assert before["lanes"] == {}

    ok(mc("db", "resync"))
    status = as_json(mc("status", "--json"))
    assert status["board"] == str(board_path)
    assert status["database"]["state"] == "up"
    assert status["daemon"]["running"] is False
    assert status["sync"]["last_synced_commit"] == head(board_path)
    assert status["sync"]["behind"] == 0
    assert status["sync"]["last_synced_at"]
    assert status["lanes"] == {"backlog": 2, "up-next": 1}
    assert status["invalid"] == [] and status["violations"] == []

    new_project(board_path, "four")
    text = ok(mc("status"))
    assert "database: up" in text
    assert "not running" in text
    assert as_json(mc("status", "--json"))["sync"]["behind"] == 1


def test_cli_status_shows_a_forbidden_commit(board_path: Path, database_url: str) -> None:
    mc = Mc(board_path, database_url)
    new_project(board_path, "one")
    # A commit that skips the hooks and breaks the file.
    path = next(p for p in board_path.rglob("one*") if ".git" not in p.parts and p.is_file())
    path.write_text(path.read_text().replace("title:", "title: [unclosed", 1))
    git(board_path, "commit", "-q", "--no-verify", "-am", "break it")
    ok(mc("db", "resync"))
    tip = head(board_path)
    status = as_json(mc("status", "--json"))
    assert status["sync"]["behind"] == 0
    assert status["lanes"] == {"backlog": 1}  # the last valid version is kept
    [invalid] = status["invalid"]
    assert (invalid["id"], invalid["error_path"]) == ("one", "backlog/one.yaml")
    assert invalid["error_line"] == 3 and invalid["attempted_commit"] == tip
    assert status["violations"], status
    assert {v["commit"] for v in status["violations"]} == {tip}
    assert {v["project_id"] for v in status["violations"]} == {"one"}


# ---------------------------------------------------------------------- CLI: service


def test_cli_service_install(board_path: Path, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    env = {"XDG_CONFIG_HOME": str(xdg)}
    printed = ok(run_mc(board_path, "service", "install", "--print", env=env))
    assert not xdg.exists()  # --print writes nothing
    assert "Restart=on-failure" in printed
    assert f"WorkingDirectory={board_path}" in printed
    exec_start = next(line for line in printed.splitlines() if line.startswith("ExecStart="))
    assert str(board_path) in exec_start and exec_start.endswith(" up")
    assert "KillMode=mixed" in printed  # SIGTERM to mc up only; it stops its workers itself
    assert "[Install]" in printed and "WantedBy=default.target" in printed
    header = printed.splitlines()[0]
    assert header.startswith("# mc-up-") and header.endswith(".service")
    name = header[2:]

    out = ok(run_mc(board_path, "service", "install", env=env))
    unit = xdg / "systemd" / "user" / name
    assert unit.is_file()
    assert f"Wrote {unit}" in out
    assert "systemctl --user" in out and name in out
    body = printed.split("\n", 1)[1]
    body = body[: body.index(f"# {board_path}/.mc/service.env")]  # then the settings file
    assert unit.read_text() == body.rstrip("\n") + "\n"
    assert sorted(p.name for p in unit.parent.iterdir()) == [name]


def test_cli_service_keeps_the_database_url(board_path: Path, tmp_path: Path) -> None:
    """A daemon started by systemd does not see the shell's MC_DATABASE_URL: the unit
    must carry it, or the service mirrors into a different (embedded) database."""
    url = "postgresql://mc@db.example/mc"
    printed = ok(
        run_mc(
            board_path,
            "service",
            "install",
            "--print",
            env={"MC_DATABASE_URL": url, "XDG_CONFIG_HOME": str(tmp_path / "xdg")},
        )
    )
    assert "MC_DATABASE_URL" in printed, printed
