"""The job queue against a real PostgreSQL: claims, leases, fencing, retries, cancel."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mc.mirror import db
from mc.pipeline import jobs


@pytest.fixture
def conn(database_url: str) -> Iterator[db.Connection]:
    with db.connect(database_url) as c:
        yield c


def _expire(conn: db.Connection, job_id: int) -> None:
    """As if the worker holding the job stopped renewing its lease a while ago."""
    with conn.transaction():
        conn.execute(
            "UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = %s", (job_id,)
        )


def test_one_active_job_per_project_is_enforced_by_the_database(conn: db.Connection) -> None:
    first = jobs.enqueue(conn, "p", "work", "coder")
    assert first is not None and first.state == "queued"
    assert jobs.enqueue(conn, "p", "work", "coder") is None
    with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
        conn.execute("INSERT INTO jobs (project_id, kind, archetype) VALUES ('p', 'work', 'x')")
    # Once it has ended, the project may have a new one.
    claimed = jobs.claim(conn, "w")
    assert claimed is not None
    jobs.succeed(conn, claimed)
    assert jobs.enqueue(conn, "p", "review", "reviewer") is not None


def test_fifty_concurrent_dispatches_of_one_project_make_one_job(database_url: str) -> None:
    made: list[int] = []
    barrier = threading.Barrier(50)

    def dispatch() -> None:
        with db.connect(database_url) as c:
            barrier.wait()
            job = jobs.enqueue(c, "same", "work", "coder")
            if job is not None:
                made.append(job.id)

    threads = [threading.Thread(target=dispatch) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1
    with db.connect(database_url) as c:
        assert c.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"] == 1  # type: ignore[index]


def test_twenty_workers_claim_five_hundred_jobs_each_exactly_once(database_url: str) -> None:
    with db.connect(database_url) as c:
        for i in range(500):
            jobs.enqueue(c, f"p{i}", "work", "coder")
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        with db.connect(database_url) as c:
            while (job := jobs.claim(c, name)) is not None:
                jobs.succeed(c, job)
                with lock:
                    claimed.append(job.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 500 and len(set(claimed)) == 500
    with db.connect(database_url) as c:
        row = c.execute(
            "SELECT count(*) FILTER (WHERE state = 'succeeded') AS done, max(attempts) AS most "
            "FROM jobs"
        ).fetchone()
    assert row == {"done": 500, "most": 1}


def test_priority_then_age(conn: db.Connection) -> None:
    low = jobs.enqueue(conn, "low", "work", "coder", priority=4)
    old = jobs.enqueue(conn, "old", "work", "coder", priority=2)
    new = jobs.enqueue(conn, "new", "work", "coder", priority=2)
    top = jobs.enqueue(conn, "top", "work", "coder", priority=1)
    order = [jobs.claim(conn, "w") for _ in range(4)]
    assert [j.id for j in order if j] == [j.id for j in (top, old, new, low) if j]


def test_a_reclaimed_job_cannot_be_finished_by_its_old_worker(conn: db.Connection) -> None:
    """Fencing: the worker whose lease ran out (paused, partitioned) writes nothing."""
    jobs.enqueue(conn, "p", "work", "coder")
    first = jobs.claim(conn, "paused-worker")
    assert first is not None and first.lease_token == 1
    _expire(conn, first.id)
    assert [j.id for j in jobs.reclaim(conn)] == [first.id]
    second = jobs.claim(conn, "new-worker")
    assert second is not None and second.id == first.id and second.lease_token == 2
    for stale_write in (
        lambda: jobs.succeed(conn, first, {"from": "stale"}),
        lambda: jobs.fail(conn, first, "stale"),
        lambda: jobs.heartbeat(conn, first),
        lambda: jobs.hand_back(conn, first),
    ):
        with pytest.raises(jobs.LeaseLost):
            stale_write()
    done = jobs.succeed(conn, second, {"from": "new"})
    assert done.state == "succeeded" and done.result == {"from": "new"} and done.attempts == 2


def test_failures_back_off_then_die(conn: db.Connection) -> None:
    jobs.enqueue(conn, "p", "work", "coder", max_attempts=2)
    job = jobs.claim(conn, "w")
    assert job is not None
    failed = jobs.fail(conn, job, "boom", base=30)
    assert failed.state == "queued" and failed.attempts == 1 and failed.last_error == "boom"
    wait = (failed.run_after - conn.execute("SELECT now() AS t").fetchone()["t"]).total_seconds()  # type: ignore[index]
    assert 30 * 0.5 - 1 <= wait <= 30 + 1  # base * 2^(failures before), jittered by 0.5..1
    assert jobs.claim(conn, "w") is None  # not before its time
    with conn.transaction():
        conn.execute("UPDATE jobs SET run_after = now()")
    again = jobs.claim(conn, "w")
    assert again is not None
    dead = jobs.fail(conn, again, "boom again")
    assert dead.state == "dead" and dead.attempts == 2 and dead.finished_at is not None


def test_a_temporary_failure_does_not_spend_an_attempt(conn: db.Connection) -> None:
    jobs.enqueue(conn, "p", "work", "coder", max_attempts=1)
    job = jobs.claim(conn, "w")
    assert job is not None
    later = jobs.fail(conn, job, "rate limited (exit 75)", temporary=True, base=5)
    assert later.state == "queued" and later.attempts == 0 and later.tempfails == 1


def test_cancel(conn: db.Connection) -> None:
    queued = jobs.enqueue(conn, "q", "work", "coder")
    assert queued is not None
    assert jobs.cancel(conn, queued.id).state == "cancelled"
    jobs.enqueue(conn, "r", "work", "coder")
    running = jobs.claim(conn, "w")
    assert running is not None
    assert jobs.heartbeat(conn, running) is False
    jobs.cancel_project(conn, "r")
    assert jobs.heartbeat(conn, running) is True  # the worker learns it here (or by NOTIFY)
    assert jobs.mark_cancelled(conn, running).state == "cancelled"
    retried = jobs.retry(conn, running.id)
    assert retried.state == "queued" and retried.attempts == 0
    with pytest.raises(jobs.JobNotFound):
        jobs.cancel(conn, 999_999)


def test_a_shutting_down_worker_hands_its_job_back(conn: db.Connection) -> None:
    jobs.enqueue(conn, "p", "work", "coder")
    job = jobs.claim(conn, "w")
    assert job is not None
    back = jobs.hand_back(conn, job)
    assert back.state == "queued" and back.attempts == 0
    assert jobs.claim(conn, "w2") is not None


def test_enqueue_notifies_listeners(database_url: str, conn: db.Connection) -> None:
    with db.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {db.JOBS_CHANNEL}")
        job = jobs.enqueue(conn, "p", "work", "coder")
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert job is not None and notes and f'"job": {job.id}' in notes[0].payload


def test_log_in_order(conn: db.Connection) -> None:
    jobs.enqueue(conn, "p", "work", "coder")
    job = jobs.claim(conn, "w")
    assert job is not None
    for i in range(5):
        jobs.log(conn, job, "stdout", f"line {i}\n")
    lines = jobs.read_log(conn, job.id)
    assert [r["text"] for r in lines] == [f"line {i}\n" for i in range(5)]
    assert jobs.read_log(conn, job.id, after=lines[2]["id"])[0]["text"] == "line 3\n"


def test_a_cut_job_listing_says_so(board_path: Path, database_url: str) -> None:
    """Issue 12.16: the newest 100 unless --limit or --all, and a cut list says it is."""
    import json as json_mod

    from mc.mirror import db as dbm

    from ..conftest import run_mc

    with dbm.connect(database_url) as conn:
        for i in range(120):
            conn.execute(
                "INSERT INTO jobs (project_id, kind, state, archetype) "
                "VALUES (%s, 'work', 'succeeded', 'coder')",
                (f"p{i}",),
            )
        conn.commit()
    env = {"MC_DATABASE_URL": database_url}
    listed = run_mc(board_path, "job", "list", "--json", env=env)
    assert len(json_mod.loads(listed.stdout)) == 100
    assert listed.stderr == "mc: the newest 100 of 120 jobs (--limit N or --all for more)\n"
    every = run_mc(board_path, "job", "list", "--json", "--all", env=env)
    assert len(json_mod.loads(every.stdout)) == 120 and every.stderr == ""
    few = run_mc(board_path, "job", "list", "--limit", "5", env=env)
    assert len(few.stdout.splitlines()) == 5 and "of 120 jobs" in few.stderr
