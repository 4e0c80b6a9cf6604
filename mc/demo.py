"""`mc demo`: a board of its own where every agent is the built-in demo runner, so a
newcomer watches projects flow queue -> agent -> review -> ready without any agent CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from . import actions
from .board import Board
from .boardinit import init
from .lanes import Lane

ARCHETYPES = ("coder", "researcher", "writer", "ops", "reviewer")

PROJECTS = (
    # (title, archetype, lane, description, due in days)
    ("Write the launch post", "writer", Lane.UP_NEXT,
     "A short post announcing the board: what it is and why.", 3),
    ("Research vacation logistics", "researcher", Lane.UP_NEXT,
     "Flights, a place to stay and a rough plan for a week in Lisbon in spring.", 10),
    ("Compare backup tools", "ops", Lane.UP_NEXT,
     "restic, borg and kopia for a small home server: a table and a recommendation.", None),
    ("Build a CLI tool", "coder", Lane.BACKLOG,
     "A command that renames photos by the date they were taken.", 7),
    ("Plan the team offsite", "researcher", Lane.BACKLOG,
     "Three venues within two hours by train, with prices.", -1),
)  # fmt: skip


def make_demo_board(path: Path) -> Path:
    """Create the demo board at ``path`` (a new folder): demo runners, a few projects."""
    runner = {"runner": "demo", "timeout": 300, "max_attempts": 2}
    init(
        path,
        settings={
            "archetypes": {name: dict(runner) for name in ARCHETYPES},
            "lanes": {"in-progress": {"wip_limit": 2}, "review": {"wip_limit": 10}},
        },
    )
    today = dt.date.today()
    with Board.open(path) as board:
        for title, archetype, lane, description, due in PROJECTS:
            fields: dict[str, object] = {
                "description": description,
                "acceptance": ["A short report in the output folder"],
            }
            if due is not None:
                fields["due"] = (today + dt.timedelta(days=due)).isoformat()
            actions.new_project(board, title, archetype, fields=fields, lane=lane)
    return path
