"""Artifact statistics: counts and bytes, size histogram and percentiles, per job, metadata, duplicates.

Artifacts are placed in the window by their ``created_at`` (``artifacts_per_job``: jobs by theirs).
Filters: ``content_type``, ``bucket``, ``job`` (id), and the owning job's ``owner`` and ``domain``.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal, select

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
from stratlogic.analytics._sql import PERCENTILES, fetch, fetch_all, percentile_statements, percentiles_of
from stratlogic.analytics.jobs import job_filters
from stratlogic.db import Database
from stratlogic.errors import ValidationError
from stratlogic.models import Artifact, ArtifactMetadata, ScrapingJob
from stratlogic.repositories.artifacts import METADATA_KEY

A, M, J = Artifact, ArtifactMetadata, ScrapingJob
SUMMARY_FIELDS = ("content_type", "bucket")
_KIB = 1024
#: Histogram edges in bytes: under 1 KiB, then powers of four up to 1 GiB, then everything larger.
SIZE_EDGES = (0, *(_KIB * 4**k for k in range(11)))


def artifact_filters(*, content_type: FilterValue = None, bucket: FilterValue = None, job: FilterValue = None,
                     owner: FilterValue = None, domain: FilterValue = None) -> list[ColumnElement[bool]]:
    """Conditions on artifacts for the filter keywords; owner and domain through the job (a semi-join)."""
    own = [*one_of("content_type", A.content_type, content_type, "artifact"),
           *one_of("bucket", A.bucket, bucket, "artifact"), *one_of("job", A.job_id, job, "artifact")]
    jobs = [*person("owner", J.owner_id, owner, "artifact"),
            *one_of("domain", J.target_domain, domain, "artifact", lower=True)]
    return [*own, A.job_id.in_(select(J.id).where(*jobs))] if jobs else own


def _where(since: Moment, until: Moment, tz: str, **filters: FilterValue) -> list[ColumnElement[bool]]:
    return [*in_window(A.created_at, _window(since, until, tz)), *artifact_filters(**filters)]


@named
def artifact_summary(db: Database, *, field: str = "content_type", since: Moment = "-30d", until: Moment = "now",
                     tz: str = "UTC", content_type: FilterValue = None, bucket: FilterValue = None,
                     job: FilterValue = None, owner: FilterValue = None,
                     domain: FilterValue = None) -> pd.DataFrame:
    """Per content type or bucket -> ``key``, ``artifacts``, ``bytes``; most artifacts first."""
    column = {"content_type": A.content_type, "bucket": A.bucket}[check_choice("field", field, SUMMARY_FIELDS)]
    where = _where(since, until, tz, content_type=content_type, bucket=bucket, job=job, owner=owner, domain=domain)
    found = fetch(db, select(column, func.count(), func.sum(A.size_bytes)).where(*where).group_by(column))
    result = frame(found, [("key", "str"), ("artifacts", "int64"), ("bytes", "int64")])
    return result.sort_values(["artifacts", "key"], ascending=[False, True], ignore_index=True)


def _size_label(low: int, high: int | None) -> str:
    def short(size: int) -> str:
        for unit, scale in (("GiB", _KIB**3), ("MiB", _KIB**2), ("KiB", _KIB)):
            if size >= scale:
                return f"{size // scale} {unit}"
        return f"{size} B"
    return f"< {short(high)}" if low == 0 and high else (f">= {short(low)}" if high is None else
                                                          f"{short(low)} - {short(high)}")


@named
def artifact_sizes(db: Database, *, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
                   content_type: FilterValue = None, bucket: FilterValue = None, job: FilterValue = None,
                   owner: FilterValue = None, domain: FilterValue = None) -> pd.DataFrame:
    """A size histogram over ``SIZE_EDGES`` -> ``bin`` (label), ``low``, ``high`` (bytes, ``[low, high)``;
    <NA> for the open last bin), ``artifacts``. Every bin is listed, empty ones with 0."""
    where = _where(since, until, tz, content_type=content_type, bucket=bucket, job=job, owner=owner, domain=domain)
    index = case(*((A.size_bytes < edge, k) for k, edge in enumerate(SIZE_EDGES[1:])), else_=len(SIZE_EDGES) - 1)
    binned = select(index.label("bin")).where(*where).subquery()
    counts = dict(fetch(db, select(binned.c.bin, func.count()).group_by(binned.c.bin)))
    highs: list[int | None] = [*SIZE_EDGES[1:], None]
    return frame(((_size_label(low, high), low, high, counts.get(k, 0))
                  for k, (low, high) in enumerate(zip(SIZE_EDGES, highs, strict=True))),
                 [("bin", "str"), ("low", "int64"), ("high", "Int64"), ("artifacts", "int64")])


@named
def artifact_size_percentiles(db: Database, *, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
                              content_type: FilterValue = None, bucket: FilterValue = None,
                              job: FilterValue = None, owner: FilterValue = None,
                              domain: FilterValue = None) -> pd.DataFrame:
    """One row: ``artifacts``, ``p50``, ``p90``, ``p95``, ``p99`` (bytes, interpolated), ``max`` (bytes)."""
    where = _where(since, until, tz, content_type=content_type, bucket=bucket, job=job, owner=owner, domain=domain)
    statements = percentile_statements(db.dialect, {"size": A.size_bytes}, A.__table__, where, maximum=True)
    [rows] = fetch_all(db, statements)
    found = percentiles_of(rows, "size")
    return frame([(found.n, *found.points, found.maximum)],
                 [("artifacts", "int64"), *((f"p{round(p * 100)}", "float64") for p in PERCENTILES),
                  ("max", "Int64")])


@named
def artifacts_per_job(db: Database, *, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
                      status: FilterValue = None, content_type: FilterValue = None, bucket: FilterValue = None,
                      owner: FilterValue = None, domain: FilterValue = None) -> pd.DataFrame:
    """How many jobs (created in the window) hold how many artifacts -> ``artifacts``, ``jobs``; 0 included."""
    window = _window(since, until, tz)
    matching = and_(A.job_id == J.id, *artifact_filters(content_type=content_type, bucket=bucket))
    per_job = (select(J.id, func.count(A.id).label("n")).select_from(J).outerjoin(A, matching)
               .where(*in_window(J.created_at, window), *job_filters(status=status, owner=owner, domain=domain))
               .group_by(J.id).subquery())
    found = fetch(db, select(per_job.c.n, func.count()).group_by(per_job.c.n).order_by(per_job.c.n))
    return frame(found, [("artifacts", "int64"), ("jobs", "int64")])


@named
def metadata_coverage(db: Database, *, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
                      content_type: FilterValue = None, bucket: FilterValue = None, job: FilterValue = None,
                      owner: FilterValue = None, domain: FilterValue = None) -> pd.DataFrame:
    """Per metadata key -> ``key``, ``artifacts`` carrying it, ``coverage`` (their share of the window's
    artifacts, 0..1); most covered first."""
    where = _where(since, until, tz, content_type=content_type, bucket=bucket, job=job, owner=owner, domain=domain)
    total = select(func.count()).select_from(A).where(*where).scalar_subquery()
    found = fetch(db, select(M.key, func.count(), total).join(A, A.id == M.artifact_id).where(*where)
                  .group_by(M.key))
    result = frame(((key, n, n / whole) for key, n, whole in found),
                   [("key", "str"), ("artifacts", "int64"), ("coverage", "float64")])
    return result.sort_values(["artifacts", "key"], ascending=[False, True], ignore_index=True)


@named
def metadata_top_values(db: Database, key: str, *, limit: int = 10, since: Moment = "-30d", until: Moment = "now",
                        tz: str = "UTC", content_type: FilterValue = None, bucket: FilterValue = None,
                        job: FilterValue = None, owner: FilterValue = None,
                        domain: FilterValue = None) -> pd.DataFrame:
    """The commonest values of one metadata key -> ``value`` (canonical JSON text), ``artifacts``."""
    if not isinstance(key, str) or not METADATA_KEY.fullmatch(key):
        raise ValidationError(f"key: {key!r} is not a metadata key (1-100 of a-z, 0-9, '_', '.', '-', "
                              "starting with a letter)")
    where = _where(since, until, tz, content_type=content_type, bucket=bucket, job=job, owner=owner, domain=domain)
    found = fetch(db, select(M.value, func.count()).join(A, A.id == M.artifact_id).where(M.key == key, *where)
                  .group_by(M.value).order_by(func.count().desc(), func.min(M.id)).limit(check_limit(limit)))
    return frame(((_json(value), n) for value, n in found), [("value", "str"), ("artifacts", "int64")])


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@named
def duplicate_artifacts(db: Database, *, limit: int = 100, since: Moment = "-30d", until: Moment = "now",
                        tz: str = "UTC", content_type: FilterValue = None, bucket: FilterValue = None,
                        job: FilterValue = None, owner: FilterValue = None,
                        domain: FilterValue = None) -> pd.DataFrame:
    """Contents stored more than once -> ``sha256``, ``copies``, ``bytes`` (all copies), ``artifact_ids``
    (comma-separated, ascending); most copies first, then most bytes."""
    where = _where(since, until, tz, content_type=content_type, bucket=bucket, job=job, owner=owner, domain=domain)
    ids = (func.string_agg(cast(A.id, String), literal(",")) if db.dialect == "postgresql"
           else func.group_concat(A.id, ","))
    found = fetch(db, select(A.sha256, func.count(), func.sum(A.size_bytes), ids).where(*where)
                  .group_by(A.sha256).having(func.count() > 1)
                  .order_by(func.count().desc(), func.sum(A.size_bytes).desc(), func.min(A.id))
                  .limit(check_limit(limit)))
    return frame(((sha, n, size, ",".join(sorted(str(joined).split(","), key=int)))
                  for sha, n, size, joined in found),
                  [("sha256", "str"), ("copies", "int64"), ("bytes", "int64"), ("artifact_ids", "str")])


__all__ = ["SIZE_EDGES", "artifact_filters", "artifact_size_percentiles", "artifact_sizes", "artifact_summary",
           "artifacts_per_job", "duplicate_artifacts", "metadata_coverage", "metadata_top_values"]
