"""The jobs service: every way a person or a worker looks at or steers scraping jobs.

Where each ``stratlogic jobs`` command happens (and what the workbench's ``wb.jobs`` calls):

    jobs list           -> list_jobs        jobs show    -> show
    jobs cancel         -> cancel           jobs retry   -> retry
    jobs recover-stale  -> recover_stale    jobs cleanup -> cleanup
    (workers)           -> claim            (workbench)  -> get, find, count, frame, create

The rules a command enforced itself before (only failed jobs are retried by id, a retry must say which jobs,
a clean-up cut is not in the future, an owner id is not negative) live here with the messages the CLI
printed; ``labels`` (filter or parameter name -> the caller's flag, e.g. ``{"status__in": "--status"}``)
makes them name the caller's flags. ``claim`` and ``cleanup`` wrap ``stratlogic.jobs``, which owns its
transactions; the rest compose ``JobRepository`` inside one unit of work carrying the caller's actor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from stratlogic import jobs as job_engine
from stratlogic.db import Database
from stratlogic.db.actor import Actor, as_actor
from stratlogic.errors import ValidationError
from stratlogic.models import JobStatus, ScrapingJob, utcnow
from stratlogic.repositories.audit import AuditRepository
from stratlogic.repositories.jobs import Clock, JobRepository, RecoveryResult, finished_statuses
from stratlogic.services._base import entry, unit

if TYPE_CHECKING:
    import pandas as pd

    from stratlogic.storage.base import ArtifactStore

Labels = Mapping[str, str] | None
#: An age as ``cleanup`` reads it: a whole number and a unit, no sign (``90d``: that long ago).
_AGE = re.compile(r"^(\d{1,7})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: How ``retry`` names the ways to choose jobs when none was given (a caller's ``labels`` rename them).
_RETRY_CHOICES = {"id__in": "ids", "error_type": "error_type", "kind": "kind", "all_failed": "all_failed=True"}


@dataclass(frozen=True)
class JobPage:
    """One keyset page of jobs as JSON-ready rows (``job_row``), and the cursor of the next page."""

    rows: list[dict[str, Any]]
    next_cursor: str | None


def _label(labels: Labels, name: str) -> str:
    return (labels or {}).get(name, name)


def attempts(attempt: int, max_retries: int) -> str:
    """Attempts made and allowed, as people count them: a job runs at least once however few retries it
    has, and fails for good when its attempts reach ``max_retries`` (``1 of 3``; ``0 of 1`` not yet run)."""
    return f"{attempt} of {max(max_retries, attempt, 1)}"


def job_row(job: ScrapingJob) -> dict[str, Any]:
    """A job as a JSON-ready row: the shape ``stratlogic jobs list --json`` prints, one per line."""
    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {"id": job.id, "name": job.name, "kind": job.kind, "status": job.status.value, "priority": job.priority,
            "attempt": job.attempt, "max_retries": job.max_retries, "owner_id": job.owner_id,
            "target_url": job.target_url, "claimed_by": job.claimed_by, "progress": job.progress,
            "pages_done": job.pages_done, "pages_total": job.pages_total, "items_scraped": job.items_scraped,
            "bytes_downloaded": job.bytes_downloaded, "error_type": job.error_type,
            "error_message": job.error_message, "created_at": job.created_at.isoformat(),
            "started_at": moment(job.started_at), "finished_at": moment(job.finished_at),
            "next_retry_at": moment(job.next_retry_at), "lease_expires_at": moment(job.lease_expires_at)}


def _check_owner(filters: Mapping[str, Any], labels: Labels) -> None:
    """An owner id: 0 is a value like any other (no job has it), a negative one is no id at all."""
    owner = filters.get("owner_id")
    if isinstance(owner, int) and not isinstance(owner, bool) and owner < 0:
        raise ValidationError(f"{_label(labels, 'owner_id')} {owner} is not a user id "
                              "(ids are whole numbers from 1)")


@entry("jobs.list", writes=False)
def list_jobs(database: Database, filters: Mapping[str, Any] | None = None, *, actor: Actor,
              sort: str = "-created_at", limit: int = 50, cursor: str | None = None,
              labels: Labels = None) -> JobPage:
    """A keyset page of jobs matching ``filters`` (``status__in``, ``kind``, ``created_at__gte``…), newest
    first by default; bad filters are refused before any query, named by ``labels``."""
    wanted = dict(filters or {})
    _check_owner(wanted, labels)
    JobRepository.check_filters(wanted, labels=labels)
    with unit(database, actor, readonly=True) as uow:
        page = JobRepository(uow).page(wanted, sort=sort, limit=limit, cursor=cursor)
        return JobPage([job_row(job) for job in page.items], page.next_cursor)


@entry("jobs.show", writes=False)
def show(database: Database, job_id: int, *, actor: Actor, history: int = 1000) -> dict[str, Any]:
    """One job's row with its attempts as people count them (``attempts``) and its audit trail (``history``,
    oldest first, at most ``history`` rows): what ``stratlogic jobs show`` prints."""
    with unit(database, actor, readonly=True) as uow:
        row = job_row(JobRepository(uow).get(job_id))
        row["attempts"] = attempts(row["attempt"], row["max_retries"])
        row["history"] = [{"id": a.id, "at": a.occurred_at.isoformat(), "action": a.action, "details": a.details}
                          for a in AuditRepository(uow).trail("job", job_id, limit=history)]
    return row


@entry("jobs.get", writes=False)
def get(database: Database, job_id: int, *, actor: Actor) -> ScrapingJob:
    """One job (detached, its columns loaded); NotFoundError naming the id."""
    with unit(database, actor, readonly=True) as uow:
        return JobRepository(uow).get(job_id)


@entry("jobs.find", writes=False)
def find(database: Database, filters: Mapping[str, Any] | None = None, *, actor: Actor, sort: Any = None,
         limit: int = 50) -> list[ScrapingJob]:
    """Jobs matching ``filters``, at most ``limit`` (detached rows)."""
    with unit(database, actor, readonly=True) as uow:
        return JobRepository(uow).list(filters, sort=sort, limit=limit)


@entry("jobs.count", writes=False)
def count(database: Database, filters: Mapping[str, Any] | None = None, *, actor: Actor) -> int:
    """How many jobs match ``filters``."""
    with unit(database, actor, readonly=True) as uow:
        return int(JobRepository(uow).count(filters))


@entry("jobs.frame", writes=False)
def frame(database: Database, filters: Mapping[str, Any] | None = None, *, actor: Actor, sort: Any = None,
          limit: int = 1000) -> pd.DataFrame:
    """Jobs matching ``filters`` as a DataFrame, at most ``limit`` rows (aggregates: the analytics service)."""
    with unit(database, actor, readonly=True) as uow:
        return JobRepository(uow).frame(filters, sort=sort, limit=limit)


@entry("jobs.create", writes=True)
def create(database: Database, owner_id: int, name: str, target_url: str, *, actor: Actor,
           **options: Any) -> ScrapingJob:
    """Create a job (queued unless ``queue=False``); options as ``JobRepository.create``."""
    with unit(database, actor) as uow:
        return JobRepository(uow).create(owner_id, name, target_url, **options)


@entry("jobs.cancel", writes=True)
def cancel(database: Database, job_id: int, *, actor: Actor) -> ScrapingJob:
    """Cancel a pending, queued or running job (InvalidTransitionError naming it otherwise)."""
    with unit(database, actor) as uow:
        return JobRepository(uow).cancel(job_id)


@entry("jobs.retry", writes=True)
def retry(database: Database, filters: Mapping[str, Any] | None = None, *, actor: Actor,
          ids: Sequence[int] | None = None, all_failed: bool = False, extra_attempts: int = 1,
          labels: Labels = None) -> list[int]:
    """Re-queue failed jobs (the dead-letter view) chosen by ``ids`` and/or ``filters``; their ids.

    A retry must say which jobs (``all_failed=True`` for every failed one), and a job named by id must
    exist and be failed, or nothing at all is re-queued: a typo'd id never silently retries the rest.
    """
    wanted = dict(filters or {})
    if ids:
        wanted["id__in"] = list(ids)
    if not wanted and not all_failed:
        names = {**_RETRY_CHOICES, **(labels or {})}
        raise ValidationError(f"say which failed jobs to retry: {names['id__in']}, {names['error_type']}, "
                              f"{names['kind']}, or {names['all_failed']}")
    with unit(database, actor) as uow:
        jobs = JobRepository(uow)
        for named in ids or []:
            status = jobs.get(named).status
            if status is not JobStatus.FAILED:
                raise ValidationError(f"job {named} is {status.value}, not failed: only failed jobs can be "
                                      "retried; nothing was re-queued")
        JobRepository.check_filters(wanted, labels=labels)  # after the ids: a huge one is "not found"
        return list(jobs.retry(wanted, extra_attempts=extra_attempts))


@entry("jobs.recover_stale", writes=True)
def recover_stale(database: Database, *, actor: Actor) -> RecoveryResult:
    """Return jobs whose worker stopped heartbeating (lease expired) to queued, or to failed when spent."""
    with unit(database, actor) as uow:
        return JobRepository(uow).recover_stale()


@entry("jobs.claim", writes=True)
def claim(database: Database, worker_id: str, n: int = 1, *, actor: Actor, kinds: Sequence[str] | None = None,
          lease_seconds: int | None = None, clock: Clock = utcnow) -> list[ScrapingJob]:
    """Take up to ``n`` queued jobs for ``worker_id`` (``stratlogic.jobs.claim``, its own transaction), with
    ``actor`` on their audit rows."""
    with as_actor(actor):
        return job_engine.claim(database, worker_id, n, kinds=kinds, lease_seconds=lease_seconds, clock=clock)


def cleanup_cut(older_than: str | date | datetime, *, labels: Labels = None,
                now: datetime | None = None) -> datetime:
    """The moment a clean-up deletes before: an age (``90d``: that long ago), a moment of the window grammar
    (``-90d``, ``yesterday``, ``2026-01-01``, an ISO time) or a datetime; never in the future, where it would
    select every finished job. Errors name ``labels["older_than"]`` and the value as given."""
    from stratlogic.analytics.window import parse_moment  # the analytics package loads pandas

    label, reference = _label(labels, "older_than"), now or utcnow()
    age = _AGE.match(older_than.strip().lower()) if isinstance(older_than, str) else None
    if age:
        try:
            return reference - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
        except OverflowError:
            raise ValidationError(f"{label} {older_than!r} reaches back before the year 1") from None
    moment = parse_moment(older_than, param=label, now=reference)
    if moment > reference:
        shown = repr(older_than) if isinstance(older_than, str) else moment.isoformat()
        raise ValidationError(f"{label} {shown} is in the future ({moment.isoformat()}): it would select every "
                              "finished job; give an age such as 90d or a past date")
    return moment


def _cleanup_statuses(statuses: Sequence[JobStatus | str] | None, labels: Labels) -> list[JobStatus]:
    try:
        return finished_statuses(list(statuses) if statuses else list(job_engine.FINISHED))
    except ValidationError as exc:
        raise ValidationError(f"{_label(labels, 'statuses')}: {exc}") from None


@entry("jobs.cleanup", writes=True)
def cleanup(database: Database, older_than: str | date | datetime, *, actor: Actor,
            statuses: Sequence[JobStatus | str] | None = None, dry_run: bool = True, batch_size: int = 1000,
            store: ArtifactStore | None = None, keep_objects: bool = False,
            labels: Labels = None) -> job_engine.CleanupReport:
    """Delete finished jobs (and their artifacts' rows) that finished before ``older_than``, in batches
    (``stratlogic.jobs.cleanup``); with ``dry_run`` (the default) only count them, by status.

    Their objects go from ``store`` (the configured store when None) once each batch has committed;
    ``keep_objects`` leaves them for ``artifacts reconcile --fix``. ``statuses``: finished ones (default all).
    """
    cut = cleanup_cut(older_than, labels=labels)
    wanted = _cleanup_statuses(statuses, labels)
    if not 1 <= batch_size <= 10_000:
        raise ValidationError(f"{_label(labels, 'batch_size')} must be between 1 and 10000, got {batch_size}")
    if not dry_run and not keep_objects and store is None:
        from stratlogic.storage.factory import store_from_settings

        store = store_from_settings(database.settings)
    with as_actor(actor):
        return job_engine.cleanup(database, cut, statuses=wanted, dry_run=dry_run, batch_size=batch_size,
                                  store=None if keep_objects else store)


__all__ = ["JobPage", "attempts", "cancel", "claim", "cleanup", "cleanup_cut", "count", "create", "find", "frame",
           "get", "job_row", "list_jobs", "recover_stale", "retry", "show"]
