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

Then the same worker benchmark against another revision (``--against``, by default ``cbe15d7``, the
parent of the first commit of issue 16): that revision is checked out with ``git worktree add`` into a
temporary folder, and each measurement runs this file's body in a subprocess whose ``stratlogic`` is
imported from one tree or the other (PYTHONPATH), this tree and the other taking turns, ``--rounds``
times; the medians and their ratio are printed (1 and 8 workers one job per claim, 8 workers 4 per claim).

    .venv/bin/python -m benchmarks.claim [JOBS] [--against REV] [--rounds 3] [--compare-only]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import psycopg

from benchmarks._common import scratch_database
from stratlogic.config import Settings, load_settings
from stratlogic.db import Database
from stratlogic.jobs import claim
from stratlogic.repositories.jobs import JobRepository

ROOT = Path(__file__).resolve().parent.parent
AGAINST = "cbe15d7"  # the parent of the first issue-16 commit
#: (workers, jobs per claim) compared against the other revision.
COMPARED = ((1, 1), (8, 1), (8, 4))
BARE = """
UPDATE scraping_jobs SET status = 'running', claimed_by = %(w)s, heartbeat_at = now(), started_at = now(),
       lease_expires_at = now() + interval '5 minutes', attempt = attempt + 1, version = version + 1
WHERE id = (SELECT id FROM scraping_jobs WHERE status = 'queued' ORDER BY priority DESC, created_at, id
            LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id
"""


def refill(url: str, jobs: int) -> None:
    """Replace every job with ``jobs`` fresh queued ones."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM scraping_jobs")
        owner = cur.execute("SELECT id FROM users LIMIT 1").fetchone()
        if owner is None:
            owner = cur.execute("INSERT INTO users (username, email) VALUES ('bench', 'b@example.com') "
                                "RETURNING id").fetchone()
        assert owner is not None
        with cur.copy("COPY scraping_jobs (owner_id, name, target_url, status, options, created_at, updated_at) "
                      "FROM STDIN") as copy:
            for i in range(jobs):
                when = start + timedelta(seconds=i)
                copy.write_row((owner[0], f"job {i}", f"https://example.com/{i}", "queued", "{}", when, when))
        cur.execute("ANALYZE scraping_jobs")


def bare_worker(url: str, name: str, ready: Queue[str], go: Event, out: Queue[list[int]]) -> None:
    claimed = []
    with psycopg.connect(url) as conn:
        ready.put(name)
        go.wait()
        while True:
            row = conn.execute(BARE, {"w": name}).fetchone()
            conn.commit()
            if row is None:
                break
            claimed.append(row[0])
    out.put(claimed)


def our_worker(settings: Settings, name: str, ready: Queue[str], go: Event, out: Queue[list[int]], n: int = 1) -> None:
    database = Database.from_settings(settings)
    claimed = []
    ready.put(name)
    go.wait()
    while jobs := claim(database, name, n):
        claimed += [job.id for job in jobs]
    database.dispose()
    out.put(claimed)


def batch_worker(settings: Settings, name: str, ready: Queue[str], go: Event, out: Queue[list[int]]) -> None:
    our_worker(settings, name, ready, go, out, n=4)


def session_worker(settings: Settings, name: str, ready: Queue[str], go: Event, out: Queue[list[int]]) -> None:
    database = Database.from_settings(settings)
    claimed = []
    ready.put(name)
    go.wait()
    while True:
        with database.unit_of_work() as uow:
            jobs = JobRepository(uow).claim(name)
        if not jobs:
            break
        claimed += [job.id for job in jobs]
    database.dispose()
    out.put(claimed)


def run(target: Callable[..., None], first_arg: object, workers: int, jobs: int) -> float:
    """Claims per second with ``workers`` processes; checks each job was claimed exactly once."""
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(first_arg, f"w{i}", ready, go, out)) for i in range(workers)]
    for proc in procs:
        proc.start()
    for _ in procs:  # every process has imported and is set up before the clock starts (a busy machine
        ready.get()  # may take many seconds to start eight interpreters)
    started = time.perf_counter()
    go.set()
    claimed = [job for _ in procs for job in out.get()]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
    assert len(claimed) == len(set(claimed)) == jobs, f"{len(claimed)} claims, {len(set(claimed))} distinct"
    return jobs / elapsed


def table(settings: Settings, url: str, jobs: int) -> None:
    """This tree's worker claim, claim in a session and 4-per-claim against the bare loop."""
    print(f"{'workers':>7} {'bare claims/s':>14} {'jobs.claim/s':>13} {'ratio':>6} "
          f"{'in a session/s':>15} {'ratio':>6} {'4 per claim, jobs/s':>20} {'ratio':>6}")
    for workers in (1, 8):
        refill(url, jobs)
        bare = run(bare_worker, url, workers, jobs)
        refill(url, jobs)
        ours = run(our_worker, settings, workers, jobs)
        refill(url, jobs)
        session = run(session_worker, settings, workers, jobs)
        refill(url, jobs)
        batch = run(batch_worker, settings, workers, jobs)
        print(f"{workers:>7} {bare:>14,.0f} {ours:>13,.0f} {ours / bare:>5.2f}x {session:>15,.0f} "
              f"{session / bare:>5.2f}x {batch:>20,.0f} {batch / bare:>5.2f}x "
              "(goal: jobs.claim >= 0.80x)", flush=True)


