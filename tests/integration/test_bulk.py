"""``deferred_indexes``: what it drops for a load, what it keeps, and that every rule is back (and checked) after."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from stratlogic.db import Database, UnitOfWork
from stratlogic.models import AuditLog, ScrapingJob
from stratlogic.repositories.bulk import BulkWriter, deferred_indexes
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


def rules(uow: UnitOfWork) -> dict[str, set[str]]:
    """Secondary indexes and foreign/unique constraints of the two tables, by table (names; the server
    normalises a rebuilt index's text, so definitions are not compared)."""
    found: dict[str, set[str]] = {"scraping_jobs": set(), "audit_logs": set()}
    for table, name in uow.session.execute(text(
            "SELECT tablename, indexname FROM pg_indexes WHERE tablename IN ('scraping_jobs', 'audit_logs') "
            "AND indexname NOT LIKE 'pk_%' UNION ALL "
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE conrelid::regclass::text IN ('scraping_jobs', 'audit_logs') AND contype IN ('f', 'u')")):
        found[table].add(name)
    return found


@pytest.fixture
def database(pg_database: Callable[..., str], pg_template: str, tmp_path: Path) -> Database:
    db = Database.from_settings(make_settings(pg_database(pg_template), tmp_path))
    yield db  # type: ignore[misc]
    db.dispose()


def test_kept_tables_keep_their_indexes_but_not_their_foreign_keys(database: Database) -> None:
    with database.unit_of_work() as uow:
        before = rules(uow)
        assert before["audit_logs"] and before["scraping_jobs"]
        with deferred_indexes(uow, [ScrapingJob, AuditLog], keep_indexes=[AuditLog]):
            during = rules(uow)
            kept_indexes = {name for name in before["audit_logs"] if name.startswith("ix_")}
            assert during["audit_logs"] == kept_indexes  # indexes stay, the foreign key to users went
            assert during["scraping_jobs"] == set()
        assert rules(uow) == before


def test_a_row_breaking_a_deferred_foreign_key_fails_the_load_when_it_is_rebuilt(database: Database) -> None:
    columns = ("id", "occurred_at", "actor_id", "action", "resource_type", "details", "prev_hash", "hash")
    with pytest.raises(IntegrityError, match="fk_audit_logs_actor_id_users"), database.unit_of_work() as uow, \
            deferred_indexes(uow, [AuditLog], keep_indexes=[AuditLog]), BulkWriter(uow) as writer:
        first = writer.reserve(AuditLog)
        writer.write(AuditLog, columns, [(first, 0, 999_999, "user.created", "user", b"\x01{}", "0" * 64, "1" * 64)])
        writer.close()
    with database.unit_of_work(readonly=True) as uow:
        assert uow.session.scalar(text("SELECT count(*) FROM audit_logs WHERE actor_id = 999999")) == 0
