"""Web figures (issue 5). Not collected.

Run:  .venv/bin/python tests/bench/bench_web.py [--clients 1000] [--rounds 5]

A real `mc web` process (the daemon inside it) on a 1,000-project board and a database
of its own:
- /api/board: the server's own time per request (its Server-Timing header), p50/p99 over
  2,000 requests, and after each of 20 commits the first request (the board rebuilt);
  requests per second from 2 client processes on keep-alive connections;
- SSE: N concurrent EventSource-like clients (raw sockets in one asyncio process); per
  commit, the spread between the first and the last client receiving its activity
  event; the server's RSS growth per client.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

import httpx  # noqa: E402

from mc.mirror import db  # noqa: E402
from mc.mirror.auth import create_token  # noqa: E402
from tests.bench.common import bench_database, machine, make_board, sh, summary, web_process  # noqa: E402


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _server_ms(response: httpx.Response) -> float:
    timing = response.headers["server-timing"]
    return float(timing.split("dur=")[1])


def _hammer(origin: str, token: str, seconds: float, out: multiprocessing.Queue[int]) -> None:
    """Sequential keep-alive GETs with the stdlib client (lighter than httpx: on 2 cores
    the client's own cost is part of what is measured)."""
    import http.client

    host, port = origin.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    headers = {"Authorization": f"Bearer {token}"}
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("GET", "/api/board", headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"/api/board answered {response.status}")
        n += 1
    conn.close()
    out.put(n)


def _commit(board: Path, i: int) -> None:
    """A change on the command line: a project file edited and committed with git."""
    path = board / "backlog" / f"p{i:05d}.yaml"
    path.write_text(path.read_text() + f"owner: bench-{time.time_ns()}\n")
    sh("git", "commit", "-q", "--no-verify", "-am", f"edit p{i:05d}", cwd=board)


async def _sse_round(
    port: int, token: str, clients: int, board: Path, rounds: int, server_pid: int
) -> tuple[list[float], float, list[float]]:
    request = (
        f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    before = _rss_kib(server_pid)
    streams = []
    for _ in range(clients):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        writer.write(request)
        streams.append((reader, writer))
    for reader, _ in streams:  # headers and the retry hint
        await reader.readuntil(b"retry: 2000\n\n")
    await asyncio.sleep(0.5)
    per_client = (_rss_kib(server_pid) - before) / clients
    spreads: list[float] = []
    commit_to_last: list[float] = []
    for r in range(rounds):
        times: list[float] = []

        async def read_one(reader: asyncio.StreamReader, times: list[float] = times) -> None:
            while True:
                chunk = await reader.readuntil(b"\n\n")
                if b"event: activity" in chunk:
                    times.append(time.perf_counter())
                    return

        waiting = [asyncio.create_task(read_one(reader)) for reader, _ in streams]
        started = time.perf_counter()
        await asyncio.get_running_loop().run_in_executor(None, _commit, board, r)
        await asyncio.gather(*waiting)
        spreads.append((max(times) - min(times)) * 1000)
        commit_to_last.append((max(times) - started) * 1000)
        await asyncio.sleep(0.3)
        for reader, _ in streams:  # drain the board frame that followed
            while True:
                try:
                    await asyncio.wait_for(reader.readuntil(b"\n\n"), 0.001)
                except TimeoutError:
                    break
    for _, writer in streams:
        writer.close()
    return spreads, per_client, commit_to_last


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    with bench_database("mc-bench-web-") as (tmp, url):
        with db.connect(url) as conn:
            token = create_token(conn, "bench", "viewer")
        board = make_board(tmp / "board", 1000)
        with web_process(board, url) as (server, origin):
            figures(args, board, origin, token, server.pid)


def figures(
    args: argparse.Namespace, board: Path, origin: str, token: str, server_pid: int
) -> None:
    port = int(origin.rsplit(":", 1)[1])
    headers = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=origin, headers=headers, timeout=30) as c:
        deadline = time.time() + 60
        while True:
            try:
                if c.get("/api/board").json()["lanes"][0]["count"] == 1000:  # paged lanes
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.time() > deadline:
                raise SystemExit("the server did not come up with 1,000 projects")
            time.sleep(0.2)
        steady = [_server_ms(c.get("/api/board")) for _ in range(2000)]
        rebuilt = []
        for i in range(20):
            version = c.get("/api/board").json()["version"]
            _commit(board, 100 + i)
            while True:
                r = c.get("/api/board")
                if r.json()["version"] != version:
                    rebuilt.append(_server_ms(r))
                    break
                time.sleep(0.005)
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=_hammer, args=(origin, token, 5.0, queue)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    total = sum(queue.get() for _ in procs)
    for p in procs:
        p.join()
    import uvloop

    spreads, per_client, to_last = uvloop.run(
        _sse_round(port, token, args.clients, board, args.rounds, server_pid)
    )
    print(machine())
    steady.sort()
    print(
        f"/api/board, 1,000 projects, server time: p50 {statistics.median(steady):.2f} ms, "
        f"p99 {steady[int(len(steady) * 0.99)]:.2f} ms (n={len(steady)}; target p99 <= 10)"
    )
    print(f"  first request after a commit (board rebuilt): {summary(rebuilt)}")
    print(f"  requests/s, one server process, 2 clients: {total / 5.0:.0f}")
    print(
        f"SSE, {args.clients} clients: first -> last client received the event: "
        f"{summary(spreads)} (target <= 50)"
    )
    print(f"  commit started -> last client received it: {summary(to_last)}")
    print(f"  server memory per client: {per_client:.1f} KiB")


if __name__ == "__main__":
    main()
