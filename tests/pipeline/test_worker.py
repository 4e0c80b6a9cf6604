"""The worker's failure paths, with the scripted fake agent: retries, dead jobs and
escalation, timeouts, exit 75, cancellation, and workers that are killed, paused or
asked to stop."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mc.board.board import Board
from mc.mirror import db
from mc.mirror.daemon import Daemon
from mc.pipeline import dispatch, jobs
from mc.pipeline.worker import Worker

from ..conftest import alive, git, marked_processes, run_mc, wait_for_file

FAKE = str(Path(__file__).parents[1] / "fake_agent.py")


def _configure(board_path: Path, mode: str, *, timeout: int = 60, attempts: int = 2,
               escalate: Path | None = None) -> None:  # fmt: skip
    """Every archetype runs the fake agent in ``mode`` (a signed mc.yaml commit)."""
    runner = (
        f"{{runner: command, command: [{sys.executable}, {FAKE}, {mode}], "
        f"timeout: {timeout}, max_attempts: {attempts}}}"
    )
    text = "branch: main\narchetypes:\n" + "".join(
        f"  {name}: {runner}\n" for name in ("coder", "researcher", "writer", "ops", "reviewer")
    )
    if escalate is not None:
        code = f'import sys; open("{escalate}", "w").write(sys.argv[1])'
        text += f"on_escalation: [{sys.executable}, -c, '{code}']\n"
    (board_path / "mc.yaml").write_text(text)
    git(board_path, "commit", "-q", "-S", "-am", f"fake agent: {mode}")


class Services:
    def __init__(self, board_path: Path, url: str, **worker: Any) -> None:
        self.daemon = Daemon(board_path, url, poll=0.3, dispatch=dispatch.step)
        self.worker = Worker(board_path, url, poll=0.3, beat_every=0.2, grace=0.5, backoff=0.2,
                             **worker)  # fmt: skip
        self.threads = [
            threading.Thread(target=self.daemon.run),
            threading.Thread(target=self.worker.run),
        ]
        for t in self.threads:
            t.start()

    def close(self) -> None:
        self.worker.request_stop()
        self.daemon.stop.set()
        self.daemon.wake.set()
        for t in self.threads:
            t.join(30)


@pytest.fixture
def services(board_path: Path, database_url: str) -> Iterator[Any]:
    made: list[Services] = []

    def start(**worker: Any) -> Services:
        s = Services(board_path, database_url, **worker)
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()


def _wait(
    url: str, query: str, params: tuple[Any, ...] = (), seconds: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with db.connect(url) as conn:
            row = conn.execute(query, params).fetchone()
        if row:
            return row
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {query} {params}")


def _queue(board_path: Path, title: str = "Task") -> str:
    made = run_mc(board_path, "project", "new", title, "-a", "coder", "--queue")
    assert made.returncode == 0, made.stderr
    return made.stdout.split()[1]


def test_failures_are_retried_then_the_job_dies_and_escalates(
    board_path: Path, database_url: str, services: Any, tmp_path: Path
) -> None:
    escalated = tmp_path / "escalated.json"
    _configure(board_path, "fail", attempts=2, escalate=escalated)
    services()
    pid = _queue(board_path)
    row = _wait(database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'", (pid,))
    assert row["attempts"] == 2 and "exited with status 3" in row["last_error"]
    project = _wait(database_url, "SELECT * FROM projects WHERE id = %s AND needs_human", (pid,))
    assert project["lane"] == "in-progress"
    assert "failed 2 times" in project["data"]["needs_human"]["reason"]
    wait_for_file(escalated, 10)
    assert f'"project": "{pid}"' in escalated.read_text()
    # The person fixes the cause and retries the project: the dead job runs again.
    _configure(board_path, "ok")
    retried = run_mc(board_path, "project", "retry", pid, env={"MC_DATABASE_URL": database_url})
    assert retried.returncode == 0, retried.stderr
    assert f"{row['id']}  work" in retried.stdout
    _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND ready_for_human", (pid,))
    again = run_mc(board_path, "project", "retry", pid, env={"MC_DATABASE_URL": database_url})
    assert again.returncode == 1
    assert "is succeeded; nothing to retry" in again.stderr or "not in-progress" in again.stderr


def test_a_timeout_is_a_failure(board_path: Path, database_url: str, services: Any) -> None:
    _configure(board_path, "hang", timeout=1, attempts=1)
    services()
    pid = _queue(board_path)
    row = _wait(database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'", (pid,))
    assert row["last_error"] == "timed out after 1 s"


def test_exit_75_requeues_without_spending_an_attempt(
    board_path: Path, database_url: str, services: Any
) -> None:
    _configure(board_path, "tempfail", attempts=1)
    services()
    pid = _queue(board_path)
    row = _wait(database_url, "SELECT * FROM jobs WHERE project_id = %s AND tempfails >= 2", (pid,))
    assert row["attempts"] == 0 and row["state"] in ("queued", "running")


def test_temporary_failures_that_never_clear_end_in_a_dead_job_that_waits_for_you(
    board_path: Path, database_url: str, services: Any
) -> None:
    """Issue 12.10: exit 75 for ever no longer holds a WIP slot for ever."""
    runner = f"{{runner: command, command: [{sys.executable}, {FAKE}, tempfail], max_temporary: 3}}"
    _write_config(
        board_path,
        "branch: main\narchetypes:\n"
        + "".join(f"  {n}: {runner}\n" for n in ("coder", "researcher", "writer", "reviewer")),
    )
    services()
    pid = _queue(board_path)
    row = _wait(database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'", (pid,))
    assert (row["attempts"], row["tempfails"]) == (0, 3)
    deadline = time.monotonic() + 20
    needs = None
    while needs is None and time.monotonic() < deadline:
        shown = run_mc(board_path, "project", "show", pid, "--json")
        needs = json.loads(shown.stdout).get("needs_human")
        time.sleep(0.2)
    assert needs and "failed temporarily 3 times in a row" in needs["reason"]


def test_cancelling_the_project_kills_the_agent_and_the_job_is_not_retried(
    board_path: Path,
    database_url: str,
    services: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mark = uuid.uuid4().hex
    monkeypatch.setenv("FAKE_MARK", mark)  # not an MC_ variable: the agent sees it
    _configure(board_path, "children")
    services()
    pid = _queue(board_path)
    _wait(database_url, "SELECT 1 FROM jobs WHERE project_id = %s AND state = 'running'", (pid,))
    agents = [p for p in _agents(mark, at_least=3) if _is_agent(p)]
    assert run_mc(board_path, "project", "cancel", pid).returncode == 0
    row = _wait(
        database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'cancelled'", (pid,)
    )
    assert row["attempts"] == 0
    assert _gone(agents)
    time.sleep(1)
    with db.connect(database_url) as conn:
        assert [j.state for j in jobs.listing(conn, project=pid)] == ["cancelled"]


def _gone(pids: list[int], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def _alive(pid: int) -> bool:
    return alive(pid)


def _agents(mark: str, at_least: int = 1, seconds: float = 20) -> list[int]:
    """The agent's processes (seen from here: the sandbox has its own PIDs)."""
    deadline = time.monotonic() + seconds
    found = marked_processes("FAKE_MARK", mark)
    while len([p for p in found if _is_agent(p)]) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
        found = marked_processes("FAKE_MARK", mark)
    assert len([p for p in found if _is_agent(p)]) >= at_least, found
    return found


