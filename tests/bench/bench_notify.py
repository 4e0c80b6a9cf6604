"""Notifications (issue 14): an event committed -> the notification received. Not collected.

Run:  .venv/bin/python tests/bench/bench_notify.py [--runs 15]

A real daemon (its sync and its sender) on a board whose mc.yaml sends ready_for_human
to a local webhook (apprise's json://). Each run commits a passing review (the commit
that makes a project ready for the person, with its review job record) and times from
the branch ref's move to the receiver's answer: the daemon's wake-up and sync (which
writes the event), the sender's wake-up, apprise and the HTTP request.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from mc.board import actions  # noqa: E402
from mc.board.board import Board  # noqa: E402
from mc.board.git import Repo  # noqa: E402
from mc.mirror import db  # noqa: E402
from mc.mirror.daemon import Daemon  # noqa: E402
from tests.bench.common import bench_database, machine, make_board, sh, summary  # noqa: E402

RECEIVED: dict[str, float] = {}


class Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        RECEIVED[body["title"]] = time.time()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    with bench_database("mc-bench-notify-") as (tmp, url):
        board_path = make_board(tmp / "board", args.runs)
        text = (board_path / "mc.yaml").read_text()
        (board_path / "mc.yaml").write_text(
            text + f"notifications:\n  - url: json://127.0.0.1:{hook.server_address[1]}/h\n"
            "    events: [ready_for_human]\n"
        )
        sh("git", "commit", "-q", "--no-verify", "-am", "a webhook", cwd=board_path)
        daemon = Daemon(board_path, url, poll=5)
        thread = threading.Thread(target=daemon.run)
        thread.start()
        moved: list[float] = []
        original = Repo.update_ref

        def timed(self: Repo, ref: str, new: str, old: str | None, message: str) -> bool:
            ok = original(self, ref, new, old, message)
            if ok and "review" in message:
                moved.append(time.time())
            return ok

        latencies = []
        try:
            with Board.open(board_path) as board, db.connect(url) as conn:
                for i in range(args.runs):
                    pid = f"p{i:05d}"
                    actions.queue(board, pid)
                    actions.dispatch(board, pid, str(1000 + i))
                    actions.complete(board, pid, str(1000 + i), {"report.md": b"# ok\n"})
                    conn.execute(
                        "INSERT INTO jobs (id, project_id, kind, state, archetype, result, "
                        "attempts) OVERRIDING SYSTEM VALUE VALUES (%s, %s, 'review', "
                        "'succeeded', 'reviewer', %s, 1)",
                        (2000 + i, pid, db.jsonb({"verdict": "pass", "notes": "ok"})),
                    )
                    conn.commit()
                    time.sleep(0.5)  # the daemon has synced the rest
                    Repo.update_ref = timed  # type: ignore[method-assign]
                    try:
                        actions.record_review(board, pid, str(2000 + i), "pass", "ok", rework=False)
                    finally:
                        Repo.update_ref = original  # type: ignore[method-assign]
                    title = f"Ready for your approval: Project {i}"
                    deadline = time.time() + 30
                    while title not in RECEIVED and time.time() < deadline:
                        time.sleep(0.002)
                    if title not in RECEIVED:
                        raise SystemExit(f"run {i}: nothing arrived")
                    latencies.append((RECEIVED[title] - moved[-1]) * 1000)
        finally:
            daemon.stop.set()
            daemon.wake.set()
            thread.join(30)
            hook.shutdown()
        print(machine())
        print(f"review commit (ready_for_human) -> webhook received: {summary(latencies)}")


if __name__ == "__main__":
    main()
