"""Which database a board uses, and starting the embedded one when it is the default."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from mc.board.board import Board
from mc.errors import EmbeddedError, McError
from mc.mirror import db
from mc.mirror.embedded import Cluster
from mc.settings import current

DB_NAME = "mc"


class Target(NamedTuple):
    url: str
    cluster: Cluster | None  # the embedded cluster, when no URL is configured
    migrated: tuple[int, ...] = ()  # migrations opened() just applied
    started: bool = False  # opened() started the embedded cluster (so its caller stops it)

    @property
    def embedded(self) -> bool:
        return self.cluster is not None


def target(board: Board) -> Target:
    """MC_DATABASE_URL, else mc.yaml's database_url, else the board's embedded cluster."""
    url = current().database_url or board.config.database_url
    if url:
        return Target(url, None)
    cluster = Cluster.for_board(board.root)
    return Target(cluster.url(DB_NAME), cluster)


def _ensure(url: str, patience: float) -> None:
    """The board's database exists; a cluster still starting up gets ``patience`` s."""
    import time

    deadline = time.monotonic() + patience
    while True:
        try:
            db.ensure_database(url, DB_NAME)
            return
        except McError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait_for_server(board: Board, cluster: Cluster, seconds: float = 30) -> bool:
    """A server of this board (mc up, mc web, ...) is starting its database: wait for it
    rather than start a second one under it (True once it runs)."""
    import os
    import sys
    import time

    from mc.mirror.served import current

    server = current(board.root)
    if server is None or server.get("pid") == os.getpid():  # nobody, or this is the server
        return False
    sys.stderr.write("mc: waiting for the database the running server is starting…\n")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cluster.running():
            return True
        if current(board.root) is None:
            return False  # it stopped meanwhile
        time.sleep(0.2)
    raise EmbeddedError(f"the database of {board.root} did not start within {seconds:.0f} s")


@contextmanager
def opened(board: Board, *, keep_running: bool = False) -> Iterator[Target]:
    """The board's database, ready (started and migrated) for the duration.

    An embedded cluster that was not running is started and, unless ``keep_running``,
    stopped again afterwards; one that was running (a daemon's) is left alone.
    """
    where = target(board)
    started = waited = False
    if where.cluster is not None and not where.cluster.running():
        waited = _wait_for_server(board, where.cluster)
        if not waited:
            where.cluster.start()
            started = True
    try:
        if where.cluster is not None:
            # A cluster another process is starting answers a few moments later.
            _ensure(where.cluster.url("postgres"), patience=30 if waited else 10)
        with db.connect(where.url) as conn:
            applied = db.migrate(conn)
        yield where._replace(migrated=tuple(applied), started=started)
    finally:
        if started and not keep_running and where.cluster is not None:
            from mc.mirror.served import current

            server = current(board.root)
            if server is None or server.get("pid") == os.getpid():
                where.cluster.stop()  # else a server came up meanwhile: it is its now
