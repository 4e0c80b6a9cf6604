"""The `mc` / `missionctl` command line: thin commands over the library.

Each command parses its arguments, makes one library call and prints the result.
Library modules are imported inside the commands, so `mc --help` and the fast
commands do not pay for what they do not use. One module per command group; importing
it registers its commands on the app (mc.cli.common).
"""

from __future__ import annotations

import os
import sys

from mc.cli.common import app

__all__ = ["app", "main", "register"]

# Which module registers each top-level command. A command registers only its own
# module's commands: typer builds the click tree of every registered command on each
# run (~25 ms for all of them), which the fast commands should not pay for.
MODULES = {
    "init": ("board",), "board": ("board",), "verify": ("board",), "doctor": ("board",),
    "checkout": ("board",), "template": ("board",), "hooks": ("board",),
    "project": ("projects", "jobs"), "approve": ("projects",),
    "approvers": ("approvers",),
    "up": ("serve",), "web": ("serve",), "daemon": ("serve",), "worker": ("serve",),
    "demo": ("serve",),
    "token": ("tokens",), "login": ("tokens",), "logout": ("tokens",),
    "db": ("db",), "status": ("db",),
    "task": ("tasks",), "job": ("jobs",), "service": ("service",), "mcp": ("assistant",),
}  # fmt: skip
# In the order `mc --help` lists them.
ALL = ("board", "projects", "jobs", "approvers", "serve", "tokens", "db", "tasks", "service",
       "assistant")  # fmt: skip


def register(argv: list[str] | None = None) -> None:
    """Import the command modules ``argv`` needs (all of them for help, or a command
    that is not one: then the help and the error name every command)."""
    import importlib

    name = _command(sys.argv[1:] if argv is None else argv)
    for module in MODULES.get(name or "", ALL):
        importlib.import_module(f"mc.cli.{module}")


def _command(args: list[str]) -> str | None:
    """The first argument that is not a global option (or its value)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--board", "-b"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def main() -> None:
    """The one place errors become a line on stderr and an exit status."""
    register()
    _exit(_run())


def _exit(code: int) -> None:
    """Flush and leave without tearing the interpreter down (~20 ms of a short command).

    Safe here: every command has closed its files and processes before returning.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run() -> int:
    import click

    from mc.errors import McError

    try:
        result = app(standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.ctx.get_help() + "\n")
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        sys.stderr.write(f"mc: {' '.join(exc.format_message().split())}\n")
        return exc.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("mc: aborted\n")
        return 1
    except McError as exc:
        sys.stderr.write(f"mc: {exc}\n")
        return exc.exit_code
    except OSError as exc:
        sys.stderr.write(f"mc: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0
