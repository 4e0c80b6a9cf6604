"""The long-running commands: up, web, daemon, worker, demo — and how they stop."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from mc.board.board import Board
    from mc.mirror.daemon import Daemon
    from mc.mirror.embedded import Cluster
    from mc.web.server import WebServer
from mc.cli.common import HostOpt, PortOpt, _board, app


def _serve(
    poll: float,
    what: str,
    *,
    dispatch: bool = False,
    workers: int = 0,
    remote: str | None = None,
    web: tuple[str, int] | None = None,
    started: Callable[[threading.Event], Callable[[], None]] | None = None,
) -> None:
    """Run the daemon (and workers, and the web board) until Ctrl-C, SIGTERM or SIGHUP.

    Stopping is prompt: workers hand their running jobs back (no attempt spent, their
    agents killed), the web server ends its streams, and the embedded PostgreSQL this
    process started is stopped — on every way out, a failed start included.
    ``started(stop)`` runs once everything is up (the demo queues its projects) and
    returns what to wait for at the end.
    """
    import logging

    from mc.cli.common import _fail

    if web is not None:
        _check_address(*web)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    services = _Services()
    services.asked.install()
    try:
        services.run(poll, what, dispatch, workers, remote, web, started)
    except _StartFailed as exc:
        _fail(str(exc))


class _StopAsked:
    """Ctrl-C, SIGTERM or SIGHUP, noted by a signal handler for the main thread to act on.

    The handler takes no lock: a second signal (the terminal's SIGINT to the whole group,
    then mc up's SIGTERM to its workers) can arrive while the first handler is inside
    ``Event.set`` holding the event's lock, and a handler that sets the event again waits
    for that lock for ever (seen: a worker hung until mc up killed it)."""

    def __init__(self) -> None:
        self._asked = False

    def __call__(self, *_: object) -> None:
        self._asked = True

    def __bool__(self) -> bool:
        return self._asked

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self)


class _Services:
    """What ``_serve`` runs, and the one way to stop it (``stop``, called by the main
    thread once a signal asked for it)."""

    def __init__(self) -> None:
        self.asked = _StopAsked()
        self.stopping = threading.Event()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.server: WebServer | None = None
        self.daemon: Daemon | None = None

    def stop(self) -> None:
        self.stopping.set()
        if self.server is not None:
            self.server.web.hub.close()
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        if self.daemon is not None:
            self.daemon.stop.set()
            self.daemon.wake.set()

    def run(
        self,
        poll: float,
        what: str,
        dispatch: bool,
        workers: int,
        remote: str | None,
        web: tuple[str, int] | None,
        started: Callable[[threading.Event], Callable[[], None]] | None,
    ) -> None:
        from mc.mirror import served
        from mc.mirror.daemon import Daemon
        from mc.mirror.target import opened

        with (
            _board() as board,
            served.hold(board.root, what) as lock,
            opened(board, keep_running=True) as where,
        ):
            root, cluster = board.root, where.cluster
            try:

                def ensure() -> None:
                    if cluster is not None and not cluster.running():
                        cluster.start()

                from mc.pipeline import dispatch as dispatcher

                self.daemon = Daemon(
                    root, where.url, poll=poll, ensure_database=ensure,
                    dispatch=dispatcher.step if dispatch else None,
                    remote=remote,
                )  # fmt: skip
                if self.asked:  # a signal came while the database started
                    return
                self.procs += _start_workers(root, where.url, workers)
                if web is not None:
                    from mc.web.server import WebServer

                    try:
                        self.server = WebServer(root, where.url, host=web[0], port=web[1])
                        self.server.start()
                    except (OSError, RuntimeError) as exc:
                        raise _StartFailed(f"the web board could not start: {exc}") from None
                    lock.announce(url=f"{self.server.origin}/")
                place = f"embedded PostgreSQL in {cluster.root}" if cluster else "PostgreSQL"
                sys.stdout.write(f"mc {what}: syncing {root} into {place}\n")
                if workers:
                    from mc.pipeline import sandbox

                    confinement, message = sandbox.state(board.config.sandbox)
                    loud = "" if confinement == "on" else "WARNING: "
                    sys.stdout.write(f"mc {what}: {loud}{message}\n")
                    for problem in _preflight(board):
                        sys.stdout.write(f"mc {what}: WARNING: {problem}\n")
                if self.server is not None:
                    sys.stdout.write(
                        f"mc {what}: the board is at {self.server.origin}/\n"
                        f"mc {what}: log in (one time, 15 minutes): {self.server.login_url()}\n"
                    )
                sys.stdout.flush()
                thread = threading.Thread(target=self.daemon.run, name="mc-daemon")
                thread.start()
                finish = started(self.stopping) if started is not None else None
                while thread.is_alive():
                    if self.asked and not self.stopping.is_set():
                        self.stop()
                    thread.join(0.1)
                if finish is not None:
                    finish()
            finally:
                # The board's one server: its embedded database is its own to stop, even
                # when it found it running (a one-off command's, or a crashed server's).
                self._shut_down(cluster)

    def _shut_down(self, cluster: Cluster | None) -> None:
        self.stop()
        if self.server is not None:
            self.server.stop()
        for proc in self.procs:  # a stopping worker hands its job back within seconds
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                # Say where it hung (its threads' stacks, by faulthandler), then end it.
                sys.stdout.write(f"mc: worker {proc.pid} did not stop in 15 s; its threads:\n")
                sys.stdout.flush()
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGUSR1)
                    time.sleep(0.5)
                proc.kill()
                proc.wait()
        if cluster is not None:
            cluster.stop()
            sys.stdout.write("mc: embedded PostgreSQL stopped\n")


def _preflight(board: Board) -> list[str]:
    """Archetypes whose agent cannot start here: said once at start, not three attempts
    later."""
    from mc.errors import McError
    from mc.pipeline.runners import missing, resolve

    config = board.config
    problems = []
    for name, archetype in sorted(config.archetypes.items()):
        try:
            runner = resolve(archetype.runner, config.runners, archetype.command, archetype.args)
        except McError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if absent := missing(runner):
            problems.append(f"{name} projects will fail: {absent}")
    return problems


class _StartFailed(Exception):
    """Something of ``mc up`` could not start (said in one line, after the cleanup)."""


def _check_address(host: str, port: int) -> None:
    """Refuse a bad --host/--port in one line, before anything (the database) starts."""
    import errno
    import socket

    from mc.cli.common import _fail

    if not 0 <= port <= 65535:
        _fail(f"--port {port}: a port is a number from 1 to 65535 (0: any free one)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        _fail(f"--host {host}: {exc.strerror or exc}")
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _fail(
                    f"--port {port}: {host}:{port} is already in use (is the board served "
                    "there already? choose another port with --port)"
                )
            _fail(f"--host {host} --port {port}: cannot listen there: {exc.strerror or exc}")


def _start_workers(root: Path, url: str, count: int) -> list[subprocess.Popen[bytes]]:

    env = {**os.environ, "MC_DATABASE_URL": url}
    return [
        subprocess.Popen([sys.executable, "-m", "mc", "--board", str(root), "worker"], env=env)
        for _ in range(count)
    ]


@app.command()
def daemon(
    poll: float = typer.Option(5.0, "--poll", help="Safety-net poll interval in seconds."),
    dispatch: bool = typer.Option(
        False, "--dispatch", help="Also dispatch queued projects to workers (mc up does)."
    ),
    remote: str | None = typer.Option(
        None, "--remote", help="Follow this git remote's board branch (workers push there)."
    ),
) -> None:
    """Mirror the board into PostgreSQL as commits land (until SIGTERM/Ctrl-C)."""
    _serve(poll, "daemon", dispatch=dispatch, remote=remote)


@app.command()
def worker(
    poll: float = typer.Option(5.0, "--poll", help="Safety-net poll interval in seconds."),
    remote: str | None = typer.Option(
        None, "--remote", help="Share the board through this git remote (fetch, commit, push)."
    ),
) -> None:
    """Claim jobs and run agents (several may run, on one machine or more)."""
    import logging

    from mc.mirror.target import opened
    from mc.pipeline.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # where it hangs, if it does
    with _board() as board, opened(board, keep_running=True) as where:
        root = board.root
    runner = Worker(root, where.url, poll=poll, remote=remote)
    asked = _StopAsked()
    asked.install()
    sys.stdout.write(f"mc worker {runner.name}: claiming jobs for {root}\n")
    sys.stdout.flush()
    thread = threading.Thread(target=runner.run, name="mc-worker")
    thread.start()
    while thread.is_alive():
        if asked and not runner.stop.is_set():
            runner.request_stop()
        thread.join(0.1)


@app.command()
def up(
    poll: float = typer.Option(5.0, "--poll", help="Safety-net poll interval in seconds."),
    workers: int = typer.Option(2, "--workers", help="Worker processes to run agents."),
    host: str = HostOpt,
    port: int = PortOpt,
) -> None:
    """Run everything for the board: the daemon, the dispatcher, workers and the web board."""
    _serve(poll, "up", dispatch=True, workers=workers, web=(host, port))


@app.command()
def web(
    poll: float = typer.Option(5.0, "--poll", help="Safety-net poll interval in seconds."),
    host: str = HostOpt,
    port: int = PortOpt,
) -> None:
    """The web board (with the daemon keeping the mirror current; no agents run)."""
    _serve(poll, "web", web=(host, port))


@app.command()
def demo(
    folder: Path | None = typer.Argument(
        None, help="Where the demo board goes (default: ~/.local/state/mc/demo)."
    ),
    host: str = HostOpt,
    port: int = PortOpt,
    workers: int = typer.Option(2, "--workers", help="Worker processes."),
    fresh: bool = typer.Option(False, "--fresh", help="Replace the demo board with a new one."),
) -> None:
    """A demo board run by the built-in demo agent: open the link, watch, approve one."""
    from mc.cli.common import _fail, _state
    from mc.errors import McError
    from mc.machine import demo as demo_board

    _check_address(host, port)
    try:
        prepared = demo_board.prepare(folder, fresh=fresh)
    except McError as exc:
        _fail(str(exc))
    sys.stdout.write(f"mc demo: {prepared.message}\n")
    _state["board"] = str(prepared.path)

    def started(stop: threading.Event) -> Callable[[], None]:
        return demo_board.queue_later(prepared.path, prepared.to_queue, stop)

    _serve(2.0, "demo", dispatch=True, workers=workers, web=(host, port), started=started)
