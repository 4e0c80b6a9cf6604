"""The assistant's board (issue 14): an MCP tool call's round trip. Not collected.

Run:  .venv/bin/python tests/bench/bench_mcp.py [--runs 20]

The SDK's own client, a session opened once, then each call timed from the request to
its result: `list_projects` and `create_project` with `queue: true` (one commit), over
stdio (`mc mcp`) and over streamable HTTP (/mcp on a real `mc web`). Also the time to
open a session (stdio spawns `mc mcp`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from mc.mirror import db  # noqa: E402
from mc.mirror.auth import create_token  # noqa: E402
from tests.bench.common import bench_database, machine, make_board, summary, web_process  # noqa: E402


async def _calls(client: Any, runs: int, prefix: str) -> tuple[list[float], list[float]]:
    listing, creating = [], []
    for i in range(runs):
        started = time.perf_counter()
        out = await client.call_tool("list_projects", {"lane": "backlog"})
        listing.append((time.perf_counter() - started) * 1000)
        assert not out.is_error
        started = time.perf_counter()
        out = await client.call_tool(
            "create_project",
            {"title": f"{prefix} project {i}", "archetype": "writer", "queue": True},
        )
        creating.append((time.perf_counter() - started) * 1000)
        assert not out.is_error, out.content
    return listing, creating


async def _stdio(board: Path, url: str, token: str, runs: int) -> tuple[float, Any]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mc", "--board", str(board), "mcp", "--token", token],
        env={**os.environ, "MC_DATABASE_URL": url},
    )
    started = time.perf_counter()
    async with Client(params) as client:
        await client.list_tools()
        opened = (time.perf_counter() - started) * 1000
        return opened, await _calls(client, runs, "stdio")


async def _http(origin: str, token: str, runs: int) -> tuple[float, Any]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    async with http, Client(streamable_http_client(f"{origin}/mcp", http_client=http)) as client:
        await client.list_tools()
        opened = (time.perf_counter() - started) * 1000
        return opened, await _calls(client, runs, "http")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with bench_database("mc-bench-mcp-") as (tmp, url):
        board = make_board(tmp / "board", 100)
        with db.connect(url) as conn:
            token = create_token(conn, "bench", "human")
        print(machine())
        print(f"board: 100 projects; {args.runs} calls of each\n")
        opened, (listing, creating) = asyncio.run(_stdio(board, url, token, args.runs))
        print(f"stdio: session opened (mc mcp spawned) in {opened:.0f} ms")
        print(f"  list_projects                    {summary(listing)}")
        print(f"  create_project + queue (commit)  {summary(creating)}")
        with web_process(board, url) as (_server, origin):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    opened, (listing, creating) = asyncio.run(_http(origin, token, args.runs))
                    break
                except Exception:  # the server is still starting
                    time.sleep(0.5)
            else:
                raise SystemExit("mc web did not answer")
        print(f"http: session opened in {opened:.0f} ms")
        print(f"  list_projects                    {summary(listing)}")
        print(f"  create_project + queue (commit)  {summary(creating)}")


if __name__ == "__main__":
    main()
