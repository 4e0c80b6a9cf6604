"""`mc approvers ...`: who may approve projects into done."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from mc.board.layout import SIGNERS_PATH
from mc.cli.common import JsonOpt, _board, _committed, _fail, _print_json, app

approvers_app = typer.Typer(help="Who may approve projects into done.", no_args_is_help=True)


app.add_typer(approvers_app, name="approvers")


@approvers_app.command("add")
def approvers_add(
    name: str = typer.Argument(..., help="The approver's name (shown in approved.by)."),
    key: str | None = typer.Argument(
        None, metavar="PUBLIC_KEY", help="Their SSH public key, or a file holding it."
    ),
    gpg: str | None = typer.Option(
        None,
        "--gpg",
        metavar="KEYID_OR_ASC_FILE",
        help="Add an OpenPGP key instead: a key id (exported with gpg) or an armored .asc file.",
    ),
) -> None:
    """Let a person's SSH or GPG key approve projects (signed by an approver once there is one)."""
    from mc.board.actions import add_approver, add_gpg_approver

    if (key is None) == (gpg is None):
        _fail("give their SSH public key, or --gpg KEYID_OR_ASC_FILE (not both)")
    with _board() as board:
        if gpg is not None:
            from mc.board.signing import export_gpg_key, gpg_program

            candidate = Path(gpg).expanduser()
            if candidate.is_file():
                text = candidate.read_text(errors="replace")
            else:
                text = export_gpg_key(gpg, gpg_program(board.repo))
            result = add_gpg_approver(board, name, text)
        else:
            assert key is not None
            candidate = Path(key).expanduser()
            text = candidate.read_text() if candidate.is_file() else key
            result = add_approver(board, name, text)
    _committed(result, f"Added approver {name}")


@approvers_app.command("list")
def approvers_list(as_json: bool = JsonOpt) -> None:
    """Who may approve (.mc/allowed_signers and .mc/gpg/ at the tip)."""
    from mc.board.signing import approvers, gpg_approvers, parse_allowed_signers

    with _board() as board:
        tip = board.tip
        text = (board.read_blob(f"{tip}:{SIGNERS_PATH}") or b"").decode("utf-8", "replace")
        by_fingerprint = gpg_approvers(board.cat, tip) if tip else {}
    # SSH keys read "<type> <base64>"; GPG keys "openpgp <fingerprint>".
    rows = [
        {"name": name, "key": key} for key, name in approvers(parse_allowed_signers(text)).items()
    ]
    rows += [
        {"name": name, "key": f"openpgp {fingerprint}"}
        for fingerprint, name in sorted(by_fingerprint.items(), key=lambda item: item[1])
    ]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        sys.stdout.write(f"{row['name']}\t{row['key'][:60]}\n")
    if not rows:
        sys.stdout.write(
            "No approvers yet: mc approvers add NAME ~/.ssh/id_ed25519.pub "
            "(or mc approvers add NAME --gpg KEYID)\n"
        )
