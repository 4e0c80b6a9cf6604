"""A person committing by hand during a busy pipeline (issue 12.15). Not collected.

Run:  .venv/bin/python tests/bench/bench_person_commits.py [--commits 60] [--runs 3]

The person commits a note once a second (`git add` + `git commit` through the hooks)
while the pipeline commits dispatch/complete/review moves about three times a second in
the same checkout. Reports, per run: commits attempted, landed, refused (by a hook or
git), `index.lock` errors the person's git met, git's "cannot lock ref 'HEAD'" races,
pipeline commits, and `mc verify`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from mc.board.init import init  # noqa: E402
from tests.bench.common import isolated_git, machine  # noqa: E402
from tests.concurrent_person import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-person-"))
    isolated_git(tmp)
    for n in range(args.runs):
        board = tmp / f"board{n}"
        init(board)
        projects = max(1, args.commits // 1)  # ~3 pipeline commits per person commit
        counts = run(
            board, person_commits=args.commits, projects=projects, pace=1.0, pipeline_pace=0.33
        )
        verify = subprocess.run(
            [sys.executable, "-m", "mc", "verify"], cwd=board, capture_output=True, text=True
        )
        print(
            f"run {n + 1}: attempted {counts['attempted']}, landed {counts['landed']}, "
            f"refused {counts['refused']}, index.lock errors {counts['index_lock_errors']}, "
            f"HEAD races {counts['ref_races']}, pipeline commits {counts['pipeline_commits']}, "
            f"verify exit {verify.returncode}"
        )
        for why in counts["refusals"][:3]:
            print(f"  refused: {why}")


if __name__ == "__main__":
    main()
