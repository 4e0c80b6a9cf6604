"""`mc token ...`, `mc login`, `mc logout`: who may use the API and the web board."""

from __future__ import annotations

import sys

import typer

from mc.cli.common import HostOpt, JsonOpt, PortOpt, _connection, _print_json, app

token_app = typer.Typer(help="API tokens for scripts and agents.", no_args_is_help=True)


app.add_typer(token_app, name="token")


@app.command()
def login(
    host: str = HostOpt,
    port: int = PortOpt,
) -> None:
    """Print a new one-time login link for a running web board."""
    from mc.mirror.auth import create_login_link

    with _connection() as conn:
        secret = create_login_link(conn)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    sys.stdout.write(f"http://{shown}:{port}/login?token={secret}\n")


@app.command()
def logout() -> None:
    """End every browser session of the web board (and unused login links)."""
    from mc.mirror.auth import end_all_sessions

    with _connection() as conn:
        n = end_all_sessions(conn)
    sys.stdout.write(f"Ended {n} browser session{'s' if n != 1 else ''} and login links\n")


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., metavar="NAME"),
    role: str = typer.Option("agent", "--role", help="human, agent or viewer."),
    job: int | None = typer.Option(None, "--job", help="An agent token for this job alone."),
    project: str | None = typer.Option(
        None, "--project", help="An agent token for this project's jobs alone."
    ),
) -> None:
    """A bearer token for the API (shown once; only its digest is kept). A hand-off job's
    outcome may be reported only by a person or an agent token bound to it (--job/--project)."""
    from mc.mirror.auth import create_token

    scope = f"job:{job}" if job is not None else f"project:{project}" if project else None
    with _connection() as conn:
        secret = create_token(conn, name, role, scope=scope)
    sys.stdout.write(f"Token {name} ({role}): {secret}\n")


@token_app.command("list")
def token_list(
    show_all: bool = typer.Option(False, "--all", help="Revoked ones too."), as_json: bool = JsonOpt
) -> None:
    """API tokens (names and roles; the secrets are not kept)."""
    from mc.mirror.auth import list_tokens

    with _connection() as conn:
        rows = list_tokens(conn, include_revoked=show_all)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        used = (
            f"last used {r['last_used_at']:%Y-%m-%d %H:%M}" if r["last_used_at"] else "never used"
        )
        sys.stdout.write(f"{r['id']:>4}  {r['name']:<24} {r['role']:<7} {state:<8} {used}\n")
    if not rows:
        sys.stdout.write("No tokens.\n")


@token_app.command("revoke")
def token_revoke(name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Revoke a token by name (or id): it stops working at once."""
    from mc.mirror.auth import revoke_token

    with _connection() as conn:
        row = revoke_token(conn, name)
    sys.stdout.write(f"Revoked token {row['name']}\n")
