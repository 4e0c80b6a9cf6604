"""The real agent CLIs, unattended, through the whole pipeline: each preset runs its CLI
(installed by `make agent-clis` from npm / PyPI) in the sandbox, offline, against a local
stand-in for its model API (tests/standin) that plays a script: a tool call that writes
a file, then a final message. For each: a researcher's report lands as an artifact, a
coder's change lands on mc/<id>, a reviewer of that CLI writes verdict.json, tokens are
recorded — and each failure is judged by the CLI's own words: a bad key is permanent at
once, a rate limit is requeued without spending an attempt."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mc.mirror import db

from ..conftest import git
from ..standin import Script, StandinServer, Turn, serve
from .test_worker import Services, _coder_project, _queue, _wait, _workspace

REPO = Path(__file__).resolve().parents[2]
AGENTS = Path(os.environ.get("MC_AGENTS") or REPO / ".venv" / "agents")  # make agent-clis
AGENT_BIN = os.pathsep.join(
    str(AGENTS / part) for part in ("node_modules/.bin", "aider/bin", "openclaw/node_modules/.bin")
)
NODE24 = AGENTS / "node24" / "node_modules" / ".bin"  # OpenClaw needs Node >= 24.16


def cli(name: str) -> str:
    """The installed CLI (make agent-clis installs them); its absence fails the test."""
    found = shutil.which(name, path=f"{AGENT_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} is not installed: run make agent-clis (or set MC_AGENTS)")
    return found


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLIs on PATH, as a person has them."""
    monkeypatch.setenv("PATH", f"{AGENT_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def _board_config(
    board_path: Path, runner: str, model: str, extra: str = "", args: str = ""
) -> None:
    more = f", args: [{args}]" if args else ""
    spec = f"{{runner: {runner}, model: {model}, timeout: 120, max_attempts: 3{more}}}"
    (board_path / "mc.yaml").write_text(
        "branch: main\narchetypes:\n"
        + "".join(f"  {a}: {spec}\n" for a in ("coder", "researcher", "writer", "reviewer"))
        + extra
    )
    git(board_path, "commit", "-q", "-S", "-am", f"agents: {runner}")


@pytest.fixture
def standin() -> Iterator[list[StandinServer]]:
    servers: list[StandinServer] = []
    yield servers
    for server in servers:
        server.close()


def _job(url: str, pid: str, kind: str = "work") -> dict[str, Any]:
    with db.connect(url) as conn:
        row = conn.execute(
            "SELECT * FROM jobs WHERE project_id = %s AND kind = %s ORDER BY id DESC LIMIT 1",
            (pid, kind),
        ).fetchone()
    assert row is not None
    return dict(row)


def _log(url: str, job_id: int) -> list[dict[str, Any]]:
    with db.connect(url) as conn:
        return [
            dict(r)
            for r in conn.execute(
                "SELECT stream, text, shown FROM job_log WHERE job_id = %s ORDER BY id", (job_id,)
            ).fetchall()
        ]


# ---------------------------------------------------------------------- Gemini CLI


def _gemini(
    board_path: Path,
    standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch,
    turns: list[Turn],
    attempts: int = 1,
) -> StandinServer:
    from ..standin.gemini import GeminiHandler

    cli("gemini")
    server = serve(GeminiHandler, Script(turns))
    standin.append(server)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url)
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    settings = Path.home() / ".gemini" / "settings.json"  # the person's own, copied in
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"general": {"maxAttempts": attempts}}))
    _board_config(board_path, "gemini", "gemini-2.5-flash")
    return server


WRITE_REPORT = Turn(
    tool="write_file",
    args={"file_path": "{output_dir}/report.md", "content": "# Lisbon in spring\n\nGo.\n"},
    usage={"input": 1200, "output": 80, "cache_read": 200},
)
WRITE_VERDICT = Turn(
    tool="write_file",
    args={"file_path": "{output_dir}/verdict.json",
          "content": '{"verdict": "pass", "notes": "The report answers the brief."}'},
)  # fmt: skip


