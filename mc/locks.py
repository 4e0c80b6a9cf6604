"""One process at a time: an exclusive ``flock`` on a file.

flock rather than a lock file's existence: the kernel releases it when the holder exits
or is killed, so nothing is ever left locked. Used by the store (one writer per
repository), the embedded cluster (one start at a time) and the workspace cache (one
clone or fetch of a mirror at a time).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path, mode: int = 0o600) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created with ``mode`` if missing) in the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
