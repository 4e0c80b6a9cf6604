"""Diff viewer figure (issue 15): opening a coder project's page -> the first lines of its
5,000-line change drawn in Chromium. Not collected.

Run:  .venv/bin/python tests/bench/bench_diff_viewer.py [--runs 7]

A real `mc web` process (with its daemon) and its own PostgreSQL; a workspace repository
whose branch mc/big a run made with the pipeline's worktree code (20 files, 250 changed
lines each: 5,000 lines, +2,500 -2,500); Debian's Chromium driven by Playwright, logged
in through a one-time link. Each run is a fresh navigation to #/project/big in a new tab
(the whole app boots: session, board, project, diff); an init script's MutationObserver
notes performance.now() at the animation frame after the first diff row is in the page,
i.e. the time since the navigation started. The server's own time for the diff
endpoint (its Server-Timing header) is reported beside it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from playwright.sync_api import sync_playwright  # noqa: E402

from mc.mirror import db  # noqa: E402
from mc.mirror.auth import create_login_link  # noqa: E402
from tests.bench.common import bench_database, login, machine, make_board, summary, web_process  # noqa: E402
from tests.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402
from tests.web.diffsetup import coder_in_review, workspace  # noqa: E402

FILES, LINES = 20, 250  # each file: every other one of 250 lines changed: +125 -125

WATCH = """
window.__firstDiffRow = null;
window.__shell = null;
new MutationObserver((_, obs) => {
  if (window.__shell === null && document.querySelector('.detail-grid')) {
    window.__shell = performance.now();
  }
  if (window.__firstDiffRow === null && document.querySelector('.diff-table .diff-row')) {
    obs.disconnect();
    requestAnimationFrame(() => { window.__firstDiffRow = performance.now(); });
  }
}).observe(document, {childList: true, subtree: true});
"""


ARRIVED = """() => {
  const entries = performance.getEntriesByType('resource');
  const first = (part) => entries.find((e) => e.name.includes(part));
  return Math.max(first('/diff?').responseEnd, first('/diff/comments').responseEnd);
}"""


def change(tree: Path) -> None:
    for n in range(FILES):
        old = (tree / f"src/m{n:02}.py").read_text().splitlines(keepends=True)
        new = [f"changed_{i} = {i * 2}\n" if i % 2 else line for i, line in enumerate(old)]
        (tree / f"src/m{n:02}.py").write_text("".join(new))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with bench_database("mc-bench-diff-") as (tmp, url):
        with db.connect(url) as conn:
            secret = create_login_link(conn)
        board = make_board(tmp / "board", 10)
        start = {
            f"src/m{n:02}.py": "".join(f"value_{i} = {i}\n" for i in range(LINES)).encode()
            for n in range(FILES)
        }
        ws = workspace(tmp / "code", start)
        coder_in_review(board, "big", ws, change, tmp, url)
        with web_process(board, url) as (_server, origin):
            figures(args, origin, secret)


def figures(args: argparse.Namespace, origin: str, secret: str) -> None:
    painted, shells, arrived, server = [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_init_script(WATCH)
        first = context.new_page()
        login(first, origin, secret)
        first.wait_for_selector('#connection[data-state="live"]')
        for run in range(args.runs + 1):  # the first run warms the server's caches: not counted
            page = context.new_page()
            timings: list[float] = []

            def took(response: object, timings: list[float] = timings) -> None:
                if "/diff?" in response.url:  # type: ignore[attr-defined]
                    header = response.headers.get("server-timing", "")  # type: ignore[attr-defined]
                    if "dur=" in header:
                        timings.append(float(header.split("dur=")[1]))

            page.on("response", took)
            page.goto(f"{origin}/#/project/big")
            seen = None
            deadline = time.time() + 30
            while seen is None:  # (wait_for_function evaluates a string: the CSP says no)
                if time.time() > deadline:
                    raise SystemExit("the diff did not appear")
                seen = page.evaluate("() => window.__firstDiffRow")
                time.sleep(0.005)
            rows = page.locator(".diff-table .diff-row").count()
            if run:
                painted.append(float(seen))
                shells.append(float(page.evaluate("() => window.__shell")))
                arrived.append(float(page.evaluate(ARRIVED)))
                server.extend(timings)
            page.close()
        browser.close()
    print(machine())
    print(f"change: {FILES} files, {FILES * LINES} lines changed ({rows} rows drawn when counted)")
    print(f"page opened -> first diff lines drawn in Chromium: {summary(painted)}")
    print(f"  of which the page itself (app, session, board, project) drawn: {summary(shells)}")
    print(f"  and the diff's and its comments' answers received: {summary(arrived)}")
    print(
        f"  the diff endpoint's own time (Server-Timing): median {statistics.median(server):.1f} ms"
    )


if __name__ == "__main__":
    main()
