"""`mc demo`: a board of its own where every agent is the built-in demo runner, so a
newcomer watches projects flow queue -> agent -> review -> ready without any agent CLI.

The demo board lives in the person's state folder (``$XDG_STATE_HOME/mc/demo``, else
``~/.local/state/mc/demo``), never inside the clone it was started from: a board is
the top of its own repository. A second run reuses it (``--fresh`` makes a new one).
When the person has no signing key, the demo makes a demo-only approver key in the
board's git-ignored ``.mc/`` and configures it in that repository only, so "approve
one" works on the demo and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from mc.board import actions, signing
from mc.board.board import Board
from mc.board.git import Repo, init_repo
from mc.board.init import init
from mc.board.layout import CONFIG_FILE, Lane
from mc.errors import AlreadyServed, McError, PathExists, SigningError

ARCHETYPES = ("coder", "researcher", "writer", "ops", "reviewer")
MARKER = ".mc/demo"  # git-ignored: says this board is a demo board (safe to replace)
APPROVER_KEY = ".mc/demo_approver_key"  # git-ignored: the demo-only approver key
APPROVER = "demo-approver"
QUEUE_DELAY = 3.0  # seconds after the login link before the seeded projects are queued

PROJECTS = (
    # (title, archetype, queued a moment after start, description, due in days)
    ("Write the launch post", "writer", True,
     "A short post announcing the board: what it is and why.", 3),
    ("Research vacation logistics", "researcher", True,
     "Flights, a place to stay and a rough plan for a week in Lisbon in spring.", 10),
    ("Compare backup tools", "ops", True,
     "restic, borg and kopia for a small home server: a table and a recommendation.", None),
    ("Build a CLI tool", "coder", False,
     "A command that renames photos by the date they were taken.", 7),
    ("Plan the team offsite", "researcher", False,
     "Three venues within two hours by train, with prices.", -1),
)  # fmt: skip


class Prepared(NamedTuple):
    path: Path
    message: str  # what was done: made, reused or replaced, and where
    to_queue: tuple[str, ...]  # projects to queue once everything runs


def default_folder() -> Path:
    """Where the demo board goes: the person's state folder, outside any repository."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    folder = Path(state) / "mc" / "demo"
    if _inside_a_repository(folder):  # e.g. a home folder kept in git
        folder = Path(tempfile.gettempdir()) / f"mc-demo-{os.getuid()}"
    return folder


def _inside_a_repository(folder: Path) -> bool:
    from mc.board.init import enclosing_repository

    return enclosing_repository(folder) is not None


def is_demo_board(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / CONFIG_FILE).is_file()


def prepare(folder: Path | None, *, fresh: bool = False) -> Prepared:
    """The demo board to run: made, reused, or (``fresh``) replaced by a new one."""
    folder = (folder or default_folder()).expanduser().absolute()
    if is_demo_board(folder):
        if not fresh:
            return Prepared(
                folder,
                f"reusing the demo board in {folder} (mc demo --fresh starts a new one)",
                _next_to_queue(folder),
            )
        _remove_demo_board(folder)
        made = make_demo_board(folder)
        return Prepared(folder, f"replaced the demo board in {folder} with a new one", made)
    if folder.exists() and any(folder.iterdir()):
        raise PathExists(
            f"{folder} is not empty and not a demo board: give mc demo an empty or new folder"
        )
    made = make_demo_board(folder)
    return Prepared(folder, f"made a demo board in {folder} (demo agents, no agent CLI)", made)


def _remove_demo_board(folder: Path) -> None:
    from mc.mirror.embedded import Cluster

    cluster = Cluster.for_board(folder)
    if cluster.running():
        raise AlreadyServed(
            f"the demo board in {folder} is in use (its database is running): "
            "stop the mc demo serving it first"
        )
    pg = folder / ".mc" / "pg"
    if pg.is_symlink():  # the cluster lives where the server user can reach it
        shutil.rmtree(pg.resolve(), ignore_errors=True)
    shutil.rmtree(folder)


def make_demo_board(path: Path) -> tuple[str, ...]:
    """Create the demo board at ``path``: demo runners, a few projects in the backlog.

    Returns the projects to queue once the pipeline runs, so a person who opens the
    page sees them move through In progress and Review.
    """
    path.mkdir(parents=True, exist_ok=True)
    repo = _new_repository(path)
    approver = None
    try:
        signing.person_key(repo)
    except SigningError:
        _configure_demo_approver(repo, path)
        approver = APPROVER
    runner = {"runner": "demo", "timeout": 300, "max_attempts": 2}
    init(
        path,
        settings={
            "archetypes": {name: dict(runner) for name in ARCHETYPES},
            "lanes": {"in-progress": {"wip_limit": 2}, "review": {"wip_limit": 10}},
        },
        approver_name=approver,
    )
    (path / MARKER).write_text("This board was made by mc demo; mc demo --fresh replaces it.\n")
    today = dt.date.today()
    queued = []
    with Board.open(path) as board:
        for title, archetype, queue_it, description, due in PROJECTS:
            fields: dict[str, object] = {
                "description": description,
                "acceptance": ["A short report in the output folder"],
            }
            if due is not None:
                fields["due"] = (today + dt.timedelta(days=due)).isoformat()
            made = actions.new_project(board, title, archetype, fields=fields, lane=Lane.BACKLOG)
            if queue_it:
                queued.append(str(made.transition.project_id))
    return tuple(queued)


def _new_repository(path: Path) -> Repo:
    repo = init_repo(path)
    if not repo.config_get("user.email"):  # git needs an identity for the board's commits
        repo.set_config("user.name", "Demo Person")
        repo.set_config("user.email", "demo@mc.invalid")
    return repo


def _configure_demo_approver(repo: Repo, path: Path) -> None:
    """A demo-only SSH key, configured in this repository alone (never globally)."""
    key = path / APPROVER_KEY
    key.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{APPROVER} (mc demo only)",
         "-f", str(key)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SigningError(
            f"ssh-keygen could not make the demo approver key: {proc.stderr.decode()}"
        )
    os.chmod(key, 0o600)
    repo.set_config("gpg.format", "ssh")
    repo.set_config("user.signingkey", f"{key}.pub")


def _next_to_queue(folder: Path) -> tuple[str, ...]:
    """On a reused board: one backlog project, when nothing is on its way already."""
    with Board.open(folder) as board:
        if board.projects(Lane.UP_NEXT) or board.projects(Lane.IN_PROGRESS):
            return ()
        waiting = [e.id for e in board.projects(Lane.BACKLOG) if e.project is not None]
        return tuple(waiting[:1])


def queue_later(
    folder: Path, ids: tuple[str, ...], stop: threading.Event, delay: float = QUEUE_DELAY
) -> Callable[[], None]:
    """Start queueing ``ids`` after ``delay`` seconds (a thread); returns a joiner."""

    def run() -> None:
        if stop.wait(delay):
            return
        with Board.open(folder) as board:
            for pid in ids:
                if stop.is_set():
                    return
                try:
                    actions.queue(board, pid)
                except McError:
                    continue  # moved by the person meanwhile
                time.sleep(0.5)  # one after the other, as a person would

    thread = threading.Thread(target=run, name="mc-demo-queue", daemon=True)
    thread.start()
    return lambda: thread.join(5)
