"""Job statistics: volume, outcomes, durations, attempts, errors, breakdowns, throughput, stuck jobs, queue.

Jobs are placed in the window by ``created_at`` (``job_throughput`` by ``finished_at``: work counts when
done). Filters: ``status``, ``owner`` (username or id), ``kind``, ``domain`` (the job's target domain).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, type_coerce

from stratlogic.analytics._filters import (
    FilterValue,
    Moment,
    check_choice,
    check_limit,
    in_window,
    named,
    one_of,
    person,
)
from stratlogic.analytics._filters import window_of as _window
from stratlogic.analytics._frames import frame
from stratlogic.analytics._sql import (
    PERCENTILES,
    bucket_key,
    bucket_label,
    fetch,
    fetch_all,
    percentile_statements,
    percentiles_of,
    seconds_between,
)
from stratlogic.analytics.window import Window, parse_bucket, parse_moment
from stratlogic.db import Database
from stratlogic.errors import ValidationError
from stratlogic.models import ScrapingJob, User
from stratlogic.models.base import UTCDateTime
from stratlogic.models.enums import JobStatus

J = ScrapingJob
BREAKDOWN_FIELDS = ("owner", "kind", "domain")
_DONE, _FAILED = J.status == JobStatus.COMPLETED, J.status == JobStatus.FAILED


def job_filters(*, status: FilterValue = None, owner: FilterValue = None, kind: FilterValue = None,
                domain: FilterValue = None) -> list[ColumnElement[bool]]:
    """The conditions for the job filter keywords (each a scalar or a list; validated by name)."""
    return [*one_of("status", J.status, status, "job"), *person("owner", J.owner_id, owner, "job"),
            *one_of("kind", J.kind, kind, "job"), *one_of("domain", J.target_domain, domain, "job", lower=True)]


def _where(window: Window, column: Any = J.created_at, **filters: FilterValue) -> list[ColumnElement[bool]]:
    return [*in_window(column, window), *job_filters(**filters)]


def _count(condition: ColumnElement[bool]) -> Any:
    return func.count(case((condition, 1)))


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


@named
def job_volume(db: Database, *, by: str = "day", since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
               status: FilterValue = None, owner: FilterValue = None, kind: FilterValue = None,
               domain: FilterValue = None) -> pd.DataFrame:
    """Jobs created per bucket and status -> ``bucket`` (tz-aware start), ``status``, ``jobs``.

    Only buckets and statuses with jobs appear (reindex on ``bucket_starts`` for a dense series).
    """
    window, unit = _window(since, until, tz), parse_bucket(by)
    rows = (select(bucket_key(db.dialect, J.created_at, unit, window).label("bucket"), J.status.label("status"))
            .where(*_where(window, status=status, owner=owner, kind=kind, domain=domain)).subquery())
    found = fetch(db, select(rows.c.bucket, rows.c.status, func.count()).group_by(rows.c.bucket, rows.c.status)
                  .order_by(rows.c.bucket, rows.c.status))
    return frame(((bucket_label(key, unit, window.tz), _text(st), n) for key, st, n in found),
                 [("bucket", "datetime"), ("status", "str"), ("jobs", "int64")], tz=window.tz)


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


SUMMARY = [("jobs", "int64"), ("completed", "int64"), ("failed", "int64"), ("cancelled", "int64"),
           ("active", "int64"), ("success_rate", "float64"), ("failure_rate", "float64"), ("pages", "int64"),
           ("items", "int64"), ("bytes", "int64"), ("pending", "int64"), ("queued", "int64"), ("running", "int64")]


@named
def job_summary(db: Database, *, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
                status: FilterValue = None, owner: FilterValue = None, kind: FilterValue = None,
                domain: FilterValue = None) -> pd.DataFrame:
    """One row of outcome counts, rates (of jobs that completed or failed) and work done (``SUMMARY``)."""
    window = _window(since, until, tz)
    counts = [_count(J.status == s) for s in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED,
                                              JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING)]
    sums = [func.coalesce(func.sum(c), 0) for c in (J.pages_done, J.items_scraped, J.bytes_downloaded)]
    [row] = fetch(db, select(func.count(), *counts, *sums)
                  .where(*_where(window, status=status, owner=owner, kind=kind, domain=domain)))
    jobs, done, failed, cancelled, pending, queued, running, pages, items, size = row
    outcome = done + failed
    return frame([(jobs, done, failed, cancelled, pending + queued + running, _rate(done, outcome),
                   _rate(failed, outcome), pages, items, size, pending, queued, running)], SUMMARY)


@named
def job_durations(db: Database, *, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
                  status: FilterValue = None, owner: FilterValue = None, kind: FilterValue = None,
                  domain: FilterValue = None) -> pd.DataFrame:
    """Two rows, ``duration`` and ``queue_wait``: ``metric``, ``jobs``, ``p50``, ``p90``, ``p95``, ``p99`` (s).

    duration: the last attempt's run (started -> finished) of jobs that completed or failed; queue_wait:
    created -> the last attempt's start, for every job that started. Linear interpolation between ranks.
    """
    window = _window(since, until, tz)
    outcome = J.status.in_([JobStatus.COMPLETED, JobStatus.FAILED])
    values = {"duration": case((outcome, seconds_between(db.dialect, J.started_at, J.finished_at))),
              "queue_wait": seconds_between(db.dialect, J.created_at, J.started_at)}
    where = _where(window, status=status, owner=owner, kind=kind, domain=domain)
    results = [row for rows in fetch_all(db, percentile_statements(db.dialect, values, J.__table__, where))
               for row in rows]
    out = []
    for metric in values:
        found = percentiles_of(results, metric)
        out.append((metric, found.n, *(round(v, 3) for v in found.points)))
    return frame(out, [("metric", "str"), ("jobs", "int64"),
                       *((f"p{round(p * 100)}", "float64") for p in PERCENTILES)])


@named
def job_attempts(db: Database, *, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
                 status: FilterValue = None, owner: FilterValue = None, kind: FilterValue = None,
                 domain: FilterValue = None) -> pd.DataFrame:
    """How many jobs took how many attempts -> ``attempts``, ``jobs`` (0 = never claimed)."""
    window = _window(since, until, tz)
    found = fetch(db, select(J.attempt, func.count())
                  .where(*_where(window, status=status, owner=owner, kind=kind, domain=domain))
                  .group_by(J.attempt).order_by(J.attempt))
    return frame(found, [("attempts", "int64"), ("jobs", "int64")])


@named
def job_errors(db: Database, *, limit: int = 10, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
               status: FilterValue = None, owner: FilterValue = None, kind: FilterValue = None,
               domain: FilterValue = None) -> pd.DataFrame:
    """The most frequent error types -> ``error_type``, ``jobs``, ``example_message`` (the latest job's).

    Counts jobs whose last error is of that type, whatever their status now (``status='failed'`` for
    jobs that gave up); ties go to the type seen most recently.
    """
    window = _window(since, until, tz)
    top = (select(J.error_type, func.count().label("jobs"), func.max(J.id).label("latest"))
           .where(*_where(window, status=status, owner=owner, kind=kind, domain=domain), J.error_type.is_not(None))
           .group_by(J.error_type).order_by(func.count().desc(), func.max(J.id).desc())
           .limit(check_limit(limit)).subquery())
    found = fetch(db, select(top.c.error_type, top.c.jobs, J.error_message).join(J, J.id == top.c.latest)
                  .order_by(top.c.jobs.desc(), top.c.latest.desc()))
    return frame(found, [("error_type", "str"), ("jobs", "int64"), ("example_message", "str")])


BREAKDOWN = [("key", "str"), ("jobs", "int64"), ("completed", "int64"), ("failed", "int64"),
             ("success_rate", "float64"), ("pages", "int64"), ("items", "int64"), ("bytes", "int64")]


@named
def job_breakdown(db: Database, *, field: str = "owner", since: Moment = "-30d", until: Moment = "now",
                  tz: str = "UTC", status: FilterValue = None, owner: FilterValue = None, kind: FilterValue = None,
                  domain: FilterValue = None) -> pd.DataFrame:
    """Per owner (username), kind or target domain -> ``BREAKDOWN`` columns, most jobs first."""
    check_choice("field", field, BREAKDOWN_FIELDS)
    window = _window(since, until, tz)
    choices: dict[str, list[Any]] = {"owner": [User.username, J.owner_id], "kind": [J.kind],
                                     "domain": [J.target_domain]}
    keys = choices[field]
    statement = (select(keys[0], func.count(), _count(_DONE), _count(_FAILED),
                        *(func.coalesce(func.sum(c), 0) for c in (J.pages_done, J.items_scraped, J.bytes_downloaded)))
                 .select_from(J).where(*_where(window, status=status, owner=owner, kind=kind, domain=domain))
                 .group_by(*keys))
    if field == "owner":
        statement = statement.join(User, User.id == J.owner_id)
    found = fetch(db, statement)
    result = frame(((key, n, done, failed, _rate(done, done + failed), pages, items, size)
                    for key, n, done, failed, pages, items, size in found), BREAKDOWN)
    return result.sort_values(["jobs", "key"], ascending=[False, True], ignore_index=True, na_position="last")


@named
def job_throughput(db: Database, *, by: str = "day", since: Moment = "-30d", until: Moment = "now",
                   tz: str = "UTC", status: FilterValue = None, owner: FilterValue = None,
                   kind: FilterValue = None, domain: FilterValue = None) -> pd.DataFrame:
    """Work done per bucket of ``finished_at`` -> ``bucket``, ``pages``, ``items``, ``bytes``, ``jobs``."""
    window, unit = _window(since, until, tz), parse_bucket(by)
    rows = (select(bucket_key(db.dialect, J.finished_at, unit, window).label("bucket"), J.pages_done,
                   J.items_scraped, J.bytes_downloaded)
            .where(*_where(window, J.finished_at, status=status, owner=owner, kind=kind, domain=domain)).subquery())
    found = fetch(db, select(rows.c.bucket, func.sum(rows.c.pages_done), func.sum(rows.c.items_scraped),
                             func.sum(rows.c.bytes_downloaded), func.count())
                  .group_by(rows.c.bucket).order_by(rows.c.bucket))
    return frame(((bucket_label(key, unit, window.tz), *sums) for key, *sums in found),
                 [("bucket", "datetime"), ("pages", "int64"), ("items", "int64"), ("bytes", "int64"),
                  ("jobs", "int64")], tz=window.tz)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if not isinstance(now, datetime):
        raise ValidationError(f"now: {now!r} is not a datetime (give a timezone-aware datetime, or leave it out)")
    return parse_moment(now, param="now")  # naive: UTC


@named
def stuck_jobs(db: Database, *, now: datetime | None = None, owner: FilterValue = None, kind: FilterValue = None,
               domain: FilterValue = None) -> pd.DataFrame:
    """Running jobs whose lease has expired (their worker is gone) -> ``id``, ``name``, ``claimed_by``,
    ``lease_expires_at``, ``expired_for_seconds``; longest expired first. ``now`` defaults to the clock."""
    moment = _now(now)
    found = fetch(db, select(J.id, J.name, J.claimed_by, J.lease_expires_at)
                  .where(J.status == JobStatus.RUNNING, J.lease_expires_at < literal(moment, UTCDateTime()),
                         *job_filters(owner=owner, kind=kind, domain=domain))
                  .order_by(J.lease_expires_at, J.id))
    return frame(((i, name, worker, lease, round((moment - lease).total_seconds(), 3))
                  for i, name, worker, lease in found),
                 [("id", "int64"), ("name", "str"), ("claimed_by", "str"), ("lease_expires_at", "datetime"),
                  ("expired_for_seconds", "float64")])


@named
def queue_health(db: Database, *, now: datetime | None = None, owner: FilterValue = None,
                 kind: FilterValue = None, domain: FilterValue = None) -> pd.DataFrame:
    """One row: ``queued``, ``claimable`` (queued and not backing off), ``oldest_queued_at``,
    ``oldest_queued_age_seconds``, ``expired_leases`` (running past their lease)."""
    moment = _now(now)
    at = literal(moment, UTCDateTime())
    queued = J.status == JobStatus.QUEUED
    ready = and_(queued, or_(J.next_retry_at.is_(None), J.next_retry_at <= at))
    oldest = type_coerce(func.min(case((queued, J.created_at))), UTCDateTime())  # aware UTC, both engines
    [row] = fetch(db, select(_count(queued), _count(ready), oldest,
                             _count(and_(J.status == JobStatus.RUNNING, J.lease_expires_at < at)))
                  .where(J.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),  # the status index: live jobs only
                         *job_filters(owner=owner, kind=kind, domain=domain)))
    waiting, claimable, first, expired = row
    age = round((moment - first).total_seconds(), 3) if first is not None else None
    return frame([(waiting, claimable, first, age, expired)],
                 [("queued", "int64"), ("claimable", "int64"), ("oldest_queued_at", "datetime"),
                  ("oldest_queued_age_seconds", "float64"), ("expired_leases", "int64")])


__all__ = ["BREAKDOWN_FIELDS", "job_attempts", "job_breakdown", "job_durations", "job_errors", "job_filters",
           "job_summary", "job_throughput", "job_volume", "queue_health", "stuck_jobs"]
