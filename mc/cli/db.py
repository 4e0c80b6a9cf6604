"""`mc db ...` and `mc status`: the PostgreSQL mirror of the board."""

from __future__ import annotations

import sys

import typer

from mc.cli.common import JsonOpt, _board, _print_json, app

db_app = typer.Typer(help="The PostgreSQL mirror of the board.", no_args_is_help=True)


app.add_typer(db_app, name="db")


@db_app.command("migrate")
def db_migrate() -> None:
    """Create or update the database schema."""
    from mc.mirror import db
    from mc.mirror.target import opened

    with _board() as board, opened(board) as where, db.connect(where.url) as conn:
        applied = list(where.migrated) + db.migrate(conn)
    sys.stdout.write(f"Applied migrations {applied}\n" if applied else "Schema is up to date\n")


@db_app.command("resync")
def db_resync() -> None:
    """Rebuild the mirror from git: replays the whole history, loads it with COPY."""
    from mc.mirror import db
    from mc.mirror.sync import Syncer
    from mc.mirror.target import opened

    with _board() as board, opened(board) as where, db.connect(where.url) as conn:
        result = Syncer(board).rebuild(conn)
    if result is None:
        sys.stdout.write("The board has no commits yet\n")
    else:
        sys.stdout.write(
            f"Rebuilt from {result.commits} commits: {len(result.projects)} projects, "
            f"{result.violations} violations ({result.commit[:12]})\n"
        )


@db_app.command("url")
def db_url() -> None:
    """Print the database URL this board uses."""
    from mc.mirror.target import target

    with _board() as board:
        sys.stdout.write(target(board).url + "\n")


@app.command()
def status(as_json: bool = JsonOpt) -> None:
    """Database, daemon, last synced commit and lag, lanes, invalid projects, violations."""
    from mc.mirror.status import report

    with _board() as board:
        data = report(board)
    if as_json:
        _print_json(data)
        return
    from mc.cli.render import status_text

    sys.stdout.write(status_text(data))
