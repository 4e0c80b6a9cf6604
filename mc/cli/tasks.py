"""`mc task ...`: small to-dos, linked to projects."""

from __future__ import annotations

import sys
from typing import Any

import typer

from mc.cli.common import JsonOpt, _connection, _print_json, app

task_app = typer.Typer(help="Small to-dos, linked to projects.", no_args_is_help=True)


app.add_typer(task_app, name="task")


def _tz_now() -> tuple[Any, Any]:
    import datetime as dt

    from mc.mirror.tasks import local_zone

    return dt.datetime.now(dt.UTC), local_zone()


def _task_out(task: Any, as_json: bool) -> None:
    now, tz = _tz_now()
    if as_json:
        _print_json(task.to_json(now, tz))
    else:
        from mc.cli.render import task_line

        sys.stdout.write(task_line(task, now, tz) + "\n")


@task_app.command("add")
def task_add(
    title: str = typer.Argument(...),
    due: str | None = typer.Option(
        None, "--due", help="today, tomorrow, fri, 2026-12-01, 'in 3 days'…"
    ),
    project: str | None = typer.Option(None, "--project", "-p", help="Link to this project id."),
    priority: int | None = typer.Option(None, "--priority", help="1 (highest) to 4."),
    tag: list[str] = typer.Option([], "--tag", "-t", help="A tag (repeatable)."),
    notes: str = typer.Option("", "--notes"),
    as_json: bool = JsonOpt,
) -> None:
    """Add a task."""
    from mc.mirror import tasks

    with _connection() as conn:
        task = tasks.add(
            conn, title, due=due, project=project, priority=priority, tags=tag, notes=notes
        )
    _task_out(task, as_json)


@task_app.command("list")
def task_list(
    overdue: bool = typer.Option(False, "--overdue", help="Only overdue tasks."),
    project: str | None = typer.Option(None, "--project", "-p"),
    done: bool = typer.Option(False, "--all", help="Include done tasks."),
    as_json: bool = JsonOpt,
) -> None:
    """Open tasks, soonest due first (overdue ones marked)."""
    from mc.mirror import tasks

    now, tz = _tz_now()
    with _connection() as conn:
        found = tasks.listing(
            conn, overdue=overdue, project=project, include_done=done, now=now, tz=tz
        )
    if as_json:
        _print_json([t.to_json(now, tz) for t in found])
        return
    from mc.cli.render import task_line

    for task in found:
        sys.stdout.write(task_line(task, now, tz) + "\n")
    if not found:
        sys.stdout.write("No tasks.\n")


@task_app.command("done")
def task_done(number: int = typer.Argument(..., metavar="N"), as_json: bool = JsonOpt) -> None:
    """Mark task N done."""
    from mc.mirror import tasks

    with _connection() as conn:
        task = tasks.update(conn, number, done=True)
    _task_out(task, as_json)


@task_app.command("delete")
def task_delete(number: int = typer.Argument(..., metavar="N")) -> None:
    """Delete task N."""
    from mc.mirror import tasks

    with _connection() as conn:
        task = tasks.delete(conn, number)
    sys.stdout.write(f"Deleted task {task.id}: {task.title}\n")


@task_app.command("edit")
def task_edit(
    number: int = typer.Argument(..., metavar="N"),
    title: str | None = typer.Option(None, "--title"),
    due: str | None = typer.Option(None, "--due", help="A new due ('none' clears it)."),
    priority: int | None = typer.Option(None, "--priority"),
    tag: list[str] | None = typer.Option(None, "--tag", "-t", help="Replace the tags."),
    notes: str | None = typer.Option(None, "--notes"),
    undone: bool = typer.Option(False, "--undone", help="Open it again."),
    as_json: bool = JsonOpt,
) -> None:
    """Change task N."""
    from mc.mirror import tasks

    changes: dict[str, Any] = {"title": title, "notes": notes, "tags": tag or None}
    if due is not None:
        changes["due"] = due
    if priority is not None:
        changes["priority"] = priority
    if undone:
        changes["done"] = False
    with _connection() as conn:
        task = tasks.update(conn, number, **changes)
    _task_out(task, as_json)


@task_app.command("link")
def task_link(
    number: int = typer.Argument(..., metavar="N"),
    project: str = typer.Argument(..., metavar="PROJECT"),
    as_json: bool = JsonOpt,
) -> None:
    """Link task N to a project."""
    from mc.mirror import tasks

    with _connection() as conn:
        task = tasks.update(conn, number, project=project)
    _task_out(task, as_json)


@task_app.command("unlink")
def task_unlink(number: int = typer.Argument(..., metavar="N"), as_json: bool = JsonOpt) -> None:
    """Unlink task N from its project."""
    from mc.mirror import tasks

    with _connection() as conn:
        task = tasks.update(conn, number, project=None)
    _task_out(task, as_json)
