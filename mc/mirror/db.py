"""The only module that talks to PostgreSQL (psycopg 3).

SQL lives in ``sql/queries.sql`` as named blocks (``-- name: x``) with bound
parameters only; the schema is ``sql/schema.sql`` plus numbered migrations in
``sql/migrations/``. Driver errors become ``DatabaseError`` with a message a person
can act on.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from mc.errors import DatabaseError

log = logging.getLogger("mc.db")
SQL_DIR = Path(__file__).with_name("sql")
BOARD_CHANNEL = "mc_board"  # a sync landed: the live feed refreshes
JOBS_CHANNEL = "mc_jobs"  # a job changed: workers wake, the feed shows it
PUSHED_CHANNEL = "mc_pushed"  # a worker pushed board commits to the shared remote
OUTBOX_CHANNEL = "mc_outbox"  # an event waits to be sent (mc.mirror.outbox)

Connection = psycopg.Connection[dict[str, Any]]


@cache
def queries() -> dict[str, str]:
    """Named queries from queries.sql: ``-- name: x`` starts a block."""
    text = (SQL_DIR / "queries.sql").read_text()
    out: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        out[name.strip()] = body.strip().rstrip(";")
    return out


def q(name: str) -> str:
    return queries()[name]


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value)


def connect(url: str, *, autocommit: bool = False, application_name: str = "mc") -> Connection:
    try:
        return psycopg.connect(
            url,
            autocommit=autocommit,
            row_factory=dict_row,
            application_name=application_name,
            connect_timeout=10,
        )
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database: {_one_line(exc)}") from None


def pool(url: str, *, min_size: int = 2, max_size: int = 8, name: str = "mc web") -> Any:
    """A connection pool (psycopg_pool) for a server's request handlers."""
    from psycopg_pool import ConnectionPool

    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "application_name": name},
        open=True,
        timeout=10,
    )


def listen(
    url: str,
    channels: Sequence[str],
    *,
    stop: threading.Event,
    on_notify: Callable[[str, str], None],
    on_connect: Callable[[], None] | None = None,
    name: str = "mc listen",
) -> None:
    """LISTEN on ``channels`` until ``stop`` is set, calling ``on_notify(channel, payload)``
    for each notification; a dropped connection (or a failing callback) is retried with
    backoff, and ``on_connect`` runs after every (re)connection, to catch up on what was
    missed. Channel names are the module constants, never user input."""
    backoff = 0.2
    while not stop.is_set():
        try:
            with connect(url, autocommit=True, application_name=name) as conn:
                for channel in channels:
                    conn.execute(f"LISTEN {channel}")
                if on_connect is not None:
                    on_connect()
                backoff = 0.2
                while not stop.is_set():
                    for note in conn.notifies(timeout=0.5):
                        on_notify(note.channel, note.payload)
        except Exception as exc:
            if stop.is_set():
                return
            log.warning("%s: LISTEN connection lost (%s); retrying in %.1f s", name, exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 1.0)  # a local socket: cheap to try, and every second counts


@contextmanager
def pooled(pool: Any) -> Iterator[Connection]:
    """A connection from ``pool``; no free one in time is a DatabaseError (503), not a crash."""
    from psycopg_pool import PoolTimeout

    try:
        with pool.connection() as conn:
            yield conn
    except PoolTimeout:
        raise DatabaseError(
            "the database is busy (no free connection in time); try again"
        ) from None


def _one_line(exc: BaseException) -> str:
    """libpq's message on one line: where it tried, why, and its hint."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line.removeprefix("connection is bad: ") for line in lines]
    return "; ".join(lines) if lines else type(exc).__name__


@contextmanager
def translated() -> Iterator[None]:
    """Turn driver errors into DatabaseError (one handler for every caller)."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"the database connection failed: {_one_line(exc)}") from None
    except psycopg.Error as exc:
        raise DatabaseError(f"the database refused: {_one_line(exc)}") from None


def is_disconnect(exc: BaseException) -> bool:
    """A lost connection (server restart, network): worth reconnecting and retrying."""
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in exc.message
    )


def fetch_all(
    conn: Connection, name: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    with translated():
        return conn.execute(q(name), params or {}).fetchall()


def fetch_one(
    conn: Connection, name: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    with translated():
        return conn.execute(q(name), params or {}).fetchone()


def execute(conn: Connection, name: str, params: Mapping[str, Any] | None = None) -> int:
    with translated():
        return conn.execute(q(name), params or {}).rowcount


def send(conn: Connection, name: str, params: Mapping[str, Any] | None = None) -> None:
    """Run a statement without waiting for its result (cheap inside ``pipeline``)."""
    with translated():
        conn.execute(q(name), params or {})


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """Send many statements in one round trip (psycopg's pipeline mode)."""
    with translated(), conn.pipeline():
        yield


def execute_many(conn: Connection, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        return
    with translated(), conn.cursor() as cur:
        cur.executemany(q(name), rows)


def copy_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Bulk load with COPY (table and column names are ours, never user input)."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with translated(), conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def notify(conn: Connection, channel: str, payload: str = "") -> None:
    """Sent when ``conn``'s transaction commits (one per transaction: NOTIFY takes a
    global lock at commit). ``channel`` is one of the constants above."""
    with translated():
        conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


# ---------------------------------------------------------------------- schema


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, in order."""
    out = []
    for path in sorted((SQL_DIR / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql")):
        out.append((int(path.name[:4]), path.stem[5:], path.read_text()))
    return out


_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS mc_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def migrate(conn: Connection, *, fresh_from_schema: bool = True) -> list[int]:
    """Bring the schema up to date; return the versions applied.

    An empty database gets schema.sql in one go (``fresh_from_schema``), an existing
    one the migrations it has not had, each in its own transaction. A lock keeps two
    processes from migrating at once.
    """
    applied: list[int] = []
    with translated():
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(7170)")
            conn.execute(_MIGRATIONS_TABLE)
            done = {r["version"] for r in conn.execute("SELECT version FROM mc_migrations")}
            todo = [m for m in migrations() if m[0] not in done]
            if not todo:
                return []
            empty = not done and not _has_tables(conn)
            if empty and fresh_from_schema:
                conn.execute((SQL_DIR / "schema.sql").read_text())
                for version, name, _ in todo:
                    conn.execute(
                        "INSERT INTO mc_migrations (version, name) VALUES (%s, %s)", (version, name)
                    )
                return [m[0] for m in todo]
        for version, name, sql_text in todo:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(7170)")
                if conn.execute(
                    "SELECT 1 FROM mc_migrations WHERE version = %s", (version,)
                ).fetchone():
                    continue
                conn.execute(sql_text)
                conn.execute(
                    "INSERT INTO mc_migrations (version, name) VALUES (%s, %s)", (version, name)
                )
                applied.append(version)
    return applied


def _has_tables(conn: Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) AS n FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name <> 'mc_migrations'"
    ).fetchone()
    return bool(row and row["n"])


def ensure_database(admin_url: str, name: str) -> None:
    """Create database ``name`` through a connection to ``admin_url`` if it is missing."""
    from psycopg import sql

    with connect(admin_url, autocommit=True) as conn, translated():
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            # Another process may make it a moment before us (mc up, and a command typed now).
            with contextlib.suppress(
                psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation
            ):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
