"""Job statistics against hand-computed answers, on SQLite and PostgreSQL alike (data: analytics_data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import pytest

from stratlogic.analytics import jobs as stats
from stratlogic.db import Database
from stratlogic.errors import ValidationError
from tests.integration.analytics_counting import counting_fetches
from tests.integration.analytics_data import at, seed_jobs

W: dict[str, Any] = {"since": "2026-03-28", "until": "2026-04-01"}
PARIS: dict[str, Any] = {**W, "tz": "Europe/Paris"}


@pytest.fixture
def people(db: Database) -> dict[str, int]:
    return seed_jobs(db)


def local(text: str, tz: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=tz)


def rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    return list(frame.itertuples(index=False, name=None))


def test_summary(db: Database, people: dict[str, int]) -> None:
    summary = stats.job_summary(db, **W)
    assert len(summary) == 1
    assert summary.iloc[0].to_dict() == {"jobs": 8, "completed": 2, "failed": 3, "cancelled": 1, "active": 2,
                                         "success_rate": 0.4, "failure_rate": 0.6, "pages": 9, "items": 80,
                                         "bytes": 8100, "pending": 0, "queued": 1, "running": 1}
    assert str(summary["jobs"].dtype) == "int64" and str(summary["success_rate"].dtype) == "float64"


def test_filters_by_name(db: Database, people: dict[str, int]) -> None:
    assert stats.job_summary(db, **W, status="failed")["jobs"].item() == 3
    assert stats.job_summary(db, **W, status=["failed", "completed"])["jobs"].item() == 5
    assert stats.job_summary(db, **W, owner="Bob")["jobs"].item() == 4
    assert stats.job_summary(db, **W, owner=[people["ada"], "bob"])["jobs"].item() == 8
    assert stats.job_summary(db, **W, owner="nobody")["jobs"].item() == 0
    assert stats.job_summary(db, **W, domain="A.EXAMPLE")["jobs"].item() == 3
    assert stats.job_summary(db, **W, kind="crawl", domain=["c.example", "a.example"])["jobs"].item() == 4
    assert stats.job_summary(db, **W, status=[])["jobs"].item() == 0


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"status": "bogus"}, r"^status: 'bogus' is not a valid status \(allowed: pending, queued"),
    ({"owner": True}, r"^owner: True is not a username or a user id"),
    ({"owner": 2.5}, r"^owner: 2.5 is not a username"),
    ({"kind": {"a": 1}}, r"^kind: .* is neither a value nor a list"),
    ({"since": "yesterday-ish"}, r"^since: 'yesterday-ish' is not a moment"),
    ({"tz": "Mars/Base"}, r"^tz: 'Mars/Base'"),
])
def test_bad_arguments_are_named(db: Database, kwargs: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern):
        stats.job_summary(db, **kwargs)


def test_volume_by_day_in_utc_and_across_the_dst_change_in_paris(db: Database, people: dict[str, int]) -> None:
    utc = stats.job_volume(db, **W)
    assert rows(utc) == [(local("2026-03-28", "UTC"), "completed", 2), (local("2026-03-29", "UTC"), "failed", 2),
                         (local("2026-03-30", "UTC"), "cancelled", 1), (local("2026-03-30", "UTC"), "failed", 1),
                         (local("2026-03-31", "UTC"), "queued", 1), (local("2026-03-31", "UTC"), "running", 1)]
    paris = stats.job_volume(db, **PARIS)
    tz = "Europe/Paris"
    assert rows(paris) == [(local("2026-03-28", tz), "completed", 1), (local("2026-03-29", tz), "completed", 1),
                           (local("2026-03-29", tz), "failed", 2), (local("2026-03-30", tz), "cancelled", 1),
                           (local("2026-03-30", tz), "failed", 1), (local("2026-03-31", tz), "queued", 1),
                           (local("2026-03-31", tz), "running", 1)]
    assert [b.utcoffset().total_seconds() for b in paris["bucket"].unique()] == [3600, 3600, 7200, 7200]
    assert str(paris["bucket"].dtype) == "datetime64[us, Europe/Paris]"


def test_volume_by_hour_week_and_month(db: Database, people: dict[str, int]) -> None:
    hours = stats.job_volume(db, by="hour", since="2026-03-29", until="2026-03-29T04:00", tz="Europe/Paris")
    assert rows(hours) == [(local("2026-03-29 00:00", "Europe/Paris"), "completed", 1),
                           (local("2026-03-29 01:00", "Europe/Paris"), "failed", 1),
                           (local("2026-03-29 03:00", "Europe/Paris"), "failed", 1)]
    assert [b.isoformat() for b in hours["bucket"]] == ["2026-03-29T00:00:00+01:00", "2026-03-29T01:00:00+01:00",
                                                        "2026-03-29T03:00:00+02:00"]
    weeks = stats.job_volume(db, by="week", **W, status=["completed", "failed"])
    assert rows(weeks) == [(local("2026-03-23", "UTC"), "completed", 2), (local("2026-03-23", "UTC"), "failed", 2),
                           (local("2026-03-30", "UTC"), "failed", 1)]
    months = stats.job_volume(db, by="month", **PARIS, status="failed")
    assert rows(months) == [(local("2026-03-01", "Europe/Paris"), "failed", 3)]


def test_hour_buckets_in_zones_with_half_hour_offsets(db: Database, people: dict[str, int]) -> None:
    # India is UTC+05:30: local hours start at :30 UTC. 00:30 and 01:30 UTC are 06:00 and 07:00 there.
    india = stats.job_volume(db, by="hour", since="2026-03-29T00:00Z", until="2026-03-29T02:00Z", tz="Asia/Kolkata")
    assert [b.isoformat() for b in india["bucket"]] == ["2026-03-29T06:00:00+05:30", "2026-03-29T07:00:00+05:30"]
    newfoundland = stats.job_volume(db, by="day", **W, tz="America/St_Johns")  # UTC-02:30 (summer time)
    assert rows(newfoundland)[:2] == [(local("2026-03-28", "America/St_Johns"), "completed", 2),
                                      (local("2026-03-28", "America/St_Johns"), "failed", 2)]


def test_empty_results_keep_their_columns_and_types(db: Database, people: dict[str, int]) -> None:
    empty: dict[str, Any] = {"since": "2025-01-01", "until": "2025-02-01"}
    volume = stats.job_volume(db, **empty)
    assert volume.empty and list(volume.columns) == ["bucket", "status", "jobs"]
    assert str(volume["bucket"].dtype) == "datetime64[us, UTC]" and str(volume["jobs"].dtype) == "int64"
    summary = stats.job_summary(db, **empty)
    assert summary["jobs"].item() == 0 and pd.isna(summary["success_rate"].item())
    durations = stats.job_durations(db, **empty)
    assert durations["jobs"].tolist() == [0, 0] and durations["p50"].isna().all()
    for frame in (stats.job_attempts(db, **empty), stats.job_errors(db, **empty),
                  stats.job_breakdown(db, **empty), stats.job_throughput(db, **empty)):
        assert frame.empty


def test_durations_percentiles_interpolate_between_ranks(db: Database, people: dict[str, int]) -> None:
    durations = stats.job_durations(db, **W)
    assert rows(durations) == [("duration", 5, 60.0, 108.0, 114.0, 118.8),
                               ("queue_wait", 6, 25.0, 55.0, 62.5, 68.5)]


def test_attempts_errors_breakdowns(db: Database, people: dict[str, int]) -> None:
    assert rows(stats.job_attempts(db, **W)) == [(0, 2), (1, 4), (2, 1), (3, 1)]
    assert rows(stats.job_errors(db, **W)) == [("Timeout", 2, "timed out later"), ("HTTPError", 1, "502")]
    assert rows(stats.job_errors(db, **W, limit=1)) == [("Timeout", 2, "timed out later")]
    assert rows(stats.job_breakdown(db, **W)) == [("ada", 4, 2, 0, 1.0, 8, 80, 8000),
                                                  ("bob", 4, 0, 3, 0.0, 1, 0, 100)]
    assert [(r[0], r[1]) for r in rows(stats.job_breakdown(db, field="domain", **W))] == \
        [("a.example", 3), ("b.example", 3), ("c.example", 2)]
    assert [(r[0], r[1], r[2]) for r in rows(stats.job_breakdown(db, field="kind", **W))] == \
        [("crawl", 4, 2), ("scrape", 4, 0)]
    with pytest.raises(ValidationError, match=r"^field: 'site' is not one of owner, kind, domain"):
        stats.job_breakdown(db, field="site", **W)
    with pytest.raises(ValidationError, match=r"^limit: 0 is not a whole number"):
        stats.job_errors(db, limit=0)


def test_throughput_counts_work_when_finished(db: Database, people: dict[str, int]) -> None:
    assert rows(stats.job_throughput(db, **W)) == [(local("2026-03-28", "UTC"), 8, 80, 8000, 2),
                                                   (local("2026-03-29", "UTC"), 1, 0, 100, 2),
                                                   (local("2026-03-30", "UTC"), 0, 0, 0, 2)]


def test_stuck_jobs_and_queue_health(db: Database, people: dict[str, int]) -> None:
    now = at("2026-03-31 10:00:00")
    stuck = stats.stuck_jobs(db, now=now)
    assert [(r[2], r[3], r[4]) for r in rows(stuck)] == [("w1", at("2026-03-31 09:05:00"), 3300.0)]
    assert stats.stuck_jobs(db, now=at("2026-03-31 09:04:59")).empty
    health = stats.queue_health(db, now=now)
    assert rows(health) == [(1, 1, at("2026-03-31 08:00:00"), 7200.0, 1)]
    adas = stats.queue_health(db, now=now, owner="ada").iloc[0]
    assert (adas["queued"], adas["claimable"], adas["expired_leases"]) == (0, 0, 1)
    assert pd.isna(adas["oldest_queued_at"]) and pd.isna(adas["oldest_queued_age_seconds"])


ALL: list[tuple[str, dict[str, Any]]] = [
    ("job_volume", {"by": "hour"}), ("job_summary", {}), ("job_durations", {}), ("job_attempts", {}),
    ("job_errors", {}), ("job_breakdown", {"field": "domain"}), ("job_throughput", {})]


@pytest.mark.parametrize(("name", "extra"), ALL, ids=[name for name, _ in ALL])
def test_each_statistic_fetches_no_more_rows_than_it_returns(db: Database, people: dict[str, int], name: str,
                                                             extra: dict[str, Any]) -> None:
    with counting_fetches(db) as fetched:
        result = getattr(stats, name)(db, **PARIS, **extra)
    assert 0 < fetched.rows <= len(result)


def test_stuck_and_queue_fetch_no_more_than_they_return(db: Database, people: dict[str, int]) -> None:
    now: datetime = at("2026-03-31 10:00:00")
    for call in (stats.stuck_jobs, stats.queue_health):
        with counting_fetches(db) as fetched:
            result = call(db, now=now)
        assert 0 < fetched.rows <= len(result)
