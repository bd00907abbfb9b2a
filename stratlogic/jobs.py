"""Job services that own their transactions: a worker's claim, and cleaning up finished jobs in batches.

``claim`` is what a worker loop calls: one short transaction per claim (``JobRepository.claim_now``: on
PostgreSQL the one-statement claim of ``repositories/_claim.py`` in autocommit on a pooled driver
connection, without an ORM session; the returned jobs are detached ``ScrapingJob`` objects).
``JobRepository.claim`` is the same claim inside a caller's unit of work. The claim's rules are stated
once, in ``models.job.CLAIM``.

Each clean-up batch is its own unit of work, so a long clean-up never holds locks for long and an
interruption loses at most one batch of work (never half of one). ``archive`` is called with each batch's
ids inside its transaction, before the delete: the retention issue plugs the Parquet archive in there.
This module holds no SQL: the rows are read and deleted by ``JobRepository`` and ``ArtifactRepository``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from stratlogic.db import Database, UnitOfWork
from stratlogic.errors import ValidationError
from stratlogic.models import JobStatus, ScrapingJob, utcnow
from stratlogic.repositories.artifacts import ArtifactRepository
from stratlogic.repositories.jobs import FINISHED, Clock, JobRepository, finished_statuses

if TYPE_CHECKING:
    from stratlogic.storage.base import ArtifactStore

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
            dry_run: bool = True, batch_size: int = 1000, archive: Archive | None = None,
            store: ArtifactStore | None = None) -> CleanupReport:
    """Delete finished jobs that finished before ``older_than``, a batch per transaction.

    Artifacts and their metadata rows go with their job (ON DELETE CASCADE); each job's audit row lists
    them. Their objects in ``store`` are removed once each batch has committed (without a store they stay,
    for ``artifacts reconcile --fix``). With ``dry_run`` (the default) nothing is deleted and the report
    says what would be.
    """
    wanted = finished_statuses(statuses)
    if not 1 <= batch_size <= 10_000:
        raise ValidationError(f"batch_size must be between 1 and 10000, got {batch_size}")
    if dry_run:
        with database.unit_of_work(readonly=True) as uow:
            return CleanupReport(True, JobRepository(uow).count_finished_before(older_than, wanted), 0)
    if store is not None:
        from stratlogic.storage.identity import claim_store

        claim_store(database, store)  # another database's store: refused before any row is deleted
    deleted: dict[str, int] = {}
    batches = 0
    while True:
        with database.unit_of_work() as uow:
            jobs = JobRepository(uow)
            ids = jobs.finished_before(older_than, wanted, limit=batch_size, lock=True)
            if not ids:
                break
            statuses_of = jobs.statuses_of(ids)
            if archive is not None:
                archive(uow, ids)
            objects = ArtifactRepository(uow).objects_of_jobs(ids) if store else {}
            jobs.delete_ids(ids)
        if store is not None:
            from stratlogic.storage.artifacts import remove_objects  # not imported by every worker

            remove_objects(store, objects, "its job was cleaned up")
        batches += 1
        for status in statuses_of.values():
            deleted[status.value] = deleted.get(status.value, 0) + 1
    return CleanupReport(False, deleted, batches)


def claim(database: Database, worker_id: str, n: int = 1, *, kinds: Sequence[str] | None = None,
          lease_seconds: int | None = None, clock: Clock = utcnow) -> list[ScrapingJob]:
    """Take up to ``n`` queued jobs for ``worker_id`` in a transaction of their own (see the module notes);
    inside an open unit of work of ``database``, in that unit instead (the jobs are then its objects).

    Same rules as ``JobRepository.claim``: priority then age, expired leases recovered first (at most
    every few seconds per process), one audit row per job, no job ever claimed twice.
    """
    return JobRepository.claim_now(database, worker_id, n, kinds=kinds, lease_seconds=lease_seconds, clock=clock)


__all__ = ["FINISHED", "Archive", "CleanupReport", "claim", "cleanup"]
