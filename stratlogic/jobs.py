"""Job services that span transactions: cleaning up finished jobs in batches.

Each batch is its own unit of work, so a long clean-up never holds locks for long and an interruption
loses at most one batch of work (never half of one). ``archive`` is called with each batch's ids inside
its transaction, before the delete: the retention issue plugs the Parquet archive in there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from stratlogic.db import Database, UnitOfWork
from stratlogic.errors import ValidationError
from stratlogic.models import JobStatus, ScrapingJob
from stratlogic.repositories.jobs import FINISHED, JobRepository

Archive = Callable[[UnitOfWork, list[int]], None]


@dataclass(frozen=True)
class CleanupReport:
    """What a clean-up deleted (or, in a dry run, would delete), by status."""

    dry_run: bool
    by_status: dict[str, int]
    batches: int

    @property
    def total(self) -> int:
        """Jobs deleted (or that would be)."""
        return sum(self.by_status.values())


def cleanup(database: Database, older_than: datetime, *, statuses: Sequence[JobStatus | str] = FINISHED,
            dry_run: bool = True, batch_size: int = 1000, archive: Archive | None = None) -> CleanupReport:
    """Delete finished jobs that finished before ``older_than``, a batch per transaction.

    Artifacts and their metadata rows go with their job (ON DELETE CASCADE); each job's audit row lists
    them. With ``dry_run`` (the default) nothing is deleted and the report says what would be.
    """
    wanted = [JobStatus(s) for s in statuses]
    if not 1 <= batch_size <= 10_000:
        raise ValidationError(f"batch_size must be between 1 and 10000, got {batch_size}")
    if dry_run:
        with database.unit_of_work(readonly=True) as uow:
            JobRepository(uow).finished_before(older_than, wanted, limit=1)  # validates the statuses
            rows = uow.session.execute(select(ScrapingJob.status, func.count()).where(
                ScrapingJob.status.in_(wanted), ScrapingJob.finished_at < older_than).group_by(ScrapingJob.status))
            counts = {str(getattr(status, "value", status)): n for status, n in rows}
        return CleanupReport(True, counts, 0)
    deleted: dict[str, int] = {}
    batches = 0
    while True:
        with database.unit_of_work() as uow:
            jobs = JobRepository(uow)
            ids = jobs.finished_before(older_than, wanted, limit=batch_size)
            if not ids:
                break
            statuses_of = dict(uow.session.execute(select(ScrapingJob.id, ScrapingJob.status)
                                                   .where(ScrapingJob.id.in_(ids))).all())
            if archive is not None:
                archive(uow, ids)
            jobs.delete_ids(ids)
        batches += 1
        for status in statuses_of.values():
            deleted[status.value] = deleted.get(status.value, 0) + 1
    return CleanupReport(False, deleted, batches)


__all__ = ["FINISHED", "Archive", "CleanupReport", "cleanup"]
