"""What every command shares: the app, the --board and --json options, the board and
the database a command opens, and the one-line failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mc.board.board import Board, Entry
    from mc.mirror import db as db_mod


import json
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer

app = typer.Typer(
    name="mc",
    help="Mission Control: a git-backed project board for work you delegate to AI agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


_state: dict[str, Any] = {"board": None}


BoardOpt = typer.Option(
    None, "--board", "-b", help="The board's folder (default: $MC_BOARD, else the current repo)."
)


JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("mc")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "unknown"
        sys.stdout.write(f"mc {found}\n")
        raise typer.Exit()


@app.callback()
def _main(
    board: str | None = BoardOpt,
    _show_version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the version and exit."
    ),
) -> None:
    _state["board"] = board


def _board() -> Board:
    """The board of --board, else of $MC_BOARD, else the repository around us."""
    from mc.board.board import Board
    from mc.settings import current

    return Board.open(_state["board"] or current().board)


def _print_json(value: Any) -> None:
    # Compact unless a person is reading: the C encoder only runs without indent.
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(value, indent=indent, ensure_ascii=False, default=str) + "\n")


def _fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(f"mc: {message}\n")
    raise typer.Exit(code)


def _entry_json(entry: Entry, diverged: Mapping[str, Any] | None = None) -> dict[str, Any]:
    from mc.mirror.view import entry_json

    return entry_json(entry, diverged)


def _committed(result: Any, what: str) -> None:
    sys.stdout.write(f"{what} ({result.commit[:12]})\n")


def _width() -> int:
    """The terminal's width: $COLUMNS, else the terminal's own, else 120 (a pipe)."""
    return shutil.get_terminal_size((120, 24)).columns


HostOpt = typer.Option("127.0.0.1", "--host", help="Address the web board listens on.")


PortOpt = typer.Option(8765, "--port", help="Port of the web board.")


@contextmanager
def _connection() -> Iterator[db_mod.Connection]:
    """The board's database (the embedded one started for the command if need be)."""
    from mc.mirror import db
    from mc.mirror.target import opened

    with _board() as board, opened(board) as where, db.connect(where.url) as conn:
        # Catch the mirror up first (a no-op when the daemon has): a project committed a
        # moment ago is then known to `mc task add --project`, job commands and the rest.
        from mc.mirror.sync import Syncer

        Syncer(board).sync(conn)
        yield conn
