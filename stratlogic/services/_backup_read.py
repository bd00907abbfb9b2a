"""Every table of a database as Arrow batches from one snapshot, in key order.

PostgreSQL: the snapshot of a REPEATABLE READ transaction (``repositories.tables.pg_snapshot``) adopted by one
ADBC connection per table (``stratlogic.db.arrow``, the export's and the audit verifier's reader). SQLite: one
read transaction. JSON comes out in canonical text (``_backup_rows.canonical_batch``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa

from stratlogic.db import Database
from stratlogic.repositories import tables
from stratlogic.repositories.tables import SnapshotFacts, TableSpec


@dataclass
class Snapshot:
    """The facts of one snapshot and a way to stream each table's rows from it."""

    facts: SnapshotFacts
    stream: Callable[[TableSpec, bool], Iterator[pa.RecordBatch]]

    def batches(self, spec: TableSpec, *, storage_order: bool = False) -> Iterator[pa.RecordBatch]:
        """The table's rows in key order, typed by the table's schema (``storage_order``: as stored, on
        PostgreSQL; the caller checks the order)."""
        for batch in self.stream(spec, storage_order):
            if batch.num_rows:
                yield batch


@contextlib.contextmanager
def snapshot(db: Database) -> Iterator[Snapshot]:
    """Open one read snapshot of every table of ``db``."""
    if db.dialect == "postgresql":
        with tables.pg_snapshot(db) as (snapshot_id, facts):
            yield Snapshot(facts, lambda spec, stored: tables.pg_batches(db, snapshot_id, spec, storage_order=stored))
        return
    with tables.sqlite_snapshot(db) as (uow, facts):
        yield Snapshot(facts, lambda spec, _stored: tables.sqlite_batches(uow, spec))


__all__ = ["Snapshot", "snapshot"]
