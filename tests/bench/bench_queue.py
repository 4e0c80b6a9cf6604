"""Job-queue figures (issue 4). Not collected by pytest.

Run:  .venv/bin/python tests/bench/bench_queue.py

1. enqueue -> claimed by an idle worker (LISTEN mc_jobs, then claim), p50 over 200
   jobs; the worker is a separate process.
2. no-op jobs claimed and completed per second with 4 worker processes (10,000 jobs).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from mc.mirror import db  # noqa: E402
from mc.mirror.embedded import Cluster  # noqa: E402
from mc.pipeline import jobs  # noqa: E402


def idle_worker(url: str, n: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    conn = db.connect(url)
    listener = db.connect(url, autocommit=True)
    listener.execute(f"LISTEN {db.JOBS_CHANNEL}")
    out.put("ready")
    got = 0
    while got < n:
        for _ in listener.notifies(timeout=1, stop_after=1):
            break
        while (job := jobs.claim(conn, "idle")) is not None:
            out.put((job.id, time.time()))
            jobs.succeed(conn, job)
            got += 1


def busy_worker(url: str, name: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    conn = db.connect(url)
    done = 0
    while (job := jobs.claim(conn, name)) is not None:
        jobs.succeed(conn, job)
        done += 1
    out.put(done)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-queue-"))
    cluster = Cluster(tmp / "pg")
    cluster.init()
    cluster.start()
    try:
        db.ensure_database(cluster.url("postgres"), "q")
        url = cluster.url("q")
        with db.connect(url) as conn:
            db.migrate(conn)
            conn.commit()
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, PostgreSQL from {cluster.bindir} (fsync on)"
        )

        # 1. latency with an idle, listening worker
        out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        n = 200
        proc = mp.Process(target=idle_worker, args=(url, n, out))
        proc.start()
        assert out.get(timeout=30) == "ready"
        latencies = []
        with db.connect(url) as conn:
            for i in range(n):
                start = time.time()
                job = jobs.enqueue(conn, f"lat{i}", "work", "coder")
                assert job is not None
                job_id, claimed_at = out.get(timeout=30)
                assert job_id == job.id
                latencies.append((claimed_at - start) * 1000)
                time.sleep(0.005)
        proc.join(30)
        lat = sorted(latencies)
        print(
            f"enqueue -> claimed by an idle worker: median {statistics.median(lat):.2f} ms, "
            f"p95 {lat[int(0.95 * (len(lat) - 1))]:.2f} ms (n={n})   (target p50 <= 5)"
        )

        # 2. throughput, 4 worker processes
        rates = []
        for run in range(5):
            with db.connect(url) as conn:
                conn.execute(
                    "INSERT INTO jobs (project_id, kind, archetype) "
                    "SELECT 'r%s-' || i, 'work', 'coder' FROM generate_series(1, 10000) i",
                    (run,),
                )
                conn.commit()
                conn.execute("ANALYZE jobs")
                conn.commit()
            workers = [mp.Process(target=busy_worker, args=(url, f"w{i}", out)) for i in range(4)]
            start = time.time()
            for w in workers:
                w.start()
            total = sum(out.get(timeout=120) for _ in workers)
            elapsed = time.time() - start
            for w in workers:
                w.join()
            rates.append(total / elapsed)
        print(
            f"no-op jobs claimed and completed, 4 worker processes: median "
            f"{statistics.median(rates):.0f} jobs/s over 5 runs of 10,000 "
            f"(runs: {', '.join(f'{r:.0f}' for r in rates)})   (target >= 1,000)"
        )
    finally:
        cluster.stop("immediate")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(cluster.root, ignore_errors=True)


if __name__ == "__main__":
    main()
