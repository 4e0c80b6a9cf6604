"""Stopping `mc up` the ways a person does — Ctrl-C (SIGINT to the foreground group),
closing the terminal (SIGHUP), SIGTERM to the whole group — with agents running: their
jobs go back to the queue with no attempt spent, every process of them ends, the
embedded PostgreSQL stops, and the next `mc up` runs them again at once, one run each."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ..conftest import alive, marked_processes, mc_up, run_mc
from .test_worker import _configure, _queue


def _up(board_path: Path, mark: str) -> subprocess.Popen[str]:
    return mc_up(board_path, mark)


def _agents(mark: str) -> list[int]:
    found = []
    for pid in marked_processes("FAKE_MARK", mark):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # The agent itself (not the bwrap and setpriv around it, which name it too).
        if len(argv) > 1 and argv[1].endswith(b"fake_agent.py"):
            found.append(pid)
    return found


def _wait_agents(mark: str, n: int, seconds: float = 40) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = _agents(mark)
        if len(found) >= n:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{n} agents did not start")


def _jobs(board_path: Path) -> list[dict[str, object]]:
    listed = run_mc(board_path, "job", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout))


def _postmaster(board_path: Path) -> int | None:
    try:
        return int((board_path / ".mc" / "pg" / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGHUP, signal.SIGTERM])
def test_stopping_mc_up_hands_running_jobs_back_and_leaves_nothing(
    board_path: Path, how: int
) -> None:
    _configure(board_path, "hang", attempts=3)
    mark = uuid.uuid4().hex
    up = _up(board_path, mark)
    try:
        first, second = _queue(board_path, "One"), _queue(board_path, "Two")
        agents = _wait_agents(mark, 2)
        postmaster = _postmaster(board_path)
        assert postmaster is not None and alive(postmaster)
        asked = time.monotonic()
        os.killpg(up.pid, how)  # the whole group, as the terminal does
        out, _ = up.communicate(timeout=30)
        took = time.monotonic() - asked
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    assert up.returncode == 0, out
    assert took < 10, f"stopping took {took:.1f} s:\n{out}"
    assert not any(alive(p) for p in agents), "an agent outlived mc up"
    assert _agents(mark) == []
    assert not alive(postmaster), "the embedded PostgreSQL is still running"
    assert "embedded PostgreSQL stopped" in out

    # The jobs went back with nothing spent; the next mc up runs each once, at once.
    again = _up(board_path, mark)
    try:
        started = time.monotonic()
        _wait_agents(mark, 2, seconds=30)
        restarted = time.monotonic() - started
        jobs = _jobs(board_path)
        work = [j for j in jobs if j["kind"] == "work"]
        assert sorted(str(j["project_id"]) for j in work) == sorted([first, second])  # no new jobs
        assert all(j["state"] == "running" for j in work), work
        assert all(j["attempts"] == 0 for j in work), work  # the handed-back run cost nothing
        time.sleep(1)
        assert len(_agents(mark)) == 2  # one run per project, never two
    finally:
        os.killpg(again.pid, signal.SIGINT)
        again.communicate(timeout=30)
    assert restarted < 20


def test_a_second_mc_up_on_one_board_refuses_and_the_first_keeps_its_database(
    board_path: Path,
) -> None:
    """Issue 12.13: the second says where the board is served, in one line, and starts
    nothing; the first goes on serving."""
    import httpx

    mark = uuid.uuid4().hex
    first = _up(board_path, mark)
    try:
        assert first.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = first.stdout.readline()
            if "the board is at " in line:
                url = line.split("the board is at ")[1].strip()
        assert url, "the first mc up did not come up"
        second = run_mc(board_path, "up", "--port", "0")
        assert second.returncode == 1
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
        assert "is already served by mc up (pid" in second.stderr and url in second.stderr
        for other in ("web", "daemon"):
            refused = (
                run_mc(board_path, other, "--port", "0")
                if other == "web"
                else run_mc(board_path, other)
            )
            assert refused.returncode == 1 and "already served" in refused.stderr, refused
        # The first still answers, with its database.
        assert httpx.get(f"{url}api/session").status_code == 401
        assert _postmaster(board_path) is not None and alive(_postmaster(board_path) or 0)
    finally:
        os.killpg(first.pid, signal.SIGINT)
        first.communicate(timeout=30)
    assert first.returncode == 0


def test_a_command_right_after_mc_up_waits_for_its_database(board_path: Path) -> None:
    """Issue 12.14: `mc task add` while mc up is still starting the embedded database."""
    mark = uuid.uuid4().hex
    up = _up(board_path, mark)
    try:
        added = run_mc(board_path, "task", "add", "Buy milk")  # at once, no sleep
        assert added.returncode == 0, added.stderr
        listed = run_mc(board_path, "task", "list", "--json")
        assert [t["title"] for t in json.loads(listed.stdout)] == ["Buy milk"]
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.communicate(timeout=30)
    assert up.returncode == 0
    assert not alive(_postmaster(board_path) or 0)  # mc up's database, stopped by mc up


def test_workers_come_back_after_the_database_is_killed(board_path: Path, tmp_path: Path) -> None:
    """Issue 12.12: kill -9 of the postmaster under mc up. The daemon restarts the
    cluster; the workers reconnect; a run that was going on is recorded once the database
    is back; a project queued afterwards is claimed and runs."""
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import os, time\n"
        "time.sleep(float(os.environ.get('SLOW', '4')))\n"
        "open(os.path.join(os.environ['MC_OUTPUT_DIR'], 'r.md'), 'w').write('done')\n"
        "if os.environ.get('MC_ARCHETYPE') == 'reviewer':\n"
        "    open(os.path.join(os.environ['MC_OUTPUT_DIR'], 'verdict.json'), 'w')"
        '.write(\'{"verdict": "pass", "notes": "ok"}\')\n'
    )
    runner = f"{{runner: command, command: [{sys.executable}, {slow}], max_attempts: 2}}"
    (board_path / "mc.yaml").write_text(
        "branch: main\narchetypes:\n"
        + "".join(f"  {a}: {runner}\n" for a in ("coder", "writer", "reviewer"))
    )
    subprocess.run(["git", "commit", "-q", "-S", "-am", "slow agents"], cwd=board_path, check=True)
    mark = uuid.uuid4().hex
    up = _up(board_path, mark)
    try:
        first = _queue(board_path, "Before")
        deadline = time.monotonic() + 40
        while not marked_processes("FAKE_MARK", mark) or not _running(board_path):
            assert time.monotonic() < deadline, "the first job did not start"
            time.sleep(0.2)
        postmaster = _postmaster(board_path)
        assert postmaster is not None
        killed = time.monotonic()
        os.kill(postmaster, signal.SIGKILL)  # the whole cluster goes with it
        second = _queue(board_path, "After")  # git works without the database
        ready = _wait_ready(board_path, [first, second], seconds=90)
        resumed = time.monotonic() - killed
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.communicate(timeout=60)
    assert ready == {first, second}
    jobs = {(j["project_id"], j["kind"]): j for j in _jobs(board_path)}
    assert jobs[(first, "work")]["attempts"] <= 2 and jobs[(second, "work")]["state"] == "succeeded"
    print(f"postmaster SIGKILL -> both projects ready: {resumed:.1f} s")


def _running(board_path: Path) -> bool:
    listed = run_mc(board_path, "job", "list", "--json", "--state", "running")
    return listed.returncode == 0 and bool(json.loads(listed.stdout or "[]"))


def _wait_ready(board_path: Path, pids: list[str], seconds: float) -> set[str]:
    deadline = time.monotonic() + seconds
    ready: set[str] = set()
    while time.monotonic() < deadline and ready != set(pids):
        shown = run_mc(board_path, "project", "list", "--lane", "review", "--json")
        if shown.returncode == 0:
            ready = {p["id"] for p in json.loads(shown.stdout) if p.get("ready_for_human")}
        time.sleep(0.5)
    return ready


def test_a_burst_of_signals_stops_a_worker_at_once(board_path: Path, database_url: str) -> None:
    """The terminal's SIGINT to the group and mc up's SIGTERM reach a worker together. A
    handler that set an Event could be interrupted inside Event.set by the next signal,
    whose handler then waited for the event's lock for ever (seen in CI: a worker hung
    until mc up killed it 15 s later)."""
    for attempt in range(10):
        worker = subprocess.Popen(
            [sys.executable, "-m", "mc", "--board", str(board_path), "worker", "--poll", "0.5"],
            env={**os.environ, "MC_DATABASE_URL": database_url},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert worker.stdout is not None
            assert "claiming jobs" in worker.stdout.readline()
            until = time.monotonic() + 2
            while worker.poll() is None and time.monotonic() < until:
                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker.pid, signum)
            out, _ = worker.communicate(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
                raise AssertionError(f"attempt {attempt}: the worker did not stop")
        assert worker.returncode == 0, out
