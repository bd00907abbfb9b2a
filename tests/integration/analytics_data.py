"""Small hand-made data sets for the analytics tests, inserted through the repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stratlogic.db import Database
from stratlogic.repositories import JobRepository, UserRepository


def at(text: str) -> datetime:
    """A UTC moment from ``'2026-03-28 10:00:10'``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def job(owner: int, kind: str, url: str, status: str, created: str, *, started: str | None = None,
        finished: str | None = None, attempt: int = 0, pages: int = 0, items: int = 0, size: int = 0,
        error: tuple[str, str] | None = None, lease: str | None = None) -> dict[str, Any]:
    """One job row as ``add_many`` takes it."""
    return {"owner_id": owner, "name": f"{kind} {url}", "kind": kind, "target_url": url, "status": status,
            "created_at": at(created), "started_at": at(started) if started else None,
            "finished_at": at(finished) if finished else None, "attempt": attempt, "pages_done": pages,
            "items_scraped": items, "bytes_downloaded": size, "error_type": error[0] if error else None,
            "error_message": error[1] if error else None, "claimed_by": "w1" if lease else None,
            "lease_expires_at": at(lease) if lease else None, "options": {}}


def seed_jobs(db: Database) -> dict[str, int]:
    """Users ada and bob and nine jobs around the 2026-03-29 DST change (see test_analytics_jobs)."""
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        ada, bob = users.create("ada", "ada@example.com").id, users.create("bob", "bob@example.com").id
        rows = [
            job(ada, "crawl", "https://a.example/1", "completed", "2026-03-28 10:00:00", started="2026-03-28 10:00:10",
                finished="2026-03-28 10:01:40", attempt=1, pages=5, items=50, size=5000),
            job(ada, "crawl", "https://a.example/2", "completed", "2026-03-28 23:30:00", started="2026-03-28 23:30:20",
                finished="2026-03-28 23:32:20", attempt=1, pages=3, items=30, size=3000),
            job(bob, "scrape", "https://b.example/", "failed", "2026-03-29 00:30:00", started="2026-03-29 00:30:30",
                finished="2026-03-29 00:31:00", attempt=3, pages=1, size=100, error=("Timeout", "timed out b")),
            job(bob, "scrape", "https://b.example/x", "failed", "2026-03-29 01:30:00", started="2026-03-29 01:31:10",
                finished="2026-03-29 01:32:10", attempt=2, error=("HTTPError", "502")),
            job(ada, "scrape", "https://A.example/3", "cancelled", "2026-03-30 12:00:00",
                finished="2026-03-30 12:05:00"),
            job(bob, "crawl", "https://c.example/", "queued", "2026-03-31 08:00:00"),
            job(ada, "crawl", "https://c.example/", "running", "2026-03-31 09:00:00", started="2026-03-31 09:00:40",
                attempt=1, lease="2026-03-31 09:05:00"),
            job(ada, "crawl", "https://a.example/late", "completed", "2026-04-02 10:00:00",
                started="2026-04-02 10:00:01", finished="2026-04-02 10:00:02", attempt=1, pages=100),
            job(bob, "scrape", "https://b.example/y", "failed", "2026-03-30 06:00:00", started="2026-03-30 06:00:05",
                finished="2026-03-30 06:00:50", attempt=1, error=("Timeout", "timed out later")),
        ]
        JobRepository(uow).add_many(rows)
    return {"ada": ada, "bob": bob}
