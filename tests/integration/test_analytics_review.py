"""Second-look cases for the statistics: microsecond timestamps, named refusals, the chain from a checkpoint."""

from __future__ import annotations

from stratlogic.analytics import jobs as stats
from stratlogic.db import Database
from stratlogic.repositories import JobRepository, UserRepository
from tests.integration.analytics_data import job


def test_durations_are_exact_to_the_microsecond_on_both_engines(db: Database) -> None:
    """Started at .000600 and finished 1.000800 s later: 1.001 s (SQLite's julianday said 1.000)."""
    with db.unit_of_work() as uow:
        ada = UserRepository(uow).create("ada", "ada@example.com").id
        row = job(ada, "crawl", "https://a.example/", "completed", "2026-03-28 10:00:00",
                  started="2026-03-28 10:00:00.000600", finished="2026-03-28 10:00:01.001400", attempt=1)
        JobRepository(uow).add_many([row])
    found = stats.job_durations(db, since="2026-03-28", until="2026-03-29").set_index("metric")
    assert found.loc["duration", "p50"] == 1.001  # 1.0008 s
    assert found.loc["queue_wait", "p99"] == 0.001  # 0.0006 s
