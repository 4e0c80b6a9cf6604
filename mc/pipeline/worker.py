"""The pipeline: dispatch, work, review — from a queued project to one ready for a human.

- ``dispatch_ready``: projects committed into up-next get a work job and move to
  in-progress (a service-signed commit naming the job), in priority then age order,
  within the in-progress WIP limit and each archetype's concurrency.
- ``Worker``: claims jobs, runs the archetype's runner in a fresh workspace under the
  guard, streams the output into the job log, and finishes the job. Every write that
  records a result — the git commit included — happens while holding the job's row
  with the worker's lease token, so a worker whose lease ran out records nothing.
- A work job that succeeds commits its artifacts and the move to review in one
  commit, then a review job follows. The reviewer's verdict.json decides: pass →
  ``ready_for_human``; fail → back to in-progress with the notes for another round,
  until ``review.rounds`` are spent → it waits for the person ("needs human").
- A run that fails is retried with backoff up to the archetype's max attempts; then
  the job is dead and the project is flagged (and ``on_escalation`` runs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from mc.board.board import Board
from mc.board.config import Archetype, Caps
from mc.board.layout import ARTIFACTS_DIR
from mc.errors import LeaseLost, McError, NoOutput
from mc.mirror import db
from mc.mirror.sync import use_accepted_config
from mc.pipeline import jobs, results, sandbox
from mc.pipeline.brief import render_brief
from mc.pipeline.execute import Execution, StopReason, agent_env, run_agent
from mc.pipeline.jobs import Job, JobKind
from mc.pipeline.logpump import LogPump
from mc.pipeline.runners import (
    Outcome,
    Run,
    Runner,
    TooMuchOutput,
    Usage,
    Verdict,
    missing,
    read_artifacts,
    resolve,
)

if TYPE_CHECKING:
    from mc.board.projectfile import Project
    from mc.pipeline.worktree import Worktree

log = logging.getLogger("mc.pipeline")

POLL_SECONDS = 5.0
BEAT_SECONDS = 5.0


JOB_FOLDER_DAYS = 7  # a failed run's folder is kept this long for a look (or until it reruns)


def sweep_job_folders(root: Path, rerun: int | None = None, now: float | None = None) -> None:
    """Remove the folders of earlier runs of job ``rerun``, and any older than a week."""
    cutoff = (now or time.time()) - JOB_FOLDER_DAYS * 86400
    for folder in root.glob("job-*"):
        try:
            old = folder.lstat().st_mtime < cutoff
        except OSError:
            continue
        if old or (rerun is not None and folder.name.startswith(f"job-{rerun}-")):
            shutil.rmtree(folder, ignore_errors=True)


StopCheck = Callable[[], StopReason | None]  # run_agent's beat() and should_stop()


class Setup(NamedTuple):
    """A claimed job ready to run: what runs it, how, and where."""

    archetype: Archetype
    runner: Runner
    confined: bool  # in the sandbox
    run: Run  # the brief, the workspace and the output folder
    folder: Path  # the run's own folder, outside the board's repository
    tree: Worktree | None  # the project's own repository's worktree (work done in it)


def _run_env(run: Run, runner: Runner) -> dict[str, str]:
    """The agent's environment: ours without secrets, the run's MC_* and the runner's own."""
    env = agent_env(
        {
            "MC_PROJECT_ID": run.project_id,
            "MC_JOB_ID": str(run.job_id),
            "MC_ARCHETYPE": run.archetype,
            "MC_MODEL": run.model or "",
            "MC_PROMPT_FILE": str(run.prompt_file),
            "MC_OUTPUT_DIR": str(run.output_dir),
        }
    )
    env.update(runner.env)  # the board's own settings for this runner (mc.yaml)
    return env


def _report_token(conn: db.Connection, job: Job) -> str:
    """A token that may report this job and nothing else, for the one who does it (the
    announcement's command gets it; it ends with the week)."""
    import datetime as dt

    from mc.mirror.auth import create_token

    return create_token(
        conn, f"job-{job.id}-{job.attempt}", "agent", scope=f"job:{job.id}",
        ttl=dt.timedelta(days=7),
    )  # fmt: skip


