"""The web board at 10,000 projects (issue 13). Not collected.

Run:  .venv/bin/python tests/bench/bench_board_scale.py [--runs 20]

A real `mc web` process (with its daemon) and Debian's Chromium driven by Playwright,
on a generated board: 5,000 projects in the backlog, written in one commit and synced
by the mirror, and 5,000 in done. Done projects are seeded into the mirror's rows, not
committed: the rules (rightly) refuse a done file that did not come through a signed
approval, and 5,000 signed approvals (each after its queue, dispatch, complete and review
commits) would take the better part of an hour to generate.

Figures (wall clock of this machine; the page's own clocks where the page measures):
- first load: a new browser context (cold cache) -> the board drawn (a card in every
  non-empty lane), from the navigation's start (performance.now());
- reload: the same page reloaded -> the board drawn;
- `mc project queue` returned -> the card in its new lane (MutationObserver);
- search narrowing all 10,000 (a word only one done project, not loaded, has): the
  input event -> that card shown alone;
- a drag and drop: the drop event dispatched on the lane (the page's own handler) -> the
  card in the target lane, marked pending (the optimistic move), to the next frame;
- /api/board first pages: the server's own time (Server-Timing), p50/p99 of 2,000;
- board event bytes per commit (the SSE data of each queue's board event).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

import httpx  # noqa: E402
from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from mc.board.board import Board  # noqa: E402
from mc.mirror import db  # noqa: E402
from mc.mirror.auth import create_login_link, create_token  # noqa: E402
from mc.mirror.sync import Syncer  # noqa: E402
from tests.bench.bench_browser import WATCH as WATCH_MOVE  # noqa: E402
from tests.bench.common import bench_database, login, machine, sh, summary, web_process  # noqa: E402
from tests.bench.common import make_board as make_backlog  # noqa: E402
from tests.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402

BACKLOG = 5000
DONE = 5000

DRAWN = """() => {
  const ok = () => ['backlog', 'done'].every(
    l => document.querySelector(`[data-lane="${l}"] article.card`));
  if (ok()) { window.__drawn = performance.now(); return; }
  const obs = new MutationObserver(() => {
    if (ok()) { window.__drawn = performance.now(); obs.disconnect(); }
  });
  obs.observe(document, {childList: true, subtree: true});
}"""

SEARCH = """([word, pid]) => new Promise(resolve => {
  const input = document.querySelector('input[name=q]');
  const done = () => {
    const cards = document.querySelectorAll('article.card');
    return cards.length === 1 && cards[0].dataset.project === pid;
  };
  const obs = new MutationObserver(() => {
    if (done()) { obs.disconnect(); resolve(performance.now() - t0); }
  });
  obs.observe(document.body, {childList: true, subtree: true});
  input.value = word;
  const t0 = performance.now();
  input.dispatchEvent(new Event('input', {bubbles: true}));
})"""

CLEAR = """() => new Promise(resolve => {
  const input = document.querySelector('input[name=q]');
  input.value = '';
  input.dispatchEvent(new Event('input', {bubbles: true}));
  const check = () => document.querySelectorAll('[data-lane="backlog"] article.card').length > 1
    ? resolve() : requestAnimationFrame(check);
  check();
})"""

DROP = """pid => new Promise(resolve => {
  const card = document.querySelector(`[data-lane="backlog"] [data-project="${pid}"]`);
  const target = document.querySelector('section[data-lane="up-next"]');
  const data = new DataTransfer();
  const ev = (type) => new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: data});
  card.dispatchEvent(ev('dragstart'));
  const t0 = performance.now();
  target.dispatchEvent(ev('dragover'));
  target.dispatchEvent(ev('drop'));
  const moved = target.querySelector(`[data-project="${pid}"].pending`) !== null;
  card.dispatchEvent(new DragEvent('dragend', {bubbles: true, dataTransfer: data}));
  requestAnimationFrame(() => resolve(moved ? performance.now() - t0 : -1));
})"""


def make_board(folder: Path, url: str) -> Path:
    """5,000 backlog projects in one commit, synced; 5,000 done rows seeded after."""
    make_backlog(folder, BACKLOG, "Project {i} w{i:05d}b")  # a word only one project has
    with Board.open(folder) as board, db.connect(url) as conn:
        Syncer(board).sync(conn)
        conn.commit()
        conn.execute(
            "INSERT INTO projects (id, lane, title, archetype, priority, labels, data,"
            " applied_commit, lane_since, created_at)"
            " SELECT 'd' || lpad(g::text, 5, '0'), 'done', 'Finished ' || g || ' w' ||"
            " lpad(g::text, 5, '0') || 'd', 'coder', 1 + g %% 4, '{bench}',"
            " jsonb_build_object('title', 'Finished ' || g), 'seeded',"
            " now() - make_interval(mins => %s::int - g), now() - interval '30 days'"
            " FROM generate_series(0, %s::int - 1) g",
            (DONE, DONE),
        )
        conn.commit()
    return folder


def first_load(browser: Browser, origin: str, cookies: list[Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_cookies(cookies)
        context.add_init_script(f"({DRAWN})()")
        page = context.new_page()
        page.goto(origin)
        out.append(_drawn(page))
        context.close()
    return out


def _drawn(page: Page) -> float:
    deadline = time.time() + 20
    while time.time() < deadline:
        try:  # the init script runs before the DOM exists; it retries on the document
            drawn = page.evaluate("() => window.__drawn ?? null")
        except Exception:
            drawn = None
        if drawn is not None:
            return float(drawn)
        time.sleep(0.005)
    text = page.evaluate("() => document.body?.innerText?.slice(0, 300)")
    raise SystemExit(f"the board was not drawn at {page.url}: {text!r}")


def reloads(page: Page, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        page.reload()
        out.append(_drawn(page))
    return out


def queue_moves(page: Page, board: Path, url: str, runs: int) -> tuple[list[float], list[float]]:
    """(command returned -> card moved, 0 when it had moved before the command exited;
    command started -> card moved)."""
    out, whole = [], []
    for i in range(runs):
        pid = f"p{4000 + i:05d}"  # not on the backlog's first page: the lane count moves
        page.evaluate(WATCH_MOVE, pid)
        started = time.time()
        sh(
            sys.executable,
            "-m",
            "mc",
            "--board",
            board,
            "project",
            "queue",
            pid,
            cwd=board,
            env={"MC_DATABASE_URL": url},
        )
        returned = time.time()
        seen = None
        while seen is None:
            if time.time() - returned > 10:
                raise SystemExit(f"{pid} did not move in the page")
            seen = page.evaluate("() => window.__seen")
            time.sleep(0.002)
        out.append(max(0.0, seen / 1000 - returned) * 1000)
        whole.append((seen / 1000 - started) * 1000)
        time.sleep(0.2)
    return out, whole


def searches(page: Page, runs: int) -> list[float]:
    out = []
    for i in range(runs):
        n = 17 + i * 211  # done projects far past the 25 loaded
        out.append(float(page.evaluate(SEARCH, [f"w{n:05d}d", f"d{n:05d}"])))
        page.evaluate(CLEAR)
    return out


def drops(page: Page, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        pid = page.evaluate(
            "() => document.querySelector('[data-lane=\"backlog\"] article.card:not(.pending)')"
            ".dataset.project"
        )
        ms = float(page.evaluate(DROP, pid))
        if ms < 0:
            raise SystemExit(f"{pid} was not moved optimistically")
        out.append(ms)
        time.sleep(0.3)  # the commit, and its event
    return out


def server_times(origin: str, token: str, n: int = 2000) -> list[float]:
    with httpx.Client(base_url=origin, headers={"authorization": f"Bearer {token}"}) as c:
        out = []
        for _ in range(n):
            r = c.get("/api/board")
            out.append(float(r.headers["server-timing"].split("dur=")[1]))
        size = len(c.get("/api/board").content)
    print(f"  /api/board first pages: {size / 1024:.0f} KB")
    return out


def in_process(board: Path, url: str, n: int = 2000) -> tuple[list[float], list[float]]:
    """The handler's own work per /api/board (cards in memory, the shared encoded first
    pages, this principal's moves spliced in), timed in this process without HTTP: what
    the code costs, apart from a busy machine's scheduling."""
    from mc.mirror.auth import Principal
    from mc.web.http import Ctx
    from mc.web.projects import get_board
    from mc.web.state import Web

    web = Web(board, url, hosts=set())
    who = Principal("bench", "human", "session", b"", None)
    from starlette.requests import Request

    def request(query: bytes) -> Request:
        return Request(
            {
                "type": "http",
                "method": "GET",
                "path": "/api/board",
                "query_string": query,
                "headers": [],
            }
        )

    out, search = [], []
    try:
        with web.connection() as conn:
            ctx = Ctx(web, request(b""), who, conn, None, {})
            get_board(ctx)  # the first answer reads every card
            for _ in range(n):
                t0 = time.perf_counter()
                get_board(ctx)
                out.append((time.perf_counter() - t0) * 1000)
            for i in range(50):
                ctx = Ctx(web, request(f"q=w{i * 97:05d}d".encode()), who, conn, None, {})
                t0 = time.perf_counter()
                get_board(ctx)
                search.append((time.perf_counter() - t0) * 1000)
    finally:
        web.close()
    return out, search


