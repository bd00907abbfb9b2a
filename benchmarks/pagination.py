"""Keyset against offset pagination on 1,000,000 scraping jobs in PostgreSQL.

Walks to pages 1, 1,000 and 10,000 (100 rows a page) with the repository's keyset ``page()`` and times a
fetch at each, then times the offset ``list()`` at the same positions. Both must return the same rows.
Goal: keyset page 10,000 within 1.5x of page 1, while offset page 10,000 is many times slower.

    .venv/bin/python benchmarks/pagination.py [ROWS]
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import psycopg

from benchmarks._common import median_seconds, scratch_database
from stratlogic.db import Database
from stratlogic.models import JobStatus, ScrapingJob
from stratlogic.repositories import Repository

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
PAGE = 100
POSITIONS = [1, 1_000, 10_000]


class Jobs(Repository[ScrapingJob]):
    """The generic repository over scraping_jobs (the job service comes in a later issue)."""

    model = ScrapingJob
    resource = "job"
    filterable = ("id", "status", "created_at")
    sortable: ClassVar[tuple[str, ...]] = ("id", "created_at")


def load(url: str) -> None:
    """One owner and ROWS jobs over a year, written with COPY."""
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = [s.value for s in JobStatus if s is not JobStatus.RUNNING]  # running rows would need a lease
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO users (username, email) VALUES ('bench', 'bench@example.com') RETURNING id")
        owner = cur.fetchone()[0]  # type: ignore[index]
        with cur.copy("COPY scraping_jobs (owner_id, name, target_url, status, options, created_at, updated_at, "
                      "finished_at) FROM STDIN") as copy:
            for i in range(ROWS):
                created = start + timedelta(seconds=rng.randrange(365 * 86400))
                status = rng.choice(statuses)
                finished = created + timedelta(hours=1) if status in ("completed", "failed", "cancelled") else None
                copy.write_row((owner, f"job {i}", f"https://example.com/{i}", status, "{}", created, created,
                                finished))
        cur.execute("ANALYZE scraping_jobs")


def cursors_at(jobs: Jobs, sort: str) -> dict[int, str | None]:
    """Walk the keyset pages once, keeping the cursor that opens each measured page."""
    cursors: dict[int, str | None] = {}
    cursor: str | None = None
    for number in range(1, max(POSITIONS) + 1):
        if number in POSITIONS:
            cursors[number] = cursor
        cursor = jobs.page(sort=sort, limit=PAGE, cursor=cursor).next_cursor
    return cursors


def measure(jobs: Jobs, sort: str) -> None:
    """Print keyset and offset timings at each position; both must return the same rows."""
    cursors = cursors_at(jobs, sort)
    first = None
    for number in POSITIONS:
        cursor, offset_rows = cursors[number], (number - 1) * PAGE

        def keyset_page(c: str | None = cursor) -> list[ScrapingJob]:
            return jobs.page(sort=sort, limit=PAGE, cursor=c).items

        def offset_page(o: int = offset_rows) -> list[ScrapingJob]:
            return jobs.list(sort=sort, limit=PAGE, offset=o)

        assert [j.id for j in keyset_page()] == [j.id for j in offset_page()], f"rows differ at page {number}"
        keyset, offset = median_seconds(keyset_page, 21), median_seconds(offset_page, 5)
        first = first or keyset
        print(f"{sort:<12} {number:>7,} {keyset * 1000:>10.2f} {offset * 1000:>10.2f} "
              f"{keyset / first:>12.2f}x {offset / keyset:>13.1f}x", flush=True)


def main() -> None:
    with scratch_database("bench_pagination") as (settings, url):
        print(f"loading {ROWS:,} jobs ...", flush=True)
        load(url)
        db = Database.from_settings(settings)
        print(f"{'sort':<12} {'page':>7} {'keyset ms':>10} {'offset ms':>10} {'keyset/page1':>13} "
              f"{'offset/keyset':>14}")
        for sort in ("id", "-created_at"):
            with db.unit_of_work(readonly=True) as uow:
                measure(Jobs(uow), sort)
        db.dispose()


if __name__ == "__main__":
    main()
