"""One server per board: `mc up`, `mc web`, `mc daemon` and `mc demo` hold a lock on
the board's git-ignored ``.mc/served`` while they run, and write there who they are and
where the board is served.

A second one refuses in one line (saying where the board is already served) instead of
starting, sharing and — when it stops — stopping the first one's embedded database.
Commands that need the database meanwhile wait for the one being started rather than
starting another. The kernel's lock (flock) goes with the process, however it ends, so a
killed server never leaves a stale lock behind. Written by hand: the lock is a dozen lines
over fcntl, and what it records is ours.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mc.errors import AlreadyServed

LOCK = Path(".mc") / "served"


def _describe(info: dict[str, Any]) -> str:
    where = f" at {info['url']}" if info.get("url") else ""
    return f"mc {info.get('what', 'up')} (pid {info.get('pid', '?')}){where}"


def current(board_root: Path) -> dict[str, Any] | None:
    """Who serves the board now (None: nobody)."""
    path = board_root / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


class Served:
    """The lock, held; ``announce`` records the board's address once it is known."""

    def __init__(self, path: Path, fd: int, info: dict[str, Any]) -> None:
        self.path, self.fd, self.info = path, fd, info

    def announce(self, **info: Any) -> None:
        self.info.update(info)
        data = json.dumps(self.info).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)


def _lock(fd: int, tries: int = 10) -> bool:
    """The exclusive lock, retried a moment: a command looking (current) holds it shared
    for a few microseconds."""
    for _ in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.05)
    return False


@contextlib.contextmanager
def hold(board_root: Path, what: str) -> Iterator[Served]:
    """Serve the board, or AlreadyServed saying who does."""
    path = board_root / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _lock(fd):
            raise AlreadyServed(
                f"the board {board_root} is already served by {_describe(_read(path))}: "
                "use that one, or stop it first"
            )
        served = Served(path, fd, {"pid": os.getpid(), "what": what})
        served.announce()
        yield served
    finally:
        os.close(fd)  # the lock goes with it
