"""Scraping jobs: the state machine, worker claims with leases, progress, retries, recovery, statistics.

Every status change goes through ``transition`` (the one place that consults ``models.job.TRANSITIONS``)
or through ``claim`` (queued -> running for many jobs at once), and each is recorded in the audit trail
in the same transaction. Optimistic locking on ``version`` means two writers can never both move a job.
Time comes from an injectable clock, so tests control leases and backoff without sleeping.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm.exc import StaleDataError

from stratlogic.db import writelock
from stratlogic.db.actor import current_actor
from stratlogic.errors import ConcurrentUpdateError, ConflictError, InvalidTransitionError, ValidationError
from stratlogic.models import Artifact, JobStatus, ScrapingJob, utcnow
from stratlogic.models.audit_rules import AuditAction
from stratlogic.models.job import ACTIVE, CLAIM, MAX_LEASE_SECONDS, TRANSITIONS
from stratlogic.repositories import _claim, _trail
from stratlogic.repositories._errors import integrity
from stratlogic.repositories.base import Filters, Repository
from stratlogic.repositories.config import ConfigRepository, recent_config

if TYPE_CHECKING:
    from stratlogic.db import Database

Clock = Callable[[], datetime]
MAX_ERROR_MESSAGE = 2000
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
_LAST_RECOVERY = "jobs:last_recovery"


@dataclass(frozen=True)
class Progress:
    """A heartbeat's progress report; ``None`` leaves a counter as it is."""

    pages_done: int | None = None
    pages_total: int | None = None
    items_scraped: int | None = None
    bytes_downloaded: int | None = None


@dataclass(frozen=True)
class RecoveryResult:
    """What ``recover_stale`` did with jobs whose lease had expired."""

    requeued: list[int]
    failed: list[int]


