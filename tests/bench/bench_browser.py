"""Browser figure (issue 5): a commit on the command line -> the card moved in an open
Chromium page. Not collected.

Run:  .venv/bin/python tests/bench/bench_browser.py [--runs 15]

A real `mc web` process (with its daemon) on a 100-project board, Debian's Chromium
driven by Playwright, logged in through a one-time link. Each run moves a project
backlog -> up-next with `git mv` + `git commit` (the board's hooks run, as for a
person); the page records, with a MutationObserver, when the card appears in its new
lane. Both clocks are this machine's wall clock.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from playwright.sync_api import sync_playwright  # noqa: E402

from mc.mirror import db  # noqa: E402
from mc.mirror.auth import create_login_link  # noqa: E402
from tests.bench.common import bench_database, login, machine, make_board, sh, summary, web_process  # noqa: E402
from tests.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402

WATCH = """pid => {
  window.__seen = null;
  const sel = `[data-lane="up-next"] [data-project="${pid}"]`;
  const obs = new MutationObserver(() => {
    if (window.__seen === null && document.querySelector(sel)) {
      window.__seen = Date.now();
      obs.disconnect();
    }
  });
  obs.observe(document.body, {childList: true, subtree: true, attributes: true});
}"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with bench_database("mc-bench-browser-") as (tmp, url):
        with db.connect(url) as conn:
            secret = create_login_link(conn)
        board = make_board(tmp / "board", 100)
        with web_process(board, url) as (_server, origin):
            figures(args, board, origin, secret)


def figures(args: argparse.Namespace, board: Path, origin: str, secret: str) -> None:
    latencies, commits = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        login(page, origin, secret)
        page.wait_for_selector('#connection[data-state="live"]')
        page.wait_for_selector('[data-lane="backlog"] [data-project="p00099"]')
        for i in range(args.runs):
            pid = f"p{i:05d}"
            page.evaluate(WATCH, pid)
            started = time.time()
            sh("git", "mv", f"backlog/{pid}.yaml", f"up-next/{pid}.yaml", cwd=board)
            sh("git", "commit", "-q", "-m", f"queue {pid}", cwd=board)
            committed = time.time()
            seen = None
            while seen is None:  # (wait_for_function evaluates a string: the CSP says no)
                if time.time() - started > 10:
                    raise SystemExit(f"{pid} did not move in the page")
                seen = page.evaluate("() => window.__seen")
                time.sleep(0.005)
            seen /= 1000
            latencies.append((seen - committed) * 1000)
            commits.append((committed - started) * 1000)
            time.sleep(0.3)
        browser.close()
    print(machine())
    print(
        f"git commit returned -> card moved in Chromium: {summary(latencies)} (target p50 <= 150)"
    )
    print(f"  the git mv + git commit (with the board's hooks) took: {summary(commits)}")


if __name__ == "__main__":
    main()