def test_gemini_researches_and_reviews_unattended(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    server = _gemini(board_path, standin, monkeypatch,
                     [WRITE_REPORT, Turn(text="The report is in place."), WRITE_VERDICT,
                      Turn(text="Reviewed.")])  # fmt: skip
    services = Services(board_path, database_url)
    try:
        started = time.monotonic()
        pid = _queue(board_path, "Lisbon trip")
        _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND ready_for_human", (pid,),
              seconds=120)  # fmt: skip
        took = time.monotonic() - started
    finally:
        services.close()
    report = git(board_path, "show", f"main:artifacts/{pid}/report.md").stdout
    assert report == "# Lisbon in spring\n\nGo.\n"
    assert git(board_path, "show", f"main:artifacts/{pid}/summary.txt").stdout == (
        "The report is in place."
    )
    work = _job(database_url, pid)
    # Two model turns: the tool call (1200 in, 200 of them cached, 80 out) and the answer.
    assert (work["input_tokens"], work["output_tokens"], work["cached_tokens"]) == (1320, 110, 200)
    assert work["model"] == "gemini-2.5-flash" and work["cost_usd"] is None
    shown = [line["shown"] for line in _log(database_url, work["id"]) if line["shown"]]
    assert "→ write_file" in " ".join(shown) and any(s.startswith("finished") for s in shown)
    # The brief reached it on stdin, never in argv; the model asked for is the one configured.
    assert any("/models/gemini-2.5-flash:" in p for p in server.paths)
    print(f"gemini: queue -> ready_for_human {took:.1f} s")


