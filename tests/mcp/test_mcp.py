"""The assistant's board over MCP, driven by real MCP clients: the SDK's own client over
stdio (`mc mcp`) and over streamable HTTP (/mcp on the real web server), and the MCP
Inspector's CLI from npm. What an assistant does lands as it would from the CLI (a
commit naming the token), an agent token is refused what only a person does, there is
no approve tool, and a hand-off job is picked up and completed through the tools."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from mc.mirror import db
from mc.mirror.auth import create_token

from ..conftest import git, run_mc, wait_for_file
from ..pipeline.test_worker import FAKE, Services, _write_config
from ..webfixtures import Running, web  # noqa: F401

AGENTS = Path(
    os.environ.get("MC_AGENTS") or Path(__file__).resolve().parents[2] / ".venv" / "agents"
)
INSPECTOR = AGENTS / "node_modules" / ".bin" / "mcp-inspector"

PERSON_TOOLS = {
    "create_project",
    "edit_project",
    "queue_project",
    "rework_project",
    "cancel_project",
}


def _token(url: str, role: str, name: str | None = None, scope: str | None = None) -> str:
    with db.connect(url) as conn:
        return create_token(conn, name or f"{role}-assistant", role, scope=scope)


def _stdio(board_path: Path, url: str, token: str) -> Any:
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "mc", "--board", str(board_path), "mcp", "--token", token],
        env={**os.environ, "MC_DATABASE_URL": url},
        cwd=str(board_path),
    )


def _session(target: Any, token: str | None = None) -> Any:
    """A connected SDK client (an async context manager) for stdio params or a URL."""
    from mcp import Client

    if isinstance(target, str):
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        http = create_mcp_http_client(headers=headers)

        class _Both:
            async def __aenter__(self) -> Any:
                await http.__aenter__()
                self.client = Client(streamable_http_client(target, http_client=http))
                return await self.client.__aenter__()

            async def __aexit__(self, *exc: Any) -> None:
                await self.client.__aexit__(*exc)
                await http.__aexit__(*exc)

        return _Both()
    return Client(target)


def _run(body: Callable[[], Awaitable[Any]]) -> Any:
    """The client's coroutine on a thread of its own: the browser tests' Playwright keeps
    an event loop running on the main thread for the whole session."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, body()).result(timeout=300)


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def _lane(board_path: Path, pid: str) -> str | None:
    for lane in ("backlog", "up-next", "in-progress", "review", "done"):
        if (board_path / lane / f"{pid}.yaml").exists():
            return lane
    return None


async def _assistant_session(client: Any) -> dict[str, Any]:
    """What an assistant does first: look, plan a project, queue it, read it back."""
    tools = {t.name for t in (await client.list_tools()).tools}
    made = await client.call_tool(
        "create_project",
        {
            "title": "Research vacation logistics",
            "archetype": "researcher",
            "description": "Flights and trains to Lisbon in May; <b>not</b> markup.",
            "acceptance": ["three options with prices"],
            "queue": True,
        },
    )
    shown = await client.call_tool("show_project", {"project_id": "research-vacation-logistics"})
    summary = await client.call_tool("board_summary", {})
    return {"tools": tools, "made": made, "shown": shown, "summary": summary}


def _check_created(out: dict[str, Any], board_path: Path, via: str) -> None:
    assert not out["made"].is_error, _text(out["made"])
    made = out["made"].structured_content
    assert made["id"] == "research-vacation-logistics" and made["lane"] == "up-next"
    assert _lane(board_path, made["id"]) == "up-next"  # the file is in git, in its lane
    message = git(board_path, "log", "-1", "--format=%B").stdout
    assert "Mc-Action: create" in message and "Mc-Actor: human" in message
    assert f"Mc-Via: mcp: {via} (token)" in message  # the commit names the token
    assert git(board_path, "rev-parse", "HEAD").stdout.strip() == made["commit"]
    shown = out["shown"].structured_content
    assert shown["description"] == "Flights and trains to Lisbon in May; <b>not</b> markup."
    lanes = {lane["name"]: lane for lane in out["summary"].structured_content["lanes"]}
    assert lanes["up-next"]["count"] == 1


def test_an_assistant_over_stdio_plans_and_queues_a_project(
    board_path: Path, database_url: str
) -> None:
    token = _token(database_url, "human", "claude")

    async def go() -> dict[str, Any]:
        async with _session(_stdio(board_path, database_url, token)) as client:
            return await _assistant_session(client)

    out = _run(go)
    assert "approve" not in " ".join(out["tools"])  # approval is a person's signature
    assert out["tools"] >= PERSON_TOOLS
    _check_created(out, board_path, "claude")


