"""The agent's guard: a tiny parent process that never lets an agent outlive its worker.

`python -m mc.pipeline.guard GRACE LEASE [--sandbox] [--stdin FILE] -- argv...` starts the agent
(its stdin FILE, or empty) and watches two things:

- its own stdin, a pipe from the worker: the worker writes a byte per heartbeat. EOF
  means the worker died (SIGKILL); no byte for LEASE seconds means it is paused
  (SIGSTOP) or wedged — either way its lease is running out and a successor may be
  given the job, so the agent must stop first;
- a byte "c" on the same pipe: cancel; "q": stop now (the worker is shutting down),
  with a grace of at most QUICK_GRACE seconds.

With ``--sandbox`` the argv is a bwrap command (mc.sandbox): the agent runs in a PID
namespace of its own (as an unprivileged user, when we are root: see there).
Stopping is SIGTERM to every process of the namespace, then SIGKILL of the namespace's
first process after GRACE seconds, which the kernel turns into the end of every process
in it. bwrap's --die-with-parent ends the namespace when the guard itself dies, by any
signal. Without a sandbox (``sandbox: off``) the agent gets a session of its own and
stopping is SIGTERM, then SIGKILL, to its process group.

Ctrl-C, a closed terminal and a SIGTERM to the whole group (SIGINT, SIGHUP, SIGTERM to
the foreground group, or to a service's every process) reach the guard too: it ignores
them, because its worker decides (it hands the job back and says "q"), and stopping the
agent on its own would make its worker judge a run that was only interrupted.

The guard's exit status is the agent's (negative signal numbers as 128+n), so the
worker can read exit 75 and friends. Written by hand because no library couples a
process tree's life to a parent's liveness across SIGSTOP as well as death.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time

KILLED_BY_GUARD = 137  # as if SIGKILLed
QUICK_GRACE = 2.0


class Agent:
    """The agent's process (bwrap's, in a sandbox) and how to end all of it."""

    def __init__(self, command: list[str], *, sandbox: bool, stdin: str | None = None):
        self.sandbox = sandbox
        source = open(stdin, "rb") if stdin else subprocess.DEVNULL  # noqa: SIM115
        self.child: int | None = None  # the sandbox's first process (its PID namespace)
        if sandbox:
            read, write = os.pipe()
            command = [command[0], "--info-fd", str(write), *command[1:]]
            self.proc = subprocess.Popen(
                command,
                stdin=source,
                start_new_session=True,
                pass_fds=(write,),
            )
            os.close(write)
            self.child = _read_child_pid(read)
        else:
            self.proc = subprocess.Popen(
                command,
                stdin=source,
                start_new_session=True,
                close_fds=True,
            )
        if not isinstance(source, int):
            source.close()  # the agent has its own copy

    def stop(self, grace: float) -> None:
        """SIGTERM everything of the agent, SIGKILL what is left after ``grace`` seconds."""
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and not self.alive():
                return
            time.sleep(0.05)
        self._signal(signal.SIGKILL)

    def finish(self) -> None:
        """The agent exited: nothing of it may stay behind (a sandbox ends by itself)."""
        if self.sandbox:
            deadline = time.monotonic() + 2
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            if self.alive():
                self._signal(signal.SIGKILL)
        else:
            self.stop(QUICK_GRACE)

    def alive(self) -> bool:
        if self.sandbox:
            from mc.pipeline.sandbox import namespace_members

            return self.child is not None and bool(namespace_members(self.child))
        return _group_alive(self.proc.pid)

    def _signal(self, signum: int) -> None:
        if not self.sandbox:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signum)
            return
        from mc.pipeline.sandbox import namespace_members

        if self.child is None:  # it never started: bwrap alone
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signum)
            return
        members = namespace_members(self.child)
        if signum == signal.SIGKILL:  # the namespace's first process takes all with it
            members = [self.child]
        for pid in members:
            if pid == self.child and signum != signal.SIGKILL:
                continue  # bwrap's reaper: it goes when the agent does
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def _read_child_pid(fd: int) -> int | None:
    data = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(fd, 4096):
            data += chunk
    os.close(fd)
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None  # bwrap failed before its sandbox existed (it says why on stderr)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ignore(signum: int, frame: object) -> None:
    pass


def main(argv: list[str]) -> int:
    grace, lease = float(argv[0]), float(argv[1])
    options = argv[2 : argv.index("--")]
    command = argv[argv.index("--") + 1 :]
    # Its worker decides, and says so on stdin. A handler that does nothing rather than
    # SIG_IGN: an ignored signal stays ignored in the agent it starts, a handler does not.
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, _ignore)
    stdin = options[options.index("--stdin") + 1] if "--stdin" in options else None
    agent = Agent(command, sandbox="--sandbox" in options, stdin=stdin)
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.buffer, selectors.EVENT_READ)
    with contextlib.suppress(OSError, AttributeError):  # wake the moment the agent exits
        selector.register(os.pidfd_open(agent.proc.pid), selectors.EVENT_READ)
    last_beat = time.monotonic()
    reason = ""
    while agent.proc.poll() is None:
        events = [key for key, _ in selector.select(timeout=0.2) if key.fileobj is sys.stdin.buffer]
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
        agent.stop(grace)  # first: the worker that reads our output may be gone
        with contextlib.suppress(OSError):
            sys.stderr.write(f"[mc guard] stopped the agent: {reason}\n")
            sys.stderr.flush()
        agent.proc.wait()
        agent.finish()
        return KILLED_BY_GUARD
    code: int = agent.proc.returncode
    agent.finish()  # the agent exited; its leftover children go too
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
