"""Every table of a database as Arrow batches from one snapshot (the export's reader, whole tables in key order).

PostgreSQL: the snapshot of a REPEATABLE READ transaction (``repositories.tables.pg_snapshot``) adopted by one
ADBC connection per table, rows streamed by binary COPY and decoded on a reader thread (the export's
``_adbc_batches``). SQLite: one read transaction, rows in batches from the cursor (the export's
``_sqlite_batches``). Booleans are read as integers (SQLite has no other form) and typed afterwards; JSON
comes out in canonical text (``_backup_rows.canonical_batch``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa

from stratlogic.analytics import _export_read
from stratlogic.analytics._export_sources import Column, Kind, Source
from stratlogic.db import Database
from stratlogic.repositories import tables
from stratlogic.repositories.tables import SnapshotFacts, TableSpec
from stratlogic.services._backup_rows import canonical_batch

_FAMILY: dict[str, Any] = {"int32": "int", "int64": "int", "bool": "int", "text": "text", "time": "time",
                           "json": "json"}


def read_source(spec: TableSpec) -> Source:
    """The export reader's description of a whole table (booleans read as 64-bit integers)."""
    columns = tuple(Column(c.name, _FAMILY[c.kind], pa.int64() if c.kind == "bool" else c.arrow)
                    for c in spec.columns)
    return Source(cast(Kind, spec.name), spec.name, "", columns, ())


def typed(spec: TableSpec, batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch as read, in the table's schema with canonical JSON."""
    arrays = [array.cast(pa.bool_()) if column.kind == "bool" else array
              for column, array in zip(spec.columns, batch.columns, strict=True)]
    return canonical_batch(spec, pa.RecordBatch.from_arrays(arrays, schema=spec.schema))


@dataclass
class Snapshot:
    """The facts of one snapshot and a way to stream each table's rows from it."""

    facts: SnapshotFacts
    stream: Callable[[TableSpec], Iterator[pa.RecordBatch]]

    def batches(self, spec: TableSpec) -> Iterator[pa.RecordBatch]:
        """The table's rows in key order, typed and canonical."""
        for batch in self.stream(spec):
            if batch.num_rows:
                yield typed(spec, batch)


@contextlib.contextmanager
def snapshot(db: Database) -> Iterator[Snapshot]:
    """Open one read snapshot of every table of ``db``."""
    if db.dialect == "postgresql":
        with tables.pg_snapshot(db) as (snapshot_id, facts):
            def stream(spec: TableSpec) -> Iterator[pa.RecordBatch]:
                batches = _export_read._adbc_batches(db, snapshot_id, {}, tables.select_sql(spec, "postgresql"),
                                                     read_source(spec))
                try:
                    yield from batches
                finally:
                    batches.close()  # type: ignore[attr-defined]

            yield Snapshot(facts, stream)
        return
    with tables.sqlite_snapshot(db) as (uow, facts):
        def sqlite_stream(spec: TableSpec) -> Iterator[pa.RecordBatch]:
            cursor = tables.sqlite_cursor(uow, spec)
            try:
                yield from _export_read._sqlite_batches(cursor, read_source(spec))
            finally:
                cursor.close()

        yield Snapshot(facts, sqlite_stream)


__all__ = ["Snapshot", "read_source", "snapshot", "typed"]
