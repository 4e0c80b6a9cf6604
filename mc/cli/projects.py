"""`mc project ...` and `mc approve`: add, list, show, edit, move and approve projects."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from mc.board.layout import Lane

if TYPE_CHECKING:
    from mc.board.store import Committed

from mc.cli.common import (
    JsonOpt,
    _board,
    _committed,
    _connection,
    _entry_json,
    _fail,
    _print_json,
    app,
)

project_app = typer.Typer(help="Add, list, edit and move projects.", no_args_is_help=True)


app.add_typer(project_app, name="project")


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
    from mc.errors import InvalidInput

    try:
        wanted = parse_lane(lane) if lane else None
    except InvalidInput as exc:
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
    from mc.cli.jobs import usage_text
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
    from mc.board.layout import parse_lane
    from mc.errors import InvalidInput

    try:
        target = parse_lane(lane)
    except InvalidInput as exc:
        _fail(f"LANE: {exc}")
    result = _move(project_id, target)
    _committed(result, f"Moved {project_id} to {target.value}")


def _move(project_id: str, lane: Lane, action: str | None = None) -> Committed:
    """As the web moves it: back to the backlog, its job is cancelled at once when the
    board's database is running (else by the daemon when it next runs)."""
    from mc.mirror import view
    from mc.pipeline import control

    with _board() as board:
        if lane is not Lane.BACKLOG:
            return control.move(board, None, project_id, lane, action)
        with view.mirror(board, sync=False) as conn:
            return control.move(board, conn, project_id, lane, action)


@project_app.command("cancel")
def project_cancel(project_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Park a project in the backlog (a running job is cancelled)."""
    result = _move(project_id, Lane.BACKLOG, "cancel")
    _committed(result, f"Cancelled {project_id}")


@project_app.command("rework")
def project_rework(
    project_id: str = typer.Argument(..., metavar="ID"),
    notes: str = typer.Option(
        "", "--notes", "-n", help="What to change: kept in the project's feedback, in every brief."
    ),
    with_comments: bool = typer.Option(
        True,
        "--with-comments/--without-comments",
        help="Add the open line comments on the project's change (file:line, quoted code).",
    ),
    conflicts: bool = typer.Option(
        False,
        "--conflicts",
        help="Its branch conflicts with the base: the notes say to resolve them, naming the paths.",
    ),
) -> None:
    """Send a project in review back to up-next for another run, with your notes."""
    from mc.board.actions import rework
    from mc.errors import InvalidInput
    from mc.mirror import view
    from mc.pipeline.integrate import rework_conflicts

    with _board() as board:
        if conflicts:
            if notes.strip():
                raise InvalidInput("--notes: not with --conflicts (its notes name the paths)")
            result = rework_conflicts(board, project_id)
        else:
            if with_comments:  # the comments live in the database: when it is running
                with view.mirror(board, sync=False) as conn:
                    if conn is not None:
                        from mc.pipeline.linecomments import rework_notes

                        notes = rework_notes(board, conn, project_id, notes)
            result = rework(board, project_id, notes)
    _committed(result, f"Sent {project_id} back for rework")


@project_app.command("comment")
def project_comment(
    project_id: str = typer.Argument(..., metavar="ID"),
    text: str = typer.Argument(..., metavar="TEXT"),
) -> None:
    """Comment on a project (on its page and the activity feed, as the web's comments)."""
    from mc.mirror import comments

    with _board() as board:
        board.get(project_id)  # an unknown id is refused before the database is opened
        name = board.repo.config_get("user.name") or "you"
    with _connection() as conn:
        row = comments.add(conn, project_id, name, "human", text)
    sys.stdout.write(f"Commented on {project_id} (comment {row['id']})\n")


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
    """review → done, in a commit signed with your git signing key (approvers only).
    Coder work: first the reviewed head of its branch goes into the workspace, as its
    integrate: says (merge, squash, pr or none); if that fails nothing is approved."""
    from mc.pipeline.integrate import approve as do_approve

    with _board() as board:
        result = do_approve(board, project_id)
    if result.said:
        sys.stdout.write(f"{project_id}: {result.said}\n")
    _committed(result.committed, f"Approved {project_id}")


@app.command()
def cleanup(
    older_than: float = typer.Option(
        24.0, "--older-than", help="Hours a finished job's folder is kept for a look."
    ),
) -> None:
    """Remove what finished jobs left: their worktrees, folders older than --older-than,
    and the branches of done projects merged into their base (never unmerged work)."""
    from mc.pipeline import jobs
    from mc.pipeline.cleanup import sweep

    with _connection() as conn:
        running = {job.id for job in jobs.listing(conn, state="running", limit=None)}
    with _board() as board:
        swept = sweep(board, running, older_than=older_than * 3600)
    for path in swept.worktrees:
        sys.stdout.write(f"removed worktree {path}\n")
    for path in swept.folders:
        sys.stdout.write(f"removed job folder {path}\n")
    for branch in swept.branches:
        sys.stdout.write(f"deleted merged branch {branch}\n")
    for why in swept.kept:
        sys.stdout.write(f"kept {why}\n")
    sys.stdout.write(
        f"{len(swept.worktrees)} worktrees, {len(swept.folders)} job folders, "
        f"{len(swept.branches)} branches removed\n"
    )


def project_extras(project_id: str) -> tuple[list[Any], Any] | None:
    """A project's linked tasks and what its agents cost, or None when the database
    cannot be reached."""
    from mc.errors import McError
    from mc.mirror import tasks
    from mc.pipeline import jobs

    try:
        with _connection() as conn:
            found = tasks.listing(conn, project=project_id, include_done=True)
            return found, jobs.project_spend(conn, project_id)
    except McError:
        return None
