"""The first ten minutes (issue 9): `mc demo` -> the login link, and Ctrl-C -> every
process gone, with a browser's live feed connected. Not collected.

Run:  .venv/bin/python tests/bench/bench_demo.py [--runs 5]

Each run uses a fresh HOME with a git identity and no signing key (as a newcomer has):
the first start makes the demo board (`made`), the next reuse it (`reused`). The live
feed is held open by a logged-in client (the login link's cookie, then /api/events),
the way an open page holds it. (`make demo` adds the one-time setup on top: a venv and
`pip install -e .`, ~15 s here with a warm pip cache.)
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from tests.bench.common import machine, summary  # noqa: E402

LINK = re.compile(r"(http://127\.0\.0\.1:\d+/login\?token=\S+)")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _connect_feed(link: str) -> http.client.HTTPConnection:
    url = urlparse(link)
    login = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    login.request("GET", f"{url.path}?{url.query}")
    response = login.getresponse()
    cookie = (response.getheader("set-cookie") or "").split(";")[0]
    response.read()
    feed = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    feed.request("GET", "/api/events", headers={"cookie": cookie, "accept": "text/event-stream"})
    events = feed.getresponse()
    assert events.status == 200, events.status
    events.fp.readline()  # the stream is open and talking
    return feed


def _marked(mark: str) -> list[int]:
    needle = f"BENCH_MARK={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    to_link: dict[str, list[float]] = {"made": [], "reused": []}
    stops: list[float] = []
    with tempfile.TemporaryDirectory(prefix="mc-bench-demo-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = New\n\temail = new@example.com\n")
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TERM")}
        for run in range(args.runs):
            mark = f"{os.getpid()}-{run}"
            env = {**keep, "HOME": str(home), "BENCH_MARK": mark}
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "mc", "demo", "--port", str(_free_port())],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                start_new_session=True,
            )  # fmt: skip
            assert proc.stdout is not None
            link = None
            while link is None:
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit("mc demo stopped before printing a link")
                found = LINK.search(line)
                link = found.group(1) if found else None
            to_link["made" if run == 0 else "reused"].append((time.perf_counter() - started) * 1000)
            feed = _connect_feed(link)
            time.sleep(4)  # agents at work
            asked = time.perf_counter()
            os.killpg(proc.pid, signal.SIGINT)
            proc.communicate(timeout=60)
            while _marked(mark):
                time.sleep(0.01)
            stops.append((time.perf_counter() - asked) * 1000)
            feed.close()
    print(machine())
    print(f"mc demo -> login link, new demo board:    {summary(to_link['made'])}")
    if to_link["reused"]:
        print(f"mc demo -> login link, demo board reused: {summary(to_link['reused'])}")
    print(f"Ctrl-C (live feed open, agents running) -> every process gone: {summary(stops)}")
    print(f"  median {statistics.median(stops) / 1000:.2f} s (target <= 5 s)")


if __name__ == "__main__":
    main()
