"""Commands about the board as a whole: init, board, verify, doctor, checkout, hooks,
templates."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from mc.board.board import Board
from mc.cli.common import JsonOpt, _board, _entry_json, _fail, _print_json, _width, app

template_app = typer.Typer(help="Project templates.", no_args_is_help=True)


hooks_app = typer.Typer(help="Git hooks that enforce the board's rules.", no_args_is_help=True)


app.add_typer(template_app, name="template")


app.add_typer(hooks_app, name="hooks")


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Folder for the board (created if missing)."),
    no_hooks: bool = typer.Option(False, "--no-hooks", help="Do not install the git hooks."),
) -> None:
    """Make a new board (or add one to an existing repository) and its first commit."""
    from mc.board.init import init as do_init

    result = do_init(directory, install_hooks=not no_hooks)
    sys.stdout.write(f"Board ready at {result.root} ({result.commit[:12]})\n")
    if result.approver:
        sys.stdout.write(f"Your signing key approves as {result.approver}.\n")
    if result.note:
        sys.stdout.write(f"Note: {result.note}\n")


@app.command("board")
def board_cmd(as_json: bool = JsonOpt) -> None:
    """Show the five lanes in the terminal."""
    from mc.board.layout import LANES
    from mc.mirror import view

    with _board() as board, view.mirror(board) as conn:
        entries, diverged = view.accepted(board, conn, board.projects())
        if as_json:
            _print_json(
                {
                    lane.value: [_entry_json(e, diverged) for e in entries if e.lane is lane]
                    for lane in LANES
                }
            )
            return
        limits = board.config.wip_limits
    from mc.cli.render import board_columns

    sys.stdout.write(board_columns(entries, limits, _width(), diverged))


@app.command()
def verify(
    rev_range: str | None = typer.Argument(
        None, metavar="REV-RANGE", help="Commits to check (default: the whole board branch)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Audit history against the board's rules; exit 1 on any violation."""
    from mc.board.audit import verify_history

    with _board() as board:
        count, violations = verify_history(board.repo, board.cat, rev_range or board.ref)
    if as_json:
        _print_json(
            [
                {"commit": v.commit, "path": v.path, "project": v.project_id, "message": v.message}
                for v in violations
            ]
        )
    else:
        for v in violations:
            sys.stdout.write(f"{v}\n")
        sys.stdout.write(
            f"{count} commits checked, {len(violations)} violation"
            f"{'' if len(violations) == 1 else 's'}\n"
        )
    if violations:
        raise typer.Exit(1)


@template_app.command("list")
def template_list(as_json: bool = JsonOpt) -> None:
    """The board's project templates."""
    from mc.board.actions import templates

    with _board() as board:
        found = templates(board)
    if as_json:
        _print_json([{"name": name, "text": text} for name, text in sorted(found.items())])
        return
    for name, text in sorted(found.items()):
        first = next((ln.lstrip("# ") for ln in text.splitlines() if ln.startswith("#")), "")
        sys.stdout.write(f"{name:<14} {first}\n")


@hooks_app.command("install")
def hooks_install(
    server: Path | None = typer.Option(
        None, "--server", help="Install pre-receive into this bare repository instead."
    ),
    force: bool = typer.Option(False, "--force", help="Replace hooks that are not ours."),
    branch: str | None = typer.Option(
        None, "--branch", help="With --server: the board branch (default: from mc.yaml)."
    ),
) -> None:
    """Install the client hooks into this clone (or pre-receive with --server)."""
    from mc.board.git import find_repo
    from mc.board.hooks.install import install_client, install_server

    if server is not None:
        if not server.is_dir():
            _fail(f"--server {server}: no such folder")
        written = install_server(find_repo(server.resolve()), force, branch)
    else:
        with _board() as board:
            written = install_client(board.repo, force)
    for path in written:
        sys.stdout.write(f"Installed {path}\n")


@app.command()
def doctor(as_json: bool = JsonOpt) -> None:
    """Check this machine: the agent sandbox (a real probe), the database, signing, agent CLIs."""
    from mc.errors import BoardNotFound
    from mc.machine import doctor as checks

    try:
        board: Board | None = _board()
    except BoardNotFound:
        board = None  # outside a board: the machine's checks only
    try:
        found = checks.run(board)
    finally:
        if board is not None:
            board.close()
    if as_json:
        _print_json([c._asdict() for c in found])
    else:
        for check in found:
            mark = "ok  " if check.ok and not check.warning else ("warn" if check.ok else "FAIL")
            sys.stdout.write(f"{mark}  {check.name:<16} {check.summary}\n")
            for line in check.details:
                sys.stdout.write(f"      {'':<16} {line}\n")
    if not all(c.ok for c in found):
        raise typer.Exit(1)


@app.command("checkout")
def checkout_cmd() -> None:
    """Finish updating your checkout after a commit mc made while git held the index."""
    from mc.board.store import Store

    with _board() as board:
        done = Store(board).finish_checkout()
    if not done:
        _fail("the checkout is still not updated: is .git/index.lock held by another git?")
    sys.stdout.write("Checkout is up to date with the board branch\n")
