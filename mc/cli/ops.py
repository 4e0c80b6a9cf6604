"""CLI commands around the database: daemon, up, status, db, task, service."""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mc.cli import JsonOpt, _board, _print_json, app, project_app

if TYPE_CHECKING:
    from mc.board.board import Board
    from mc.mirror import db as db_mod
    from mc.mirror.daemon import Daemon
    from mc.mirror.embedded import Cluster
    from mc.web.server import WebServer

db_app = typer.Typer(help="The PostgreSQL mirror of the board.", no_args_is_help=True)
task_app = typer.Typer(help="Small to-dos, linked to projects.", no_args_is_help=True)
service_app = typer.Typer(
    help="Run mc up for this board as a systemd user service.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens for scripts and agents.", no_args_is_help=True)
HostOpt = typer.Option("127.0.0.1", "--host", help="Address the web board listens on.")
PortOpt = typer.Option(8765, "--port", help="Port of the web board.")
app.add_typer(db_app, name="db")
app.add_typer(task_app, name="task")
app.add_typer(service_app, name="service")
app.add_typer(token_app, name="token")


@contextmanager
def _connection() -> Iterator[db_mod.Connection]:
    """The board's database (the embedded one started for the command if need be)."""
    from mc.mirror import db
    from mc.mirror.target import opened

    with _board() as board, opened(board) as where, db.connect(where.url) as conn:
        # Catch the mirror up first (a no-op when the daemon has): a project committed a
        # moment ago is then known to `mc task add --project`, job commands and the rest.
        from mc.mirror.sync import Syncer

        Syncer(board).sync(conn)
        yield conn


# ---------------------------------------------------------------------- daemon, up


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

    from mc.cli import _fail

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
        from mc.machine import served
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

                self.daemon = Daemon(
                    root, where.url, poll=poll, ensure_database=ensure, dispatch=dispatch,
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

    from mc.cli import _fail

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
    import os

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
    from mc.cli import _fail, _state
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


@app.command()
def login(
    host: str = HostOpt,
    port: int = PortOpt,
) -> None:
    """Print a new one-time login link for a running web board."""
    from mc.web.auth import create_login_link

    with _connection() as conn:
        secret = create_login_link(conn)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    sys.stdout.write(f"http://{shown}:{port}/login?token={secret}\n")


@app.command()
def logout() -> None:
    """End every browser session of the web board (and unused login links)."""
    from mc.web.auth import end_all_sessions

    with _connection() as conn:
        n = end_all_sessions(conn)
    sys.stdout.write(f"Ended {n} browser session{'s' if n != 1 else ''} and login links\n")


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., metavar="NAME"),
    role: str = typer.Option("agent", "--role", help="human, agent or viewer."),
    job: int | None = typer.Option(None, "--job", help="An agent token for this job alone."),
    project: str | None = typer.Option(
        None, "--project", help="An agent token for this project's jobs alone."
    ),
) -> None:
    """A bearer token for the API (shown once; only its digest is kept). A hand-off job's
    outcome may be reported only by a person or an agent token bound to it (--job/--project)."""
    from mc.web.auth import create_token

    scope = f"job:{job}" if job is not None else f"project:{project}" if project else None
    with _connection() as conn:
        secret = create_token(conn, name, role, scope=scope)
    sys.stdout.write(f"Token {name} ({role}): {secret}\n")


@token_app.command("list")
def token_list(
    show_all: bool = typer.Option(False, "--all", help="Revoked ones too."), as_json: bool = JsonOpt
) -> None:
    """API tokens (names and roles; the secrets are not kept)."""
    from mc.web.auth import list_tokens

    with _connection() as conn:
        rows = list_tokens(conn, include_revoked=show_all)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        used = (
            f"last used {r['last_used_at']:%Y-%m-%d %H:%M}" if r["last_used_at"] else "never used"
        )
        sys.stdout.write(f"{r['id']:>4}  {r['name']:<24} {r['role']:<7} {state:<8} {used}\n")
    if not rows:
        sys.stdout.write("No tokens.\n")


