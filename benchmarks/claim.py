"""Claims per second on PostgreSQL: a worker's claim against a bare SKIP LOCKED loop, same run.

All claim one job per transaction until the queue is empty, with 1 and with 8 worker processes; the
bare loop is a single ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`` per claim and
records nothing. ``stratlogic.jobs.claim`` (what a worker loop calls) also takes the write lock, recovers
expired leases, reads the lease length from config and appends the hash-chained audit row. For
reference, ``JobRepository.claim`` inside a unit of work (an ORM session) is measured too, and so is
``jobs.claim`` taking 4 jobs per call: claims serialise on the audit chain's write lock, so many workers
get more jobs per second by claiming several at a time (not the goal's comparison, which is one job per
transaction on both sides). Goal: the worker's claim >= 0.8x the bare loop. Every job must be claimed
exactly once.

    .venv/bin/python -m benchmarks.claim [JOBS]
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg

from benchmarks._common import scratch_database
from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.jobs import claim
from stratlogic.repositories.jobs import JobRepository

JOBS = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
BARE = """
UPDATE scraping_jobs SET status = 'running', claimed_by = %(w)s, heartbeat_at = now(), started_at = now(),
       lease_expires_at = now() + interval '5 minutes', attempt = attempt + 1, version = version + 1
WHERE id = (SELECT id FROM scraping_jobs WHERE status = 'queued' ORDER BY priority DESC, created_at, id
            LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id
"""


def refill(url: str) -> None:
    """Replace every job with JOBS fresh queued ones."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM scraping_jobs")
        owner = cur.execute("SELECT id FROM users LIMIT 1").fetchone()
        if owner is None:
            owner = cur.execute("INSERT INTO users (username, email) VALUES ('bench', 'b@example.com') "
                                "RETURNING id").fetchone()
        with cur.copy("COPY scraping_jobs (owner_id, name, target_url, status, options, created_at, updated_at) "
                      "FROM STDIN") as copy:
            for i in range(JOBS):
                when = start + timedelta(seconds=i)
                copy.write_row((owner[0], f"job {i}", f"https://example.com/{i}", "queued", "{}", when, when))
        cur.execute("ANALYZE scraping_jobs")


def bare_worker(url: str, name: str, go: mp.synchronize.Event, out: mp.Queue) -> None:  # type: ignore[name-defined]
    claimed = []
    with psycopg.connect(url) as conn:
        go.wait()
        while True:
            row = conn.execute(BARE, {"w": name}).fetchone()
            conn.commit()
            if row is None:
                break
            claimed.append(row[0])
    out.put(claimed)


def our_worker(settings: Settings, name: str, go: mp.synchronize.Event, out: mp.Queue, n: int = 1) -> None:  # type: ignore[name-defined]
    database = Database.from_settings(settings)
    claimed = []
    go.wait()
    while jobs := claim(database, name, n):
        claimed += [job.id for job in jobs]
    database.dispose()
    out.put(claimed)


def batch_worker(settings: Settings, name: str, go: mp.synchronize.Event, out: mp.Queue) -> None:  # type: ignore[name-defined]
    our_worker(settings, name, go, out, n=4)


def session_worker(settings: Settings, name: str, go: mp.synchronize.Event, out: mp.Queue) -> None:  # type: ignore[name-defined]
    database = Database.from_settings(settings)
    claimed = []
    go.wait()
    while True:
        with database.unit_of_work() as uow:
            jobs = JobRepository(uow).claim(name)
        if not jobs:
            break
        claimed += [job.id for job in jobs]
    database.dispose()
    out.put(claimed)


def run(target: object, first_arg: object, workers: int) -> float:
    """Claims per second with ``workers`` processes; checks each job was claimed exactly once."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(first_arg, f"w{i}", go, out)) for i in range(workers)]
    for proc in procs:
        proc.start()
    time.sleep(3)  # let every process import and connect before the clock starts
    started = time.perf_counter()
    go.set()
    claimed = [job for _ in procs for job in out.get()]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    assert len(claimed) == len(set(claimed)) == JOBS, f"{len(claimed)} claims, {len(set(claimed))} distinct"
    return JOBS / elapsed


def main() -> None:
    with scratch_database("bench_claim") as (settings, url):
        print(f"{'workers':>7} {'bare claims/s':>14} {'jobs.claim/s':>13} {'ratio':>6} "
              f"{'in a session/s':>15} {'ratio':>6} {'4 per claim, jobs/s':>20} {'ratio':>6}")
        for workers in (1, 8):
            refill(url)
            bare = run(bare_worker, url, workers)
            refill(url)
            ours = run(our_worker, settings, workers)
            refill(url)
            session = run(session_worker, settings, workers)
            refill(url)
            batch = run(batch_worker, settings, workers)
            print(f"{workers:>7} {bare:>14,.0f} {ours:>13,.0f} {ours / bare:>5.2f}x {session:>15,.0f} "
                  f"{session / bare:>5.2f}x {batch:>20,.0f} {batch / bare:>5.2f}x "
                  "(goal: jobs.claim >= 0.80x)", flush=True)


if __name__ == "__main__":
    main()
