"""`mc demo`, the README's run command: a demo board, everything started, projects
flowing to review with the demo agent, the web board answering, approve from it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ..conftest import git, run_mc


def test_mc_demo_runs_the_whole_loop(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mc", "demo", str(folder), "--port", str(port), "--workers", "1"],
        env={**os.environ, "MC_DATABASE_URL": database_url, "DEMO_AGENT_SECONDS": "0.2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        link = None
        deadline = time.monotonic() + 60
        while link is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            found = re.search(r"(http://127\.0\.0\.1:\d+/login\?token=\S+)", line)
            link = found.group(1) if found else None
        assert link is not None, "no login link printed"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            assert c.get(link).status_code == 200
            ready = None
            deadline = time.monotonic() + 90
            while ready is None and time.monotonic() < deadline:
                lanes = {
                    lane["name"]: lane["projects"] for lane in c.get("/api/board").json()["lanes"]
                }
                ready = next((p for p in lanes["review"] if p["ready_for_human"]), None)
                time.sleep(0.3)
            assert ready is not None, "no project reached review"
            # Three seeded projects are queued one after another; two stay for the person.
            deadline = time.monotonic() + 20
            while len(lanes["backlog"]) != 2 and time.monotonic() < deadline:
                time.sleep(0.2)
                lanes = {
                    lane["name"]: lane["projects"] for lane in c.get("/api/board").json()["lanes"]
                }
            assert sorted(p["id"] for p in lanes["backlog"]) == [
                "build-a-cli-tool",
                "plan-the-team-offsite",
            ]
            csrf = c.get("/api/session").json()["csrf"]
            approved = c.post(
                f"/api/projects/{ready['id']}/approve",
                json={},
                headers={"x-csrf-token": csrf, "origin": f"http://127.0.0.1:{port}"},
            )
            assert approved.status_code == 200, approved.text
            assert approved.json()["lane"] == "done"
        assert git(folder, "log", "-1", "--format=%G?").stdout.strip() == "G"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(45)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0


# ---------------------------------------------------------------------- the first ten minutes


def _no_signing_key() -> None:
    subprocess.run(["git", "config", "--global", "--unset", "user.signingkey"], check=True)
    subprocess.run(["git", "config", "--global", "--unset", "gpg.format"], check=True)


def test_the_demo_board_gets_a_demo_only_approver_when_the_person_has_no_key(
    tmp_path: Path,
) -> None:
    from mc.board import actions
    from mc.board.board import Board
    from mc.machine import demo

    from ..conftest import to_review

    _no_signing_key()
    prepared = demo.prepare(tmp_path / "demo")
    assert "made a demo board" in prepared.message
    assert len(prepared.to_queue) == 3  # queued once everything runs, not before
    folder = prepared.path
    with Board.open(folder) as board:
        assert [e.id for e in board.projects(actions.Lane.UP_NEXT)] == []
        to_review(board, "try-me")
    approved = run_mc(folder, "approve", "try-me")
    assert approved.returncode == 0, approved.stderr
    assert git(folder, "log", "-1", "--format=%G? %GS").stdout.split() == ["G", "demo-approver"]
    assert run_mc(folder, "verify").returncode == 0
    # The key is in the demo board's git-ignored state and configured there alone.
    assert (folder / ".mc" / "demo_approver_key").exists()
    assert git(folder, "status", "--porcelain").stdout == ""
    assert (
        git(folder, "config", "--local", "user.signingkey")
        .stdout.strip()
        .endswith(".mc/demo_approver_key.pub")
    )
    assert "signingkey" not in Path(os.environ["GIT_CONFIG_GLOBAL"]).read_text()

    # A second run reuses it; --fresh replaces it (a new history, a new key).
    first = git(folder, "rev-list", "--max-parents=0", "HEAD").stdout
    again = demo.prepare(folder)
    assert again.message.startswith(f"reusing the demo board in {folder}")
    fresh = demo.prepare(folder, fresh=True)
    assert fresh.message.startswith("replaced the demo board")
    assert git(folder, "rev-list", "--max-parents=0", "HEAD").stdout != first


def test_a_real_board_without_a_key_says_how_to_get_one_in_one_line(tmp_path: Path) -> None:
    _no_signing_key()
    made = run_mc(tmp_path, "init", str(tmp_path / "board"))
    assert made.returncode == 0, made.stderr
    note = next(line for line in made.stdout.splitlines() if line.startswith("Note: "))
    assert "ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519" in note
    assert "git config --global user.signingkey ~/.ssh/id_ed25519.pub" in note
    assert "mc approvers add alice@example.com ~/.ssh/id_ed25519.pub" in note
    from mc.board.board import Board

    from ..conftest import to_review

    with Board.open(tmp_path / "board") as board:
        to_review(board, "p")
    refused = run_mc(tmp_path / "board", "approve", "p")
    assert refused.returncode == 1
    line = refused.stderr.strip()
    assert "\n" not in line and len(line) < 300
    assert line.startswith("mc: no signing key; set one up: ssh-keygen -t ed25519")
    # Nothing of the demo reaches a real board: no demo approver, no demo key.
    assert "demo-approver" not in (tmp_path / "board" / ".mc" / "allowed_signers").read_text()
    assert not (tmp_path / "board" / ".mc" / "demo_approver_key").exists()


def test_the_demo_refuses_a_folder_that_is_not_a_demo_board(board_path: Path) -> None:
    refused = run_mc(board_path, "demo", str(board_path), "--port", "0")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"mc: {board_path} is not empty and not a demo board: give mc demo an empty or new folder"
    )


def test_bad_server_arguments_are_one_line_and_start_nothing(board_path: Path) -> None:
    from mc.mirror.embedded import Cluster

    for args in (["up", "--port", "99999"], ["web", "--port", "-1"], ["demo", "--port", "70000"]):
        refused = run_mc(board_path, *args)
        assert refused.returncode == 1, refused
        assert (
            refused.stderr
            == f"mc: --port {args[2]}: a port is a number from 1 to 65535 (0: any free one)\n"
        )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        refused = run_mc(board_path, "up", "--port", str(port))
        assert time.monotonic() - started < 5
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert f"127.0.0.1:{port} is already in use" in refused.stderr
    assert not Cluster.for_board(board_path).running()  # no database left behind
    assert not (board_path / ".mc" / "pg" / "data").exists()

    version = run_mc(board_path, "--version")
    assert version.returncode == 0 and re.fullmatch(r"mc \d+\.\d+\.\d+\S*\n", version.stdout)
