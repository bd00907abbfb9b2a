"""Verifying the audit chain on PostgreSQL against a plain SELECT of the same rows, in one run.

Writes ROWS chained audit rows with COPY (hashes computed exactly as the package does), then times
``stratlogic.audit.verify`` and a bare server-side-cursor SELECT that fetches the same columns and does
nothing with them. Goal: >= 200,000 rows/s verified.

DETAILS ``small`` (default) writes short, much repeated details; ``demo`` writes them like ``seed --demo``:
45% of rows carry a unique 300-500 byte nested document (job created, artifact stored), which is what
makes verification dear (every one parsed and re-serialised, longer messages to hash). The table is not
analysed, as after a bulk load.

    .venv/bin/python -m benchmarks.audit_verify [ROWS] [small|demo]
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg

from benchmarks._common import scratch_database
from stratlogic.audit import verify
from stratlogic.db import Database
from stratlogic.models.audit_rules import GENESIS, canonical, digest, timestamp

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
DETAILS = sys.argv[2] if len(sys.argv) > 2 else "small"
ACTIONS = ["job.created", "job.status_changed", "artifact.created", "artifact.metadata_set", "user.logged_in"]


def details_for(rng: random.Random, i: int, when: datetime) -> dict[str, Any]:
    """A row's details: a status change, or (``demo``, 45% of rows) a unique job or artifact document."""
    if DETAILS == "demo" and rng.random() < 0.45:
        site = f"site-{rng.randrange(500)}.example"
        if rng.random() < 0.45:
            return {"values": {"id": i, "kind": "scrape", "name": f"Listings {site}", "status": "pending",
                               "attempt": 0, "options": {"wait_for": "networkidle", "render_js": rng.random() < 0.5,
                                                         "respect_robots": True},
                               "version": 1, "owner_id": rng.randrange(1, 200), "priority": rng.randrange(3),
                               "created_at": timestamp(when), "updated_at": timestamp(when), "pages_done": 0,
                               "target_url": f"https://{site}/p/{rng.getrandbits(40):x}", "max_retries": 3,
                               "items_scraped": 0, "bytes_downloaded": 0}}
        return {"job_id": i // 3, "sha256": f"{rng.getrandbits(256):064x}", "filename": f"page-{i % 7}.html",
                "metadata": {"language": "en", "page_title": f"Latest | {site}", "http_status": 200},
                "object_key": f"jobs/{i // 3}/{rng.getrandbits(128):032x}/page.html",
                "size_bytes": rng.randrange(1, 10**6), "content_type": "text/html"}
    return {"from": "queued", "to": "running", "attempt": rng.randint(0, 3), "worker": f"w-{i % 8}"}


def load(url: str) -> None:
    """ROWS realistic, correctly chained rows, written with COPY."""
    rng, prev = random.Random(3), GENESIS
    start = datetime(2026, 1, 1, tzinfo=UTC)
    copy_sql = ("COPY audit_logs (occurred_at, actor_id, action, resource_type, resource_id, details, prev_hash, "
                "hash) FROM STDIN")
    with psycopg.connect(url) as conn, conn.cursor() as cur, cur.copy(copy_sql) as copy:
        for i in range(ROWS):
            when = start + timedelta(microseconds=i * 31_536_000_000_000 // ROWS)
            action = rng.choice(ACTIONS)
            details = details_for(rng, i, when)
            body = canonical(when, None, action, action.split(".")[0], str(i), None, None, details)
            current = digest(prev, body)
            copy.write_row((when, None, action, action.split(".")[0], str(i), orjson.dumps(details).decode(),
                            prev, current))
            prev = current


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
        print(f"writing {ROWS:,} chained audit rows ({DETAILS} details) ...", flush=True)
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
