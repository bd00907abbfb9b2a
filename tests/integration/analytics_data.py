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


def artifact(job_id: int, content_type: str, size: int, sha: str, created: str, *, bucket: str = "arts",
             n: int = 0) -> dict[str, Any]:
    """One artifact row as ``add_many`` takes it (sha: one hex digit, repeated)."""
    return {"job_id": job_id, "bucket": bucket, "object_key": f"jobs/{job_id}/{n}", "filename": f"f{n}",
            "content_type": content_type, "size_bytes": size, "sha256": sha * 64, "created_at": at(created)}


def seed_artifacts(db: Database) -> list[int]:
    """Six artifacts of the jobs of ``seed_jobs`` (which must have run) with metadata; returns their ids."""
    from sqlalchemy import select

    from stratlogic.models import ScrapingJob
    from stratlogic.repositories import ArtifactRepository

    with db.unit_of_work() as uow:
        j1, j2, j3, *_, j8, _ = uow.session.scalars(select(ScrapingJob.id).order_by(ScrapingJob.id)).all()
        repo = ArtifactRepository(uow)
        ids = repo.add_many([
            artifact(j1, "text/html", 500, "a", "2026-03-28 10:01:00", n=1),
            artifact(j1, "text/html", 2000, "b", "2026-03-28 10:01:10", n=2),
            artifact(j2, "application/json", 2000, "a", "2026-03-28 23:32:00", n=3),
            artifact(j3, "image/png", 5 * 1024 * 1024, "c", "2026-03-29 00:30:50", bucket="other", n=4),
            artifact(j3, "text/html", 1024, "a", "2026-03-29 00:30:55", n=5),
            artifact(j8, "text/html", 10, "d", "2026-04-02 10:00:02", n=6),
        ])
        metadata: list[dict[str, Any]] = [{"http_status": 200, "lang": "en"}, {"http_status": 200},
                                          {"http_status": 404, "lang": "fr"}, {}, {"http_status": 200},
                                          {"http_status": 500}]
        for artifact_id, values in zip(ids, metadata, strict=True):
            if values:
                repo.set_metadata(artifact_id, values)
    return ids


#: (when, actor, what) of the audit events ``seed_audit`` makes, around Paris's 2026-10-25 fall back.
AUDIT_EVENTS = [
    ("2026-10-23 07:30:00", None, "create ada"),          # Fri 09:30 CEST
    ("2026-10-23 16:30:00", "ada", "create bob"),         # Fri 18:30 CEST
    ("2026-10-24 12:00:00", "ada", "bob admin"),          # Sat 14:00 CEST
    ("2026-10-25 00:30:00", "bob", "retention 30"),       # Sun 02:30 CEST (first 02:30)
    ("2026-10-25 01:30:00", "bob", "lease 600"),          # Sun 02:30 CET (second 02:30)
    ("2026-10-26 09:00:00", "ada", "deactivate bob"),     # Mon 10:00 CET
    ("2026-10-26 09:30:00", "ada", "rename ada"),         # Mon 10:30 CET
    ("2026-10-26 20:00:00", "ada", "login ada"),          # Mon 21:00 CET
]


def seed_audit(db: Database, monkeypatch: Any) -> dict[str, int]:
    """The eight changes of ``AUDIT_EVENTS``, each written through a repository with the trail's clock set."""
    from stratlogic.db.actor import acting_as
    from stratlogic.repositories import _trail

    people: dict[str, int] = {}
    for when, actor, what in AUDIT_EVENTS:
        monkeypatch.setattr(_trail, "utcnow", lambda when=when: at(when))
        with db.unit_of_work() as uow, acting_as(people[actor] if actor else None):
            _change(uow, what, at(when), people)
    return people


def _change(uow: Any, what: str, when: datetime, people: dict[str, int]) -> None:
    from stratlogic.repositories import ConfigRepository

    users, config = UserRepository(uow), ConfigRepository(uow)
    if what.startswith("create"):
        name = what.split()[1]
        people[name] = users.create(name, f"{name}@example.com").id
    elif what == "bob admin":
        users.update(people["bob"], role="admin")
    elif what.startswith(("retention", "lease")):
        key = "audit.retention_days" if what.startswith("retention") else "jobs.lease_seconds"
        config.set(key, int(what.split()[1]))
    elif what == "deactivate bob":
        users.deactivate(people["bob"])
    elif what == "rename ada":
        users.update(people["ada"], full_name="Ada L")
    else:
        users.record_login(people["ada"], when=when)
