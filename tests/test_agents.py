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

from mc import db

from .conftest import git
from .standin import Script, StandinServer, Turn, serve
from .test_worker import Services, _coder_project, _queue, _wait, _workspace

REPO = Path(__file__).resolve().parents[1]
AGENT_BIN = Path(
    os.environ.get("MC_AGENT_BIN") or REPO / ".venv" / "agents" / "node_modules" / ".bin"
)


def cli(name: str) -> str:
    """The installed CLI (make agent-clis installs them); its absence fails the test."""
    found = shutil.which(name, path=f"{AGENT_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} is not installed: run make agent-clis (or set MC_AGENT_BIN)")
    return found


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLIs on PATH, as a person has them."""
    monkeypatch.setenv("PATH", f"{AGENT_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def _board_config(board_path: Path, runner: str, model: str, extra: str = "") -> None:
    spec = f"{{runner: {runner}, model: {model}, timeout: 120, max_attempts: 3}}"
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
    from .standin.gemini import GeminiHandler

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
    for name in ("gemini",):
        assert Path(cli(name)).exists()
    assert sys.version_info >= (3, 11)
