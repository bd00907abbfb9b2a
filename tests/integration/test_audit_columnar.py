"""The columnar verifier (``audit/_columnar.py``, PostgreSQL) agrees with the canonical form byte for byte.

It builds canonical rows column-wise and hashes them with OpenSSL, so these tests aim at what could make it
disagree with ``audit_rules.canonical``: strings that need JSON escaping (quotes, backslashes, control
characters) next to plain ones in the same batch, non-ASCII text, nested and unsorted details, HMAC keys
longer than a hash block, and batch boundaries (tiny batches), where links cross from one batch to the
next and a tampered or missing row must still be named exactly.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from stratlogic.audit import _columnar, verify
from stratlogic.audit.checkpoint import take
from stratlogic.db import Database
from stratlogic.db.actor import acting_as
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories import UserRepository, trail
from stratlogic.repositories.audit import AuditRepository
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres

AWKWARD = ['quote " inside', "back\\slash", "new\nline and\ttab", "bell\x07 and \x1f", "ünïcödé ✓ 🚀",
           "plain", "\\\"both\"\\", "u+2028 \u2028 sep"]


@pytest.fixture
def pg(pg_database: Callable[..., str], pg_template: str, tmp_path: Path) -> Iterator[Callable[..., Database]]:
    made: list[Database] = []
    url = pg_database(pg_template)

    def open_db(**extra: object) -> Database:
        made.append(Database.from_settings(make_settings(url, tmp_path, **extra)))
        return made[-1]

    yield open_db
    for database in made:
        database.dispose()


@pytest.fixture
def tiny_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few rows per batch, so chains cross many batch boundaries."""
    monkeypatch.setattr(_columnar, "BATCH_BYTES", 512)


def write_awkward_rows(db: Database) -> None:
    for i, value in enumerate(AWKWARD):
        with acting_as(None, ip_address="2001:db8::1" if i % 2 else None, user_agent=value), \
                db.unit_of_work() as uow:
            AuditRepository(uow).record(AuditAction.JOB_UPDATED, "job", value, {
                "z": value, "a": {"nested": [value, 1, None, True], "b": {"y": 2, "x": "\u00e9"}},
                value: "as a key", "number": 2**40})


def test_strings_needing_escapes_verify_and_a_tampered_one_is_named(pg: Callable[..., Database],
                                                                    tiny_batches: None) -> None:
    db = pg()
    write_awkward_rows(db)
    report = verify(db, workers=1)
    assert report.ok, report.message
    assert report.rows == len(AWKWARD)
    with db.unit_of_work() as uow:
        uow.session.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
        target = uow.session.scalar(text("SELECT id FROM audit_logs WHERE resource_id = :v"), {"v": AWKWARD[3]})
        uow.session.execute(text("UPDATE audit_logs SET user_agent = :v WHERE id = :id"),
                            {"v": AWKWARD[3] + "!", "id": target})
    report = verify(db, workers=1)
    assert (report.ok, report.bad_id, report.problem) == (False, target, "content")


def test_details_key_order_and_spacing_do_not_matter_but_values_do(pg: Callable[..., Database]) -> None:
    db = pg()
    write_awkward_rows(db)
    with db.unit_of_work() as uow:
        uow.session.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
        first = uow.session.scalar(text("SELECT min(id) FROM audit_logs"))
        # Same object, keys written in another order: JSONB normalises it, the canonical form is unchanged.
        uow.session.execute(text("UPDATE audit_logs SET details = (details::text)::jsonb WHERE id = :id"),
                            {"id": first})
    assert verify(db, workers=1).ok
    with db.unit_of_work() as uow:
        uow.session.execute(text("UPDATE audit_logs SET details = jsonb_set(details, '{number}', '1') "
                                 "WHERE id = :id"), {"id": first})
    report = verify(db, workers=1)
    assert (report.ok, report.bad_id, report.problem) == (False, first, "content")


@pytest.mark.parametrize("key", ["k" * 10, "long-" * 30])  # shorter and longer than a sha256 block
def test_keyed_trails_verify_with_their_key_only(pg: Callable[..., Database], key: str) -> None:
    keyed = pg(audit_key=key)
    write_awkward_rows(keyed)
    assert verify(keyed, workers=1).ok
    wrong = pg(audit_key=key + "x")
    report = verify(wrong, workers=1)
    assert (report.ok, report.problem) == (False, "content")
    assert "audit key is wrong" in report.message


def test_a_row_deleted_at_a_batch_boundary_breaks_the_next_link(pg: Callable[..., Database],
                                                                tiny_batches: None) -> None:
    db = pg()
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        for i in range(40):
            users.create(f"user{i:02d}", f"user{i}@example.com")
    assert verify(db, workers=1).rows == 40
    with db.unit_of_work() as uow:
        uow.session.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
        ids = list(uow.session.scalars(text("SELECT id FROM audit_logs ORDER BY id")))
        for gone in (ids[17], ids[18]):
            uow.session.execute(text("DELETE FROM audit_logs WHERE id = :id"), {"id": gone})
    report = verify(db, workers=1)
    assert (report.ok, report.bad_id, report.problem, report.rows) == (False, ids[19], "link", 17)
    assert f"row {ids[16]} before it" in report.message


def test_a_checkpoint_in_a_later_batch_is_found(pg: Callable[..., Database], tiny_batches: None) -> None:
    db = pg()
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        for i in range(30):
            users.create(f"user{i:02d}", f"user{i}@example.com")
    checkpoint = take(db)
    with db.unit_of_work() as uow:
        UserRepository(uow).create("later", "later@example.com")
    report = verify(db, checkpoint=checkpoint, workers=1)
    assert report.ok, report.message
    assert report.rows == 32  # 30 users, the checkpoint's own row, one more user
    forged = dataclasses.replace(checkpoint, last_hash="0" * 64)
    report = verify(db, checkpoint=forged, workers=1)
    assert (report.ok, report.problem, report.bad_id) == (False, "checkpoint", checkpoint.last_id)


