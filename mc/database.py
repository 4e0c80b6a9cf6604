"""Which database a board uses, and starting the embedded one when it is the default."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from . import db
from .board import Board
from .pgembed import Cluster

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
    url = board.config.database_url
    if url:
        return Target(url, None)
    cluster = Cluster.for_board(board.root)
    return Target(cluster.url(DB_NAME), cluster)


@contextmanager
def opened(board: Board, *, keep_running: bool = False) -> Iterator[Target]:
    """The board's database, ready (started and migrated) for the duration.

    An embedded cluster that was not running is started and, unless ``keep_running``,
    stopped again afterwards; one that was running (a daemon's) is left alone.
    """
    where = target(board)
    started = False
    if where.cluster is not None and not where.cluster.running():
        where.cluster.start()
        started = True
    try:
        if where.cluster is not None:
            db.ensure_database(where.cluster.url("postgres"), DB_NAME)
        with db.connect(where.url) as conn:
            applied = db.migrate(conn)
        yield where._replace(migrated=tuple(applied), started=started)
    finally:
        if started and not keep_running and where.cluster is not None:
            where.cluster.stop()
