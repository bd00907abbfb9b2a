"""Job services that own their transactions: a worker's claim, and cleaning up finished jobs in batches.

``claim`` is what a worker loop calls: one short transaction per claim. On PostgreSQL it runs the claim
statement (``repositories/_claim.py``) as a transaction of its own (autocommit: one round trip, and the
write lock is released by the server's commit) on a pooled driver connection, without an ORM session,
because a session's bookkeeping costs more client time than the claim itself; the returned jobs are
detached ``ScrapingJob`` objects. ``JobRepository.claim`` is the same statement inside a caller's unit of work.

Each clean-up batch is its own unit of work, so a long clean-up never holds locks for long and an
interruption loses at most one batch of work (never half of one). ``archive`` is called with each batch's
ids inside its transaction, before the delete: the retention issue plugs the Parquet archive in there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import func, select

from stratlogic.db import Database, UnitOfWork
from stratlogic.db.actor import current_actor
from stratlogic.db.errors import translated, translated_driver
from stratlogic.errors import ValidationError
from stratlogic.models import Artifact, JobStatus, ScrapingJob, utcnow
from stratlogic.repositories import _claim, _trail
from stratlogic.repositories.config import recent_config
from stratlogic.repositories.jobs import FINISHED, Clock, JobRepository, check_claim, finished_statuses

if TYPE_CHECKING:
    from stratlogic.storage.base import ArtifactStore

Archive = Callable[[UnitOfWork, list[int]], None]
Row = tuple[object, ...]


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
            rows = uow.session.execute(select(ScrapingJob.status, func.count()).where(
                ScrapingJob.status.in_(wanted), ScrapingJob.finished_at < older_than).group_by(ScrapingJob.status))
            counts = {str(getattr(status, "value", status)): n for status, n in rows}
        return CleanupReport(True, counts, 0)
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
            statuses_of = dict(uow.session.execute(select(ScrapingJob.id, ScrapingJob.status)
                                                   .where(ScrapingJob.id.in_(ids))).all())
            if archive is not None:
                archive(uow, ids)
            objects = dict(uow.session.execute(select(Artifact.object_key, Artifact.bucket)
                                               .where(Artifact.job_id.in_(ids))).all()) if store else {}
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
    check_claim(worker_id, n, lease_seconds)
    # Inside a caller's unit the claim joins it (a savepoint, as on SQLite): on a connection of its own it
    # would wait for the write lock that unit may hold, and would not roll back with it.
    if database.dialect != "postgresql" or database.in_unit_of_work():
        with database.unit_of_work() as uow:
            return JobRepository(uow, clock=clock).claim(worker_id, n, kinds=kinds, lease_seconds=lease_seconds)
    now = clock()
    if JobRepository.recovery_due(database, now):
        with database.unit_of_work() as uow:
            JobRepository(uow, clock=clock).recover_stale()
    lease = lease_seconds or recent_config(database, "jobs.lease_seconds")
    values = _claim.params(worker_id, n, kinds, now, now + timedelta(seconds=lease), current_actor(),
                           _trail.key_of(database.settings))
    rows = _run_claim(database, _claim.statement(n, kinds), values)
    return [_claim.detached_job(row) for row in rows]


def _run_claim(database: Database, statement: str, values: dict[str, object]) -> list[Row]:
    """The claim statement as a transaction of its own, on one pooled connection.

    In autocommit mode the server commits the statement as it ends (or rolls it back on any error): the
    write lock the statement takes is released at that commit, without waiting for this process to be
    scheduled again to send a COMMIT. With many workers on few cores that wait was most of the time
    the lock was held. The connection goes back to the pool only once it is transactional again; a lost
    one, or one whose mode could not be restored, is discarded (the pool would hand it out in autocommit).
    """
    with translated(database.engine):
        pooled = database.engine.raw_connection()  # checked: a dead connection is replaced here
    restored = False
    try:
        connection: psycopg.Connection[Row] = pooled.driver_connection  # type: ignore[assignment]
        with translated_driver(database.engine, connection):
            connection.autocommit = True
            try:
                return _cursor(pooled.info, connection).execute(statement, values).fetchall()
            finally:
                if not connection.closed:
                    connection.autocommit = False
                    restored = True
    finally:
        if restored:
            pooled.close()  # back to the pool
        else:
            pooled.invalidate()


def _cursor(info: dict[Any, Any], connection: psycopg.Connection[Row]) -> psycopg.Cursor[Row]:
    """The connection's claim cursor, kept with it in the pool (and dropped with it): a new cursor would
    look up how to read the 25 returned columns again on every claim, about a tenth of its client time."""
    cursor = info.get(_CURSOR)
    if cursor is None or cursor.closed:
        cursor = info[_CURSOR] = connection.cursor()
    return cursor


_CURSOR = "stratlogic_claim_cursor"

__all__ = ["FINISHED", "Archive", "CleanupReport", "claim", "cleanup"]