def _is_agent(pid: int) -> bool:
    """The fake agent or its children (not the worker, guard or bwrap that carry the mark)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"fake_agent.py" in cmdline or b"time.sleep(3600)" in cmdline


WORKER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from mc.pipeline.worker import Worker
    Worker(Path({board!r}), {url!r}, poll=0.3, beat_every=0.3, lease=4, grace=0.5).run()
    """
)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP])
def test_a_worker_killed_or_paused_mid_run_loses_nothing(
    board_path: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    how: int,
) -> None:  # fmt: skip
    """Its agents die with it, the job runs again after the lease, never twice at once."""
    mark = uuid.uuid4().hex
    monkeypatch.setenv("FAKE_MARK", mark)
    _configure(board_path, "hang", attempts=3)
    daemon = Daemon(board_path, database_url, poll=0.3, dispatch=dispatch.step)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    script = WORKER.format(
        root=str(Path(__file__).parents[2]), board=str(board_path), url=database_url
    )
    first = subprocess.Popen([sys.executable, "-c", script])
    second: subprocess.Popen[bytes] | None = None
    try:
        pid = _queue(board_path)
        _wait(
            database_url, "SELECT 1 FROM jobs WHERE project_id = %s AND state = 'running'", (pid,)
        )
        agents = [p for p in _agents(mark) if _is_agent(p)]
        killed_at = time.monotonic()
        os.kill(first.pid, how)
        assert _gone(agents, seconds=15), "the agent outlived its worker"
        second = subprocess.Popen([sys.executable, "-c", script])
        row = _wait(
            database_url,
            "SELECT * FROM jobs WHERE project_id = %s AND state = 'running' AND lease_token = 2",
            (pid,),
            seconds=30,
        )
        assert row["attempts"] == 1  # the lost run counted
        assert time.monotonic() - killed_at < 30
        # Never twice at once: the first agents were gone before the second run started.
        new_agents: list[int] = []
        deadline = time.monotonic() + 20
        while not new_agents and time.monotonic() < deadline:
            new_agents = [p for p in _agents(mark) if _is_agent(p) and p not in agents]
            time.sleep(0.05)
        assert new_agents and all(_alive(p) for p in new_agents)
        assert not any(_alive(p) for p in agents)
    finally:
        for proc in (first, second):
            if proc is not None:
                with contextlib_suppress():
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        daemon.stop.set()
        daemon.wake.set()
        thread.join(30)


