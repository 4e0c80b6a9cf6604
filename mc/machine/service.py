"""systemd user units for running the board's services."""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from pathlib import Path

from mc.settings import Settings, current


def _unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def units(board_root: Path) -> dict[str, str]:
    """Unit name -> text: everything for this board (`mc up`: the daemon with the
    dispatcher, the workers and the web board), restarted on failure."""
    tag = hashlib.sha1(str(board_root).encode()).hexdigest()[:8]
    command = " ".join(
        shlex.quote(part) for part in (sys.executable, "-m", "mc", "--board", str(board_root), "up")
    )
    up = f"""[Unit]
Description=Mission Control for {board_root} (daemon, dispatcher, workers, web board)
After=network.target

[Service]
Type=simple
WorkingDirectory={board_root}
# MC_DATABASE_URL and other settings of the shell that installed this (mode 0600).
EnvironmentFile=-{board_root}/.mc/service.env
ExecStart={command}
Restart=on-failure
RestartSec=2
# SIGTERM: workers finish or hand back their jobs (<= 30 s), the daemon its sync, and
# the embedded PostgreSQL stops. Log in to the web board with: mc login
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=60

[Install]
WantedBy=default.target
"""
    return {f"mc-up-{tag}.service": up}


# What the unit takes from the shell that installs it (its board it names itself).
SETTINGS = (Settings.database_url, Settings.tz, Settings.git, Settings.pg_user)


def environment_lines() -> list[str]:
    """The MC_* settings of this shell, for the service's environment file."""
    given = current()
    return [f"{s.variable}={text}" for s in SETTINGS if (text := given.text(s)) is not None]


def install(found: dict[str, str], board_root: Path) -> list[Path]:
    """Write the units, and the MC_* settings of this shell for them (a URL may hold a password)."""
    env = board_root / ".mc" / "service.env"
    env.parent.mkdir(exist_ok=True)
    lines = environment_lines()
    fd = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(line + "\n" for line in lines))
    folder = _unit_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in found.items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return [*written, env]
