"""The `mc` / `missionctl` command line: thin commands over the library.

Each command parses its arguments, makes one library call and prints the result.
Library modules are imported inside the commands, so `mc --help` and the fast
commands do not pay for what they do not use.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from mc.board.board import Board, Entry

app = typer.Typer(
    name="mc",
    help="Mission Control: a git-backed project board for work you delegate to AI agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
project_app = typer.Typer(help="Add, list, edit and move projects.", no_args_is_help=True)
approvers_app = typer.Typer(help="Who may approve projects into done.", no_args_is_help=True)
template_app = typer.Typer(help="Project templates.", no_args_is_help=True)
hooks_app = typer.Typer(help="Git hooks that enforce the board's rules.", no_args_is_help=True)
app.add_typer(project_app, name="project")
app.add_typer(approvers_app, name="approvers")
app.add_typer(template_app, name="template")
app.add_typer(hooks_app, name="hooks")

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
    from mc.board.board import Board

    return Board.open(_state["board"])


def _print_json(value: Any) -> None:
    # Compact unless a person is reading: the C encoder only runs without indent.
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(value, indent=indent, ensure_ascii=False, default=str) + "\n")


def _fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(f"mc: {message}\n")
    raise typer.Exit(code)


def _entry_json(entry: Entry, diverged: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A project as the API has it: accepted state; ``diverged`` when git holds a refused one."""
    from mc.board.projectfile import to_json

    out: dict[str, Any] = {"id": entry.id, "lane": entry.lane.value, "path": entry.path}
    mark = (diverged or {}).get(entry.id)
    out["diverged"] = mark.to_json() if mark is not None else None
    if entry.project is not None:
        out.update(to_json(dict(entry.project.data)))
        out["valid"] = True
    else:
        out["valid"] = False
        out["error"] = entry.error
    return out


def _committed(result: Any, what: str) -> None:
    sys.stdout.write(f"{what} ({result.commit[:12]})\n")


# ---------------------------------------------------------------------- init, board, verify


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


def _width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 120


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


# ---------------------------------------------------------------------- projects


