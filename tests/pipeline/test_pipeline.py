"""The whole loop, for real: queue -> dispatch -> agent -> review -> ready -> signed approve."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mc.mirror import db
from mc.mirror.daemon import Daemon
from mc.pipeline import dispatch, jobs
from mc.pipeline.worker import Worker

from ..conftest import git, run_mc


def _use_runner(board_path: Path, runner_lines: str, rounds: int = 2) -> None:
    """Point every archetype at a runner (a signed mc.yaml commit, as an approver must)."""
    (board_path / "mc.yaml").write_text(
        "branch: main\narchetypes:\n"
        + "".join(
            f"  {name}: {{{runner_lines}, timeout: 60, max_attempts: 2}}\n"
            for name in ("coder", "researcher", "writer", "ops", "reviewer")
        )
        + f"lanes:\n  in-progress: {{wip_limit: 3}}\nreview: {{rounds: {rounds}}}\n"
    )
    git(board_path, "commit", "-q", "-S", "-am", "use a test runner")


def _wait_for(url: str, query: str, params: tuple[Any, ...], seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with db.connect(url) as conn:
            row = conn.execute(query, params).fetchone()
        if row:
            return row
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {query} {params}")


def test_queue_to_signed_approval_with_the_demo_runner(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_AGENT_SECONDS", "0.3")
    _use_runner(board_path, "runner: demo")
    daemon = Daemon(board_path, database_url, poll=0.5, dispatch=dispatch.step)
    worker = Worker(board_path, database_url, poll=0.5, beat_every=0.3, grace=1.0)
    threads = [threading.Thread(target=daemon.run), threading.Thread(target=worker.run)]
    for t in threads:
        t.start()
    try:
        made = run_mc(board_path, "project", "new", "Write the docs", "-a", "writer", "--queue")
        assert made.returncode == 0, made.stderr
        row = _wait_for(
            database_url,
            "SELECT lane, ready_for_human FROM projects WHERE id = %s AND ready_for_human",
            ("write-the-docs",),
        )
        assert row["lane"] == "review"
    finally:
        worker.request_stop()
        daemon.stop.set()
        daemon.wake.set()
        for t in threads:
            t.join(30)
    # The work: artifacts and the move to review in one commit, the review in another.
    report = git(board_path, "show", "main:artifacts/write-the-docs/report.md").stdout
    assert report.startswith("# Write the docs")
    with db.connect(database_url) as conn:
        done = jobs.listing(conn, project="write-the-docs")
        assert [(j.kind, j.state) for j in reversed(done)] == [
            ("work", "succeeded"),
            ("review", "succeeded"),
        ]
        assert done[0].result == {
            "verdict": "pass",
            "notes": "Demo review: the report answers the brief.",
        }
        logged = "".join(r["text"] for r in jobs.read_log(conn, done[-1].id))
        assert "[demo agent] write-the-docs: working" in logged
    log = git(board_path, "log", "--format=%G? %GS %s", "-4", "main").stdout.splitlines()
    assert log[0].startswith("G mc-service Review write-the-docs: pass")
    assert log[1].startswith("G mc-service Complete write-the-docs")
    assert log[2].startswith("G mc-service Dispatch write-the-docs")
    approved = run_mc(board_path, "approve", "write-the-docs")
    assert approved.returncode == 0, approved.stderr
    assert (board_path / "done" / "write-the-docs.yaml").exists()
    assert run_mc(board_path, "verify").returncode == 0


def test_the_brief_carries_the_criteria_the_review_notes_and_the_persons_feedback(
    board: Any,
) -> None:
    import datetime as dt

    from mc.board import actions
    from mc.pipeline.brief import render_brief

    actions.new_project(
        board,
        "Ship it",
        "writer",
        project_id="ship",
        fields={"description": "Write the release notes.", "acceptance": ["Lists every fix"]},
    )
    actions.queue(board, "ship")
    actions.dispatch(board, "ship", "1")
    actions.complete(board, "ship", "1", {"notes.md": b"draft\n"})
    actions.record_review(board, "ship", "2", "pass", "Fine.", rework=False)
    actions.rework(board, "ship", "Mention the <b>breaking</b> change.")
    now = dt.datetime.now(dt.UTC)
    job = jobs.Job(3, "ship", "work", "running", "writer", 3, 0, now, 0, 3, 0, 1, None, None,
                   False, None, None, None, "", now, None, None)  # fmt: skip
    brief = render_brief(board, "ship", job, [])
    assert "## Brief\n\nWrite the release notes." in brief
    assert "## Acceptance criteria\n\n- Lists every fix" in brief
    assert "## Requested changes (from the person)\n\nMention the <b>breaking</b> change." in brief
    review = render_brief(board, "ship", job._replace(kind="review"), [])
    assert "You are the reviewer" in review and "Requested changes" not in review


def test_a_refused_mc_yaml_never_runs_and_every_surface_says_so(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12.1: an unsigned `git commit --no-verify` pointing the archetypes at
    `sh -c ...` is in git, but the daemon, dispatcher and workers keep running the last
    accepted mc.yaml; `mc status` and the board API say which commit is refused and why;
    a signed change takes over again."""
    import json

    monkeypatch.setenv("DEMO_AGENT_SECONDS", "0.2")
    _use_runner(board_path, "runner: demo")
    evil = "echo pwned > $MC_OUTPUT_DIR/pwned.txt; echo pwned"
    text = (
        (board_path / "mc.yaml")
        .read_text()
        .replace("runner: demo", f"runner: command, command: [sh, -c, '{evil}']")
    )
    (board_path / "mc.yaml").write_text(text)
    git(board_path, "commit", "-q", "--no-verify", "-am", "agents run my command now")
    refused_at = git(board_path, "rev-parse", "HEAD").stdout.strip()
    daemon = Daemon(board_path, database_url, poll=0.5, dispatch=dispatch.step)
    worker = Worker(board_path, database_url, poll=0.5, beat_every=0.3, grace=1.0)
    threads = [threading.Thread(target=daemon.run), threading.Thread(target=worker.run)]
    for t in threads:
        t.start()
    try:
        made = run_mc(board_path, "project", "new", "Write the docs", "-a", "writer", "--queue")
        assert made.returncode == 0, made.stderr
        _wait_for(
            database_url,
            "SELECT 1 FROM projects WHERE id = %s AND ready_for_human",
            ("write-the-docs",),
        )
        mc_env = {"MC_DATABASE_URL": database_url}
        status = json.loads(run_mc(board_path, "status", "--json", env=mc_env).stdout)
        assert status["config_refused"]["commit"] == refused_at, status
        assert "must be signed by an existing approver" in status["config_refused"]["reason"]
        said = run_mc(board_path, "status", env=mc_env).stdout
        assert f"mc.yaml:  refused at {refused_at[:12]}" in said
        # The approver signs a change: it is accepted, and the refusal is over.
        (board_path / "mc.yaml").write_text(text.replace("wip_limit: 3", "wip_limit: 4"))
        (board_path / "mc.yaml").write_text(
            (board_path / "mc.yaml")
            .read_text()
            .replace(f"runner: command, command: [sh, -c, '{evil}']", "runner: demo")
        )
        git(board_path, "commit", "-q", "-S", "-am", "back to the demo, signed")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = json.loads(run_mc(board_path, "status", "--json", env=mc_env).stdout)
            if status["config_refused"] is None:
                break
            time.sleep(0.2)
        assert status["config_refused"] is None
    finally:
        worker.request_stop()
        daemon.stop.set()
        daemon.wake.set()
        for t in threads:
            t.join(30)
    files = git(board_path, "ls-tree", "-r", "--name-only", "main", "artifacts/").stdout.split()
    assert "artifacts/write-the-docs/report.md" in files
    assert not [f for f in files if f.endswith("pwned.txt")], files
    with db.connect(database_url) as conn:
        for job in jobs.listing(conn, project="write-the-docs"):
            logged = "".join(r["text"] for r in jobs.read_log(conn, job.id))
            assert "pwned" not in logged and "[demo agent]" in logged
