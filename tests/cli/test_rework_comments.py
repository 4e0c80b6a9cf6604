"""`mc project rework` with the open line comments of the project's change (the web's
"Request changes", from the terminal): the real CLI in a subprocess, a real database,
a real workspace branch."""

from __future__ import annotations

from pathlib import Path

import pytest

from mc.board.board import Board
from mc.mirror import db, diffcomments
from mc.pipeline import linecomments
from mc.pipeline.diff import project_diff

from ..conftest import run_mc
from ..web.diffsetup import coder_in_review, workspace
from ..web.test_diff_api import START, first_edit


@pytest.mark.parametrize("flag", [None, "--without-comments"])
def test_rework_sends_the_open_line_comments_unless_told_not_to(
    board_path: Path, database_url: str, tmp_path: Path, flag: str | None
) -> None:
    ws = workspace(tmp_path / "code", START)
    coder_in_review(board_path, "fix", ws, first_edit, tmp_path, database_url)
    with Board.open(board_path) as board, db.connect(database_url) as conn:
        made = linecomments.comment_on(project_diff(board, "fix"), "keep.py", "new", 5, 5, "nope")
        diffcomments.add(conn, "fix", "you", "human", made)
    args = ["project", "rework", "fix", "--notes", "Again."] + ([flag] if flag else [])
    done = run_mc(board_path, *args, env={"MC_DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr
    with Board.open(board_path) as board:
        entry = board.get("fix")
    assert entry.lane.value == "up-next" and entry.project is not None
    feedback = entry.project.data["feedback"]
    assert feedback.startswith("Again.")
    if flag is None:
        assert "- keep.py:5\n  ```\n  line five = '<script>x</script>'\n  ```\n  nope" in feedback
    else:
        assert feedback == "Again."
