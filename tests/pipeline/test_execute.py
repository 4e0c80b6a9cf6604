"""Running agents under the guard: output, timeouts, cancellation, a worker's death."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mc.pipeline.execute import KILLED_BY_GUARD, agent_env, run_agent

FAKE = str(Path(__file__).parents[1] / "fake_agent.py")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive: look at its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _run(tmp_path: Path, mode: str, **kw: object):  # type: ignore[no-untyped-def]
    lines: list[tuple[str, str]] = []
    env = agent_env({"FAKE_PIDS": str(tmp_path / "pids")})
    kw.setdefault("timeout", 30)
    kw.setdefault("beat", lambda: None)
    result = run_agent(
        [sys.executable, FAKE, mode],
        cwd=tmp_path,
        env=env,
        on_output=lambda stream, text: lines.append((stream, text)),
        **kw,  # type: ignore[arg-type]
    )
    return result, lines


def test_output_streams_and_exit_status_comes_back(tmp_path: Path) -> None:
    result, lines = _run(tmp_path, "ok")
    assert result.code == 0 and not result.timed_out and not result.stopped
    assert ("stdout", "done\n") in lines and "done" in result.output
    failed, lines = _run(tmp_path, "fail")
    assert failed.code == 3 and ("stderr", "something broke\n") in lines
    assert _run(tmp_path, "tempfail")[0].code == 75


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    start = time.monotonic()
    result, _ = _run(tmp_path, "children", timeout=1.0, grace=1.0, beat_every=0.2)
    assert result.timed_out and result.code == KILLED_BY_GUARD
    assert time.monotonic() - start < 10
    pids = _pids(tmp_path / "pids")
    assert len(pids) == 3 and _wait_gone(pids) == []


def test_an_agent_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, "ignore-term", timeout=0.5, grace=0.5, beat_every=0.2)
    assert result.timed_out
    assert _wait_gone(_pids(tmp_path / "pids")) == []


def test_cancel_from_the_heartbeat(tmp_path: Path) -> None:
    beats = []

    def beat() -> str | None:
        beats.append(1)
        return "cancel" if len(beats) >= 2 else None

    result, _ = _run(tmp_path, "hang", beat=beat, beat_every=0.2, grace=0.5)
    assert result.stopped == "cancel" and result.code == KILLED_BY_GUARD
    assert _wait_gone(_pids(tmp_path / "pids")) == []


def test_the_agent_gets_no_secrets_and_no_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    monkeypatch.setenv("MC_DATABASE_URL", "postgresql://secret@db/mc")
    monkeypatch.setenv("PGPASSWORD", "hunter2")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/home/me/.gitconfig")
    env = agent_env({"MC_PROJECT_ID": "p"})
    seen = json.loads(
        subprocess.run(
            [sys.executable, FAKE, "env"], env=env, capture_output=True, text=True
        ).stdout.splitlines()[-1]
    )
    for secret in ("SSH_AUTH_SOCK", "MC_DATABASE_URL", "PGPASSWORD", "GIT_CONFIG_GLOBAL"):
        assert secret not in seen
    assert seen["MC_PROJECT_ID"] == "p" and seen["GIT_CONFIG_VALUE_0"] == "false"
    result, _ = _run(tmp_path, "stdin")
    assert "''" in result.output  # stdin is closed: reads nothing


WORKER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from mc.pipeline.execute import agent_env, run_agent
    run_agent([sys.executable, {fake!r}, "children"], cwd={cwd!r},
              env=agent_env({{"FAKE_PIDS": {pids!r}}}), timeout=3600,
              on_output=lambda s, t: None, beat=lambda: None, beat_every=0.5, lease=6, grace=0.5)
    """
)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP])
def test_a_dead_or_paused_worker_takes_its_agent_down(tmp_path: Path, how: int) -> None:
    """SIGKILL: the guard sees its pipe close. SIGSTOP: it sees the heartbeats stop."""
    pids_file = tmp_path / "pids"
    script = WORKER.format(
        root=str(Path(__file__).parents[2]), fake=FAKE, cwd=str(tmp_path), pids=str(pids_file)
    )
    worker = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while len(_pids(pids_file)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        agents = _pids(pids_file)
        assert len(agents) == 3
        os.kill(worker.pid, how)
        # Paused: the guard's own lease (6 s less two beats, at least 5 s) runs out.
        assert _wait_gone(agents, seconds=15) == []
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