def listen(origin: str, token: str, sizes: list[int], stop: threading.Event) -> None:
    """Sizes of the board events carrying cards (one per commit or job change)."""
    headers = {"authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=origin, timeout=None) as c,
        c.stream("GET", "/api/events", headers=headers) as r,
    ):
        kind = ""
        for line in r.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "board" and '"cards"' in line:
                sizes.append(len(line[6:].encode()))


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with bench_database("mc-bench-scale-") as (tmp, url):
        started = time.time()
        board = make_board(tmp / "board", url)
        print(f"  board generated and synced in {time.time() - started:.1f} s")
        with db.connect(url) as conn:
            secret = create_login_link(conn)
            token = create_token(conn, "bench", "viewer")
        with web_process(board, url) as (_server, origin):
            run(args, board, url, origin, secret, token)


def login_cookies(browser: Browser, origin: str, secret: str) -> list[Any]:
    """Signs in through the one-time link (waiting for the server to come up)."""
    context = browser.new_context()
    login(context.new_page(), origin, secret)
    cookies = context.cookies()
    context.close()
    return cookies


def run(
    args: argparse.Namespace, board: Path, url: str, origin: str, secret: str, token: str
) -> None:
    sizes: list[int] = []
    stop = threading.Event()
    figures: dict[str, list[float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        cookies = login_cookies(browser, origin, secret)
        threading.Thread(target=listen, args=(origin, token, sizes, stop), daemon=True).start()
        figures["loads"] = first_load(browser, origin, cookies, max(5, args.runs // 2))
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_cookies(cookies)
        context.add_init_script(f"({DRAWN})()")
        page = context.new_page()
        page.goto(origin)
        _drawn(page)
        page.wait_for_selector('#connection[data-state="live"]')
        figures["again"] = reloads(page, max(5, args.runs // 2))
        page.wait_for_selector('#connection[data-state="live"]')
        figures["moves"], figures["whole"] = queue_moves(page, board, url, args.runs)
        figures["found"] = searches(page, args.runs)
        figures["dropped"] = drops(page, args.runs)
        browser.close()
    stop.set()
    figures["server"] = server_times(origin, token)
    figures["own"], figures["search"] = in_process(board, url)
    report(figures, sizes)


def report(f: dict[str, list[float]], sizes: list[int]) -> None:
    print(machine())
    print(f"  board: {BACKLOG} backlog + {DONE} done projects")
    print(f"first load -> board drawn:               {summary(f['loads'])} (target <= 500)")
    print(f"reload -> board drawn:                   {summary(f['again'])} (target <= 500)")
    moves = f["moves"]
    print(
        f"mc project queue returned -> card moved: {summary(moves)} (target p50 <= 100, p95 <= 200)"
    )
    early = sum(1 for m in moves if m == 0)
    print(f"  ({early} of {len(moves)} had moved before the command exited, counted as 0)")
    print(f"mc project queue started -> card moved:  {summary(f['whole'])}")
    print(f"search narrowing all 10,000:             {summary(f['found'])} (target <= 150)")
    print(f"drag and drop -> optimistic move:        {summary(f['dropped'])} (target <= 100)")
    server, own = f["server"], f["own"]
    print(
        f"/api/board first pages, server time:     median {statistics.median(server):.2f} ms"
        f"   p99 {pct(server, 0.99):.2f} ms   (n={len(server)}) (target p99 <= 10)"
    )
    print(
        f"/api/board first pages, in-process:      median {statistics.median(own):.3f} ms"
        f"   p99 {pct(own, 0.99):.3f} ms   (n={len(own)})"
    )
    print(f"search of all 10,000 (/api/board?q=), in-process: {summary(f['search'])}")
    if sizes:
        print(
            f"board event per commit:                  median {statistics.median(sizes):.0f} B"
            f"   max {max(sizes)} B   (n={len(sizes)}) (target <= 5 KB)"
        )


if __name__ == "__main__":
    main()
