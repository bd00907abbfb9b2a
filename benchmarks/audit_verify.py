"""Verifying the audit chain on PostgreSQL against a plain SELECT of the same rows, in one run.

Writes ROWS chained audit rows with COPY (hashes computed exactly as the package does), then times
``stratlogic.audit.verify`` and a bare server-side-cursor SELECT that fetches the same columns and does
nothing with them. Goal: >= 200,000 rows/s verified.

    .venv/bin/python -m benchmarks.audit_verify [ROWS]
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta

import orjson
import psycopg

from benchmarks._common import scratch_database
from stratlogic.audit import verify
from stratlogic.db import Database
from stratlogic.models.audit_rules import GENESIS, canonical, digest

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ACTIONS = ["job.created", "job.status_changed", "artifact.created", "artifact.metadata_set", "user.logged_in"]


def load(url: str) -> None:
    """ROWS realistic, correctly chained rows, written with COPY."""
    rng, prev = random.Random(3), GENESIS
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY audit_logs (occurred_at, actor_id, action, resource_type, resource_id, details, "
                      "prev_hash, hash) FROM STDIN") as copy:
            for i in range(ROWS):
                when = start + timedelta(microseconds=i * 31_536_000_000_000 // ROWS)
                action = rng.choice(ACTIONS)
                details = {"from": "queued", "to": "running", "attempt": rng.randint(0, 3), "worker": f"w-{i % 8}"}
                body = canonical(when, None, action, action.split(".")[0], str(i), None, None, details)
                current = digest(prev, body)
                copy.write_row((when, None, action, action.split(".")[0], str(i), orjson.dumps(details).decode(),
                                prev, current))
                prev = current
        cur.execute("ANALYZE audit_logs")


def plain_select(url: str) -> int:
    """Fetch the same columns verify reads, through a server-side cursor, and do nothing else."""
    count = 0
    with psycopg.connect(url) as conn, conn.cursor(name="plain") as cur:
        cur.itersize = 20_000
        cur.execute("SELECT id, occurred_at, actor_id, action, resource_type, resource_id, ip_address, "
                    "user_agent, details, prev_hash, hash FROM audit_logs ORDER BY id")
        for _ in cur:
            count += 1
    return count


def main() -> None:
    with scratch_database("bench_audit_verify") as (settings, url):
        print(f"writing {ROWS:,} chained audit rows ...", flush=True)
        load(url)
        db = Database.from_settings(settings)
        started = time.perf_counter()
        selected = plain_select(url)
        base = time.perf_counter() - started
        print(f"plain SELECT      {selected:,} rows {base:6.2f}s ({selected / base:>9,.0f} rows/s)")
        for label, workers in (("verify 1 process ", 1), ("verify (default) ", None)):
            report = verify(db, workers=workers)
            assert report.ok and report.rows == selected == ROWS, report
            print(f"{label} {report.rows:,} rows {report.seconds:6.2f}s ({report.rows / report.seconds:>9,.0f} rows/s)"
                  f" | {report.seconds / base:.2f}x the plain SELECT's time")
        db.dispose()


if __name__ == "__main__":
    main()
