"""Artifact statistics against hand-computed answers, on SQLite and PostgreSQL alike (data: analytics_data)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from stratlogic.analytics import artifacts as stats
from stratlogic.db import Database
from stratlogic.errors import ValidationError
from tests.integration.analytics_counting import counting_fetches
from tests.integration.analytics_data import seed_artifacts, seed_jobs

W: dict[str, Any] = {"since": "2026-03-28", "until": "2026-04-01"}
MIB = 1024 * 1024


@pytest.fixture
def ids(db: Database) -> list[int]:
    seed_jobs(db)
    return seed_artifacts(db)


def rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    return list(frame.itertuples(index=False, name=None))


def test_summary_by_content_type_and_bucket(db: Database, ids: list[int]) -> None:
    assert rows(stats.artifact_summary(db, **W)) == [("text/html", 3, 3524), ("application/json", 1, 2000),
                                                     ("image/png", 1, 5 * MIB)]
    assert rows(stats.artifact_summary(db, field="bucket", **W)) == [("arts", 4, 5524), ("other", 1, 5 * MIB)]
    with pytest.raises(ValidationError, match=r"^field: 'owner' is not one of content_type, bucket"):
        stats.artifact_summary(db, field="owner")


def test_filters_including_the_jobs_owner_and_domain(db: Database, ids: list[int]) -> None:
    def count(**kw: Any) -> int:
        return int(stats.artifact_summary(db, field="bucket", **W, **kw)["artifacts"].sum())
    assert count(owner="bob") == 2
    assert count(domain="a.example") == 3
    assert count(owner="ada", content_type="text/html") == 2
    assert count(bucket=["other"]) == 1
    with pytest.raises(ValidationError, match=r"^job: 'x' is not a valid number"):
        count(job="x")


def test_size_histogram_lists_every_bin(db: Database, ids: list[int]) -> None:
    sizes = stats.artifact_sizes(db, **W)
    assert len(sizes) == 12 and sizes["artifacts"].sum() == 5
    nonzero = [(r[0], r[1], r[2], r[3]) for r in rows(sizes) if r[3]]
    assert nonzero == [("< 1 KiB", 0, 1024, 1), ("1 KiB - 4 KiB", 1024, 4096, 3),
                       ("4 MiB - 16 MiB", 4 * MIB, 16 * MIB, 1)]
    assert sizes.iloc[-1]["bin"] == ">= 1 GiB" and pd.isna(sizes.iloc[-1]["high"])
    assert str(sizes["high"].dtype) == "Int64"


def test_size_percentiles(db: Database, ids: list[int]) -> None:
    [row] = rows(stats.artifact_size_percentiles(db, **W))
    assert row[0] == 5 and row[5] == 5 * MIB
    assert row[1:5] == pytest.approx((2000.0, 3146528.0, 4194704.0, 5033244.8))
    empty = stats.artifact_size_percentiles(db, since="2025-01-01", until="2025-02-01")
    assert empty["artifacts"].item() == 0 and pd.isna(empty["p50"].item()) and pd.isna(empty["max"].item())


def test_artifacts_per_job_counts_jobs_without_any(db: Database, ids: list[int]) -> None:
    assert rows(stats.artifacts_per_job(db, **W)) == [(0, 5), (1, 1), (2, 2)]
    assert rows(stats.artifacts_per_job(db, **W, content_type="text/html")) == [(0, 6), (1, 1), (2, 1)]
    assert rows(stats.artifacts_per_job(db, **W, owner="bob", status="failed")) == [(0, 2), (2, 1)]


def test_metadata_coverage_and_top_values(db: Database, ids: list[int]) -> None:
    assert rows(stats.metadata_coverage(db, **W)) == [("http_status", 4, 0.8), ("lang", 2, 0.4)]
    assert rows(stats.metadata_top_values(db, "http_status", **W)) == [("200", 3), ("404", 1)]
    assert rows(stats.metadata_top_values(db, "lang", **W)) == [('"en"', 1), ('"fr"', 1)]
    assert rows(stats.metadata_top_values(db, "lang", limit=1, **W)) == [('"en"', 1)]
    assert stats.metadata_coverage(db, since="2025-01-01", until="2025-02-01").empty
    with pytest.raises(ValidationError, match=r"^key: 'Bad Key' is not a metadata key"):
        stats.metadata_top_values(db, "Bad Key")


def test_duplicates_by_sha256(db: Database, ids: list[int]) -> None:
    expected = ",".join(str(i) for i in (ids[0], ids[2], ids[4]))
    assert rows(stats.duplicate_artifacts(db, **W)) == [("a" * 64, 3, 3524, expected)]
    assert stats.duplicate_artifacts(db, **W, owner="bob").empty


ALL: list[tuple[str, dict[str, Any]]] = [
    ("artifact_summary", {}), ("artifact_sizes", {}), ("artifact_size_percentiles", {}),
    ("artifacts_per_job", {}), ("metadata_coverage", {}), ("duplicate_artifacts", {})]


@pytest.mark.parametrize(("name", "extra"), ALL, ids=[name for name, _ in ALL])
def test_each_statistic_fetches_no_more_rows_than_it_returns(db: Database, ids: list[int], name: str,
                                                             extra: dict[str, Any]) -> None:
    with counting_fetches(db) as fetched:
        result = getattr(stats, name)(db, **W, **extra)
    assert 0 < fetched.rows <= len(result)


def test_top_values_fetch_no_more_than_they_return(db: Database, ids: list[int]) -> None:
    with counting_fetches(db) as fetched:
        result = stats.metadata_top_values(db, "http_status", **W)
    assert 0 < fetched.rows <= len(result)
