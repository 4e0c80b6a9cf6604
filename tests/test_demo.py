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

from .conftest import git


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
            assert len(lanes["backlog"]) == 2  # left for the person to queue
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