class JobRepository(Repository[ScrapingJob]):
    """Jobs and their life: create, enqueue, claim, heartbeat, complete, fail, cancel, retry, recover."""

    model = ScrapingJob
    resource = "job"
    filterable = ("id", "owner_id", "name", "kind", "target_url", "status", "priority", "attempt", "max_retries",
                  "claimed_by", "dedupe_key", "error_type", "created_at", "started_at", "finished_at",
                  "next_retry_at", "lease_expires_at")
    sortable = ("id", "priority", "created_at", "started_at", "finished_at", "status", "attempt")
    writable = ("name", "priority", "max_retries", "options")
    actions: ClassVar[Mapping[str, AuditAction]] = {"created": AuditAction.JOB_CREATED,
                                                     "updated": AuditAction.JOB_UPDATED,
                                                     "deleted": AuditAction.JOB_DELETED}

    #: ``claim`` looks for expired leases at most this often per process (leases last minutes).
    recovery_interval: ClassVar[timedelta] = timedelta(seconds=5)

    def __init__(self, uow: Any, *, clock: Clock = utcnow, rng: random.Random | None = None) -> None:
        super().__init__(uow)
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 (retry jitter, not cryptography)

    # ----- creation -----------------------------------------------------------------------------------
    def create(self, owner_id: int, name: str, target_url: str, *, kind: str = "scrape", priority: int = 0,
               max_retries: int | None = None, options: Mapping[str, Any] | None = None,
               dedupe_key: str | None = None, queue: bool = True) -> ScrapingJob:
        """Create a job (queued unless ``queue=False``). A dedupe key allows one active job per key.

        Raises:
            ConflictError: an active job already holds ``dedupe_key`` (its id is named).
            ValidationError: a bad URL, priority or retry count.
        """
        if not target_url.startswith(("http://", "https://")) or len(target_url) > 2048:
            shown = target_url if len(target_url) <= 80 else f"{target_url[:60]}… ({len(target_url)} characters)"
            raise ValidationError(f"target_url {shown!r} is not an http(s) URL of at most 2048 characters")
        if not 1 <= len(name) <= 200:
            raise ValidationError(f"job name must be 1-200 characters, got {len(name)}")
        if max_retries is not None and not 0 <= max_retries <= 100:
            raise ValidationError(f"max_retries {max_retries} is out of range 0..100")
        if not -1000 <= priority <= 1000:
            raise ValidationError(f"priority {priority} is out of range -1000..1000")
        config = ConfigRepository(self.uow)
        retries = max_retries if max_retries is not None else config.value("jobs.default_max_retries")
        if dedupe_key is not None and (holder := self._active_with_key(dedupe_key)) is not None:
            raise ConflictError(f"job with dedupe_key {dedupe_key!r} already exists and is active (job {holder})",
                                field="dedupe_key", value=repr(dedupe_key))
        job = self.add(ScrapingJob(owner_id=owner_id, name=name, target_url=target_url, kind=kind, priority=priority,
                                   max_retries=retries, options=dict(options or {}), dedupe_key=dedupe_key,
                                   status=JobStatus.PENDING))
        return self.enqueue(job.id) if queue else job

    def _active_with_key(self, key: str) -> int | None:
        return self.session.scalar(select(ScrapingJob.id).where(ScrapingJob.dedupe_key == key,
                                                                ScrapingJob.status.in_(ACTIVE)))

    # ----- the state machine ----------------------------------------------------------------------------
    def transition(self, job_id: int, target: JobStatus | str, **fields: Any) -> ScrapingJob:
        """Move a job to ``target`` if the transition table allows it, setting ``fields`` too.

        Raises:
            InvalidTransitionError: the move is not allowed; the row and its version are untouched.
            ConcurrentUpdateError: another writer moved the job first.
        """
        target = job_status(target, "target")
        job = self.get(job_id)
        current = job.status
        if target not in TRANSITIONS[current]:
            raise InvalidTransitionError(job_id, current.value, target.value, [s.value for s in TRANSITIONS[current]])
        if current is JobStatus.FAILED and target is JobStatus.QUEUED and job.attempt >= job.max_retries:
            raise InvalidTransitionError(job_id, current.value, target.value, [], reason=(
                f"its attempts are spent ({job.attempt} of {job.max_retries}); retry(extra_attempts=N) grants more"))
        if target is JobStatus.RUNNING and not fields.get("claimed_by"):
            raise InvalidTransitionError(job_id, current.value, target.value, [], reason=(
                "a job starts running only when a worker claims it: use claim(worker_id)"))
        now = self.clock()
        values = {**_timestamps_for(target, now, job.started_at), **fields, "status": target}
        try:
            with self.session.begin_nested(), integrity(self.resource, values):
                for name, value in values.items():
                    setattr(job, name, value)
                job.updated_at = now
                self.session.flush()
                self._record(AuditAction.JOB_STATUS_CHANGED,
                             [(job_id, {"from": current.value, "to": target.value, "attempt": job.attempt,
                                        **_audit_fields(fields)})])
        except StaleDataError:
            self.session.expire(job)
            raise ConcurrentUpdateError(f"job {job_id} was changed by another writer while moving "
                                        f"{current.value} -> {target.value}; re-read it and try again") from None
        return job

    def enqueue(self, job_id: int) -> ScrapingJob:
        """pending -> queued."""
        return self.transition(job_id, JobStatus.QUEUED)

    def cancel(self, job_id: int) -> ScrapingJob:
        """pending, queued or running -> cancelled."""
        return self.transition(job_id, JobStatus.CANCELLED, lease_expires_at=None)

    def complete(self, job_id: int, worker_id: str | None = None, *, attempt: int | None = None) -> ScrapingJob:
        """running -> completed, by the worker holding the job (in this ``attempt``, when given)."""
        self._check_holder(job_id, worker_id, attempt)
        return self.transition(job_id, JobStatus.COMPLETED, lease_expires_at=None)

    def fail(self, job_id: int, error_type: str, message: str, worker_id: str | None = None,
             *, retry: bool = True, attempt: int | None = None) -> ScrapingJob:
        """running -> failed; with attempts left, straight on to queued with exponential backoff and jitter."""
        self._check_holder(job_id, worker_id, attempt)
        job = self.transition(job_id, JobStatus.FAILED, error_type=error_type[:100],
                              error_message=message[:MAX_ERROR_MESSAGE], lease_expires_at=None)
        if retry and job.attempt < job.max_retries:
            return self._requeue_after_backoff(job)
        return job

    def _requeue_after_backoff(self, job: ScrapingJob) -> ScrapingJob:
        config = ConfigRepository(self.uow)
        base, ceiling = config.value("jobs.backoff_base_seconds"), config.value("jobs.backoff_max_seconds")
        delay = min(ceiling, base * 2 ** max(job.attempt - 1, 0))
        delay = delay / 2 + self.rng.uniform(0, delay / 2)  # "equal jitter": never less than half the delay
        return self.transition(job.id, JobStatus.QUEUED, next_retry_at=self.clock() + timedelta(seconds=delay),
                               claimed_by=None, heartbeat_at=None)

    def retry(self, filters: Filters = None, *, extra_attempts: int = 1) -> list[int]:
        """Re-queue failed jobs matching ``filters`` (the dead-letter view), granting ``extra_attempts``."""
        if extra_attempts < 0:
            raise ValidationError(f"extra_attempts must be 0 or more, got {extra_attempts}")
        ids = [job.id for job in self.iterate({**(filters or {}), "status": JobStatus.FAILED})]
        for job_id in ids:
            job = self.get(job_id)
            if job.dedupe_key is not None and (holder := self._active_with_key(job.dedupe_key)) is not None:
                raise ConflictError(f"job {job_id} cannot be retried: job {holder} is active with the same "
                                    f"dedupe_key {job.dedupe_key!r}", field="dedupe_key", value=repr(job.dedupe_key))
            job.max_retries = max(job.max_retries, job.attempt + extra_attempts)
            self.transition(job_id, JobStatus.QUEUED, next_retry_at=None, claimed_by=None, heartbeat_at=None)
        return ids

    def _check_holder(self, job_id: int, worker_id: str | None, attempt: int | None = None) -> None:
        """Refuse a report from a worker that no longer holds the job, or from an earlier attempt of it (the
        same worker may have lost the lease and claimed the job again)."""
        if worker_id is None and attempt is None:
            return
        job = self.get(job_id)
        if worker_id is not None and (job.status is not JobStatus.RUNNING or job.claimed_by != worker_id):
            holder = f"held by {job.claimed_by!r}" if job.status is JobStatus.RUNNING else job.status.value
            raise ConflictError(f"job {job_id} is not held by worker {worker_id!r} (it is {holder}); its lease "
                                "may have expired and the job been recovered")
        if attempt is not None and attempt != job.attempt:
            raise ConflictError(f"job {job_id} is on attempt {job.attempt}, not attempt {attempt}: that attempt's "
                                "lease expired and the job was claimed again")

    # ----- workers ---------------------------------------------------------------------------------------
    def claim(self, worker_id: str, n: int = 1, *, kinds: Sequence[str] | None = None,
              lease_seconds: int | None = None) -> list[ScrapingJob]:
        """Atomically take up to ``n`` claimable queued jobs (priority, then age) and mark them running.

        Expired leases are recovered first, so a worker killed mid-job never leaves it running forever.
        PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers never wait on each other; SQLite: one
        ``UPDATE … RETURNING`` under the write lock this transaction already holds.
        """
        check_claim(worker_id, n, lease_seconds)
        now = self.clock()
        self._recover_if_due(now)
        lease = lease_seconds or ConfigRepository(self.uow).recent_value("jobs.lease_seconds")
        if self.uow.dialect == "postgresql":
            return self._claim_postgres(worker_id, n, kinds, now, now + timedelta(seconds=lease))
        claimed = self._claim_portable(worker_id, n, kinds, now, now + timedelta(seconds=lease))
        entries = [_trail.AuditEntry(AuditAction.JOB_STATUS_CHANGED, self.audit_type, str(job.id),
                                     CLAIM.audit_details(job.attempt, worker_id))
                   for job in claimed]
        _trail.append(self.uow, entries)
        return claimed

    @classmethod
    def claim_now(cls, database: Database, worker_id: str, n: int = 1, *, kinds: Sequence[str] | None = None,
                  lease_seconds: int | None = None, clock: Clock = utcnow) -> list[ScrapingJob]:
        """``claim`` in a transaction of its own (what ``stratlogic.jobs.claim``, a worker's loop, runs);
        inside an open unit of work of ``database``, in that unit instead (the jobs are then its objects).

        On PostgreSQL, outside a unit of work, the claim statement runs on a pooled driver connection in
        autocommit (``_claim.run``): no ORM session, one round trip, the lock released by the server's
        commit; the jobs come back as detached objects.
        """
        check_claim(worker_id, n, lease_seconds)
        # Inside a caller's unit the claim joins it (a savepoint, as on SQLite): on a connection of its own it
        # would wait for the write lock that unit may hold, and would not roll back with it.
        if database.dialect != "postgresql" or database.in_unit_of_work():
            with database.unit_of_work() as uow:
                return cls(uow, clock=clock).claim(worker_id, n, kinds=kinds, lease_seconds=lease_seconds)
        now = clock()
        if cls.recovery_due(database, now):
            with database.unit_of_work() as uow:
                cls(uow, clock=clock).recover_stale()
        lease = lease_seconds or recent_config(database, "jobs.lease_seconds")
        values = _claim.params(worker_id, n, kinds, now, now + timedelta(seconds=lease), current_actor(),
                               _trail.key_of(database.settings))
        return [_claim.detached_job(row) for row in _claim.run(database, _claim.statement(n, kinds), values)]

    def _claim_postgres(self, worker_id: str, n: int, kinds: Sequence[str] | None, now: datetime,
                        lease_until: datetime) -> list[ScrapingJob]:
        """Claims are the hottest write path: after the write lock, one statement claims the jobs and appends
        their audit rows (``_claim.py``), and the rows become ORM objects without another query."""
        values = _claim.params(worker_id, n, kinds, now, lease_until, current_actor(), _trail.audit_key(self.uow))
        rows = self.uow.connection.exec_driver_sql(_claim.statement(n, kinds), values).all()
        if rows:
            writelock.held(self.session)  # the statement took it before locking any row
        # each row as a clean persistent object of this session (refreshing one already there)
        return [self.session.merge(_claim.detached_job(row), load=False) for row in rows]

    def _claim_portable(self, worker_id: str, n: int, kinds: Sequence[str] | None, now: datetime,
                        lease_until: datetime) -> list[ScrapingJob]:
        """SQLite: one ``UPDATE … RETURNING`` under the write lock ``BEGIN IMMEDIATE`` already holds, built
        from ``models.job.CLAIM`` (as the PostgreSQL statement is)."""
        due = getattr(ScrapingJob, CLAIM.due_column)
        picked = select(ScrapingJob.id).where(
            ScrapingJob.status == CLAIM.source, or_(due.is_(None), due <= now),
            *([ScrapingJob.kind.in_(kinds)] if kinds else []),
        ).order_by(*_CLAIM_ORDER).limit(n)
        # the rule's own function, given the columns instead of a row's values: attempt + 1 becomes SQL
        values = CLAIM.claimed({column: getattr(ScrapingJob, column) for column in CLAIM.sets}, worker_id, now,
                               lease_until)
        statement = (update(ScrapingJob).where(ScrapingJob.id.in_(picked.scalar_subquery())).values(values)
                     .returning(ScrapingJob)
                     .execution_options(synchronize_session=False))
        return sorted(self.session.scalars(statement.execution_options(populate_existing=True)).all(),
                      key=lambda job: CLAIM.sort_key({column: getattr(job, column) for column, _ in CLAIM.order}))

    def _recover_if_due(self, now: datetime) -> None:
        """Recover expired leases unless this process did so moments ago (by the repository's clock)."""
        if self.recovery_due(self.uow.database, now):
            self.recover_stale()

    @classmethod
    def recovery_due(cls, database: Any, now: datetime) -> bool:
        """Whether this process should look for expired leases now (and note that it is about to)."""
        last = database.cache.get(_LAST_RECOVERY)
        if last is None or not timedelta(0) <= now - last < cls.recovery_interval:
            database.cache[_LAST_RECOVERY] = now
            return True
        return False

    def heartbeat(self, job_id: int, worker_id: str, progress: Progress | None = None,
                  *, lease_seconds: int | None = None, attempt: int | None = None) -> ScrapingJob:
        """Extend the lease and record progress; within an attempt progress never goes backwards. With
        ``attempt`` (the claimed job's), a report from an earlier attempt of the same worker is refused."""
        check_lease(lease_seconds)
        self._check_holder(job_id, worker_id, attempt)
        job = self.get(job_id)
        changes = _progress_changes(job, progress or Progress())
        now = self.clock()
        lease = lease_seconds or ConfigRepository(self.uow).recent_value("jobs.lease_seconds")
        try:
            with self.session.begin_nested():
                for name, value in changes.items():
                    setattr(job, name, value)
                job.heartbeat_at, job.lease_expires_at, job.updated_at = now, now + timedelta(seconds=lease), now
                self.session.flush()
        except StaleDataError:
            self.session.expire(job)
            raise ConcurrentUpdateError(f"job {job_id} was changed by another writer during a heartbeat") from None
        return job

    def recover_stale(self) -> RecoveryResult:
        """Jobs running past their lease go back to queued, or to failed when their attempts are spent
        (``models.job.CLAIM`` says which and with what error)."""
        now = self.clock()
        expired = select(ScrapingJob).where(ScrapingJob.status == CLAIM.target,
                                            getattr(ScrapingJob, CLAIM.lease_column) < now).order_by(ScrapingJob.id)
        if self.uow.dialect == "postgresql":  # another claim recovering the same job: skip it, do not wait
            expired = expired.with_for_update(skip_locked=True)
        stale = list(self.session.scalars(expired))
        requeued, failed = [], []
        for job in stale:
            failure = {"error_type": CLAIM.expired_error, CLAIM.lease_column: None,
                       "error_message": CLAIM.expired_message(job.claimed_by, job.lease_expires_at)}
            self.transition(job.id, JobStatus.FAILED, **failure)
            if CLAIM.after_recovery(job.attempt, job.max_retries) is CLAIM.source:
                self.transition(job.id, CLAIM.source, next_retry_at=None, claimed_by=None, heartbeat_at=None)
                requeued.append(job.id)
            else:
                failed.append(job.id)
        if stale:
            self._record(AuditAction.JOB_RECOVERED, [(None, {"requeued": requeued, "failed": failed})])
        return RecoveryResult(requeued, failed)

    # ----- clean-up and statistics -------------------------------------------------------------------
    def finished_before(self, older_than: datetime, statuses: Sequence[JobStatus] = FINISHED,
                        limit: int = 1000, lock: bool = False) -> list[int]:
        """Ids of finished jobs (in these statuses) that finished before ``older_than``, oldest first.

        With ``lock`` (a clean-up about to delete them) the rows are locked, after the write lock: no retry
        or claim can re-queue or start one of them before this transaction ends.
        """
        query = (select(ScrapingJob.id)
                 .where(ScrapingJob.status.in_(finished_statuses(statuses)), ScrapingJob.finished_at < older_than)
                 .order_by(ScrapingJob.finished_at, ScrapingJob.id).limit(limit))
        return list(self.session.scalars(query.with_for_update() if lock else query))

    def count_finished_before(self, older_than: datetime, statuses: Sequence[JobStatus] = FINISHED) -> dict[str, int]:
        """How many jobs in each of these finished statuses finished before ``older_than`` (a clean-up's
        dry run); statuses with none are left out."""
        rows = self.session.execute(select(ScrapingJob.status, func.count())
                                    .where(ScrapingJob.status.in_(finished_statuses(statuses)),
                                           ScrapingJob.finished_at < older_than)
                                    .group_by(ScrapingJob.status))
        return {JobStatus(status).value: count for status, count in rows}

    def statuses_of(self, ids: Sequence[int]) -> dict[int, JobStatus]:
        """The status of each of these jobs (ids not found are left out)."""
        if not ids:
            return {}
        rows = self.session.execute(select(ScrapingJob.id, ScrapingJob.status).where(ScrapingJob.id.in_(list(ids))))
        return {job_id: status for job_id, status in rows}

    def delete_ids(self, ids: Sequence[int]) -> int:
        """Delete these jobs (their artifacts and metadata cascade, listed on each job's audit row)."""
        return self.delete_where({"id__in": list(ids)}) if ids else 0

    def _cascaded(self, ids: Sequence[Any]) -> dict[Any, dict[str, Any]]:
        found: dict[Any, list[int]] = {}
        for start in range(0, len(ids), 10_000):
            rows = self.session.execute(select(Artifact.job_id, Artifact.id)
                                        .where(Artifact.job_id.in_(ids[start:start + 10_000])).order_by(Artifact.id))
            for job_id, artifact_id in rows:
                found.setdefault(job_id, []).append(artifact_id)
        return {job_id: {"cascaded": {"artifacts": artifacts}} for job_id, artifacts in found.items()}


