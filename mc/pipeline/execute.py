"""Running one agent: under its guard, with a timeout, its output streamed as it comes.

The worker calls ``run_agent``; a heartbeat callback renews the job's lease and says
whether to go on. The agent runs under ``mc.pipeline.guard`` (see there), so a worker killed
with SIGKILL or paused with SIGSTOP takes its agent down with it before the lease
runs out and a successor is given the job.
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import IO, NamedTuple

from mc.pipeline.guard import KILLED_BY_GUARD

OUTPUT_CAP = 1_000_000  # characters of output kept for judging the run


class StopReason(StrEnum):
    """Why a run is stopped before its agent ends: what ``beat()`` and ``should_stop()``
    answer, and ``Execution.stopped``."""

    CANCEL = "cancel"  # a person cancelled the job: it ends, not retried
    SHUTDOWN = "shutdown"  # the worker is stopping: the job goes back to the queue
    LEASE_LOST = "lease lost"  # another worker has the job now: nothing is recorded
    TEMPORARY = "temporary"  # the CLI is stuck retrying: requeued, no attempt spent
    # Not a stop: beat() could not renew the lease (the database is away). No byte goes
    # to the guard, so the agent stops before the lease runs out unless a later beat renews.
    UNRENEWED = "unrenewed"


# Variables an agent must never see: signing, the person's ssh-agent, the database,
# tokens. The rest of the environment (PATH, HOME, the agent CLI's own login) stays.
_SECRET_PREFIXES = ("MC_", "PG", "GIT_", "GNUPG", "GPG_", "SSH_A")
_SECRET_NAMES = {"DATABASE_URL", "SSH_AUTH_SOCK", "GPG_AGENT_INFO", "GIT_ASKPASS", "SSH_ASKPASS"}


class Execution(NamedTuple):
    code: int  # the agent's exit status (KILLED_BY_GUARD when it was stopped)
    output: str  # stdout (its head and tail when long), for the runner's judge
    timed_out: bool = False
    stopped: StopReason | None = None  # why the run was stopped early, if it was
    errors: str = ""  # stderr, the same way (some CLIs print their verdict there)


class Capture:
    """A stream kept for judging: its first HEAD and last TAIL characters. An agent's
    verdict is at the end of its output (the result event), its cause often at the start."""

    HEAD = 100_000

    def __init__(self, cap: int = OUTPUT_CAP) -> None:
        self.head: list[str] = []
        self.head_size = 0
        self.tail: collections.deque[str] = collections.deque()
        self.tail_size = 0
        self.tail_cap = cap - self.HEAD
        self.dropped = 0

    def add(self, text: str) -> None:
        if self.head_size < self.HEAD:
            self.head.append(text)
            self.head_size += len(text)
            return
        self.tail.append(text)
        self.tail_size += len(text)
        while self.tail_size > self.tail_cap and len(self.tail) > 1:
            self.tail_size -= len(self.tail.popleft())
            self.dropped += 1

    def text(self) -> str:
        gap = [f"[mc: {self.dropped} lines not kept for judging]\n"] if self.dropped else []
        return "".join([*self.head, *gap, *self.tail])


def agent_env(extra: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The agent's environment: ours without secrets, plus MC_* for the run.

    Git may run in the agent's workspace, but never signs with the person's key.
    """
    env = {
        k: v
        for k, v in (base if base is not None else os.environ).items()
        if k not in _SECRET_NAMES and not k.startswith(_SECRET_PREFIXES)
    }
    env.update(
        {
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "commit.gpgsign",
            "GIT_CONFIG_VALUE_0": "false",
            "GIT_CONFIG_KEY_1": "tag.gpgsign",
            "GIT_CONFIG_VALUE_1": "false",
            "GIT_TERMINAL_PROMPT": "0",
        }
    )
    env.update(extra)
    return env


