"""Time-travel figures (issue 13): the board at a past commit on a 1,000-project board.

Run:  .venv/bin/python tests/bench/bench_time_travel.py [--runs 15] [--projects 1000]

In-process library times (what GET /api/history/board costs the server before its
per-commit cache): resolving ``at`` (a commit id, a date), reading that commit's lanes
through cat-file, building and encoding the cards; and one page of /api/history. Each
run opens a new Board (a new cat-file; the clone's parse cache on disk is warm, as on a
server that has read the board before). Median and p95 over the runs. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from tests.bench.common import isolated_git, make_board, sh, summary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--projects", type=int, default=1000)
    args = parser.parse_args()

    from mc.board import history
    from mc.board.board import Board
    from mc.web.history import _past_json
    from mc.web.http import dumps

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        isolated_git(tmp)
        folder = make_board(tmp / "board", args.projects)
        commits = []
        for i in range(args.runs):  # one lane move per commit: a past worth visiting
            sh("git", "mv", f"backlog/p{i:05d}.yaml", "up-next/", cwd=folder)
            sh("git", "commit", "-q", "--no-verify", "-m", f"queue p{i:05d}", cwd=folder)
            commits.append(sh("git", "rev-parse", "HEAD", cwd=folder).strip())
        with Board.open(folder) as board:
            board.projects()  # the parse cache, as a running server has it
        tz = dt.UTC
        at_commit, at_date, page = [], [], []
        for commit in commits:
            with Board.open(folder) as board:
                start = time.perf_counter()
                sha = history.resolve(board, commit[:12], tz)
                body = dumps(_past_json(history.board_at(board, sha), tz))
                at_commit.append((time.perf_counter() - start) * 1000)
                assert len(body) > args.projects * 100
            with Board.open(folder) as board:
                start = time.perf_counter()
                sha = history.resolve(board, dt.date.today().isoformat(), tz)
                dumps(_past_json(history.board_at(board, sha), tz))
                at_date.append((time.perf_counter() - start) * 1000)
            with Board.open(folder) as board:
                start = time.perf_counter()
                history.commits(board, 100)
                page.append((time.perf_counter() - start) * 1000)
        print(f"board at a commit ({args.projects} projects): {summary(at_commit)}")
        print(f"board at a date   ({args.projects} projects): {summary(at_date)}")
        print(f"one history page (100 commits):        {summary(page)}")


if __name__ == "__main__":
    main()