#: ``CLAIM.order`` as ORDER BY terms.
_CLAIM_ORDER = tuple(getattr(ScrapingJob, column).desc() if descending else getattr(ScrapingJob, column)
                     for column, descending in CLAIM.order)


def job_status(value: JobStatus | str, name: str = "status") -> JobStatus:
    """``value`` as a JobStatus; anything else is refused naming ``name``, the value and every status."""
    try:
        return JobStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
        raise ValidationError(f"{name} {value!r} is not a job status; allowed: {allowed}") from None


def finished_statuses(statuses: Sequence[JobStatus | str]) -> list[JobStatus]:
    """The statuses a clean-up may select, parsed; an unknown or unfinished one is refused by name."""
    allowed = ", ".join(s.value for s in FINISHED)
    parsed = []
    for status in statuses:
        try:
            parsed.append(JobStatus(status))
        except ValueError:
            raise ValidationError(f"unknown job status {status!r}; allowed: {allowed}") from None
    bad = [s for s in parsed if s not in FINISHED]
    if bad:
        raise ValidationError(f"only finished jobs can be cleaned up, not {', '.join(map(str, bad))}; "
                              f"allowed: {allowed}")
    return parsed


def check_claim(worker_id: str, n: int, lease_seconds: int | None = None) -> None:
    """Refuse a claim's bad arguments, naming them."""
    if not 1 <= n <= 1000:
        raise ValidationError(f"n must be between 1 and 1000, got {n}")
    if not worker_id or len(worker_id) > 200 or "\x00" in worker_id:
        raise ValidationError(f"worker_id {worker_id!r} must be 1-200 characters, without NUL")
    check_lease(lease_seconds)



