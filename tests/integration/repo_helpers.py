"""Shared by the repository tests (tests/integration/test_repo_*.py): errors as a traceback shows them, jobs."""

from __future__ import annotations

from stratlogic.db import Database
from stratlogic.db.session import UnitOfWork
from stratlogic.models import ScrapingJob
from stratlogic.repositories import UserRepository


def texts_of(exc: BaseException) -> list[str]:
    """The message of an exception and of every exception chained to it (what a traceback shows)."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return texts


def make_job(uow: UnitOfWork, owner_id: int, name: str = "job") -> ScrapingJob:
    """Add and flush a scraping job owned by ``owner_id``."""
    job = ScrapingJob(owner_id=owner_id, name=name, target_url="https://example.com/")
    uow.session.add(job)
    uow.session.flush()
    return job


def committed_job(db: Database) -> int:
    """The id of a committed job (and of its owner, a user without password)."""
    with db.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com")
        return make_job(uow, owner.id).id