def run_agent(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    on_output: Callable[[str, str], None],
    beat: Callable[[], StopReason | None],
    should_stop: Callable[[], StopReason | None] = lambda: None,
    beat_every: float = 5.0,
    lease: float = 60.0,
    grace: float = 10.0,
    sandboxed: bool = False,
    stdin_file: Path | None = None,
) -> Execution:
    """Run ``argv`` to the end, a timeout, or until ``beat()`` gives a StopReason.

    ``on_output(stream, text)`` gets stdout/stderr as they come. ``beat()`` is called
    every ``beat_every`` seconds; it renews the lease and returns a reason to stop.
    ``should_stop()`` is asked ten times a second (the worker is shutting down): its
    reason stops the agent at once, with a short grace. ``sandboxed``: ``argv`` is a
    bwrap command (mc.sandbox). ``stdin_file``: the agent reads it on stdin (the brief,
    which never goes in argv); else its stdin is empty.
    """
    guard = _start_guard(
        argv, cwd, env, grace, max(lease - 2 * beat_every, 5.0), sandboxed, stdin_file
    )
    assert guard.stdin is not None
    captured, readers = _read_output(guard, on_output)
    started = time.monotonic()
    next_beat = started + beat_every
    timed_out = False
    stopped: StopReason | None = None
    while guard.poll() is None:
        try:
            guard.wait(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if not stopped and (quick := should_stop()):
            stopped = quick
            _tell(guard.stdin, b"q")
        if not timed_out and not stopped and now - started > timeout:
            timed_out = True
            _tell(guard.stdin, b"c")
        if now >= next_beat:
            next_beat = now + beat_every
            reason = beat()
            if reason == StopReason.UNRENEWED:
                continue
            if reason and not stopped:
                stopped = reason
                _tell(guard.stdin, b"c")
            elif not stopped and not timed_out:
                _tell(guard.stdin, b".")
    if not stopped and (late := should_stop()):
        stopped = late  # the agent ended as its worker was stopping: an interrupted run
    for reader in readers:
        reader.join(timeout=5)
    with_code = guard.returncode
    _close(guard.stdin)
    return Execution(
        with_code, captured["stdout"].text(), timed_out, stopped, captured["stderr"].text()
    )


def _start_guard(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    grace: float,
    silence: float,
    sandboxed: bool,
    stdin_file: Path | None,
) -> subprocess.Popen[bytes]:
    """The agent under its guard (mc.pipeline.guard): it stops the agent after ``grace``
    once told, or by itself after ``silence`` seconds without a beat on its stdin."""
    options = ["--sandbox"] if sandboxed else []
    if stdin_file is not None:
        options += ["--stdin", str(stdin_file)]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mc.pipeline.guard",
            str(grace),
            str(silence),
            *options,
            "--",
            *argv,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=dict(env),
    )


def _read_output(
    guard: subprocess.Popen[bytes], on_output: Callable[[str, str], None]
) -> tuple[dict[str, Capture], list[threading.Thread]]:
    """Threads that pass the guard's stdout and stderr on as they come, and keep them."""
    assert guard.stdout is not None and guard.stderr is not None
    captured = {"stdout": Capture(), "stderr": Capture()}

    def pump(stream: IO[bytes], name: str) -> None:
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", "replace")
            captured[name].add(text)
            on_output(name, text)

    readers = [
        threading.Thread(target=pump, args=(guard.stdout, "stdout"), daemon=True),
        threading.Thread(target=pump, args=(guard.stderr, "stderr"), daemon=True),
    ]
    for reader in readers:
        reader.start()
    return captured, readers


def _tell(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.flush()
    except (BrokenPipeError, ValueError):
        pass


def _close(pipe: IO[bytes]) -> None:
    with contextlib.suppress(BrokenPipeError, ValueError):
        pipe.close()


__all__ = ["KILLED_BY_GUARD", "Execution", "StopReason", "agent_env", "run_agent"]
