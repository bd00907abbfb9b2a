"""The public audit-trail repository (``repositories.trail.AuditTrail``): what it appends chains onto the
tail, what it reads is what was written, and its one delete removes only a prefix and anchors the rest.
Both engines; the Arrow stream (PostgreSQL over ADBC, ``db/arrow.py``) against the row stream."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import adbc_driver_manager
import pytest

from stratlogic.audit import verify
from stratlogic.db import Database, arrow
from stratlogic.db.actor import acting_as
from stratlogic.errors import ValidationError
from stratlogic.models.audit_rules import GENESIS, ROW_FIELDS, AuditAction, content_ok, timestamp
from stratlogic.repositories import AuditEntry, AuditTrail, Repos, TrailEnd
from stratlogic.repositories.trail import arrow_batches, key_of
from tests.conftest import make_settings

KEY = "trail-test-key"


def record_rows(db: Database, n: int) -> list[int]:
    """``n`` rows (one per unit of work: an appended tail is re-read each time); their ids."""
    for i in range(n):
        with db.unit_of_work() as uow:
            AuditTrail(uow).record(AuditAction.JOB_UPDATED, "job", i, {"step": i})
    with db.unit_of_work(readonly=True) as uow:
        return [row[0] for row in AuditTrail(uow).rows(0, 2**62)]


def test_an_empty_trail_has_no_tail_and_links_to_genesis(db: Database) -> None:
    with db.unit_of_work(readonly=True) as uow:
        trail = Repos.of(uow).trail  # the notebook's way in, the same repository
        assert isinstance(trail, AuditTrail) and trail.uow is uow
        assert (trail.tail(), trail.tail_hash(), trail.count(), trail.id_span(), trail.first_id()) == (
            None, GENESIS, 0, None, None)
        assert list(trail.rows(-(2**63), 2**63 - 1)) == [] and trail.prunes() == []


def test_appended_rows_chain_onto_the_tail_and_read_back_as_written(db: Database) -> None:
    with acting_as(None, ip_address="10.0.0.7", user_agent="trail test"), db.unit_of_work() as uow:
        trail = AuditTrail(uow)
        trail.record(AuditAction.CONFIG_SET, "config", "a.key", {"old": None, "new": "s3cret"},
                     secret_keys=frozenset({"new"}))
        trail.append([AuditEntry(AuditAction.JOB_UPDATED, "job", "7", {"n": 1}),
                      AuditEntry(AuditAction.JOB_UPDATED, "job", "8", {"n": 2})])
        trail.append([])  # nothing to record: no row, no lock needed
    with db.unit_of_work(readonly=True) as uow:
        trail = AuditTrail(uow)
        rows = list(trail.rows(-(2**63), 2**63 - 1))
        assert trail.count() == len(rows) == 3
        ids = [row[0] for row in rows]
        assert ids == sorted(ids) and trail.id_span() == (ids[0], ids[-1]) and trail.first_id() == ids[0]
        assert trail.tail() == TrailEnd(ids[-1], rows[-1][-1]) and trail.tail_hash() == rows[-1][-1]
        assert [trail.hash_of(i) for i in ids] == [row[-1] for row in rows] and trail.hash_of(ids[-1] + 1) is None
        assert [row[ROW_FIELDS.index("prev_hash")] for row in rows] == [GENESIS, rows[0][-1], rows[1][-1]]
        for row in rows:
            fields = dict(zip(ROW_FIELDS, row, strict=True))
            hashed = [timestamp(fields["occurred_at"]), *row[2:9]]
            assert content_ok(fields["prev_hash"], fields["hash"], None, *hashed), fields
        first = dict(zip(ROW_FIELDS, rows[0], strict=True))
        assert (first["action"], first["ip_address"], first["user_agent"]) == ("config.set", "10.0.0.7", "trail test")
        assert first["details"]["new"] == "***"
        assert [i for i, _ in trail.recorded(AuditAction.JOB_UPDATED, "job", 8)] == [ids[2]]
        assert trail.recorded(AuditAction.JOB_CREATED, "job", 8) == []
        assert [row[0] for row in trail.rows(ids[1], ids[2])] == ids[1:]


def test_prune_before_removes_only_the_prefix_and_records_the_anchor(db: Database) -> None:
    ids = record_rows(db, 5)
    with db.unit_of_work() as uow:
        trail = AuditTrail(uow)
        anchor = trail.hash_of(ids[2])
        pruned = trail.prune_before(ids[3])
    assert (pruned.rows, pruned.first_id, pruned.last_id, pruned.anchor_hash) == (3, ids[0], ids[2], anchor)
    with db.unit_of_work() as uow:
        trail = AuditTrail(uow)
        assert trail.first_id() == ids[3] and trail.count() == 3  # two left, and the prune's own row
        (prune_id, details), = trail.prunes()
        tail = trail.tail()
        assert tail is not None and prune_id == tail.id
        assert details == {"first_id": ids[0], "last_id": ids[2], "rows": 3, "anchor_hash": anchor}
        assert trail.prune_before(ids[3]).rows == 0  # nothing older left: no delete, no row
        assert trail.count() == 3
    report = verify(db)
    assert report.ok and report.anchored, report.message


@pytest.fixture
def keyed(migrated_url: str, tmp_path: Path) -> Iterator[Database]:
    database = Database.from_settings(make_settings(migrated_url, tmp_path, audit_key=KEY))
    yield database
    database.dispose()


def test_the_key_comes_from_the_settings_with_or_without_a_unit_of_work(db: Database, keyed: Database) -> None:
    assert key_of(keyed.settings) == KEY.encode() and key_of(db.settings) is None
    with keyed.unit_of_work() as uow:
        trail = AuditTrail(uow)
        assert trail.key() == KEY.encode()
        trail.record(AuditAction.JOB_UPDATED, "job", 1)
    with keyed.unit_of_work(readonly=True) as uow:
        row = next(AuditTrail(uow).rows(-(2**63), 2**63 - 1))
    hashed = [timestamp(row[1]), *row[2:9]]
    assert content_ok(row[9], row[10], KEY.encode(), *hashed)
    assert not content_ok(row[9], row[10], None, *hashed)  # an unkeyed hash would not match: HMAC it is


@pytest.mark.postgres
def test_the_arrow_stream_holds_the_same_rows_as_the_row_stream(pg_database: Callable[..., str], pg_template: str,
                                                                tmp_path: Path) -> None:
    url = pg_database(pg_template)
    db = Database.from_settings(make_settings(url, tmp_path))
    try:
        ids = record_rows(db, 12)
        batches = list(arrow_batches(db, ids[1], ids[-2], batch_bytes=256, read_ahead=2))
        assert len(batches) > 1  # small batches: the range crosses batch boundaries
        assert tuple(batches[0].schema.names) == ROW_FIELDS
        streamed = [(i, h) for b in batches for i, h in zip(b.column("id").to_pylist(), b.column("hash").to_pylist(),
                                                             strict=True)]
        with db.unit_of_work(readonly=True) as uow:
            assert streamed == [(row[0], row[-1]) for row in AuditTrail(uow).rows(ids[1], ids[-2])]
    finally:
        db.dispose()


@pytest.mark.postgres
def test_the_shared_reader_raises_the_drivers_error_and_stops_its_thread_when_closed(
        pg_database: Callable[..., str], pg_template: str, tmp_path: Path) -> None:
    url = pg_database(pg_template)
    db = Database.from_settings(make_settings(url, tmp_path))
    try:
        bad = arrow.stream(db, "SELECT * FROM no_such_table", batch_bytes=1024, read_ahead=1, thread_name="t-bad")
        with pytest.raises(adbc_driver_manager.Error, match="no_such_table"):
            next(bad)
        record_rows(db, 30)
        rows = arrow.stream(db, "SELECT id FROM audit_logs ORDER BY id", batch_bytes=64, read_ahead=1,
                            thread_name="t-closed")
        assert next(rows).num_rows >= 1
        rows.close()  # leaves while the reader waits on a full queue: it must finish, not hang
        assert not [t for t in threading.enumerate() if t.name == "t-closed"]
    finally:
        db.dispose()


@pytest.mark.parametrize("bad", ["5", 2.0, True, None])
def test_prune_before_refuses_a_bound_that_is_not_a_row_id_and_deletes_nothing(db: Database, bad: object) -> None:
    record_rows(db, 3)
    message = f"prune before id must be an integer row id, not {re.escape(repr(bad))}"
    with db.unit_of_work() as uow, pytest.raises(ValidationError, match=message):
        AuditTrail(uow).prune_before(bad)  # type: ignore[arg-type]
    with db.unit_of_work(readonly=True) as uow:
        assert AuditTrail(uow).count() == 3