def test_two_processes_agree_with_one(pg: Callable[..., Database], monkeypatch: pytest.MonkeyPatch) -> None:
    db = pg()
    write_awkward_rows(db)
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        for i in range(20):
            users.create(f"user{i:02d}", f"user{i}@example.com")
    monkeypatch.setattr(importlib.import_module("stratlogic.audit.verify"), "PARALLEL_FROM", 1)
    one, two = verify(db, workers=1), verify(db, workers=2)
    assert one.ok and two.ok
    assert (one.rows, one.last_id, one.last_hash) == (two.rows, two.last_id, two.last_hash)
    with db.unit_of_work() as uow:  # the parent's pool was emptied before forking: it reconnects and goes on
        UserRepository(uow).create("after", "after@example.com")
    again = verify(db, workers=2)
    assert again.ok and again.rows == two.rows + 1


TRICKY_DETAILS: list[dict[str, object]] = [
    {"zz": 1, "a": 2, "é": 3, "aa": {"b": [], "a": {}}, "": "empty key", "🚀": "non-BMP key"},
    {"values": {"options": {"wait_for": "networkidle", "render_js": True}, "id": 2**53, "neg": -(2**53),
                "name": "Ünïcödé ✓ \u2028 del\x7f", "tags": [[], [{}], [1, [2, [3]]]], "none": None}},
    {"to": "running", "from": "queued", "attempt": 1, "worker": "scraper-01"},
    {"quote\"key": 'va"lue', "back\\slash": "a\\b", "ctl": "\x01\x1f\n\t", "slash": "a/b"},
    {},
]


def test_awkward_details_verify_and_an_edited_nested_value_is_named(pg: Callable[..., Database],
                                                                   tiny_batches: None) -> None:
    db = pg()
    for i, details in enumerate(TRICKY_DETAILS * 3):
        with db.unit_of_work() as uow:
            AuditRepository(uow).record(AuditAction.JOB_UPDATED, "job", i, details)
    report = verify(db, workers=1)
    assert report.ok, report.message
    assert report.rows == len(TRICKY_DETAILS) * 3
    with db.unit_of_work() as uow:
        uow.session.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
        target = uow.session.scalar(text("SELECT id FROM audit_logs WHERE details ? 'values' ORDER BY id DESC LIMIT 1"))
        uow.session.execute(text("UPDATE audit_logs SET details = jsonb_set(details, '{values,options,render_js}', "
                                 "'false') WHERE id = :id"), {"id": target})
    report = verify(db, workers=1)
    assert (report.ok, report.bad_id, report.problem) == (False, target, "content")


def test_details_no_recorded_row_can_hold_are_named_not_a_crash(pg: Callable[..., Database]) -> None:
    db = pg()
    write_awkward_rows(db)
    with db.unit_of_work() as uow:
        uow.session.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
        target = uow.session.scalar(text("SELECT min(id) + 2 FROM audit_logs"))
        uow.session.execute(text("""UPDATE audit_logs SET details = '{"n": 1e400}' WHERE id = :id"""), {"id": target})
    report = verify(db, workers=1)
    assert (report.ok, report.bad_id, report.problem) == (False, target, "content")


def test_rows_stream_in_key_order_without_a_sort(pg: Callable[..., Database]) -> None:
    """Without statistics (autovacuum off, or just after a bulk load) PostgreSQL sorts a large range on disk
    before sending the first row (seen on the demo trail: half of the verification's time); the verifier's
    session settings keep it on the primary key, whatever the statistics say."""
    db = pg()
    query = trail.ARROW_QUERY.format(low=0, high=2**63 - 1)
    with db.engine.connect() as connection:
        for setting in trail.ARROW_SESSION:
            connection.execute(text(setting))
        plan = "\n".join(connection.execute(text(f"EXPLAIN {query}")).scalars())
        connection.rollback()
    assert "Sort" not in plan and "Index Scan using pk_audit_logs" in plan


def test_more_segments_than_processes_agree_with_one_and_name_the_same_row(
        pg: Callable[..., Database], monkeypatch: pytest.MonkeyPatch) -> None:
    db = pg()
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        for i in range(30):
            users.create(f"user{i:02d}", f"user{i}@example.com")
    module = importlib.import_module("stratlogic.audit.verify")
    monkeypatch.setattr(module, "PARALLEL_FROM", 1)
    monkeypatch.setattr(module, "MIN_SEGMENT", 1)
    monkeypatch.setattr(module, "SEGMENTS_PER_WORKER", 4)
    assert len(module._bounds(db, 2)) == 8
    one, many = verify(db, workers=1), verify(db, workers=2)
    assert one.ok and many.ok
    assert (one.rows, one.last_id, one.last_hash) == (many.rows, many.last_id, many.last_hash)
    with db.unit_of_work() as uow:
        uow.session.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER USER"))
        target = uow.session.scalar(text("SELECT max(id) - 3 FROM audit_logs"))
        uow.session.execute(text("UPDATE audit_logs SET resource_id = 'x' WHERE id = :id"), {"id": target})
    one, many = verify(db, workers=1), verify(db, workers=2)
    assert (many.ok, many.bad_id, many.problem, many.rows) == (False, target, "content", one.rows)
    assert one.bad_id == target