def test_an_assistant_over_http_plans_and_queues_a_project(web: Running) -> None:  # noqa: F811
    token = web.token("human", "openclaw")

    async def go() -> dict[str, Any]:
        async with _session(f"{web.origin}/mcp", token) as client:
            return await _assistant_session(client)

    out = _run(go)
    assert not any("approve" in t for t in out["tools"])
    _check_created(out, web.board_path, "openclaw")


def test_http_without_a_valid_bearer_token_is_refused_before_mcp(web: Running) -> None:  # noqa: F811
    import httpx

    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    for auth in (None, "Bearer not-a-token", "Basic abc"):
        sent = {**headers, **({"authorization": auth} if auth else {})}
        r = httpx.post(f"{web.origin}/mcp", json=body, headers=sent, timeout=10)
        assert r.status_code == 401 and "bearer token" in r.json()["error"]
        assert r.headers["www-authenticate"].startswith("Bearer")
    # A revoked token stops working at once.
    token = web.token("human", "revoked-soon")
    run_mc(web.board_path, "token", "revoke", "revoked-soon", env={"MC_DATABASE_URL": web.url})
    r = httpx.post(
        f"{web.origin}/mcp", json=body, headers={**headers, "authorization": f"Bearer {token}"}
    )
    assert r.status_code == 401


def test_an_agent_token_reads_and_comments_but_may_not_plan_or_move(web: Running) -> None:  # noqa: F811
    from mc.board import actions
    from mc.board.board import Board

    with Board.open(web.board_path) as board:
        actions.new_project(board, "Alpha", "coder", project_id="alpha")
    web.wait_synced()
    before = git(web.board_path, "rev-parse", "HEAD").stdout
    token = web.token("agent", "subagent")

    async def go() -> dict[str, Any]:
        async with _session(f"{web.origin}/mcp", token) as client:
            said = {}
            for name, args in (
                ("queue_project", {"project_id": "alpha"}),
                ("cancel_project", {"project_id": "alpha"}),
                ("create_project", {"title": "Sneaky", "archetype": "coder"}),
                ("edit_project", {"project_id": "alpha", "fields": {"priority": 1}}),
            ):
                said[name] = await client.call_tool(name, args)
            said["show"] = await client.call_tool("show_project", {"project_id": "alpha"})
            said["comment"] = await client.call_tool(
                "comment", {"project_id": "alpha", "text": "<script>alert(1)</script>"}
            )
            return said

    said = _run(go)
    for name in ("queue_project", "cancel_project", "create_project", "edit_project"):
        assert said[name].is_error and "a agent token may not do this" in _text(said[name]), name
    assert git(web.board_path, "rev-parse", "HEAD").stdout == before  # nothing was committed
    assert _lane(web.board_path, "alpha") == "backlog"
    assert not said["show"].is_error and said["show"].structured_content["id"] == "alpha"
    assert not said["comment"].is_error
    with db.connect(web.url) as conn:
        row = db.fetch_one(conn, "comment_list", {"project_id": "alpha"})
    assert row is not None and row["text"] == "<script>alert(1)</script>" and row["role"] == "agent"


def test_a_refusal_reaches_the_assistant_in_the_librarys_words(
    board_path: Path, database_url: str
) -> None:
    token = _token(database_url, "human")

    async def go() -> list[Any]:
        async with _session(_stdio(board_path, database_url, token)) as client:
            return [
                await client.call_tool("create_project", {"title": "X", "archetype": "wizard"}),
                await client.call_tool("show_project", {"project_id": "nope"}),
                await client.call_tool("queue_project", {"project_id": "nope"}),
            ]

    wizard, missing, queued = _run(go)
    assert wizard.is_error and "--archetype 'wizard': mc.yaml defines" in _text(wizard)
    assert missing.is_error and "nope" in _text(missing)
    assert queued.is_error and "nope" in _text(queued)


def test_mc_mcp_refuses_without_a_token_in_one_line(board_path: Path, database_url: str) -> None:
    env = {"MC_DATABASE_URL": database_url, "MC_TOKEN": ""}
    none = run_mc(board_path, "mcp", env=env)
    assert none.returncode == 1 and none.stderr.count("\n") == 1 and "--token" in none.stderr
    wrong = run_mc(board_path, "mcp", "--token", "nope", env=env)
    assert wrong.returncode == 1 and "no such active token" in wrong.stderr