def _announce(run: Run, runner: Runner, env: dict[str, str], pump: LogPump) -> None:
    """Run a hand-off runner's command (it tells someone; it does not do the work)."""
    try:
        told = subprocess.run(
            runner.argv(run),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        pump.add("mc", f"Announced with {runner.command[0]} (exit {told.returncode}).\n")
    except (OSError, subprocess.TimeoutExpired) as exc:
        pump.add("mc", f"Announcing with {runner.command[0]} failed: {exc}\n")


def _write_reported(output: Path, files: dict[str, str]) -> None:
    """A hand-off report's files into the job's output folder (jobs.report checked the
    names; a link planted there is replaced, never followed)."""
    for name, text in files.items():
        target = output / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)


def _gather(workspace: Path, output: Path, caps: Caps | None = None) -> None:
    """A CLI that writes only where it works: its files (not the artifacts it was given
    to review) join its output. Plain files only, as every artifact."""
    found = read_artifacts(workspace, caps)
    for rel, data in found.items():
        if rel.startswith(ARTIFACTS_DIR + "/"):
            continue
        target = output / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


class Worker:
    def __init__(
        self,
        board_path: Path,
        url: str,
        *,
        name: str | None = None,
        lease: float = jobs.LEASE_SECONDS,
        poll: float = POLL_SECONDS,
        beat_every: float = BEAT_SECONDS,
        grace: float = 10.0,
        backoff: float = jobs.BACKOFF_BASE,
        shutdown_wait: float = 0.0,
        remote: str | None = None,
    ) -> None:
        self.board_path = board_path
        self.url = url
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease = lease
        self.poll = poll
        self.beat_every = beat_every
        self.grace = grace
        self.backoff = backoff  # seconds before the first retry (doubling, with jitter)
        # How long a running job may go on once the worker is told to stop (SIGTERM,
        # Ctrl-C, SIGHUP) before it is handed back; 0: at once, its agent killed.
        self.shutdown_wait = shutdown_wait
        self.remote = remote  # share the board through this git remote (another machine)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.current: Job | None = None
        self._stop_at: float | None = None

    def request_stop(self) -> None:
        """Claim nothing more; a running job goes back after ``shutdown_wait``."""
        self._stop_at = time.monotonic()
        self.stop.set()
        self.wake.set()

    # ------------------------------------------------------------------ loop

    def run(self) -> None:
        """Claim and run jobs until ``stop`` is set; woken by NOTIFY, polling as a safety net."""
        listener = threading.Thread(target=self._listen, daemon=True)
        listener.start()
        conn: db.Connection | None = None
        swept = False
        try:
            while not self.stop.is_set():
                conn = self._connected(conn)
                if conn is None:
                    continue  # stopping while the database was away
                if not swept:
                    swept = self._sweep(conn)
                try:
                    jobs.reclaim(conn)
                    job = jobs.claim(conn, self.name, lease=self.lease)
                except McError as exc:
                    log.warning("queue unavailable: %s", exc)
                    if db.is_disconnect(exc):  # reconnect at once (with backoff from there)
                        with contextlib.suppress(Exception):
                            conn.close()
                    else:
                        self.stop.wait(1)
                    continue
                if job is None:
                    self.wake.wait(self.poll)
                    self.wake.clear()
                    continue
                self.current = job
                try:
                    self.run_job(conn, job)
                except Exception as exc:
                    log.exception("job %s failed in the worker", job.id)
                    with contextlib.suppress(McError):
                        jobs.fail(conn, job, f"worker error: {exc}")
                finally:
                    self.current = None
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def _connected(
        self, conn: db.Connection | None, patience: float | None = None
    ) -> db.Connection | None:
        """A working connection: ``conn``, or a new one once the database is back (after
        a restart a connection stays broken for good; waiting with backoff, not spinning).
        None when the worker is told to stop, or after ``patience`` seconds."""
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        delay, waited = 0.2, 0.0
        while not self.stop.is_set():
            try:
                fresh = db.connect(self.url, application_name=f"mc worker {self.name}")
                if waited:
                    log.info("database back after %.1f s", waited)
                return fresh
            except McError as exc:
                if patience is not None and waited >= patience:
                    return None
                log.warning("database unavailable (%s); trying again in %.1f s", exc, delay)
                self.stop.wait(delay)
                waited += delay
                delay = min(delay * 2, 5.0)
        return None

    def _listen(self) -> None:
        db.listen(
            self.url,
            [db.JOBS_CHANNEL],
            stop=self.stop,
            on_notify=lambda _channel, _payload: self.wake.set(),
            on_connect=self.wake.set,  # what was queued while it was away: look now
            name=f"mc worker {self.name} listen",
        )

    def _sweep(self, conn: db.Connection) -> bool:
        """Once, on start: remove what finished jobs left (mc.pipeline.cleanup); a
        failure is only logged. True: done (or given up)."""
        from mc.pipeline.cleanup import sweep

        try:
            running = {j.id for j in jobs.listing(conn, state="running", limit=None)}
            conn.commit()
            with Board.open(self.board_path) as board:
                swept = sweep(board, running)
            if swept.worktrees or swept.folders or swept.branches:
                log.info(
                    "swept %d worktrees, %d job folders, %d merged branches",
                    len(swept.worktrees), len(swept.folders), len(swept.branches),
                )  # fmt: skip
        except (McError, OSError) as exc:
            log.warning("sweeping old job worktrees failed: %s", exc)
        return True

    # ------------------------------------------------------------------ one job

    def run_job(self, conn: db.Connection, job: Job) -> None:
        with Board.open(self.board_path) as board:
            board.remote = self.remote
            board.fetch()
            use_accepted_config(board, conn)
            chosen = self._choose(conn, board, job)
            if chosen is None:
                return
            setup = self._prepare(conn, board, job, *chosen)
            caps = board.config.caps
            try:
                verdict = self._execute(conn, job, setup, caps)
                # The database may have restarted while the agent ran: record the result
                # once it is back (fenced by the lease token as ever), within the lease.
                back = self._connected(conn, patience=self.lease)
                if back is None:
                    log.warning("job %s: the database did not come back; result dropped", job.id)
                    return
                conn = back
                verdict, extra, change = self._collect(job, setup, verdict, caps)
                results.finish(
                    conn, board, job, setup.run, verdict, extra, backoff=self.backoff, change=change
                )
                if self.remote:  # the daemon follows the remote: tell it a push happened
                    db.notify(conn, db.PUSHED_CHANNEL)
                    conn.commit()
            finally:
                if setup.tree is not None:
                    from mc.pipeline.worktree import close_worktree

                    close_worktree(setup.tree)
            if verdict.ok:  # a failed run's folder stays for a look (until it runs again)
                shutil.rmtree(setup.folder, ignore_errors=True)

    def _choose(
        self, conn: db.Connection, board: Board, job: Job
    ) -> tuple[Project, Archetype, Runner, bool] | None:
        """The project, the archetype and runner that run the job, and whether in the
        sandbox; None when it cannot run here (the job is cancelled, or dead and escalated)."""
        entry = board.get(job.project_id)
        if entry.lane is not job.kind.lane or entry.project is None:
            jobs.mark_cancelled(conn, job)
            log.info("job %s: %s is in %s now; not run", job.id, job.project_id, entry.lane)
            return None
        config = board.config
        archetype = config.archetype(results.archetype_name(job))
        runner = resolve(archetype.runner, config.runners, archetype.command, archetype.args)
        absent = missing(runner)
        if absent:
            log.error("job %s: not run: %s", job.id, absent)
            jobs.fail(conn, job, absent, permanent=True)
            results.escalate(board, job, absent)
            return None
        confined = config.sandbox and runner.spawns
        if confined and (why := sandbox.unavailable()):
            log.error("job %s: not run: %s", job.id, why)
            jobs.fail(conn, job, f"the sandbox cannot run here: {why}", permanent=True)
            results.escalate(board, job, f"agents cannot be confined here: {why}")
            return None
        return entry.project, archetype, runner, confined

    def _prepare(
        self,
        conn: db.Connection,
        board: Board,
        job: Job,
        project: Project,
        archetype: Archetype,
        runner: Runner,
        confined: bool,
    ) -> Setup:
        """The run's folder: its workspace (the project's worktree, or the artifacts to
        review), its output folder and its brief."""
        # Outside the repository: no path from the agent's workspace leads to the board.
        folder = sandbox.jobs_root(board.root) / f"job-{job.id}-{job.attempt}"
        shutil.rmtree(folder, ignore_errors=True)
        sweep_job_folders(folder.parent, job.id)
        output = folder / "out"
        workspace = folder / "ws"
        output.mkdir(parents=True)
        tree = None
        if job.kind == JobKind.WORK and project.get("workspace"):
            from mc.pipeline.worktree import open_worktree

            tree = open_worktree(str(project.get("workspace")), job.project_id, workspace)
        else:
            workspace.mkdir()
        if job.kind == JobKind.REVIEW:
            self._copy_artifacts(board, job.project_id, workspace / "artifacts")
        from mc.mirror.tasks import listing

        tasks = listing(conn, project=job.project_id)
        conn.commit()
        brief = render_brief(
            board, job.project_id, job, tasks, workspace=workspace, output_dir=output
        )
        prompt_file = folder / "brief.md"
        prompt_file.write_text(brief)
        run = Run(
            job.project_id,
            job.id,
            job.kind,
            archetype.name,
            project.get("model") or archetype.model,  # the project's own first
            brief,
            prompt_file,
            output,
            workspace,
        )
        return Setup(archetype, runner, confined, run, folder, tree)

    def _collect(
        self, job: Job, setup: Setup, verdict: Verdict, caps: Caps
    ) -> tuple[Verdict, dict[str, bytes], dict[str, str]]:
        """What a successful run leaves to commit: its output folder's files, and the
        change in the project's worktree (and, for the run block, the branch's head and
        the branch it was made from). Nothing at all, or too much, is a failed run."""
        extra: dict[str, bytes] = {}
        change: dict[str, str] = {}
        try:
            if verdict.ok and job.kind == JobKind.WORK:
                extra = read_artifacts(setup.run.output_dir, caps)
                if (
                    not extra
                    and setup.tree is None
                    and setup.runner.spawns
                    and setup.archetype.output
                ):
                    # Exit 0 with nothing to show is not work done (issue 12.9).
                    raise NoOutput("the agent left nothing in its output folder")
            if setup.tree is not None and verdict.ok:
                from mc.pipeline.worktree import collect

                collected = collect(setup.tree, job.id)
                extra.update(collected.artifacts)  # branch, diffstat, patch
                change["head"] = collected.head
                if collected.base_branch:
                    change["base"] = collected.base_branch
                size = sum(len(data) for data in extra.values())
                if size > caps.max_total_bytes:
                    raise TooMuchOutput(
                        f"the change and artifacts are {size / 2**20:.1f} MB, over "
                        f"the cap of {caps.max_total_bytes / 2**20:.1f} MB "
                        "(artifacts.max_total_mb in mc.yaml)"
                    )
        except McError as exc:
            verdict = Verdict(False, str(exc))
        return verdict, extra, change

    def _copy_artifacts(self, board: Board, project_id: str, into: Path) -> None:
        from mc.board import artifacts

        for path, blob in artifacts.files(board, project_id):
            data = board.read_blob(blob)
            if data is None:
                continue
            target = into / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def _execute(self, conn: db.Connection, job: Job, setup: Setup, caps: Caps) -> Verdict:
        """Run the agent under its guard (or hand the job off), its output into the job's
        log, and judge how it went."""
        runner, run, confined = setup.runner, setup.run, setup.confined
        pump = LogPump(self.url, job, runner.reader(), runner.gives_up)
        should_stop, beat = self._stop_checks(conn, job, pump)
        env = _run_env(run, runner)
        try:
            if not runner.spawns:
                return self._handoff(conn, job, run, runner, env, pump, beat)
            argv = runner.argv(run)
            if confined:
                argv, env = self._confine(runner, run, argv, env)
            else:
                pump.add("mc", "[mc] sandbox: off (mc.yaml): this agent runs unconfined\n")
            execution = run_agent(
                argv,
                cwd=run.workspace,
                env=env,
                sandboxed=confined,
                stdin_file=run.prompt_file if runner.stdin else None,
                timeout=setup.archetype.timeout,
                on_output=pump.add,
                beat=beat,
                should_stop=should_stop,
                beat_every=self.beat_every,
                lease=self.lease,
                grace=self.grace,
            )
        finally:
            pump.close()
            if confined:
                sandbox.take_back([run.prompt_file.parent], sandbox.agent_user())
        return self._judge(conn, job, setup, execution, pump.gave_up, caps)

    def _stop_checks(
        self, conn: db.Connection, job: Job, pump: LogPump
    ) -> tuple[StopCheck, StopCheck]:
        """run_agent's ``should_stop`` (asked ten times a second) and ``beat`` (every
        ``beat_every`` seconds: it renews the lease and says whether to go on)."""

        def shutting_down() -> StopReason | None:
            if pump.gave_up:
                return StopReason.TEMPORARY
            if self.stop.is_set() and self._shutting_down_too_long():
                return StopReason.SHUTDOWN
            return None

        beating = [conn]  # heartbeats go on over a new connection when the database restarts

        def beat() -> StopReason | None:
            if shutting_down():
                return StopReason.SHUTDOWN
            try:
                live = self._connected(beating[0], patience=0)
                if live is None:
                    return StopReason.UNRENEWED
                beating[0] = live
                return StopReason.CANCEL if jobs.heartbeat(live, job, lease=self.lease) else None
            except LeaseLost:
                return StopReason.LEASE_LOST
            except McError as exc:
                if not db.is_disconnect(exc):
                    raise
                # Not renewed: the guard stops the agent before the lease can run out,
                # unless the database is back by then (then the run goes on).
                log.warning("job %s: heartbeat not sent: %s", job.id, exc)
                return StopReason.UNRENEWED

        return shutting_down, beat

    def _judge(
        self,
        conn: db.Connection,
        job: Job,
        setup: Setup,
        execution: Execution,
        gave_up: str,
        caps: Caps,
    ) -> Verdict:
        """How the run went: stopped, timed out, or as its runner judges it (its usage
        recorded, fenced by the lease)."""
        runner, run = setup.runner, setup.run
        if execution.stopped == StopReason.TEMPORARY:  # stuck retrying: requeued, no attempt
            said = runner.judge(run, Outcome(0, execution.output, execution.errors))
            error = said.error if not said.ok else f"stopped while retrying: {gave_up}"
            return Verdict(False, error, temporary=True, usage=said.usage)
        if execution.stopped:
            return Verdict(False, execution.stopped, stopped=execution.stopped)
        if execution.timed_out:
            return Verdict(False, f"timed out after {setup.archetype.timeout:.0f} s")
        if runner.collect_workspace and setup.tree is None:
            try:
                _gather(run.workspace, run.output_dir, caps)
            except McError as exc:
                return Verdict(False, str(exc))
        verdict = runner.judge(run, Outcome(execution.code, execution.output, execution.errors))
        try:
            jobs.record_usage(conn, job, verdict.usage or Usage(), run.model)
        except McError as exc:  # the lease is gone: nothing of this run is recorded
            log.warning("job %s: usage not recorded: %s", job.id, exc)
        return verdict

    def _confine(
        self, runner: Runner, run: Run, argv: list[str], env: dict[str, str]
    ) -> tuple[list[str], dict[str, str]]:
        """The agent's command in its sandbox and its environment there."""
        user = sandbox.agent_user()
        folder = run.prompt_file.parent
        home = folder / "home"
        home.mkdir(exist_ok=True)
        sandbox.prepare_home(home, runner.home)
        inside = sandbox.environment(env, home, user)
        if runner.prepare is not None:  # the CLI's own settings, in its private HOME
            runner.prepare(run, home, inside)
        plan = sandbox.Plan(
            command=tuple(argv),
            workspace=run.workspace,
            output=run.output_dir,
            brief=run.prompt_file,
            home=home,
            read_only=(
                *sandbox.runtime_paths(argv, inside.get("PATH")),
                *sandbox.command_files(runner.program_files()),
                *sandbox.git_paths(run.workspace),
                *(Path(p) for p in runner.paths),
            ),
            writable=tuple(Path(p) for p in runner.writable),
        )
        os.chmod(folder, 0o700)
        sandbox.hand_over([folder], user)
        return sandbox.argv(plan, user), inside

    def _shutting_down_too_long(self) -> bool:
        return self._stop_at is not None and time.monotonic() - self._stop_at > self.shutdown_wait

    def _handoff(
        self,
        conn: db.Connection,
        job: Job,
        run: Run,
        runner: Runner,
        env: dict[str, str],
        pump: LogPump,
        beat: StopCheck,
    ) -> Verdict:
        """No agent to spawn: announce the job (its log, the job event, and the runner's
        command if it has one), then wait for `mc job complete|fail JOB` (or the API)."""
        pump.add(
            "mc",
            f"Handed off. The brief: {run.prompt_file}. Leave what you produce in "
            f"{run.output_dir}, then run: mc job complete {job.id} --notes '...' "
            f"(or mc job fail {job.id} --error '...').\n",
        )
        jobs.await_report(conn, job)
        env["MC_JOB_TOKEN"] = _report_token(conn, job)
        conn.commit()
        pump.drain()
        log.info("job %s for %s handed off: waiting for a report", job.id, job.project_id)
        if runner.command:  # e.g. tell the person's assistant; it does not do the work here
            _announce(run, runner, env, pump)
        while True:
            reason = beat()
            if reason:
                return Verdict(False, reason, stopped=reason)
            report = jobs.read_report(conn, job.id)
            conn.commit()
            if report is not None:
                _write_reported(run.output_dir, dict(report.files))
                error = "" if report.ok else report.error or "reported failed"
                return Verdict(report.ok, error, summary=report.notes)
            time.sleep(min(self.beat_every, 1.0))
