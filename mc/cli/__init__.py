"""The `mc` / `missionctl` command line: thin commands over the library.

Each command parses its arguments, makes one library call and prints the result.
Library modules are imported inside the commands, so `mc --help` and the fast
commands do not pay for what they do not use. One module per command group; importing
it registers its commands on the app (mc.cli.common).
"""

from __future__ import annotations

import os
import sys

from mc.cli import (  # noqa: F401  (they register their commands)
    approvers,
    assistant,
    board,
    db,
    jobs,
    projects,
    serve,
    service,
    tasks,
    tokens,
)
from mc.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    """The one place errors become a line on stderr and an exit status."""
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
