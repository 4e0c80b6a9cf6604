"""`mc mcp`: the board as an MCP server on stdio, for a person's assistant on this machine."""

from __future__ import annotations

import typer

from mc.cli.common import _board, _fail, app


@app.command("mcp")
def mcp_command(
    token: str | None = typer.Option(
        None,
        "--token",
        help="The API token to act with (else $MC_TOKEN): an agent or human token from mc "
        "token create. The assistant can do what that token may, never more.",
    ),
) -> None:
    """Serve the board to an assistant over MCP (stdio): plan, queue, watch, report."""
    from mc import settings
    from mc.errors import McError
    from mc.mcp.access import PRINCIPAL, LocalAccess
    from mc.mcp.tools import build
    from mc.mirror import auth, db
    from mc.mirror.target import opened

    secret = token or settings.current().token
    if not secret:
        _fail("--token: give the API token the assistant acts with (or set MC_TOKEN)")
    with _board() as board, opened(board, keep_running=True) as where:
        root = board.root
    try:
        with db.connect(where.url) as conn:
            who = auth.lookup(conn, secret, "token")
    except McError as exc:
        _fail(str(exc))
    if who is None:
        _fail("--token: no such active token (mc token list; mc token create NAME --role ...)")
    PRINCIPAL.set(who)
    build(LocalAccess(root, where.url)).run("stdio")