def test_an_assistant_picks_up_a_handoff_job_and_completes_it(
    board_path: Path, database_url: str
) -> None:
    """The first version's loop, through tools: a job is handed off, the assistant finds
    it with its brief, does the work and reports it with its files; the review runs and
    the project is ready for the person, with the files as its artifacts."""
    review = f"{{runner: command, command: [{sys.executable}, {FAKE}, ok], timeout: 60}}"
    _write_config(
        board_path,
        "branch: main\narchetypes:\n"
        + "".join(
            f"  {n}: {{runner: handoff, timeout: 120, max_attempts: 1}}\n"
            for n in ("coder", "researcher", "writer", "ops")
        )
        + f"  reviewer: {review}\n",
    )
    services = Services(board_path, database_url)
    try:
        made = run_mc(board_path, "project", "new", "Book the flights", "-a", "ops", "--queue")
        assert made.returncode == 0, made.stderr
        pid = made.stdout.split()[1]
        token = _token(database_url, "human", "assistant")

        async def go() -> tuple[Any, Any, Any]:
            async with _session(_stdio(board_path, database_url, token)) as client:
                for _ in range(300):
                    found = await client.call_tool("list_handoffs", {})
                    if found.structured_content["handoffs"]:
                        break
                    await asyncio.sleep(0.1)
                job = found.structured_content["handoffs"][0]
                claimed = await client.call_tool("claim_handoff", {"job_id": job["job"]})
                assert not claimed.is_error, _text(claimed)
                assert "# Book the flights" in claimed.structured_content["brief"]
                bad = await client.call_tool(
                    "complete_handoff", {"job_id": job["job"], "files": {"../escape.md": "x"}}
                )
                done = await client.call_tool(
                    "complete_handoff",
                    {
                        "job_id": job["job"],
                        "notes": "Booked.",
                        "files": {"booking.md": "# Flights\nTAP 123\n"},
                    },
                )
                return found, bad, done

        found, bad, done = _run(go)
        job = found.structured_content["handoffs"][0]
        assert job["project_id"] == pid and job["title"] == "Book the flights"
        assert bad.is_error and "not a plain relative file name" in _text(bad)
        assert not done.is_error, _text(done)
        deadline_file = board_path / "review" / f"{pid}.yaml"
        wait_for_file(deadline_file, 60)
        for _ in range(300):
            shown = git(board_path, "show", f"main:review/{pid}.yaml").stdout
            if "ready_for_human: true" in shown:
                break
            import time

            time.sleep(0.1)
        assert "ready_for_human: true" in shown
        assert git(board_path, "show", f"main:artifacts/{pid}/booking.md").stdout == (
            "# Flights\nTAP 123\n"
        )
    finally:
        services.close()


# ---------------------------------------------------------------------- the Inspector's CLI


def _inspector(*args: str, env: dict[str, str] | None = None) -> Any:
    if not INSPECTOR.exists():
        pytest.fail(f"the MCP Inspector is not installed at {INSPECTOR}: run make agent-clis")
    proc = subprocess.run(
        [str(INSPECTOR), "--cli", "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr or proc.stdout
    return json.loads(proc.stdout)


def test_the_mcp_inspector_lists_the_tools_and_creates_a_project(
    web: Running,  # noqa: F811
    tmp_path: Path,
) -> None:
    token = web.token("human", "inspector")
    home = {"HOME": str(tmp_path)}  # it keeps a storage folder there
    over_http = ["--header", f"Authorization: Bearer {token}"]
    listed = _inspector(f"{web.origin}/mcp", *over_http, "--method", "tools/list", env=home)
    names = {t["name"] for t in listed.get("result", listed)["tools"]}
    assert names >= PERSON_TOOLS and not any("approve" in n for n in names)
    made = _inspector(
        f"{web.origin}/mcp",
        *over_http,
        "--method",
        "tools/call",
        "--tool-name",
        "create_project",
        "--tool-args-json",
        json.dumps({"title": "Build a CLI tool", "archetype": "coder"}),
        env=home,
    )
    result = made.get("result", made)
    assert result["isError"] is False and result["structuredContent"]["lane"] == "backlog"
    assert _lane(web.board_path, "build-a-cli-tool") == "backlog"
    # And over stdio, the way a desktop assistant starts it.
    stdio = [
        "-e",
        f"MC_DATABASE_URL={web.url}",
        "-e",
        f"MC_TOKEN={token}",
        "-e",
        f"HOME={os.environ['HOME']}",
        "-e",
        f"GIT_CONFIG_GLOBAL={os.environ.get('GIT_CONFIG_GLOBAL', '')}",
        "--",
        sys.executable,
        "-m",
        "mc",
        "--board",
        str(web.board_path),
        "mcp",
    ]
    tools = _inspector("--method", "tools/list", *stdio, env=home)  # server args after --
    tools = tools.get("result", tools)
    assert "board_summary" in {t["name"] for t in tools["tools"]}
