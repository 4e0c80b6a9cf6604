"""The agent's guard: a tiny parent process that never lets an agent outlive its worker.

`python -m mc.guard GRACE LEASE -- argv...` starts the agent in a session of its own
(its own process group, stdin closed) and watches two things:

- its own stdin, a pipe from the worker: the worker writes a byte per heartbeat. EOF
  means the worker died (SIGKILL); no byte for LEASE seconds means it is paused
  (SIGSTOP) or wedged — either way its lease is running out and a successor may be
  given the job, so the agent must stop first;
- a byte "c" on the same pipe: cancel; "q": stop now (the worker is shutting down),
  with a grace of at most QUICK_GRACE seconds.

Ctrl-C and a closed terminal (SIGINT, SIGHUP to the foreground group) reach the guard
too: it ignores them, because its worker decides (it hands the job back and says "q").

Stopping is SIGTERM to the whole process group, then SIGKILL after GRACE seconds.
The guard's exit status is the agent's (negative signal numbers as 128+n), so the
worker can read exit 75 and friends. Written by hand because no library couples a
process group's life to a parent's liveness across SIGSTOP as well as death.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time

KILLED_BY_GUARD = 137  # as if SIGKILLed
QUICK_GRACE = 2.0


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the agent's process group, SIGKILL it after ``grace`` seconds."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(proc.pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str]) -> int:
    grace, lease = float(argv[0]), float(argv[1])
    command = argv[argv.index("--") + 1 :]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True
    )
    signal.signal(signal.SIGTERM, lambda *_: stop_group(proc, grace))
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.buffer, selectors.EVENT_READ)
    last_beat = time.monotonic()
    reason = ""
    while proc.poll() is None:
        events = selector.select(timeout=0.2)
        if events:
            data = os.read(sys.stdin.fileno(), 64)
            if not data:
                reason = "the worker is gone"
                break
            if b"q" in data:
                reason, grace = "the worker is shutting down", min(grace, QUICK_GRACE)
                break
            if b"c" in data:
                reason = "cancelled"
                break
            last_beat = time.monotonic()
        elif time.monotonic() - last_beat > lease:
            reason = "the worker stopped renewing its lease"
            break
    if reason:
        stop_group(proc, grace)  # first: the worker that reads our output may be gone
        with contextlib.suppress(OSError):
            sys.stderr.write(f"[mc guard] stopped the agent: {reason}\n")
            sys.stderr.flush()
        proc.wait()
        # Children that left the agent's process group behind are not ours to find.
        return KILLED_BY_GUARD
    code = proc.returncode
    stop_group(proc, grace)  # the agent exited; its leftover children go too
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
