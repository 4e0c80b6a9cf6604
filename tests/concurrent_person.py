"""A person committing by hand while the pipeline commits (issue 12.15): shared by the
regression test and tests/bench/bench_person_commits.py."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from mc.board import actions
from mc.board.board import Board
from mc.board.layout import Lane


def run(
    board_path: Path,
    *,
    person_commits: int,
    projects: int,
    pace: float,
    pipeline_pace: float = 0.0,
) -> dict[str, Any]:
    """The person commits a note ``person_commits`` times (git add + git commit through
    the hooks, ``pace`` seconds apart) while the pipeline takes ``projects`` queued
    projects through dispatch, complete and review. Counts what happened."""
    with Board.open(board_path) as board:
        for i in range(projects):
            actions.new_project(board, f"P{i}", "coder", project_id=f"p{i}", lane=Lane.UP_NEXT)
    counts = {
        "attempted": 0,
        "landed": 0,
        "refused": 0,
        "index_lock_errors": 0,
        "ref_races": 0,  # git's "cannot lock ref 'HEAD'": the branch moved during the commit
        "pipeline_commits": 0,
        "refusals": [],
    }
    done = threading.Event()

    def pipeline() -> None:
        with Board.open(board_path) as board:
            for i in range(projects):
                pid, work, review = f"p{i}", str(2 * i + 1), str(2 * i + 2)
                actions.dispatch(board, pid, work)
                time.sleep(pipeline_pace)
                actions.complete(board, pid, work, {"report.md": b"# Done\n"})
                time.sleep(pipeline_pace)
                actions.record_review(board, pid, review, "pass", "fine", rework=False)
                time.sleep(pipeline_pace)
                counts["pipeline_commits"] += 3
        done.set()

    thread = threading.Thread(target=pipeline)
    thread.start()
    notes = board_path / "notes"
    notes.mkdir(exist_ok=True)
    n = 0
    while n < person_commits or not done.is_set():
        n += 1
        counts["attempted"] += 1
        (notes / f"{n % 7}.txt").write_text(f"note {n}\n")
        for args in (["add", "notes"], ["commit", "-q", "-m", f"note {n}"]):
            while True:
                proc = subprocess.run(
                    ["git", *args], cwd=board_path, capture_output=True, text=True
                )
                if proc.returncode == 0:
                    break
                if "index.lock" in proc.stderr:
                    counts["index_lock_errors"] += 1
                    time.sleep(0.01)
                    continue
                if "cannot lock ref 'HEAD'" in proc.stderr:
                    counts["ref_races"] += 1  # as a person would: commit again
                    continue
                counts["refused"] += 1
                counts["refusals"].append(proc.stderr.strip()[:300])
                break
            if proc.returncode != 0:
                break
        else:
            counts["landed"] += 1
        time.sleep(pace)
    thread.join(60)
    return counts