def check_lease(lease_seconds: int | None) -> None:
    """A lease must be a whole number of seconds, at least 1: a zero or negative one would hand the job
    to the next claim at once, while its worker still runs it."""
    if lease_seconds is None:
        return
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int) \
            or not 1 <= lease_seconds <= MAX_LEASE_SECONDS:
        raise ValidationError(f"lease_seconds must be a whole number from 1 to {MAX_LEASE_SECONDS}, "
                              f"got {lease_seconds!r}")


def _timestamps_for(target: JobStatus, now: datetime, started_at: datetime | None) -> dict[str, Any]:
    """Keep timestamps, claim and lease consistent with the status (the CHECK constraint insists). A job
    never finishes before it started, even when this host's clock is behind the claiming worker's."""
    if target is JobStatus.QUEUED:
        return {"finished_at": None, "lease_expires_at": None, "claimed_by": None, "heartbeat_at": None}
    if target in FINISHED:
        return {"finished_at": max(now, started_at) if started_at else now, "lease_expires_at": None}
    return {}


def _audit_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    shown = ("error_type", "error_message", "next_retry_at")
    return {k: v for k, v in fields.items() if k in shown and v is not None}


#: The largest value each progress counter's column holds (INTEGER, or BIGINT for bytes).
_COUNTER_MAX = {"pages_done": 2**31 - 1, "items_scraped": 2**31 - 1, "bytes_downloaded": 2**63 - 1,
                "pages_total": 2**31 - 1}


def _progress_changes(job: ScrapingJob, progress: Progress) -> dict[str, int]:
    changes: dict[str, int] = {}
    for name, largest in _COUNTER_MAX.items():
        value = getattr(progress, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value > largest:
            raise ValidationError(f"job {job.id}: {name} must be a whole number up to {largest}, got {value!r}")
        current = getattr(job, name)
        if value < 0 or (current is not None and value < current and name != "pages_total"):
            raise ValidationError(f"job {job.id}: {name} cannot go from {current} to {value} within an attempt")
        changes[name] = value
    total = changes.get("pages_total", job.pages_total)
    done = changes.get("pages_done", job.pages_done)
    if total is not None and done > total:
        raise ValidationError(f"job {job.id}: pages_done {done} is beyond pages_total {total}")
    return changes


__all__ = ["FINISHED", "MAX_LEASE_SECONDS", "JobRepository", "Progress", "RecoveryResult", "check_claim",
           "finished_statuses", "job_status"]
