"""An agent's output into its job log, as it comes, without ever making it wait."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from mc.errors import McError
from mc.mirror import db
from mc.pipeline import jobs
from mc.pipeline.jobs import Job
from mc.pipeline.runners import (
    LineReader,
)

log = logging.getLogger("mc.pipeline")

PUMP_COALESCE = 0.05  # seconds an agent's burst of output is gathered before it is written
LOG_HEAD_CHARS = 1_000_000  # a run's log keeps this much of its start ...
LOG_TAIL_CHARS = 1_000_000  # ... and this much of its end


class LogPump:
    """An agent's output into the job log as it comes, from a thread of its own.

    The agent's pipes are read by the guard; each chunk lands here and is written (a
    burst within PUMP_COALESCE in one transaction with one NOTIFY) on
    the pump's own connection, made in the pump's thread while the agent starts, so
    neither the agent's start nor its output ever waits on the database.
    """

    def __init__(
        self,
        url: str,
        job: Job,
        describe: LineReader | None = None,
        gives_up: Callable[[str, str], bool] | None = None,
    ):
        self.url = url
        self.job = job
        self.gives_up = gives_up
        self.gave_up = ""  # the line that showed the CLI stuck retrying (we stop it)
        self.describe = describe  # an output line in words (the runner's reader of its CLI)
        self.pending: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.closed = False
        self.writing = False
        # A flood of output is capped: its first LOG_HEAD_CHARS, a marker, its last
        # LOG_TAIL_CHARS (written when the run ends) and how much was left out.
        self.written = 0
        self.cut_marked = False
        self.tail: collections.deque[tuple[str, str]] = collections.deque()
        self.tail_chars = 0
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, name=f"mc-log-{job.id}", daemon=True)
        self.thread.start()

    def add(self, stream: str, text: str) -> None:
        if self.gives_up is not None and not self.gave_up and self.gives_up(stream, text):
            self.gave_up = text.strip()[:300]
        with self.lock:
            self.pending.append((stream, text))
        self.wake.set()

    def _run(self) -> None:
        try:
            conn = db.connect(self.url, application_name=f"mc log {self.job.id}")
        except McError as exc:
            log.warning("job %s: no connection for its log: %s", self.job.id, exc)
            return
        with conn:
            while True:
                self.wake.wait()
                self.wake.clear()
                if not self.closed:
                    time.sleep(PUMP_COALESCE)
                self._flush(conn)
                if self.closed:
                    self._flush(conn)
                    return

    def _flush(self, conn: db.Connection) -> None:
        with self.lock:
            batch, self.pending = self.pending, []
            self.writing = bool(batch)
        try:
            rows = [row for stream, text in batch if (row := self._keep(stream, text))]
            if self.closed and self.tail:
                rows += self._tail_rows()
            jobs.log_many(conn, self.job, rows)
        except McError as exc:  # the log is not worth failing the run for
            log.warning("job %s: could not write its log: %s", self.job.id, exc)
        finally:
            self.writing = False

    def _keep(self, stream: str, text: str) -> tuple[str, str, str | None] | None:
        """A chunk as a log row while the head has room; after that, the tail keeps it."""
        if self.written + len(text) > LOG_HEAD_CHARS:
            if not self.cut_marked:
                self.cut_marked = True
                return ("mc", "[mc] the log is cut here: the rest is kept from its end\n", None)
            self.tail.append((stream, text))
            self.tail_chars += len(text)
            while self.tail_chars > LOG_TAIL_CHARS and len(self.tail) > 1:
                _, dropped = self.tail.popleft()
                self.tail_chars -= len(dropped)
                self.dropped += len(dropped)
            return None
        self.written += len(text)
        return (stream, text, self._shown(stream, text))

    def _tail_rows(self) -> list[tuple[str, str, str | None]]:
        rows: list[tuple[str, str, str | None]] = [
            ("mc", f"[mc] {self.dropped:,} characters of output were not kept\n", None)
        ]
        rows += [(stream, text, self._shown(stream, text)) for stream, text in self.tail]
        self.tail.clear()
        return rows

    def _shown(self, stream: str, text: str) -> str | None:
        if self.describe is None or stream != "stdout":
            return None
        try:
            return self.describe(text)
        except Exception:  # a reader's bug must not cost the log
            log.exception("job %s: could not read a line of its output", self.job.id)
            return None

    def drain(self, timeout: float = 5.0) -> None:
        """Until what was added so far is written (an announcement must be readable
        before anyone is told to read it)."""
        self.wake.set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.pending and not self.writing:
                    return
            time.sleep(0.01)

    def close(self) -> None:
        """Write what is left and stop (waits for the last writes)."""
        self.closed = True
        self.wake.set()
        self.thread.join(30)
