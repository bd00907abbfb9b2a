"""Second-look cases for the statistics: microsecond timestamps, named refusals, the chain from a checkpoint."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest
from sqlalchemy import select, text

from stratlogic import analytics
from stratlogic.analytics import audit
from stratlogic.analytics import jobs as stats
from stratlogic.audit import checkpoint
from stratlogic.db import Database
from stratlogic.errors import ValidationError
from stratlogic.models import AuditLog
from stratlogic.repositories import JobRepository, UserRepository
from tests.integration.analytics_data import job, seed_audit


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


GUARDS = {"postgresql": "DROP TRIGGER IF EXISTS audit_logs_no_update_delete ON audit_logs",
          "sqlite": "DROP TRIGGER IF EXISTS audit_logs_no_update"}


def _edit(db: Database, sql: str, row_id: int) -> None:
    """Someone with database access changes a row behind the trail's back."""
    with db.engine.begin() as conn:
        conn.execute(text(GUARDS[db.dialect]))
        conn.execute(text(sql), {"id": row_id})


@pytest.fixture
def trail(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The eight events of ``seed_audit``, their ids."""
    seed_audit(db, monkeypatch)
    with db.unit_of_work(readonly=True) as uow:
        return list(uow.session.scalars(select(AuditLog.id).order_by(AuditLog.id)))


def test_chain_from_checkpoint_without_one_checks_the_whole_chain(db: Database, trail: list[int]) -> None:
    with pytest.raises(ValidationError, match=r"^since: 'checkpiont' is not a moment; .* \(or 'checkpoint': from"):
        audit.chain_status(db, since="checkpiont")
    row = audit.chain_status(db, since="checkpoint").iloc[0]
    assert (row["ok"], row["rows_checked"], row["first_id"], row["tail_id"]) == (True, 8, trail[0], trail[-1])
    assert row["message"].endswith("(the whole chain: no usable checkpoint in the trail)")


def test_chain_from_checkpoint_reads_only_the_rows_after_it(db: Database, trail: list[int]) -> None:
    point = checkpoint.take(db)  # records row 8's hash in a ninth row
    assert point.last_id == trail[-1]
    row = audit.chain_status(db, since="checkpoint").iloc[0]
    assert (row["ok"], row["rows_checked"], row["first_id"]) == (True, 1, trail[-1] + 1)
    assert f"linked to row {trail[-1]}" in row["message"] and row["tail_id"] == trail[-1] + 1
    _edit(db, "UPDATE audit_logs SET action = 'user.updated' WHERE id = :id", trail[5])  # before the checkpoint
    assert audit.chain_status(db, since="checkpoint").iloc[0]["ok"]  # not re-read: documented
    assert not audit.chain_status(db).iloc[0]["ok"]  # the whole check finds it


def test_chain_from_checkpoint_finds_an_edit_after_it(db: Database, trail: list[int]) -> None:
    checkpoint.take(db)
    _edit(db, "UPDATE audit_logs SET ip_address = '10.0.0.9' WHERE id = :id", trail[-1] + 1)  # the marker row
    row = audit.chain_status(db, since="checkpoint").iloc[0]
    assert (row["ok"], row["first_bad_id"], row["rows_checked"]) == (False, trail[-1] + 1, 0)
    assert pd.isna(row["tail_id"]) and "content does not match" in row["message"]


def test_chain_from_checkpoint_finds_the_checkpointed_row_rewritten(db: Database, trail: list[int]) -> None:
    checkpoint.take(db)
    _edit(db, "UPDATE audit_logs SET hash = '" + "0" * 64 + "' WHERE id = :id", trail[-1])
    row = audit.chain_status(db, since="checkpoint").iloc[0]
    assert (row["ok"], row["first_bad_id"]) == (False, trail[-1]) and "no longer has the hash" in row["message"]


def test_chain_from_a_checkpoint_that_was_blanked_checks_the_whole_chain(db: Database, trail: list[int]) -> None:
    checkpoint.take(db)
    _edit(db, "UPDATE audit_logs SET details = '{}' WHERE id = :id", trail[-1] + 1)
    row = audit.chain_status(db, since="checkpoint").iloc[0]
    assert (row["ok"], row["first_bad_id"], row["first_id"]) == (False, trail[-1] + 1, trail[0])
    assert "no usable checkpoint" in row["message"]


@pytest.mark.parametrize("name", analytics.STATISTICS)
def test_an_unknown_keyword_is_refused_by_name_for_every_statistic(name: str) -> None:
    function = getattr(analytics, name)
    with pytest.raises(ValidationError, match=rf"^stauts: {name} has no such parameter; it accepts \w"):
        function(None, stauts="failed")  # refused before the database is touched
    assert "db" in inspect.signature(function).parameters  # the signature notebooks' help shows is kept


def test_a_negative_user_id_is_refused_not_matched(db: Database) -> None:
    for call, param in ((stats.job_summary, "owner"), (audit.audit_volume, "actor")):
        with pytest.raises(ValidationError, match=rf"^{param}: -3 is not a user id"):
            call(db, **{param: [7, -3]})
    assert stats.job_summary(db, owner=0)["jobs"].iloc[0] == 0  # 0 is a value (no user has it), not "no filter"


def test_now_of_the_queue_statistics_must_be_a_datetime(db: Database) -> None:
    for call in (stats.stuck_jobs, stats.queue_health):
        with pytest.raises(ValidationError, match=r"^now: '2026-01-01' is not a datetime"):
            call(db, now="2026-01-01")  # type: ignore[arg-type]


def test_the_rows_fetched_tests_cover_every_statistic() -> None:
    """Each statistic is in one of the ``fetches no more rows than it returns`` tests (chain_status, which
    must read the chain, is the named exception): a statistic added without one fails here."""
    from tests.integration import test_analytics_artifacts, test_analytics_audit, test_analytics_jobs

    covered = {name for module in (test_analytics_artifacts, test_analytics_audit, test_analytics_jobs)
               for name, _ in module.ALL}
    covered |= {"stuck_jobs", "queue_health", "metadata_top_values", "user_summary", "users_by_role"}  # own tests
    assert covered | {"chain_status"} == set(analytics.STATISTICS)