def test_gemini_bad_key_is_permanent_and_said_in_its_words(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    bad_key = Turn(status=401, error="API key not valid. Please pass a valid API key.")
    _gemini(board_path, standin, monkeypatch, [bad_key])
    services = Services(board_path, database_url)
    try:
        pid = _queue(board_path)
        row = _wait(database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'",
                    (pid,), seconds=60)  # fmt: skip
    finally:
        services.close()
    assert row["last_error"] == "Gemini CLI: API key not valid. Please pass a valid API key."
    assert row["attempts"] == 1  # not three attempts at a key that cannot work


def test_gemini_rate_limit_is_requeued_without_spending_an_attempt(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    quota = Turn(status=429, error="Resource has been exhausted (e.g. check quota).")
    _gemini(board_path, standin, monkeypatch, [quota])
    services = Services(board_path, database_url)
    try:
        pid = _queue(board_path)
        row = _wait(database_url,
                    "SELECT * FROM jobs WHERE project_id = %s AND tempfails >= 1", (pid,),
                    seconds=60)  # fmt: skip
    finally:
        services.close()
    assert row["attempts"] == 0 and row["state"] in ("queued", "running")
    assert row["last_error"].startswith("Gemini CLI: Resource has been exhausted")


def test_gemini_without_credentials_says_so(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, on_path: None
) -> None:
    cli("gemini")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    _board_config(board_path, "gemini", "gemini-2.5-flash")
    services = Services(board_path, database_url)
    try:
        pid = _queue(board_path)
        row = _wait(database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'",
                    (pid,), seconds=60)  # fmt: skip
    finally:
        services.close()
    assert row["attempts"] == 1
    assert row["last_error"].startswith("Gemini CLI: ")
    assert "GEMINI_API_KEY" in row["last_error"] and "\n" not in row["last_error"]


def test_gemini_codes_on_a_branch(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None, tmp_path: Path,
) -> None:  # fmt: skip
    fix = Turn(tool="write_file", args={"file_path": "{workspace}/FIXED.txt", "content": "fixed\n"})
    _gemini(board_path, standin, monkeypatch,
            [fix, Turn(text="Fixed."), WRITE_VERDICT, Turn(text="Reviewed.")])  # fmt: skip
    workspace = _workspace(tmp_path)
    services = Services(board_path, database_url)
    try:
        pid = _coder_project(board_path, workspace)
        _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND ready_for_human", (pid,),
              seconds=120)  # fmt: skip
    finally:
        services.close()
    assert git(workspace, "show", f"mc/{pid}:FIXED.txt").stdout == "fixed\n"
    assert "+fixed" in git(board_path, "show", f"main:artifacts/{pid}/changes.patch").stdout


def test_the_real_clis_are_installed() -> None:
    """What the suite drives; their absence is a failure, not a skip."""
    for name in ("claude", "codex", "gemini", "aider", "openclaw"):
        assert Path(cli(name)).exists()
    assert (NODE24 / "node").exists()
    assert sys.version_info >= (3, 11)


# ---------------------------------------------------------------------- Claude Code


def _claude(
    board_path: Path,
    standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch,
    turns: list[Turn],
    retries: int = 0,
) -> StandinServer:
    from ..standin.anthropic import AnthropicHandler

    cli("claude")
    server = serve(AnthropicHandler, Script(turns))
    standin.append(server)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-standin")
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", str(retries))  # its own retries: seconds
    _board_config(board_path, "claude", "sonnet")
    return server


def _claude_write(path: str, content: str) -> Turn:
    return Turn(tool="Write", args={"file_path": path, "content": content},
                usage={"input": 2000, "output": 50, "cache_read": 300})  # fmt: skip


def _run_to(database_url: str, board_path: Path, query: str, title: str = "Task") -> str:
    services = Services(board_path, database_url)
    try:
        pid = _queue(board_path, title)
        _wait(database_url, query, (pid,), seconds=120)
    finally:
        services.close()
    return pid


READY = "SELECT 1 FROM projects WHERE id = %s AND ready_for_human"
DEAD = "SELECT 1 FROM jobs WHERE project_id = %s AND state = 'dead'"
REQUEUED = "SELECT 1 FROM jobs WHERE project_id = %s AND tempfails >= 1"


def test_claude_writes_reviews_and_is_costed(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    verdict = '{"verdict": "pass", "notes": "Clear and complete."}'
    server = _claude(board_path, standin, monkeypatch, [
        _claude_write("{output_dir}/report.md", "# The launch post\n"), Turn(text="Posted."),
        _claude_write("{output_dir}/verdict.json", verdict), Turn(text="Reviewed."),
    ])  # fmt: skip
    pid = _run_to(database_url, board_path, READY, "Launch post")
    assert (
        git(board_path, "show", f"main:artifacts/{pid}/report.md").stdout == "# The launch post\n"
    )
    work = _job(database_url, pid)
    # Two turns: 2000 + 120 in (300 of them cached), 50 + 30 out; the CLI's own cost.
    assert (work["input_tokens"], work["output_tokens"], work["cached_tokens"]) == (2420, 80, 300)
    assert work["cost_usd"] is not None and float(work["cost_usd"]) > 0
    assert work["model"] == "sonnet"
    shown = " ".join(line["shown"] or "" for line in _log(database_url, work["id"]))
    assert "→ Write" in shown and "✓ Write" in shown and "says: Posted." in shown
    bodies = [b for b in server.requests if b.get("tools")]
    assert bodies and bodies[0]["model"].startswith("claude-sonnet")
    assert "Launch post" in json.dumps(bodies[0]["messages"])  # the brief, from stdin


def test_claude_bad_key_is_permanent(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    _claude(board_path, standin, monkeypatch, [Turn(status=401, error="invalid x-api-key")])
    pid = _run_to(database_url, board_path, DEAD)
    row = _job(database_url, pid)
    assert row["attempts"] == 1
    assert row["last_error"] == "Claude Code: Invalid API key · Fix external API key"


@pytest.mark.parametrize("status", [429, 529])
def test_claude_rate_limit_and_overload_are_requeued(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None, status: int,
) -> None:  # fmt: skip
    _claude(board_path, standin, monkeypatch, [Turn(status=status, error="slow down")])
    pid = _run_to(database_url, board_path, REQUEUED)
    row = _job(database_url, pid)
    assert row["attempts"] == 0
    assert row["last_error"].startswith("Claude Code: API Error:")


def test_claude_transient_error_then_success_is_success(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    verdict = '{"verdict": "pass", "notes": "ok"}'
    _claude(board_path, standin, monkeypatch, [
        Turn(status=529, error="Overloaded"),
        _claude_write("{output_dir}/report.md", "# ok\n"), Turn(text="Done."),
        _claude_write("{output_dir}/verdict.json", verdict), Turn(text="Reviewed."),
    ], retries=1)  # fmt: skip
    pid = _run_to(database_url, board_path, READY)
    row = _job(database_url, pid)
    assert row["attempts"] == 1 and row["tempfails"] == 0 and row["state"] == "succeeded"


def test_a_tool_claude_was_denied_fails_the_run(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    """A board whose runner takes the permissions back: the CLI denies the write and
    exits 0 — the run is a failure all the same."""
    _claude(board_path, standin, monkeypatch,
            [_claude_write("{output_dir}/report.md", "# x\n"), Turn(text="Done.")])  # fmt: skip
    text = (board_path / "mc.yaml").read_text().replace("runner: claude", "runner: careful")
    text += "runners:\n  careful: {preset: claude, args: [--permission-mode, default]}\n"
    (board_path / "mc.yaml").write_text(text)
    git(board_path, "commit", "-q", "-S", "-am", "a careful claude")
    pid = _run_to(database_url, board_path, "SELECT 1 FROM jobs WHERE project_id = %s "
                  "AND last_error IS NOT NULL")  # fmt: skip
    row = _job(database_url, pid)
    assert row["last_error"].startswith("Claude Code was denied 1 tool call(s): Write ")


def test_claude_without_credentials_says_not_logged_in(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, on_path: None
) -> None:
    cli("claude")
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    _board_config(board_path, "claude", "sonnet")
    pid = _run_to(database_url, board_path, DEAD)
    row = _job(database_url, pid)
    assert row["attempts"] == 1
    assert row["last_error"] == "Claude Code: Not logged in · Please run /login"


# ---------------------------------------------------------------------- aider


def _aider(
    board_path: Path, standin: list[StandinServer], monkeypatch: pytest.MonkeyPatch,
    turns: list[Turn],
) -> StandinServer:  # fmt: skip
    from ..standin.openai_chat import ChatHandler

    cli("aider")
    server = serve(ChatHandler, Script(turns))
    standin.append(server)
    monkeypatch.setenv("OPENAI_API_BASE", f"{server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-standin")
    _board_config(board_path, "aider", "openai/gpt-4o", args="--edit-format, whole")
    return server


def _whole(name: str, content: str) -> Turn:
    """aider's "whole" edit format: the file's name, then all of it in a fence."""
    return Turn(text=f"{name}\n```\n{content}```\n", usage={"input": 650, "output": 40})


def test_aider_writes_and_reviews_unattended(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    _aider(board_path, standin, monkeypatch, [
        _whole("report.md", "# Backup tools\n\nrestic.\n"),
        _whole("verdict.json", '{"verdict": "pass", "notes": "It compares them."}\n'),
    ])  # fmt: skip
    pid = _run_to(database_url, board_path, READY, "Backups")
    assert git(board_path, "show", f"main:artifacts/{pid}/report.md").stdout == (
        "# Backup tools\n\nrestic.\n"
    )
    work = _job(database_url, pid)
    assert work["input_tokens"] > 0 and work["output_tokens"] > 0
    assert work["cost_usd"] is not None and float(work["cost_usd"]) > 0  # aider's own figure
    shown = " ".join(line["shown"] or "" for line in _log(database_url, work["id"]))
    assert "✓ edited report.md" in shown


def test_aider_bad_key_is_permanent_though_it_exits_0(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    _aider(board_path, standin, monkeypatch, [Turn(status=401)])
    pid = _run_to(database_url, board_path, DEAD)
    row = _job(database_url, pid)
    assert row["attempts"] == 1
    assert row["last_error"].startswith("aider: AuthenticationError: ")
    assert "Incorrect API key provided" in row["last_error"]


def test_aider_rate_limit_is_stopped_and_requeued(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    """aider would retry for a minute on its own: mc stops it at the first rate-limit
    line and requeues the job without spending an attempt."""
    _aider(board_path, standin, monkeypatch, [Turn(status=429)])
    started = time.monotonic()
    pid = _run_to(database_url, board_path, REQUEUED)
    assert time.monotonic() - started < 45
    row = _job(database_url, pid)
    assert row["attempts"] == 0
    assert row["last_error"].startswith("aider: RateLimitError: ")


def test_aider_that_edits_nothing_has_failed(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    _aider(board_path, standin, monkeypatch, [Turn(text="I would rather not.")])
    pid = _run_to(database_url, board_path, "SELECT 1 FROM jobs WHERE project_id = %s "
                  "AND last_error IS NOT NULL")  # fmt: skip
    assert _job(database_url, pid)["last_error"].startswith("aider made no edit")


# ---------------------------------------------------------------------- OpenClaw


def _openclaw(
    board_path: Path, standin: list[StandinServer], monkeypatch: pytest.MonkeyPatch,
    turns: list[Turn], key: str | None = "sk-standin",
) -> StandinServer:  # fmt: skip
    from ..standin.openai_chat import ChatHandler

    cli("openclaw")
    monkeypatch.setenv("PATH", f"{NODE24}{os.pathsep}{os.environ['PATH']}")
    server = serve(ChatHandler, Script(turns))
    standin.append(server)
    provider: dict[str, Any] = {
        "baseUrl": f"{server.url}/v1", "api": "openai-completions",
        "models": [{"id": "gpt-4o", "name": "Stand-in", "reasoning": False, "input": ["text"],
                    "cost": {"input": 2.5, "output": 10, "cacheRead": 0, "cacheWrite": 0},
                    "contextWindow": 128000, "maxTokens": 4096}],
    }  # fmt: skip
    if key is not None:
        provider["apiKey"] = key
    config = Path.home() / ".openclaw" / "openclaw.json"  # the person's own, copied in
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        json.dumps({"models": {"mode": "replace", "providers": {"standin": provider}}})
    )
    _board_config(board_path, "openclaw", "standin/gpt-4o")
    return server


def test_openclaw_writes_and_reviews_unattended(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    verdict = '{"verdict": "pass", "notes": "Three venues, priced."}'
    _openclaw(board_path, standin, monkeypatch, [
        Turn(tool="write", args={"path": "report.md", "content": "# Offsite\n"}),
        Turn(text="Wrote report.md."),
        Turn(tool="write", args={"path": "verdict.json", "content": verdict}),
        Turn(text="Reviewed."),
    ])  # fmt: skip
    pid = _run_to(database_url, board_path, READY, "Offsite")
    assert git(board_path, "show", f"main:artifacts/{pid}/report.md").stdout == "# Offsite\n"
    work = _job(database_url, pid)
    assert work["input_tokens"] > 0 and float(work["cost_usd"]) > 0
    assert git(board_path, "show", f"main:artifacts/{pid}/summary.txt").stdout == (
        "Wrote report.md."
    )


def test_openclaw_bad_key_is_permanent(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    _openclaw(board_path, standin, monkeypatch, [Turn(status=401)])
    pid = _run_to(database_url, board_path, DEAD)
    row = _job(database_url, pid)
    assert row["attempts"] == 1
    assert row["last_error"].startswith(
        "OpenClaw: Authentication failed (provider returned HTTP 401)"
    )


def test_openclaw_rate_limit_is_stopped_and_requeued(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    """OpenClaw would retry for minutes, its --timeout notwithstanding: mc stops it at
    its first retry and requeues the job without spending an attempt."""
    _openclaw(board_path, standin, monkeypatch, [Turn(status=429)])
    started = time.monotonic()
    pid = _run_to(database_url, board_path, REQUEUED)
    assert time.monotonic() - started < 60
    row = _job(database_url, pid)
    assert row["attempts"] == 0
    assert row["last_error"] == "OpenClaw: API rate limit reached. Please try again later."


def test_openclaw_without_credentials_says_so(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    cli("openclaw")
    monkeypatch.setenv("PATH", f"{NODE24}{os.pathsep}{os.environ['PATH']}")
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    _board_config(board_path, "openclaw", "anthropic/claude-sonnet-4-6")
    pid = _run_to(database_url, board_path, DEAD)
    row = _job(database_url, pid)
    assert row["attempts"] == 1
    assert row["last_error"].startswith('OpenClaw: No API key found for provider "anthropic"')


# ---------------------------------------------------------------------- Codex


def _codex(
    board_path: Path, standin: list[StandinServer], monkeypatch: pytest.MonkeyPatch,
    turns: list[Turn], retries: int = 0,
) -> StandinServer:  # fmt: skip
    from ..standin.openai_responses import ResponsesHandler, config_toml

    cli("codex")
    server = serve(ResponsesHandler, Script(turns))
    standin.append(server)
    config = Path.home() / ".codex" / "config.toml"  # the person's own, copied in
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(config_toml(server, retries=retries))
    monkeypatch.setenv("STANDIN_API_KEY", "sk-standin")
    _board_config(board_path, "codex", "gpt-5.5")
    return server


def _codex_writes(path: str, text: str) -> Turn:
    from ..standin.openai_responses import shell_turn

    quoted = text.replace("'", "'\\''")
    return shell_turn(f"printf '%s' '{quoted}' > {path}")


def test_codex_writes_reviews_and_counts_tokens(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    verdict = '{"verdict": "pass", "notes": "Good."}'
    _codex(board_path, standin, monkeypatch, [
        _codex_writes("{output_dir}/report.md", "# Codex report\n"), Turn(text="Wrote it."),
        _codex_writes("{output_dir}/verdict.json", verdict), Turn(text="Reviewed."),
    ])  # fmt: skip
    pid = _run_to(database_url, board_path, READY)
    assert git(board_path, "show", f"main:artifacts/{pid}/report.md").stdout == "# Codex report\n"
    work = _job(database_url, pid)
    assert work["input_tokens"] > 0 and work["output_tokens"] > 0 and work["model"] == "gpt-5.5"
    shown = " ".join(line["shown"] or "" for line in _log(database_url, work["id"]))
    assert "→ run" in shown and "✓ run" in shown and "says: Wrote it." in shown


def test_codex_bad_key_is_permanent(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    _codex(board_path, standin, monkeypatch, [Turn(status=401)])
    pid = _run_to(database_url, board_path, DEAD)
    row = _job(database_url, pid)
    assert row["attempts"] == 1
    assert row["last_error"].startswith("Codex: unexpected status 401 Unauthorized")


def test_codex_rate_limit_is_requeued(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    _codex(board_path, standin, monkeypatch, [Turn(status=429)])
    pid = _run_to(database_url, board_path, REQUEUED)
    row = _job(database_url, pid)
    assert row["attempts"] == 0
    assert "429 Too Many Requests" in row["last_error"]


def test_codex_reconnecting_then_completing_is_a_success(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    """A transient error event ("Reconnecting... 1/3") followed by turn.completed."""
    from ..standin.openai_responses import DROP

    verdict = '{"verdict": "pass", "notes": "Good."}'
    _codex(board_path, standin, monkeypatch, [
        Turn(status=DROP), _codex_writes("{output_dir}/report.md", "# ok\n"), Turn(text="Done."),
        _codex_writes("{output_dir}/verdict.json", verdict), Turn(text="Reviewed."),
    ], retries=3)  # fmt: skip
    pid = _run_to(database_url, board_path, READY)
    work = _job(database_url, pid)
    assert (work["attempts"], work["tempfails"], work["state"]) == (1, 0, "succeeded")
    log = " ".join(line["text"] for line in _log(database_url, work["id"]))
    assert "Reconnecting... 1/3" in log


def test_codex_with_no_network_is_stopped_not_waited_for(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, on_path: None,
    standin: list[StandinServer],
) -> None:  # fmt: skip
    """Nothing listens at its provider: codex would wait for the network for ever."""
    server = _codex(board_path, standin, monkeypatch, [Turn(text="never")], retries=0)
    server.close()
    standin.remove(server)
    started = time.monotonic()
    pid = _run_to(database_url, board_path, REQUEUED)
    assert time.monotonic() - started < 60
    assert _job(database_url, pid)["attempts"] == 0


def test_codex_without_its_key_says_which(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    _codex(board_path, standin, monkeypatch, [Turn(text="never")])
    monkeypatch.delenv("STANDIN_API_KEY")
    pid = _run_to(database_url, board_path, DEAD)
    row = _job(database_url, pid)
    assert row["attempts"] == 1
    assert row["last_error"] == "Codex: Missing environment variable: `STANDIN_API_KEY`."


def test_a_missing_cli_fails_at_once_with_how_to_install_it(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No three attempts and a traceback: one line, the install command, waiting for you."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no agent CLIs here
    _board_config(board_path, "claude", "sonnet")
    pid = _run_to(database_url, board_path, DEAD)
    row = _job(database_url, pid)
    assert row["attempts"] <= 1
    assert row["last_error"] == "claude: not installed (npm install -g @anthropic-ai/claude-code)"


# ---------------------------------------------------------------------- coder work, each CLI


def _fix_turns(name: str) -> list[Turn]:
    """A coder's change to its worktree, then a reviewer's verdict, in the CLI's own way."""
    verdict = '{"verdict": "pass", "notes": "The fix is there."}'
    if name == "claude":
        return [
            _claude_write("{workspace}/FIXED.txt", "fixed\n"),
            Turn(text="Fixed."),
            _claude_write("{output_dir}/verdict.json", verdict),
            Turn(text="Reviewed."),
        ]
    if name == "codex":
        return [
            _codex_writes("{workspace}/FIXED.txt", "fixed\n"),
            Turn(text="Fixed."),
            _codex_writes("{output_dir}/verdict.json", verdict),
            Turn(text="Reviewed."),
        ]
    if name == "aider":
        return [_whole("FIXED.txt", "fixed\n"), _whole("verdict.json", verdict + "\n")]
    return [Turn(tool="write", args={"path": "FIXED.txt", "content": "fixed\n"}),
            Turn(text="Fixed."),
            Turn(tool="write", args={"path": "verdict.json", "content": verdict}),
            Turn(text="Reviewed.")]  # fmt: skip


@pytest.mark.parametrize("name", ["claude", "codex", "aider", "openclaw"])
def test_each_cli_codes_on_a_branch_and_reviews_it(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None, tmp_path: Path, name: str,
) -> None:  # fmt: skip
    setup = {"claude": _claude, "codex": _codex, "aider": _aider, "openclaw": _openclaw}[name]
    setup(board_path, standin, monkeypatch, _fix_turns(name))
    workspace = _workspace(tmp_path)
    services = Services(board_path, database_url)
    try:
        pid = _coder_project(board_path, workspace)
        _wait(database_url, READY, (pid,), seconds=120)
    finally:
        services.close()
    assert git(workspace, "show", f"mc/{pid}:FIXED.txt").stdout.strip() == "fixed"
    patch = git(board_path, "show", f"main:artifacts/{pid}/changes.patch").stdout
    assert "+fixed" in patch and "FIXED.txt" in patch
    assert not (workspace / "FIXED.txt").exists()  # the person's checkout is untouched
    work = _job(database_url, pid)
    assert work["input_tokens"] > 0  # as the CLI reported them
    # Nothing of the CLI's own was left in the change (history files, .gitignore edits).
    assert git(workspace, "diff", "--name-only", "main", f"mc/{pid}").stdout.split() == [
        "FIXED.txt"
    ]


def test_aider_without_a_key_says_so(
    board_path: Path, database_url: str, standin: list[StandinServer],
    monkeypatch: pytest.MonkeyPatch, on_path: None,
) -> None:  # fmt: skip
    _aider(board_path, standin, monkeypatch, [Turn(text="never")])
    monkeypatch.delenv("OPENAI_API_KEY")
    pid = _run_to(database_url, board_path, DEAD)
    row = _job(database_url, pid)
    assert row["attempts"] == 1
    assert row["last_error"].startswith("aider: AuthenticationError: ")
    assert "api_key" in row["last_error"] or "OPENAI_API_KEY" in row["last_error"]
