"""`mc status`: the database, the daemon, how far the mirror is behind, and what is wrong."""

from __future__ import annotations

import json
from typing import Any

from mc.board.board import Board
from mc.errors import McError


def report(board: Board) -> dict[str, Any]:
    from mc.mirror import db
    from mc.mirror.replay import META_AT, META_CONFIG_REFUSED, META_LAST
    from mc.mirror.target import target

    where = target(board)
    tip = board.tip
    out: dict[str, Any] = {
        "board": str(board.root),
        "database": {
            "where": f"embedded ({where.cluster.root})" if where.cluster else _redact(where.url),
            "state": "unknown",
        },
        "daemon": {"running": False, "connections": []},
        "sync": {"tip": tip},
        "lanes": {},
        "invalid": [],
        "violations": [],
        "undelivered": [],
    }
    if where.cluster is not None and not where.cluster.running():
        out["database"]["state"] = "stopped (starts with mc up / mc daemon)"
        return out
    try:
        with db.connect(where.url) as conn:
            out["database"]["state"] = "up"

            def meta(key: str) -> str | None:
                row = db.fetch_one(conn, "meta_get", {"key": key})
                return row["value"] if row else None

            last = meta(META_LAST)
            behind = None
            if last and tip:
                behind = board.repo.count_commits(f"{last}..{tip}")
            elif tip:
                behind = board.repo.count_commits(tip)
            out["sync"].update(
                {"last_synced_commit": last, "last_synced_at": meta(META_AT), "behind": behind}
            )
            daemons = db.fetch_all(conn, "daemons")
            out["daemon"] = {
                "running": bool(daemons),
                "connections": [
                    {"name": d["application_name"], "since": d["backend_start"].isoformat()}
                    for d in daemons
                ],
            }
            out["lanes"] = {r["lane"]: r["n"] for r in db.fetch_all(conn, "lane_counts")}
            refused = meta(META_CONFIG_REFUSED)
            # a refused mc.yaml: git has it, the pipeline runs with the last accepted one
            out["config_refused"] = json.loads(refused) if refused else None
            hold = meta("budget_hold")
            out["held"] = json.loads(hold) if hold else []  # budgets reached: work waits
            out["invalid"] = [
                {k: v for k, v in r.items()} for r in db.fetch_all(conn, "projects_invalid")
            ]
            out["violations"] = [
                {**r, "at": r["at"].isoformat()}
                for r in db.fetch_all(conn, "violations_recent", {"limit": 20})
            ]
            from mc.mirror import outbox

            out["undelivered"] = outbox.undeliverable(conn)  # notifications that failed
    except McError as exc:
        out["database"]["state"] = f"not reachable: {exc}"
    return out


def _redact(url: str) -> str:
    """A URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
