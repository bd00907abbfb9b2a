"""The demo seed against a raw COPY of the same rows, on PostgreSQL, in one run.

Runs ``stratlogic seed --demo --users 200 --jobs JOBS --days 365 --seed 1 --no-objects`` (a subprocess, so
its wall time and peak memory are its own) on a fresh database. Then takes the very rows it wrote (``COPY
... TO`` in binary, not timed) and loads them into a second fresh database with one plain ``COPY ... FROM``
per table in one transaction: the baseline, with the schema's indexes and foreign keys in place as any
loader would meet them. Both databases must hold the same rows. Goal: the seed at >= 50% of the raw COPY's
rows/s, and 1,000,000 jobs in under 2 minutes and 1 GB.

    PYTHONPATH=. .venv/bin/python -m benchmarks.seed [JOBS]      # default 100,000; 1000000 for the figures
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks._common import scratch_database

JOBS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
TABLES = ["users", "system_config", "scraping_jobs", "artifacts", "artifact_metadata", "audit_logs"]  # parents first
CLI = Path(sys.executable).parent / "stratlogic"


def seed(url: str, home: Path) -> tuple[float, int]:
    """Run the seed command; its wall time and the peak resident memory of it and its producer (MB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATLOGIC_")}
    env.update(STRATLOGIC_DATABASE_URL=url, STRATLOGIC_HOME=str(home), STRATLOGIC_ARTIFACT_STORE=f"file:{home}/art",
               STRATLOGIC_ADMIN_PASSWORD="Benchmark-Only-Passphrase-7093", STRATLOGIC_LOG_LEVEL="WARNING")
    started = time.perf_counter()
    subprocess.run([str(CLI), "seed", "--demo", "--users", "200", "--jobs", str(JOBS), "--days", "365", "--seed", "1",
                    "--no-objects"], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


def export(url: str, folder: Path) -> dict[str, int]:
    """Each table's rows to a binary COPY file; the row counts."""
    counts = {}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table in TABLES:
            with (folder / table).open("wb") as out, cur.copy(f"COPY {table} TO STDOUT (FORMAT BINARY)") as copy:
                for chunk in copy:
                    out.write(chunk)
            counts[table] = cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
    return counts


def raw_copy(url: str, folder: Path) -> float:
    """Load the exported files with plain COPY, one transaction; seconds."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET statement_timeout = 0")
        for table in TABLES:
            with (folder / table).open("rb") as source, cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
    return time.perf_counter() - started


def fingerprint(url: str) -> tuple[object, ...]:
    """Row counts and the audit chain's tail: equal fingerprints, same rows."""
    with psycopg.connect(url) as conn:
        counts = tuple(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES)  # type: ignore[index]
        tail = conn.execute("SELECT hash FROM audit_logs ORDER BY id DESC LIMIT 1").fetchone()
    return counts, tail


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch, scratch_database("bench_seed") as (_, seeded), \
            scratch_database("bench_seed_copy") as (_, copied):
        folder = Path(scratch)
        print(f"seeding {JOBS:,} jobs ...", flush=True)
        seconds, peak_mb = seed(seeded.replace("postgresql://", "postgresql+psycopg://"), folder)
        counts = export(seeded, folder)
        rows = sum(counts.values())
        print(f"copying the same {rows:,} rows ...", flush=True)
        baseline = raw_copy(copied, folder)
        assert fingerprint(seeded) == fingerprint(copied), "the copy does not hold the seeded rows"
        print(f"rows: {', '.join(f'{t} {n:,}' for t, n in counts.items())}")
        print(f"seed     {seconds:7.1f}s {rows / seconds:>10,.0f} rows/s   peak {peak_mb} MB (with its producer)")
        print(f"raw COPY {baseline:7.1f}s {rows / baseline:>10,.0f} rows/s   (same rows; indexes and keys live)")
        print(f"ratio    {baseline / seconds:.2f} of the raw COPY's rows/s (goal >= 0.50)")


if __name__ == "__main__":
    main()
