"""Budgets: once today's agent spend reaches the board's or an archetype's daily budget,
the dispatcher holds new work — with a reason `mc status` shows and one activity event
— and running work is never touched."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from mc.mirror import db
from mc.mirror.daemon import Daemon
from mc.pipeline import dispatch

from ..conftest import git, run_mc


def _config(board_path: Path, budgets: str) -> None:
    runner = "{runner: demo, timeout: 60, max_attempts: 1%s}"
    archetypes = {"coder": ", budget: {daily_usd: 2.5}", "writer": "", "reviewer": ""}
    (board_path / "mc.yaml").write_text(
        "branch: main\narchetypes:\n"
        + "".join(f"  {a}: {runner % extra}\n" for a, extra in archetypes.items())
        + budgets
    )
    git(board_path, "commit", "-q", "-S", "-am", "budgets")


def _spent(url: str, archetype: str, usd: float) -> None:
    """A finished job that cost ``usd`` today, as a worker records it."""
    with db.connect(url) as conn:
        conn.execute(
            "INSERT INTO jobs (project_id, kind, state, archetype, attempts, cost_usd, cost_at, "
            "finished_at) VALUES (%s, 'work', 'succeeded', %s, 1, %s, now(), now())",
            (f"old-{archetype}-{usd}", archetype, usd),
        )
        conn.commit()


def _dispatched(url: str, pid: str) -> bool:
    with db.connect(url) as conn:
        return (
            conn.execute("SELECT 1 FROM jobs WHERE project_id = %s", (pid,)).fetchone() is not None
        )


def _run_daemon(board_path: Path, url: str) -> tuple[Daemon, threading.Thread]:
    daemon = Daemon(board_path, url, poll=0.3, dispatch=dispatch.step)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    return daemon, thread


def test_a_spent_budget_holds_new_work_and_says_why(board_path: Path, database_url: str) -> None:
    _config(board_path, "budget: {daily_usd: 10}\n")
    env = {"MC_DATABASE_URL": database_url}
    _spent(database_url, "coder", 2.6)  # the coder budget (2.50) is spent; the board's is not
    daemon, thread = _run_daemon(board_path, database_url)
    try:
        coder = run_mc(board_path, "project", "new", "Code", "-a", "coder", "--queue", env=env)
        writer = run_mc(board_path, "project", "new", "Write", "-a", "writer", "--queue", env=env)
        assert coder.returncode == 0 and writer.returncode == 0
        deadline = time.monotonic() + 20
        while not _dispatched(database_url, "write") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _dispatched(database_url, "write")  # other archetypes go on
        time.sleep(1.5)  # several dispatch rounds
        assert not _dispatched(database_url, "code")
        status = json.loads(run_mc(board_path, "status", "--json", env=env).stdout)
        reason = (
            "the coder daily budget of $2.50 is spent ($2.60 today): new coder work waits "
            "until tomorrow"
        )
        assert status["held"] == [reason]
        assert f"held:     {reason}" in run_mc(board_path, "status", env=env).stdout
        with db.connect(database_url) as conn:
            events = conn.execute(
                "SELECT project_id, summary FROM activity WHERE kind = 'budget'"
            ).fetchall()
        assert events == [{"project_id": "code", "summary": f"Holding new work: {reason}"}]

        # The board's budget: everything waits.
        _spent(database_url, "writer", 8)
        tester = run_mc(board_path, "project", "new", "More", "-a", "writer", "--queue", env=env)
        assert tester.returncode == 0
        time.sleep(1.5)
        assert not _dispatched(database_url, "more")
        status = json.loads(run_mc(board_path, "status", "--json", env=env).stdout)
        assert any("the board's daily budget of $10.00 is spent" in r for r in status["held"])
    finally:
        daemon.stop.set()
        daemon.wake.set()
        thread.join(30)


def test_a_budget_is_checked_as_settings_are() -> None:
    import pytest

    from mc.board import config
    from mc.errors import ConfigError

    with pytest.raises(ConfigError, match=r"budget\.daily_usd: expected an amount in US dollars"):
        config.load("branch: main\narchetypes:\n  coder: {runner: demo, budget: {daily_usd: -1}}\n")
    loaded = config.load("budget: {daily_usd: 3}\narchetypes:\n  coder: {runner: demo}\n")
    assert loaded.daily_usd == 3.0 and loaded.archetypes["coder"].daily_usd is None
