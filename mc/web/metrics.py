"""Board metrics from the activity history and the job records: /api/metrics and /metrics."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from mc.board.layout import LANE_NAMES_ORDERED
from mc.mirror import db
from mc.pipeline import jobs
from mc.pipeline.jobs import JobState

DAYS = 30


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1], 2)


def compute(
    conn: db.Connection, tz: dt.tzinfo, sync_lag: float | None, now: dt.datetime | None = None
) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(tz).date()
    days = [today - dt.timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    lanes = dict.fromkeys(LANE_NAMES_ORDERED, 0)
    for row in db.fetch_all(conn, "lane_counts"):
        lanes[row["lane"]] = row["n"]

    # Replay the lane moves: where each project was at the end of each day, how long it
    # stayed in each lane, and created -> done.
    moves = db.fetch_all(conn, "metrics_lane_moves")
    where: dict[str, str | None] = {}
    entered: dict[str, dt.datetime] = {}
    created: dict[str, dt.datetime] = {}
    stays: dict[str, list[float]] = {lane: [] for lane in LANE_NAMES_ORDERED}
    lead: list[float] = []
    done_per_day: dict[dt.date, int] = {}
    cfd: list[dict[str, Any]] = []
    day_index = 0

    def snapshot_until(limit: dt.date) -> None:
        nonlocal day_index
        while day_index < len(days) and days[day_index] < limit:
            counts = dict.fromkeys(LANE_NAMES_ORDERED, 0)
            for lane in where.values():
                if lane is not None:
                    counts[lane] += 1
            cfd.append({"day": days[day_index].isoformat(), **counts})
            day_index += 1

    for move in moves:
        at: dt.datetime = move["at"]
        snapshot_until(at.astimezone(tz).date())
        pid = move["project_id"]
        before = where.get(pid)
        if before is not None and pid in entered:
            stays[before].append((at - entered[pid]).total_seconds() / 3600)
        where[pid] = move["to_lane"]
        entered[pid] = at
        created.setdefault(pid, at)
        if move["to_lane"] == "done":
            lead.append((at - created[pid]).total_seconds() / 3600)
            day = at.astimezone(tz).date()
            done_per_day[day] = done_per_day.get(day, 0) + 1
    snapshot_until(today + dt.timedelta(days=1))

    job_counts = _job_counts(conn)
    runs = jobs.run_seconds(conn)
    spend = _spend(conn, tz, days)
    conn.commit()
    return {
        "lanes": lanes,
        "throughput": [{"day": d.isoformat(), "done": done_per_day.get(d, 0)} for d in days],
        "cfd": cfd,
        "lead_time_hours": {"p50": _pct(lead, 0.5), "p90": _pct(lead, 0.9)},
        "cycle_time_hours": {lane: _pct(v, 0.5) for lane, v in stays.items() if lane != "done"},
        "jobs": job_counts,
        "agent_run_seconds": {"p50": _pct(runs, 0.5), "p90": _pct(runs, 0.9)},
        "sync_lag_seconds": sync_lag,
        "spend": spend,
    }


def _job_counts(conn: db.Connection) -> dict[str, int]:
    """Jobs by outcome; "failed" counts failed runs: those retried and the dead jobs'."""
    ran = jobs.outcomes(conn)
    n = dict.fromkeys(JobState, 0) | ran.by_state
    return {
        "succeeded": n[JobState.SUCCEEDED],
        "failed": ran.retries + n[JobState.DEAD],
        "retried": ran.retried,
        "dead": n[JobState.DEAD],
        "cancelled": n[JobState.CANCELLED],
        "running": n[JobState.RUNNING],
        "queued": n[JobState.QUEUED],
    }


def _spend(conn: db.Connection, tz: dt.tzinfo, days: list[dt.date]) -> dict[str, Any]:
    """What agents cost and used, per day, archetype and model (as their CLIs reported)."""
    start = dt.datetime.combine(days[0], dt.time(), tzinfo=tz)
    per_day = {d.isoformat(): 0.0 for d in days}
    groups: dict[str, dict[str, dict[str, float]]] = {"archetype": {}, "model": {}}
    for row in jobs.spend_by_day(conn, start, str(tz)):
        day = row.day.isoformat()
        if day in per_day:
            per_day[day] += row.usd
        for key, name in (("archetype", row.archetype), ("model", row.model)):
            entry = groups[key].setdefault(
                name or "unknown", {"usd": 0.0, "input_tokens": 0, "output_tokens": 0, "jobs": 0}
            )
            entry["usd"] += row.usd
            entry["input_tokens"] += row.input_tokens
            entry["output_tokens"] += row.output_tokens
            entry["jobs"] += row.jobs
    return {
        "by_day": [{"day": d, "usd": round(v, 6)} for d, v in per_day.items()],
        "by_archetype": [{"name": k, **v} for k, v in sorted(groups["archetype"].items())],
        "by_model": [{"name": k, **v} for k, v in sorted(groups["model"].items())],
        "total_usd": round(sum(per_day.values()), 6),
    }


class Collector:
    """prometheus-client collector: computed at scrape time (cached for a second)."""

    def __init__(self, source: Callable[[], dict[str, Any]]) -> None:
        self.source = source
        self._cached: tuple[float, dict[str, Any]] | None = None

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        if self._cached is None or time.monotonic() - self._cached[0] > 1.0:
            self._cached = (time.monotonic(), self.source())
        m = self._cached[1]
        lanes = GaugeMetricFamily("mc_projects", "Projects per lane", labels=["lane"])
        for lane, n in m["lanes"].items():
            lanes.add_metric([lane], n)
        yield lanes
        done = GaugeMetricFamily(
            "mc_projects_done_30d", "Projects approved into done, last 30 days"
        )
        done.add_metric([], sum(d["done"] for d in m["throughput"]))
        yield done
        by_state = GaugeMetricFamily("mc_jobs", "Jobs by outcome", labels=["state"])
        for state, n in m["jobs"].items():
            by_state.add_metric([state], n)
        yield by_state
        for name, key, help_text in (
            ("mc_lead_time_hours", "lead_time_hours", "Created to done, hours"),
            ("mc_agent_run_seconds", "agent_run_seconds", "Successful agent run time, seconds"),
        ):
            g = GaugeMetricFamily(name, help_text, labels=["quantile"])
            for q in ("p50", "p90"):
                if m[key][q] is not None:
                    g.add_metric(["0.5" if q == "p50" else "0.9"], m[key][q])
            yield g
        cycle = GaugeMetricFamily("mc_cycle_time_hours", "Median hours in a lane", labels=["lane"])
        for lane, v in m["cycle_time_hours"].items():
            if v is not None:
                cycle.add_metric([lane], v)
        yield cycle
        if m["sync_lag_seconds"] is not None:
            lag = GaugeMetricFamily("mc_sync_lag_seconds", "Board tip not yet mirrored, seconds")
            lag.add_metric([], m["sync_lag_seconds"])
            yield lag