def contextlib_suppress() -> Any:
    import contextlib

    return contextlib.suppress(ProcessLookupError)


def test_a_sigtermed_worker_hands_its_job_back_in_time(
    board_path: Path, database_url: str, services: Any
) -> None:
    _configure(board_path, "hang")
    s = services(shutdown_wait=1.0)
    pid = _queue(board_path)
    _wait(database_url, "SELECT 1 FROM jobs WHERE project_id = %s AND state = 'running'", (pid,))
    asked = time.monotonic()
    s.worker.request_stop()
    s.threads[1].join(30)
    assert not s.threads[1].is_alive() and time.monotonic() - asked < 30
    with db.connect(database_url) as conn:
        job = jobs.listing(conn, project=pid)[0]
    assert (job.state, job.attempts) == ("queued", 0)


def _workspace(tmp_path: Path) -> Path:
    repo = tmp_path / "code"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / "README.md").write_text("# code\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "start")
    return repo


def _coder_project(board_path: Path, workspace: Path | str) -> str:
    made = run_mc(board_path, "project", "new", "Fix the bug", "-a", "coder")
    pid = made.stdout.split()[1]
    assert (
        run_mc(board_path, "project", "edit", pid, "--set", f"workspace={workspace}").returncode
        == 0
    )
    assert run_mc(board_path, "project", "queue", pid).returncode == 0
    return pid


def test_coder_work_lands_on_a_branch_of_the_workspace(
    board_path: Path, database_url: str, services: Any, tmp_path: Path
) -> None:
    workspace = _workspace(tmp_path)
    _configure(board_path, "edit")
    services()
    pid = _coder_project(board_path, workspace)
    _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND ready_for_human", (pid,))
    patch = git(board_path, "show", f"main:artifacts/{pid}/changes.patch").stdout
    assert "+fixed by the fake agent" in patch and "FIXED.txt" in patch
    branch, sha = git(board_path, "show", f"main:artifacts/{pid}/branch.txt").stdout.split()
    assert branch == f"mc/{pid}"
    assert git(workspace, "rev-parse", branch).stdout.strip() == sha
    assert git(workspace, "show", f"{branch}:FIXED.txt").stdout == "fixed by the fake agent\n"
    # The run block names the head the review covers and the branch to merge into.
    with Board.open(board_path) as board:
        run = board.get(pid).project.run  # type: ignore[union-attr]
    assert (run.head, run.base) == (sha, "main")
    assert "FIXED.txt" in git(board_path, "show", f"main:artifacts/{pid}/diffstat.txt").stdout
    # The worktree is gone; the person's own checkout of the workspace was not touched.
    assert len(git(workspace, "worktree", "list").stdout.splitlines()) == 1
    assert not (workspace / "FIXED.txt").exists()
    assert git(workspace, "log", "-1", "--format=%G?", branch).stdout.strip() == "N"


def test_a_worker_clones_a_workspace_by_url_and_pushes_the_branch_back(
    board_path: Path,
    database_url: str,
    services: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The workspace is not on this machine: a file:// URL of a bare repository. The
    run happens in the worker's cache, the branch goes back to the URL, and mc approve
    (another process, the person's machine) fetches, merges and pushes the base."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bare = tmp_path / "shared.git"
    git(tmp_path, "clone", "-q", "--bare", str(_workspace(tmp_path)), str(bare))
    before = git(bare, "rev-parse", "main").stdout.strip()
    _configure(board_path, "edit")
    services()
    pid = _coder_project(board_path, f"file://{bare}")
    _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND ready_for_human", (pid,))
    with Board.open(board_path) as board:
        run = board.get(pid).project.run  # type: ignore[union-attr]
    assert run.head and run.base == "main"
    assert git(bare, "rev-parse", f"mc/{pid}").stdout.strip() == run.head
    assert git(bare, "rev-parse", "main").stdout.strip() == before
    mirrors = list((tmp_path / "cache" / "mc" / "workspaces").iterdir())
    assert len(mirrors) == 1  # the run's worktree was made from this machine's mirror
    assert len(git(mirrors[0], "worktree", "list").stdout.splitlines()) == 1  # and removed
    approved = run_mc(board_path, "approve", pid)
    assert approved.returncode == 0, approved.stderr
    assert git(bare, "rev-parse", "main").stdout.strip() == run.head
    assert git(bare, "show", "main:FIXED.txt").stdout == "fixed by the fake agent\n"


def test_coder_work_that_changes_nothing_fails(
    board_path: Path, database_url: str, services: Any, tmp_path: Path
) -> None:
    workspace = _workspace(tmp_path)
    _configure(board_path, "ok", attempts=1)
    services()
    pid = _coder_project(board_path, workspace)
    row = _wait(database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'", (pid,))
    assert "changed nothing" in row["last_error"]


def _write_config(board_path: Path, text: str) -> None:
    (board_path / "mc.yaml").write_text(text)
    git(board_path, "commit", "-q", "-S", "-am", "test settings")


def test_output_streams_into_the_log_as_it_comes(
    board_path: Path, database_url: str, services: Any
) -> None:
    _configure(board_path, "drip")
    services()
    pid = _queue(board_path)
    rows: list[Any] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with db.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT l.text, l.at FROM job_log l JOIN jobs j ON j.id = l.job_id "
                "WHERE j.project_id = %s AND j.kind = 'work' AND l.text LIKE 'line %%' "
                "ORDER BY l.id",
                (pid,),
            ).fetchall()
        if len(rows) == 3:
            break
        time.sleep(0.1)
    assert [r["text"] for r in rows] == ["line 0\n", "line 1\n", "line 2\n"]
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in itertools.pairwise(rows)]
    assert all(g > 0.25 for g in gaps), gaps  # written as printed, not in one batch at the end


def test_the_projects_model_wins_and_runner_env_applies(
    board_path: Path, database_url: str, services: Any
) -> None:
    runner = "{runner: mine, model: arche-model, timeout: 60, max_attempts: 1}"
    _write_config(
        board_path,
        "branch: main\narchetypes:\n"
        + "".join(
            f"  {n}: {runner}\n" for n in ("coder", "researcher", "writer", "ops", "reviewer")
        )
        + f"runners:\n  mine: {{preset: command, command: [{sys.executable}, {FAKE}, model], "
        "env: {FAKE_SETTING: from-mc-yaml}}\n",
    )
    services()
    made = run_mc(board_path, "project", "new", "Model", "-a", "writer")
    pid = made.stdout.split()[1]
    assert run_mc(board_path, "project", "edit", pid, "--set", "model=proj-model").returncode == 0
    assert run_mc(board_path, "project", "queue", pid).returncode == 0
    _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND lane = 'review'", (pid,))
    report = git(board_path, "show", f"main:artifacts/{pid}/report.md").stdout
    assert report == "proj-model from-mc-yaml\n"


def test_review_rounds_spent_escalate_and_run_the_command(
    board_path: Path, database_url: str, services: Any, tmp_path: Path
) -> None:
    escalated = tmp_path / "escalated.json"
    _configure(board_path, "review-fail", escalate=escalated)
    text = (board_path / "mc.yaml").read_text() + "review: {rounds: 2}\n"
    _write_config(board_path, text)
    services()
    pid = _queue(board_path)
    row = _wait(database_url, "SELECT * FROM projects WHERE id = %s AND needs_human", (pid,))
    assert row["lane"] == "review" and "failed 2 times" in row["data"]["needs_human"]["reason"]
    with db.connect(database_url) as conn:
        kinds = [r["kind"] for r in conn.execute(
            "SELECT kind FROM jobs WHERE project_id = %s ORDER BY id", (pid,))]  # fmt: skip
    assert kinds == ["work", "review", "work", "review"]
    wait_for_file(escalated, 10)
    assert "not good enough" in escalated.read_text()


def test_a_dead_job_leaves_its_outcome_in_the_file(
    board_path: Path, database_url: str, services: Any
) -> None:
    _configure(board_path, "fail", attempts=1)
    services()
    pid = _queue(board_path)
    row = _wait(database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'", (pid,))
    _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND needs_human", (pid,))
    text = (board_path / "in-progress" / f"{pid}.yaml").read_text()
    assert "outcome: dead" in text and "exited with status 3" in text
    body = git(board_path, "log", "-1", "--format=%B").stdout
    assert "Mc-Action: escalate" in body and f"Mc-Job: {row['id']}" in body


def test_a_handoff_job_is_announced_and_its_files_land_with_the_report(
    board_path: Path, database_url: str, services: Any, tmp_path: Path
) -> None:
    told = tmp_path / "told.txt"
    announce = (
        f"import os, sys; open('{told}.token', 'w').write(os.environ['MC_JOB_TOKEN']); "
        f"open('{told}.tmp', 'w').write(' '.join(sys.argv[1:])); "
        f"os.replace('{told}.tmp', '{told}')"
    )
    work = (
        f"{{runner: handoff, command: [{sys.executable}, -c, \"{announce}\", '{{job_id}}', "
        f"'{{output_dir}}'], timeout: 60, max_attempts: 1}}"
    )
    review = f"{{runner: command, command: [{sys.executable}, {FAKE}, ok], timeout: 60}}"
    _write_config(
        board_path,
        "branch: main\narchetypes:\n"
        + "".join(f"  {n}: {work}\n" for n in ("coder", "researcher", "writer", "ops"))
        + f"  reviewer: {review}\n",
    )
    services()
    pid = _queue(board_path)
    wait_for_file(told, 30)
    job_id, output_dir = told.read_text().split()
    (Path(output_dir) / "notes.md").write_text("# Done by hand\n")
    env = {"MC_DATABASE_URL": database_url}
    log = run_mc(board_path, "job", "logs", job_id, env=env).stdout
    assert f"mc job complete {job_id}" in log and output_dir in log
    # Its command got a token for this job alone (never in the log, which viewers read).
    from mc.mirror.auth import digest

    secret = Path(f"{told}.token").read_text()
    assert secret and secret not in log
    with db.connect(database_url) as conn:
        row = conn.execute("SELECT role, scope FROM tokens WHERE digest = %s", (digest(secret),))
        assert row.fetchone() == {"role": "agent", "scope": f"job:{job_id}"}
    done = run_mc(board_path, "job", "complete", job_id, "--notes", "All set.", env=env)
    assert done.returncode == 0, done.stderr
    _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND ready_for_human", (pid,))
    assert git(board_path, "show", f"main:artifacts/{pid}/notes.md").stdout == "# Done by hand\n"


def test_the_default_ops_handoff_holds_at_most_one_worker(
    board_path: Path, database_url: str
) -> None:
    """The skeleton's ops archetype hands off and waits; concurrency 1 keeps a second
    ops project in up-next, so it never holds the other workers."""
    daemon = Daemon(board_path, database_url, poll=0.3, dispatch=dispatch.step)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        first = run_mc(board_path, "project", "new", "Rotate keys", "-a", "ops", "--queue")
        second = run_mc(board_path, "project", "new", "Renew certs", "-a", "ops", "--queue")
        assert first.returncode == 0 and second.returncode == 0
        _wait(database_url, "SELECT 1 FROM jobs WHERE archetype = 'ops'")
        time.sleep(1.5)  # several dispatch passes
        with db.connect(database_url) as conn:
            active = conn.execute(
                "SELECT count(*) AS n FROM jobs WHERE archetype = 'ops'"
            ).fetchone()
            waiting = conn.execute(
                "SELECT count(*) AS n FROM projects WHERE lane = 'up-next'"
            ).fetchone()
        assert active is not None and active["n"] == 1
        assert waiting is not None and waiting["n"] == 1
    finally:
        daemon.stop.set()
        daemon.wake.set()
        thread.join(30)


@pytest.mark.parametrize("output", [True, False])
def test_exit_0_with_nothing_produced_is_not_work_done(
    board_path: Path, database_url: str, services: Any, output: bool
) -> None:
    """Issue 12.9: a bare `exit 0` that leaves no file is a failure, unless the archetype
    says its work shows elsewhere (output: false)."""
    quiet = f"{{runner: command, command: [{sys.executable}, -c, pass], max_attempts: 1"
    review = f"{{runner: command, command: [{sys.executable}, {FAKE}, ok]}}"
    _write_config(
        board_path,
        "branch: main\narchetypes:\n"
        f"  coder: {quiet}, output: {'true' if output else 'false'}}}\n"
        f"  reviewer: {review}\n",
    )
    services()
    pid = _queue(board_path)
    if output:
        row = _wait(database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'",
                    (pid,))  # fmt: skip
        assert row["last_error"] == "the agent left nothing in its output folder"
    else:
        _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND lane = 'review'", (pid,))


_FLOOD = (
    "import os, sys\n"
    "out = os.environ['MC_OUTPUT_DIR']\n"
    "what = sys.argv[1]\n"
    "if what == 'files':\n"
    "    for i in range(50):\n"
    "        open(os.path.join(out, f'f{i}.txt'), 'w').write('x')\n"
    "elif what == 'big':\n"
    "    open(os.path.join(out, 'big.bin'), 'wb').write(b'x' * (3 * 2**20))\n"
    "elif what == 'total':\n"
    "    for i in range(3):\n"
    "        open(os.path.join(out, f'part{i}.bin'), 'wb').write(b'x' * (2**20 - 10))\n"
    "else:\n"
    "    for i in range(60000):\n"
    "        sys.stdout.write(f'line {i} ' + 'y' * 40 + '\\n')\n"
    "    sys.stdout.write('the very last line\\n')\n"
    "    open(os.path.join(out, 'report.md'), 'w').write('# done\\n')\n"
)


@pytest.mark.parametrize(
    ("what", "said"),
    [
        ("files", "more than 5 artifacts (artifacts.max_files in mc.yaml)"),
        ("big", "artifact big.bin is 3.0 MB, over the cap of 1.0 MB (artifacts.max_file_mb"),
        ("total", "the artifacts are over 2.0 MB in all (artifacts.max_total_mb in mc.yaml)"),
    ],
)
def test_artifacts_over_the_caps_fail_the_run_and_commit_nothing(
    board_path: Path, database_url: str, services: Any, tmp_path: Path, what: str, said: str
) -> None:
    """Issue 12.8: a run that leaves too many or too big files fails in words naming the
    setting; nothing of it is committed."""
    script = tmp_path / "flood.py"
    script.write_text(_FLOOD)
    agent = f"{{runner: command, command: [{sys.executable}, {script}, {what}], max_attempts: 1}}"
    _write_config(
        board_path,
        f"branch: main\narchetypes:\n  coder: {agent}\n  reviewer: {agent}\n"
        "artifacts: {max_files: 5, max_file_mb: 1, max_total_mb: 2}\n",
    )
    size = int(git(board_path, "count-objects", "-v").stdout.split("size-pack: ")[1].split()[0])
    services()
    pid = _queue(board_path)
    row = _wait(database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'",
                (pid,))  # fmt: skip
    assert row["last_error"] == said or row["last_error"].startswith(said), row["last_error"]
    tree = git(board_path, "ls-tree", "-r", "--name-only", "main").stdout.split()
    assert not [f for f in tree if f.startswith(f"artifacts/{pid}/")]
    git(board_path, "gc", "-q")
    after = int(git(board_path, "count-objects", "-v").stdout.split("size-pack: ")[1].split()[0])
    assert after - size < 200, (size, after)  # KiB: no megabytes went into the repository


def test_a_flood_of_output_keeps_its_head_and_tail_with_a_marker(
    board_path: Path,
    database_url: str,
    services: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 12.8: 2.7 MB of stdout is not 60,000 rows and NOTIFYs: the log keeps its
    start, says where it is cut and how much was left out, and keeps its end."""
    from mc.pipeline import logpump as pipeline

    monkeypatch.setattr(pipeline, "LOG_HEAD_CHARS", 50_000)
    monkeypatch.setattr(pipeline, "LOG_TAIL_CHARS", 50_000)
    script = tmp_path / "flood.py"
    script.write_text(_FLOOD)
    agent = f"{{runner: command, command: [{sys.executable}, {script}, log], max_attempts: 1}}"
    review = f"{{runner: command, command: [{sys.executable}, {FAKE}, ok]}}"
    _write_config(
        board_path, f"branch: main\narchetypes:\n  coder: {agent}\n  reviewer: {review}\n"
    )
    services()
    pid = _queue(board_path)
    _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND lane = 'review'", (pid,))
    with db.connect(database_url) as conn:
        job = next(j for j in jobs.listing(conn, project=pid) if j.kind == "work")
        rows = jobs.read_log(conn, job.id, limit=100_000)
    text = "".join(r["text"] for r in rows)
    assert text.startswith("line 0 ")
    assert "[mc] the log is cut here: the rest is kept from its end\n" in text
    assert "characters of output were not kept" in text
    assert text.rstrip().endswith("the very last line")
    assert len(text) < 120_000
    assert len(rows) < 5_000


def test_job_folders_of_earlier_runs_and_old_ones_are_removed(tmp_path: Path) -> None:
    """Issue 12.8: a failed run's folder stays for a look until its job runs again or a
    week has passed."""
    from mc.pipeline.worker import JOB_FOLDER_DAYS, sweep_job_folders

    root = tmp_path / "jobs"
    for name in ("job-1-1", "job-12-1", "job-3-1", "job-4-2"):
        (root / name / "out").mkdir(parents=True)
    week = time.time() - JOB_FOLDER_DAYS * 86400 - 60
    os.utime(root / "job-3-1", (week, week))
    sweep_job_folders(root, rerun=1)
    assert sorted(p.name for p in root.iterdir()) == ["job-12-1", "job-4-2"]