def measure(url: str, workers: int, per_claim: int, jobs: int) -> None:
    """One measurement with whichever ``stratlogic`` this process imports (the subprocess side of
    ``--against``): prints the package's folder, then jobs claimed per second."""
    import stratlogic

    settings = load_settings(home=Path.cwd(), database_url=url, log_level="WARNING")
    refill(url, jobs)
    rate = run(batch_worker if per_claim == 4 else our_worker, settings, workers, jobs)
    print(Path(stratlogic.__file__).resolve().parent.parent, rate, flush=True)


@contextmanager
def checked_out(revision: str) -> Iterator[Path]:
    """``revision`` of this repository in a temporary worktree (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="bench-claim-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), revision],
                       check=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


def measured_in(tree: Path, shim: Path, url: str, workers: int, per_claim: int, jobs: int) -> float:
    """Jobs per second of ``stratlogic.jobs.claim`` imported from ``tree``, this file's body running it.

    The subprocess runs in ``shim``, a folder holding only a link to this tree's ``benchmarks``, so the
    benchmark is this one whichever tree ``stratlogic`` comes from (the spawned workers inherit the path).
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(shim), str(tree)))}
    done = subprocess.run([sys.executable, "-m", "benchmarks.claim", "--measure", url, str(workers), str(per_claim),
                           str(jobs)], cwd=shim, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the measurement with {tree} failed:\n{done.stderr}")
    root, rate = done.stdout.split()[-2:]
    if Path(root) != tree.resolve():
        raise SystemExit(f"the measurement meant for {tree} imported stratlogic from {root}")
    return float(rate)


def compare(url: str, jobs: int, revision: str, rounds: int) -> None:
    """This tree's worker claim against ``revision``'s, in turns, same database, same run."""
    with checked_out(revision) as other, tempfile.TemporaryDirectory(prefix="bench-shim-") as folder:
        shim = Path(folder)
        (shim / "benchmarks").symlink_to(ROOT / "benchmarks", target_is_directory=True)
        print(f"\nworker claims against {revision} ({rounds} rounds in turns, medians; jobs/s)")
        print(f"{'workers':>7} {'per claim':>9} {'this tree':>10} {revision:>10} {'ratio':>6}")
        for workers, per_claim in COMPARED:
            ours: list[float] = []
            theirs: list[float] = []
            for turn in range(rounds):  # in turns: load from other work on the machine hits both alike
                trees = [(ROOT, ours), (other, theirs)]
                for tree, rates in trees if turn % 2 == 0 else trees[::-1]:
                    rates.append(measured_in(tree, shim, url, workers, per_claim, jobs))
            mine, base = statistics.median(ours), statistics.median(theirs)
            rounds_seen = " ".join(f"{a:,.0f}/{b:,.0f}" for a, b in zip(ours, theirs, strict=True))
            print(f"{workers:>7} {per_claim:>9} {mine:>10,.0f} {base:>10,.0f} {mine / base:>5.2f}x"
                  f"   (each round, this/{revision}: {rounds_seen})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Claims per second on PostgreSQL.")
    parser.add_argument("jobs", nargs="?", type=int, default=4000, help="queued jobs per measurement")
    parser.add_argument("--against", default=AGAINST, help="the revision to compare with (git rev)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per tree for the comparison")
    parser.add_argument("--compare-only", action="store_true", help="skip the table against the bare loop")
    parser.add_argument("--measure", nargs=4, metavar=("URL", "WORKERS", "PER_CLAIM", "JOBS"),
                        help=argparse.SUPPRESS)  # the subprocess side of --against
    args = parser.parse_args()
    if args.measure:
        url, workers, per_claim, jobs = args.measure
        measure(url, int(workers), int(per_claim), int(jobs))
        return
    with scratch_database("bench_claim") as (settings, url):
        if not args.compare_only:
            table(settings, url, args.jobs)
        compare(url, args.jobs, args.against, args.rounds)


if __name__ == "__main__":
    main()