@project_app.command("new")
def project_new(
    title: str = typer.Argument(..., help="The project's title."),
    archetype: str = typer.Option(..., "--archetype", "-a", help="coder, researcher, writer, ops…"),
    project_id: str | None = typer.Option(None, "--id", help="Id (default: from the title)."),
    template: str | None = typer.Option(None, "--template", "-t", help="Template name."),
    description: str | None = typer.Option(None, "--description", "-d"),
    due: str | None = typer.Option(None, "--due", help="Due date, e.g. 2026-12-01."),
    priority: int | None = typer.Option(None, "--priority", "-p", help="1 (highest) to 4."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model (default: the archetype's)."
    ),
    owner: str | None = typer.Option(None, "--owner"),
    labels: list[str] | None = typer.Option(None, "--label", "-l", help="A label (repeatable)."),
    acceptance: list[str] | None = typer.Option(
        None, "--accept", help="An acceptance criterion (repeatable)."
    ),
    workspace: str | None = typer.Option(
        None, "--workspace", "-w", help="Coder work: the git repository the agent works in."
    ),
    queue: bool = typer.Option(False, "--queue", help="Put it in up-next right away."),
    as_json: bool = JsonOpt,
) -> None:
    """Add a project to the backlog (or up-next with --queue)."""
    from mc.board.actions import new_project
    from mc.board.layout import Lane

    with _board() as board:
        result = new_project(
            board,
            title,
            archetype,
            project_id=project_id,
            template=template,
            fields={
                "description": description,
                "due": due,
                "priority": priority,
                "model": model,
                "owner": owner,
                "labels": labels or None,
                "acceptance": acceptance or None,
                "workspace": workspace,
            },
            lane=Lane.UP_NEXT if queue else Lane.BACKLOG,
        )
        pid = result.transition.project_id
        assert pid is not None
        if as_json:
            _print_json(_entry_json(board.get(pid)))
            return
    _committed(result, f"Created {pid}")


@project_app.command("list")
def project_list(
    lane: str | None = typer.Option(None, "--lane", "-l", help="Only this lane."),
    as_json: bool = JsonOpt,
) -> None:
    """List projects, lane by lane."""
    from mc.board.layout import parse_lane

    try:
        wanted = parse_lane(lane) if lane else None
    except ValueError as exc:
        _fail(f"--lane: {exc}")
    from mc.mirror import view

    with _board() as board, view.mirror(board) as conn:
        entries, diverged = view.accepted(board, conn, board.projects())
    entries = [e for e in entries if wanted is None or e.lane is wanted]
    if as_json:
        _print_json([_entry_json(e, diverged) for e in entries])
        return
    from mc.cli.render import project_table

    sys.stdout.write(project_table(entries, diverged))


@project_app.command("show")
def project_show(
    project_id: str = typer.Argument(..., metavar="ID"), as_json: bool = JsonOpt
) -> None:
    """Show one project."""
    from mc.cli.ops import project_extras, usage_text
    from mc.mirror import view

    with _board() as board, view.mirror(board) as conn:
        entries, diverged = view.accepted(board, conn, [board.get(project_id)])
    entry = entries[0]
    extras = project_extras(project_id)
    found, spend = extras if extras is not None else (None, None)
    if as_json:
        out = _entry_json(entry, diverged)
        if found is not None:
            import datetime as dt

            from mc.mirror.tasks import local_zone

            now, tz = dt.datetime.now(dt.UTC), local_zone()
            out["tasks"] = [t.to_json(now, tz) for t in found]
        if spend is not None:
            out["usage"] = spend.to_json()
        _print_json(out)
        return
    from mc.cli.render import project_detail

    sys.stdout.write(project_detail(entry, found, diverged.get(entry.id)))
    if spend is not None and (spend.input_tokens or spend.cost_usd is not None):
        sys.stdout.write(f"Agents' usage: {usage_text(spend)}\n")


@project_app.command("edit")
def project_edit(
    project_id: str = typer.Argument(..., metavar="ID"),
    sets: list[str] = typer.Option([], "--set", "-s", help="key=value (repeatable); key= unsets."),
) -> None:
    """Change the fields a person owns (title, description, priority, due, labels…)."""
    from mc.board.actions import edit
    from mc.board.projectfile import parse_cli_value

    updates: dict[str, Any] = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            _fail(f"--set {item!r}: expected key=value")
        updates[key.strip()] = parse_cli_value(key.strip(), raw)
    with _board() as board:
        result = edit(board, project_id, updates)
    _committed(result, f"Edited {project_id}")


@project_app.command("queue")
def project_queue(project_id: str = typer.Argument(..., metavar="ID")) -> None:
    """backlog → up-next: the dispatcher picks it up from there."""
    from mc.board.actions import queue

    with _board() as board:
        result = queue(board, project_id)
    _committed(result, f"Queued {project_id}")


@project_app.command("move")
def project_move(
    project_id: str = typer.Argument(..., metavar="ID"),
    lane: str = typer.Argument(..., metavar="LANE"),
) -> None:
    """Move a project where a person may: up-next (queue, or rework from review) or backlog."""
    from mc.board.actions import move
    from mc.board.layout import parse_lane

    try:
        target = parse_lane(lane)
    except ValueError as exc:
        _fail(f"LANE: {exc}")
    with _board() as board:
        result = move(board, project_id, target)
    _committed(result, f"Moved {project_id} to {target.value}")


@project_app.command("cancel")
def project_cancel(project_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Park a project in the backlog (a running job is cancelled)."""
    from mc.board.actions import cancel

    with _board() as board:
        result = cancel(board, project_id)
    _committed(result, f"Cancelled {project_id}")


@project_app.command("rework")
def project_rework(
    project_id: str = typer.Argument(..., metavar="ID"),
    notes: str = typer.Option(
        "", "--notes", "-n", help="What to change: kept in the project's feedback, in every brief."
    ),
) -> None:
    """Send a project in review back to up-next for another run, with your notes."""
    from mc.board.actions import rework

    with _board() as board:
        result = rework(board, project_id, notes)
    _committed(result, f"Sent {project_id} back for rework")


@project_app.command("log")
def project_log(
    project_id: str = typer.Argument(..., metavar="ID"), as_json: bool = JsonOpt
) -> None:
    """The project's history: every commit that touched its file or artifacts, newest first."""
    with _board() as board:
        entries = board.history(project_id)
        if not entries:
            board.get(project_id)  # a clear error for an unknown id
    if as_json:
        _print_json(entries)
        return
    for e in entries:
        sys.stdout.write(
            f"{e['at'][:16].replace('T', ' ')}  {e['commit'][:10]}  {e['role'] or 'human':<10} "
            f"{e['action'] or '-':<9} {e['subject']}\n"
        )


@project_app.command("delete")
def project_delete(project_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Delete a project that is in backlog or up-next."""
    from mc.board.actions import delete

    with _board() as board:
        result = delete(board, project_id)
    _committed(result, f"Deleted {project_id}")


@project_app.command("approve")
def project_approve(project_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Same as mc approve ID."""
    approve(project_id)


@app.command()
def approve(project_id: str = typer.Argument(..., metavar="ID")) -> None:
    """review → done, in a commit signed with your git signing key (approvers only)."""
    from mc.board.actions import approve as do_approve

    with _board() as board:
        result = do_approve(board, project_id)
    _committed(result, f"Approved {project_id}")


# ---------------------------------------------------------------------- approvers, templates, hooks


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
        text = (board.read_blob(f"{tip}:.mc/allowed_signers") or b"").decode("utf-8", "replace")
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


# The database commands live in their own module; importing it registers them.
from mc.cli import ops  # noqa: E402, F401

# ---------------------------------------------------------------------- entry point


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
