"""Commands about the board as a whole: init, board, verify, doctor, checkout, hooks,
templates."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
def board_cmd(
    as_json: bool = JsonOpt,
    watch: bool = typer.Option(
        False, "--watch", "-w", help="Redraw on every commit (Ctrl-C to stop)."
    ),
) -> None:
    """Show the five lanes in the terminal (with --watch: live, until Ctrl-C)."""
    if watch:
        if as_json:
            _fail("--watch: not with --json (a listing is one answer; run mc board --json again)")
        _watch_board()
        return
    with _board() as board:
        if as_json:
            _print_json(_board_json(board))
            return
        sys.stdout.write(_board_text(board))


def _board_json(board: Board) -> dict[str, list[dict[str, Any]]]:
    from mc.board.layout import LANES
    from mc.mirror import view

    with view.mirror(board) as conn:
        entries, diverged = view.accepted(board, conn, board.projects())
    return {
        lane.value: [_entry_json(e, diverged) for e in entries if e.lane is lane] for lane in LANES
    }


def _board_text(board: Board) -> str:
    """The lanes as every surface shows them (the mirror's accepted state where it differs
    from git), laid out for the terminal's width."""
    from mc.cli.render import board_columns
    from mc.mirror import view

    with view.mirror(board) as conn:
        entries, diverged = view.accepted(board, conn, board.projects())
    return board_columns(entries, board.config.wip_limits, _width(), diverged)


def _watch_board() -> None:
    """Redraw the board whenever it may have changed (mc.mirror.follow), a resize
    included; Ctrl-C ends it with status 0, as a person closing a pane expects."""
    import datetime as dt
    import signal

    from mc.mirror.follow import Follower

    with _board() as board:
        follower = Follower(board)
    if hasattr(signal, "SIGWINCH"):
        signal.signal(signal.SIGWINCH, lambda *_: follower.changed.set())
    tty = sys.stdout.isatty()
    shown = None
    try:
        while True:
            with _board() as board:  # a fresh reader: the tip and mc.yaml as they are now
                frame = _board_text(board)
            if frame != shown:
                shown = frame
                stamp = dt.datetime.now().strftime("%H:%M:%S")
                footer = f"— {stamp} · live ({', '.join(follower.via)}) · Ctrl-C to stop\n"
                # A terminal is cleared and drawn over; a pipe gets one frame after another.
                sys.stdout.write(("\x1b[H\x1b[2J" if tty else "\n") + frame + footer)
                sys.stdout.flush()
            follower.wait()
    except KeyboardInterrupt:
        sys.stdout.write("\n")
    finally:
        follower.close()


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
