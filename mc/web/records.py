"""Jobs and their logs, tasks, the calendar, the activity feed and metrics over HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from mc.errors import InvalidInput, VersionRequired
from mc.mirror import db, tasks
from mc.mirror.tasks import is_overdue
from mc.mirror.view import activity_json
from mc.pipeline import jobs
from mc.web.bodies import TaskCreate, TaskPatch
from mc.web.http import Ctx, js, number_param


def list_jobs(c: Ctx) -> Response:
    found = jobs.listing(c.conn, project=c.query.get("project"), state=c.query.get("state"))
    c.conn.commit()
    return js([j.to_json() for j in found])


def get_job(c: Ctx) -> Response:
    job = jobs.get(c.conn, number_param(c.params["id"], "job id"))
    c.conn.commit()
    return js(job.to_json())


def job_log(c: Ctx) -> Response:
    number = number_param(c.params["id"], "job id")
    job = jobs.get(c.conn, number)
    rows = jobs.read_log(c.conn, number, after=number_param(c.query.get("after", "0"), "after"))
    c.conn.commit()
    lines = [
        {
            "id": r["id"],
            "stream": r["stream"],
            "text": r["text"],
            "shown": r["shown"],
            "at": r["at"],
        }
        for r in rows
    ]
    return js({"lines": lines, "state": job.state})


def report_job(c: Ctx) -> Response:
    number = number_param(c.params["id"], "job id")
    ok = c.request.url.path.endswith("/complete")
    job = jobs.report_as(c.conn, c.who, number, ok=ok, notes=c.body.notes, error=c.body.error)
    return js(job.to_json())


def _task_json(c: Ctx, task: Any) -> dict[str, Any]:
    out: dict[str, Any] = task.to_json(dt.datetime.now(dt.UTC), c.web.tz)
    out["due"] = out.pop("due_at") or out.pop("due_date", None)
    out.pop("due_date", None)
    out["etag"] = tasks.etag(task)
    return out


def list_tasks(c: Ctx) -> Response:
    found = tasks.listing(
        c.conn,
        overdue=c.query.get("overdue") in ("1", "true"),
        project=c.query.get("project") or None,
        include_done=c.query.get("all") in ("1", "true"),
        tz=c.web.tz,
    )
    c.conn.commit()
    return js([_task_json(c, t) for t in found])


def create_task(c: Ctx) -> Response:
    b: TaskCreate = c.body
    task = tasks.add(
        c.conn,
        b.title,
        due=b.due,
        project=b.project,
        priority=b.priority,
        tags=b.tags,
        notes=b.notes,
    )
    out = _task_json(c, task)
    return js(out, 201, etag=out["etag"])


def get_task(c: Ctx) -> Response:
    task = tasks.get(c.conn, number_param(c.params["id"], "task id"))
    c.conn.commit()
    out = _task_json(c, task)
    return js(out, etag=out["etag"])


def patch_task(c: Ctx) -> Response:
    number = number_param(c.params["id"], "task id")
    expected = c.if_match()
    if expected is None:
        raise VersionRequired("If-Match: required (the etag of the version you edited)")
    b: TaskPatch = c.body
    given = {k: getattr(b, k) for k in b.model_fields_set}
    task = tasks.update(c.conn, number, **given, expect=expected)
    out = _task_json(c, task)
    return js(out, etag=out["etag"])


def delete_task(c: Ctx) -> Response:
    number = number_param(c.params["id"], "task id")
    expected = c.if_match()
    if expected is None:
        raise VersionRequired("If-Match: required (the etag of the version you delete)")
    tasks.delete(c.conn, number, expect=expected)
    return Response(status_code=204)


def calendar(c: Ctx) -> Response:
    month = c.query.get("month") or dt.datetime.now(c.web.tz).strftime("%Y-%m")
    try:
        first = dt.date.fromisoformat(f"{month}-01")
        if not 1900 <= first.year <= 9000:
            raise ValueError(month)
    except ValueError:
        raise InvalidInput(f"month: expected YYYY-MM (1900-9000), got {month[:20]!r}") from None
    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    tz_name = str(c.web.tz) if hasattr(c.web.tz, "key") else "UTC"
    params = {"first": first, "last": last, "tz": tz_name}
    now = dt.datetime.now(dt.UTC)
    days: dict[str, list[dict[str, Any]]] = {}

    def day_of(due_date: dt.date | None, due_at: dt.datetime | None) -> str:
        if due_date is not None:
            return due_date.isoformat()
        assert due_at is not None
        return due_at.astimezone(c.web.tz).date().isoformat()

    for r in db.fetch_all(c.conn, "calendar_projects", params):
        done = r["lane"] == "done"
        days.setdefault(day_of(r["due_date"], r["due_at"]), []).append(
            {
                "type": "project",
                "id": r["id"],
                "title": r["title"],
                "done": done,
                "overdue": not done and is_overdue(r["due_date"], r["due_at"], None, now, c.web.tz),
            }
        )
    for r in db.fetch_all(c.conn, "calendar_tasks", params):
        days.setdefault(day_of(r["due_date"], r["due_at"]), []).append(
            {
                "type": "task",
                "id": r["id"],
                "title": r["title"],
                "done": r["done_at"] is not None,
                "overdue": is_overdue(r["due_date"], r["due_at"], r["done_at"], now, c.web.tz),
            }
        )
    c.conn.commit()
    return js({"month": month, "days": days})


def activity(c: Ctx) -> Response:
    limit = min(max(number_param(c.query.get("limit", "50"), "limit"), 1), 500)
    before = c.query.get("before")
    rows = db.fetch_all(
        c.conn,
        "activity_recent",
        {
            "project": None,
            "before": number_param(before, "before") if before else None,
            "limit": limit,
        },
    )
    c.conn.commit()
    items = [activity_json(r) for r in rows]
    return js({"items": items, "next": items[-1]["id"] if len(items) == limit else None})


def api_metrics(c: Ctx) -> Response:
    return js(c.web.metrics_now(c.conn))


def prometheus(c: Ctx) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(c.web.registry), media_type=CONTENT_TYPE_LATEST)
