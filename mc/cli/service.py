"""`mc service install`: mc up as a systemd user service."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from mc.cli.common import _board, app

service_app = typer.Typer(
    help="Run mc up for this board as a systemd user service.", no_args_is_help=True
)


app.add_typer(service_app, name="service")


@service_app.command("install")
def service_install(
    print_only: bool = typer.Option(
        False, "--print", help="Show the units instead of writing them."
    ),
) -> None:
    """A systemd user unit running mc up for this board, restarted on failure."""
    from mc.machine.service import environment_lines, install, units
    from mc.mirror.status import _redact

    with _board() as board:
        root = board.root
    found = units(Path(root))
    if print_only:
        for name, text in found.items():
            sys.stdout.write(f"# {name}\n{text}\n")
        sys.stdout.write(f"# {root}/.mc/service.env (mode 0600)\n")
        for line in environment_lines():
            key, _, value = line.partition("=")
            sys.stdout.write(f"{key}={_redact(value)}\n")
        return
    for path in install(found, Path(root)):
        sys.stdout.write(f"Wrote {path}\n")
    names = " ".join(found)
    sys.stdout.write(
        f"Enable with: systemctl --user daemon-reload && systemctl --user enable --now {names}\n"
    )
