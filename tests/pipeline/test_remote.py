"""Workers on several machines share the board through one bare remote: fetch, commit, push."""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

from mc.board import actions
from mc.board.board import Board
from mc.board.git import find_repo
from mc.board.hooks.install import install_server
from mc.mirror import db
from mc.mirror.daemon import Daemon
from mc.pipeline import dispatch
from mc.pipeline.worker import Worker

from ..conftest import git, run_mc
from .test_worker import _configure, _queue


def test_two_workers_pushing_to_one_bare_remote(
    board: Board, board_path: Path, tmp_path: Path
) -> None:
    ids = [f"p{i}" for i in range(6)]
    for pid in ids:
        actions.new_project(board, pid, "coder", project_id=pid, lane=actions.Lane.UP_NEXT)
    server = tmp_path / "server.git"
    git(tmp_path, "clone", "-q", "--bare", str(board_path), str(server))
    install_server(find_repo(server))
    clones = []
    for name in ("w1", "w2"):
        clone = tmp_path / name
        git(tmp_path, "clone", "-q", str(server), str(clone))
        shutil.copy(board_path / ".mc" / "service_key", clone / ".mc" / "service_key")
        clones.append(clone)
    errors: list[BaseException] = []

    def work(clone: Path, mine: list[str]) -> None:
        try:
            with Board.open(clone) as b:
                b.remote = "origin"
                for pid in mine:
                    actions.dispatch(b, pid, f"job-{pid}")
                    actions.complete(b, pid, f"job-{pid}", {"report.md": f"# {pid}\n".encode()})
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(clones[0], ids[0::2])),
        threading.Thread(target=work, args=(clones[1], ids[1::2])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    log = git(server, "--git-dir", str(server), "log", "--format=%s", "main").stdout.splitlines()
    assert sum(line.startswith("Complete") for line in log) == 6
    assert git(server, "--git-dir", str(server), "rev-list", "--min-parents=2", "main").stdout == ""
    lanes = git(
        server, "--git-dir", str(server), "ls-tree", "-r", "--name-only", "main", "review"
    ).stdout
    assert sorted(n for n in lanes.split() if n.endswith(".yaml")) == [
        f"review/{pid}.yaml" for pid in ids
    ]
    # The person's clone gets it all with a plain pull, and it verifies.
    git(board_path, "pull", "-q", "--ff-only", str(server), "main")
    assert git(board_path, "ls-tree", "--name-only", "main", "review/").stdout.count(".yaml") == 6
    signed = git(board_path, "log", "--format=%G? %GS %s", "main").stdout.splitlines()
    assert sum(line.startswith("G mc-service Complete") for line in signed) == 6
    assert run_mc(board_path, "verify").returncode == 0


def test_a_daemon_and_two_workers_on_other_clones_run_the_pipeline_through_the_remote(
    board_path: Path, database_url: str, tmp_path: Path
) -> None:
    """The person pushes queued projects to a shared bare repository; a daemon following
    that remote dispatches them, two workers in clones of their own run them, and every
    result is pushed there, verified by the server's hook."""
    _configure(board_path, "ok")
    ids = [_queue(board_path, f"Remote {i}") for i in range(4)]
    server = tmp_path / "server.git"
    git(tmp_path, "clone", "-q", "--bare", str(board_path), str(server))
    install_server(find_repo(server))
    clones = []
    for name in ("daemon", "w1", "w2"):
        clone = tmp_path / name
        git(tmp_path, "clone", "-q", str(server), str(clone))
        shutil.copy(board_path / ".mc" / "service_key", clone / ".mc" / "service_key")
        clones.append(clone)
    daemon = Daemon(clones[0], database_url, poll=0.3, dispatch=dispatch.step, remote="origin")
    workers = [
        Worker(c, database_url, poll=0.3, beat_every=0.2, grace=0.5, remote="origin")
        for c in clones[1:]
    ]
    threads = [threading.Thread(target=daemon.run)] + [
        threading.Thread(target=w.run) for w in workers
    ]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with db.connect(database_url) as conn:
                ready = conn.execute(
                    "SELECT count(*) AS n FROM projects WHERE ready_for_human"
                ).fetchone()
            if ready and ready["n"] == len(ids):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the projects did not all reach review")
    finally:
        for w in workers:
            w.request_stop()
        daemon.stop.set()
        daemon.wake.set()
        for t in threads:
            t.join(30)
    subjects = git(server, "log", "--format=%s", "main").stdout.splitlines()
    for pid in ids:
        for action in ("Dispatch", "Complete", "Review"):
            made = [s for s in subjects if re.match(rf"{action} {pid}[ :]", s)]
            assert len(made) == 1, (pid, action, subjects)
    assert git(server, "rev-list", "--min-parents=2", "main").stdout == ""
    git(board_path, "pull", "-q", "--ff-only", str(server), "main")
    assert run_mc(board_path, "verify").returncode == 0
    assert run_mc(board_path, "approve", ids[0]).returncode == 0