@token_app.command("revoke")
def token_revoke(name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Revoke a token by name (or id): it stops working at once."""
    from mc.web.auth import revoke_token

    with _connection() as conn:
        row = revoke_token(conn, name)
    sys.stdout.write(f"Revoked token {row['name']}\n")


# ---------------------------------------------------------------------- db


@db_app.command("migrate")
def db_migrate() -> None:
    """Create or update the database schema."""
    from mc.mirror import db
    from mc.mirror.target import opened

    with _board() as board, opened(board) as where, db.connect(where.url) as conn:
        applied = list(where.migrated) + db.migrate(conn)
    sys.stdout.write(f"Applied migrations {applied}\n" if applied else "Schema is up to date\n")


@db_app.command("resync")
def db_resync() -> None:
    """Rebuild the mirror from git: replays the whole history, loads it with COPY."""
    from mc.mirror import db
    from mc.mirror.sync import Syncer
    from mc.mirror.target import opened

    with _board() as board, opened(board) as where, db.connect(where.url) as conn:
        result = Syncer(board).rebuild(conn)
    if result is None:
        sys.stdout.write("The board has no commits yet\n")
    else:
        sys.stdout.write(
            f"Rebuilt from {result.commits} commits: {len(result.projects)} projects, "
            f"{result.violations} violations ({result.commit[:12]})\n"
        )


@db_app.command("url")
def db_url() -> None:
    """Print the database URL this board uses."""
    from mc.mirror.target import target

    with _board() as board:
        sys.stdout.write(target(board).url + "\n")


# ---------------------------------------------------------------------- status


@app.command()
def status(as_json: bool = JsonOpt) -> None:
    """Database, daemon, last synced commit and lag, lanes, invalid projects, violations."""
    from mc.mirror.status import report

    with _board() as board:
        data = report(board)
    if as_json:
        _print_json(data)
        return
    from mc.cli.render import status_text

    sys.stdout.write(status_text(data))


# ---------------------------------------------------------------------- tasks


def _tz_now() -> tuple[Any, Any]:
    import datetime as dt

    from mc.mirror.tasks import local_zone

    return dt.datetime.now(dt.UTC), local_zone()


def _task_out(task: Any, as_json: bool) -> None:
    now, tz = _tz_now()
    if as_json:
        _print_json(task.to_json(now, tz))
    else:
        from mc.cli.render import task_line

        sys.stdout.write(task_line(task, now, tz) + "\n")


@task_app.command("add")
def task_add(
    title: str = typer.Argument(...),
    due: str | None = typer.Option(
        None, "--due", help="today, tomorrow, fri, 2026-12-01, 'in 3 days'…"
    ),
    project: str | None = typer.Option(None, "--project", "-p", help="Link to this project id."),
    priority: int | None = typer.Option(None, "--priority", help="1 (highest) to 4."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="A tag (repeatable)."),
    notes: str = typer.Option("", "--notes"),
    as_json: bool = JsonOpt,
) -> None:
    """Add a task."""
    from mc.mirror import tasks

    with _connection() as conn:
        task = tasks.add(
            conn, title, due=due, project=project, priority=priority, tags=tag, notes=notes
        )
    _task_out(task, as_json)


@task_app.command("list")
def task_list(
    overdue: bool = typer.Option(False, "--overdue", help="Only overdue tasks."),
    project: str | None = typer.Option(None, "--project", "-p"),
    done: bool = typer.Option(False, "--all", help="Include done tasks."),
    as_json: bool = JsonOpt,
) -> None:
    """Open tasks, soonest due first (overdue ones marked)."""
    from mc.mirror import tasks

    now, tz = _tz_now()
    with _connection() as conn:
        found = tasks.listing(
            conn, overdue=overdue, project=project, include_done=done, now=now, tz=tz
        )
    if as_json:
        _print_json([t.to_json(now, tz) for t in found])
        return
    from mc.cli.render import task_line

    for task in found:
        sys.stdout.write(task_line(task, now, tz) + "\n")
    if not found:
        sys.stdout.write("No tasks.\n")


@task_app.command("done")
def task_done(number: int = typer.Argument(..., metavar="N"), as_json: bool = JsonOpt) -> None:
    """Mark task N done."""
    from mc.mirror import tasks

    with _connection() as conn:
        task = tasks.update(conn, number, done=True)
    _task_out(task, as_json)


@task_app.command("delete")
def task_delete(number: int = typer.Argument(..., metavar="N")) -> None:
    """Delete task N."""
    from mc.mirror import tasks

    with _connection() as conn:
        task = tasks.delete(conn, number)
    sys.stdout.write(f"Deleted task {task.id}: {task.title}\n")


@task_app.command("edit")
def task_edit(
    number: int = typer.Argument(..., metavar="N"),
    title: str | None = typer.Option(None, "--title"),
    due: str | None = typer.Option(None, "--due", help="A new due ('none' clears it)."),
    priority: int | None = typer.Option(None, "--priority"),
    tag: list[str] | None = typer.Option(None, "--tag", "-t", help="Replace the tags."),
    notes: str | None = typer.Option(None, "--notes"),
    undone: bool = typer.Option(False, "--undone", help="Open it again."),
    as_json: bool = JsonOpt,
) -> None:
    """Change task N."""
    from mc.mirror import tasks

    changes: dict[str, Any] = {"title": title, "notes": notes, "tags": tag or None}
    if due is not None:
        changes["due"] = due
    if priority is not None:
        changes["priority"] = priority
    if undone:
        changes["done"] = False
    with _connection() as conn:
        task = tasks.update(conn, number, **changes)
    _task_out(task, as_json)


@task_app.command("link")
def task_link(
    number: int = typer.Argument(..., metavar="N"),
    project: str = typer.Argument(..., metavar="PROJECT"),
    as_json: bool = JsonOpt,
) -> None:
    """Link task N to a project."""
    from mc.mirror import tasks

    with _connection() as conn:
        task = tasks.update(conn, number, project=project)
    _task_out(task, as_json)


@task_app.command("unlink")
def task_unlink(number: int = typer.Argument(..., metavar="N"), as_json: bool = JsonOpt) -> None:
    """Unlink task N from its project."""
    from mc.mirror import tasks

    with _connection() as conn:
        task = tasks.update(conn, number, project=None)
    _task_out(task, as_json)


# ---------------------------------------------------------------------- service


@service_app.command("install")
def service_install(
    print_only: bool = typer.Option(
        False, "--print", help="Show the units instead of writing them."
    ),
) -> None:
    """A systemd user unit running mc up for this board, restarted on failure."""
    from mc.machine.service import environment_lines, install, units
    from mc.mirror.status import _redact

    with _board() as board:
        root = board.root
    found = units(Path(root))
    if print_only:
        for name, text in found.items():
            sys.stdout.write(f"# {name}\n{text}\n")
        sys.stdout.write(f"# {root}/.mc/service.env (mode 0600)\n")
        for line in environment_lines():
            key, _, value = line.partition("=")
            sys.stdout.write(f"{key}={_redact(value)}\n")
        return
    for path in install(found, Path(root)):
        sys.stdout.write(f"Wrote {path}\n")
    names = " ".join(found)
    sys.stdout.write(
        f"Enable with: systemctl --user daemon-reload && systemctl --user enable --now {names}\n"
    )


def project_extras(project_id: str) -> tuple[list[Any], Any] | None:
    """A project's linked tasks and what its agents cost, or None when the database
    cannot be reached."""
    from mc.errors import McError
    from mc.mirror import tasks
    from mc.pipeline import jobs

    try:
        with _connection() as conn:
            found = tasks.listing(conn, project=project_id, include_done=True)
            return found, jobs.project_spend(conn, project_id)
    except McError:
        return None


# ---------------------------------------------------------------------- jobs

job_app = typer.Typer(help="Agent runs: list, logs, retry, cancel, report.", no_args_is_help=True)
app.add_typer(job_app, name="job")


def usage_text(usage: Any) -> str:
    """Tokens and cost in one line: "12,400 in (3,100 cached), 2,050 out, $0.0421"."""
    cost = (
        f", ${float(usage.cost_usd):.4f}" if usage.cost_usd is not None else ", cost not reported"
    )
    cached = f" ({usage.cached_tokens:,} cached)" if usage.cached_tokens else ""
    return f"{usage.input_tokens:,} in{cached}, {usage.output_tokens:,} out{cost}"


def _job_line(job: Any) -> str:
    when = job.finished_at or job.started_at or job.created_at
    error = f"  {job.last_error}" if job.last_error and job.state != "succeeded" else ""
    run = job.attempt if job.state in ("queued", "running") else max(job.attempts, 1)
    return (
        f"{job.id:>5}  {job.kind:<6} {job.state:<9} {job.project_id:<24} "
        f"attempt {run}/{job.max_attempts}  {when:%Y-%m-%d %H:%M}{error}"
    )


@job_app.command("list")
def job_list(
    project: str | None = typer.Option(None, "--project", "-p"),
    state: str | None = typer.Option(
        None, "--state", help="queued, running, succeeded, dead, cancelled"
    ),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many (newest first)."),
    show_all: bool = typer.Option(False, "--all", help="Every job."),
    as_json: bool = JsonOpt,
) -> None:
    """Jobs, newest first (the newest 100 unless --limit or --all; a cut list says so)."""
    from mc.pipeline import jobs

    with _connection() as conn:
        found = jobs.listing(conn, project=project, state=state, limit=None if show_all else limit)
        total = len(found) if show_all else jobs.count(conn, project=project, state=state)
    if total > len(found):  # on stderr: --json stays a list
        sys.stderr.write(
            f"mc: the newest {len(found)} of {total} jobs (--limit N or --all for more)\n"
        )
    if as_json:
        _print_json([j.to_json() for j in found])
        return
    for job in found:
        sys.stdout.write(_job_line(job) + "\n")
    if not found:
        sys.stdout.write("No jobs.\n")


@job_app.command("show")
def job_show(number: int = typer.Argument(..., metavar="JOB"), as_json: bool = JsonOpt) -> None:
    """One job."""
    from mc.pipeline import jobs

    with _connection() as conn:
        job = jobs.get(conn, number)
    if as_json:
        _print_json(job.to_json())
        return
    sys.stdout.write(_job_line(job) + "\n")
    if job.model:
        sys.stdout.write(f"model: {job.model}\n")
    if job.input_tokens or job.output_tokens or job.cost_usd is not None:
        sys.stdout.write(f"usage: {usage_text(job)}\n")
    if job.last_step:
        sys.stdout.write(f"last step: {job.last_step}\n")
    if job.result:
        sys.stdout.write(f"result: {job.result}\n")
    if job.notes:
        sys.stdout.write(f"notes: {job.notes}\n")


@job_app.command("logs")
def job_logs(
    number: int = typer.Argument(..., metavar="JOB"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing as it runs."),
    raw: bool = typer.Option(False, "--raw", help="The lines as printed (a CLI's JSON events)."),
) -> None:
    """What the agent did, in words (live with -f; --raw: as it printed it)."""
    import time

    from mc.pipeline import jobs

    after = 0
    with _connection() as conn:
        while True:
            rows = jobs.read_log(conn, number, after=after)
            conn.commit()
            for row in rows:
                text = row["text"] if raw or not row["shown"] else row["shown"] + "\n"
                (sys.stderr if row["stream"] == "stderr" else sys.stdout).write(text)
                after = row["id"]
            sys.stdout.flush()
            if rows:
                continue
            job = jobs.get(conn, number)
            conn.commit()
            if not follow or job.state not in ("queued", "running"):
                return
            time.sleep(0.5)


@job_app.command("retry")
def job_retry(number: int = typer.Argument(..., metavar="JOB")) -> None:
    """Run a dead or cancelled job again (a fresh attempt budget)."""
    from mc.pipeline import jobs

    with _connection() as conn:
        job = jobs.retry(conn, number)
    sys.stdout.write(_job_line(job) + "\n")


@project_app.command("retry")
def project_retry(project_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Run a project's dead or cancelled job again (a fresh attempt budget)."""
    from mc.pipeline import jobs

    with _board() as board:
        lane = board.get(project_id).lane
    with _connection() as conn:
        job = jobs.retry_project(conn, project_id, lane)
    sys.stdout.write(_job_line(job) + "\n")


@job_app.command("cancel")
def job_cancel(number: int = typer.Argument(..., metavar="JOB")) -> None:
    """Cancel a job: its agent's process tree is killed; it is not retried."""
    from mc.pipeline import jobs

    with _connection() as conn:
        job = jobs.cancel(conn, number)
    sys.stdout.write(_job_line(job) + "\n")


@job_app.command("complete")
def job_complete(
    number: int = typer.Argument(..., metavar="JOB"),
    notes: str = typer.Option("", "--notes", help="What was done (kept with the result)."),
) -> None:
    """Report a handed-off job done (its worker records the result)."""
    from mc.pipeline import jobs

    with _connection() as conn:
        job = jobs.report(conn, number, ok=True, notes=notes)
    sys.stdout.write(_job_line(job) + "\n")


@job_app.command("fail")
def job_fail(
    number: int = typer.Argument(..., metavar="JOB"),
    error: str = typer.Option(..., "--error", help="What went wrong."),
) -> None:
    """Report a handed-off job failed (it is retried like any failed run)."""
    from mc.pipeline import jobs

    with _connection() as conn:
        job = jobs.report(conn, number, ok=False, error=error)
    sys.stdout.write(_job_line(job) + "\n")
