"""Loading many rows at once: binary ``COPY`` on PostgreSQL, ``executemany`` on SQLite; never the ORM.

For generators (the demo seed) that write millions of rows in one transaction, where the ORM would cost ten
times more. Rows arrive as tuples in the order of the columns named, in *wire form*:

- timestamps as integers, microseconds since 2000-01-01 UTC (``EPOCH``): PostgreSQL's own binary form, so
  the server parses no text;
- JSON documents as ``JSONB_VERSION`` + UTF-8 JSON (``jsonb`` in binary; see ``json_value``);
- everything else as the Python value (int, str, bool, None).

SQLite gets the same rows converted to what SQLAlchemy would have stored. The caller assigns ids
(``reserve``) so that children can name their parents without a round trip, and holds the write lock
(``_trail.lock``) for the whole load, so nobody else takes those ids; ``finish`` moves the identity
sequences past them. On PostgreSQL the COPYs run on a background thread: the generator builds the next
batch while the server stores the last one. At most ``depth`` batches wait (memory stays flat).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, Table, func, select, text
from sqlalchemy.types import TypeEngine

from stratlogic.db.session import UnitOfWork
from stratlogic.models import Base, UTCDateTime

Rows = Sequence[tuple[Any, ...]]
Model = type[Base]
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
JSONB_VERSION = b"\x01"
log = logging.getLogger(__name__)
_DONE = None

#: Statements that drop and recreate the tables' foreign keys, unique constraints and secondary indexes,
#: built by the server from its catalog (names quoted by ``format``), in the order they must run.
_DEFERRABLE = text("""
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)),
       CASE contype WHEN 'f' THEN 2 ELSE 1 END, conrelid::regclass::text
FROM pg_constraint
WHERE contype IN ('f', 'u')
  AND (conrelid = ANY(CAST(:tables AS regclass[])) OR confrelid = ANY(CAST(:tables AS regclass[])))
UNION ALL
SELECT format('DROP INDEX %s', indexrelid::regclass), pg_get_indexdef(indexrelid), 0, indrelid::regclass::text
FROM pg_index
WHERE indrelid = ANY(CAST(:tables AS regclass[])) AND NOT indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = indexrelid AND c.contype IN ('u', 'p', 'x'))
ORDER BY 3 DESC, 1
""")


def table_of(model: Model) -> Table:
    """The model's table (typed as a Table: every model here maps exactly one)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def json_value(document: bytes) -> bytes:
    """A JSON column's wire form from the document's UTF-8 text."""
    return JSONB_VERSION + document


@dataclass(frozen=True)
class _Batch:
    table: Table
    columns: tuple[str, ...]
    rows: Rows
    csv: bytes | None = None  # rows already in COPY's CSV form (write_csv)


class BulkWriter:
    """Write rows to several tables in the unit of work's transaction, in the order they are given.

    Use as a context manager: leaving the block waits for every queued batch (and re-raises a failed one).
    """

    def __init__(self, uow: UnitOfWork, *, depth: int = 3) -> None:
        self.uow = uow
        self.rows_written: dict[str, int] = {}
        self._next: dict[str, int] = {}
        self._written: set[Table] = set()
        self._error: BaseException | None = None
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=depth)
        self._queued = 0  # batches handed to the thread and not yet written
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        if uow.dialect == "postgresql":
            uow.session.execute(text("SET LOCAL statement_timeout = 0"))  # one COPY or index build may be long
            self._copy_connection: Any = uow.connection.connection.driver_connection
            self._thread = threading.Thread(target=self._drain, name="stratlogic-bulk-copy", daemon=True)
            self._thread.start()

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reserve(self, model: Model, count: int = 1) -> int:
        """Take ``count`` consecutive ids of ``model``'s table; returns the first. Ids are counted here after
        the first call, which reads the table's highest id (and its identity sequence, on PostgreSQL).
        """
        table = table_of(model)
        if table.name not in self._next:
            self._wait()  # rows already queued for this table must be in before its highest id is read
            highest = self.uow.session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0
            if self.uow.dialect == "postgresql":
                sequence = func.pg_get_serial_sequence(table.name, "id")
                issued = self.uow.session.scalar(select(func.coalesce(func.pg_sequence_last_value(sequence), 0)))
                highest = max(highest, issued or 0)
            self._next[table.name] = int(highest) + 1
        first = self._next[table.name]
        self._next[table.name] += count
        return first

    def write(self, model: Model, columns: Sequence[str], rows: Rows) -> None:
        """Queue ``rows`` (tuples in ``columns`` order) for ``model``'s table; batches go in call order."""
        if not rows:
            return
        table = table_of(model)
        self._raise_failure()
        self.rows_written[table.name] = self.rows_written.get(table.name, 0) + len(rows)
        self._written.add(table)
        batch = _Batch(table, tuple(columns), rows)
        if self._thread is None:
            self._insert(batch)
            return
        self._enqueue(batch)

    def write_csv(self, model: Model, columns: Sequence[str], data: bytes, rows: int) -> None:
        """Queue ``rows`` rows already in ``COPY … (FORMAT csv)`` form (no header; NULL an unquoted empty field,
        text quoted), as Arrow's C++ CSV writer makes them: a restore loads whole tables with no per-row Python.
        PostgreSQL only (SQLite takes ``write``)."""
        if self._thread is None:
            raise TypeError("write_csv is for PostgreSQL; SQLite loads take write()")
        if not rows:
            return
        table = table_of(model)
        self._raise_failure()
        self.rows_written[table.name] = self.rows_written.get(table.name, 0) + rows
        self._written.add(table)
        self._enqueue(_Batch(table, tuple(columns), (), data))

    def _enqueue(self, batch: _Batch) -> None:
        with self._idle:
            self._queued += 1
        while True:  # a bounded wait, so a failed writer thread cannot leave us blocked on a full queue
            try:
                self._queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                self._raise_failure()

    def _wait(self) -> None:
        """Block until the writer thread has written everything queued (it owns the connection till then)."""
        with self._idle:
            self._idle.wait_for(lambda: self._queued == 0 or self._error is not None)
        self._raise_failure()

    def close(self) -> None:
        """Wait for every queued batch; re-raise the first failure."""
        if self._thread is not None and self._thread.is_alive():
            if self._error is None:
                self._queue.put(_DONE)
            self._thread.join()
        self._raise_failure()

    def finish(self) -> None:
        """After ``close``: move identity sequences past the ids written, and refresh the planner's
        statistics of the tables written (PostgreSQL; SQLite needs nothing). Without statistics the first
        queries after a big load plan blind (autovacuum may be off, or minutes away)."""
        if self.uow.dialect != "postgresql":
            return
        for table in sorted(self._written, key=lambda t: t.name):
            if "id" in table.c and table.c.id.primary_key:
                sequence = func.pg_get_serial_sequence(table.name, "id")
                self.uow.session.execute(select(func.setval(sequence, select(func.max(table.c.id)).scalar_subquery())))
            self.uow.session.execute(text(f'ANALYZE "{table.name}"'))  # a model's table name, not input

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _drain(self) -> None:
        while (batch := self._queue.get()) is not _DONE:
            try:
                self._copy(batch)
            except BaseException as exc:  # handed to the generating thread, which re-raises it
                self._error = exc
                return
            finally:
                with self._idle:
                    self._queued -= 1
                    self._idle.notify_all()

    def _copy(self, batch: _Batch) -> None:
        from psycopg import sql  # here: SQLite runs never need the driver

        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
            sql.Identifier(batch.table.name), sql.SQL(", ").join(map(sql.Identifier, batch.columns)),
            sql.SQL("CSV" if batch.csv is not None else "BINARY"))
        if batch.csv is not None:
            with self._copy_connection.cursor() as cursor, cursor.copy(statement) as copy:
                copy.write(batch.csv)
            return
        types = [_binary_type(batch.table.c[name].type) for name in batch.columns]
        with self._copy_connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(types)
            for row in batch.rows:
                copy.write_row(row)

    def _insert(self, batch: _Batch) -> None:
        kinds = [_sqlite_kind(batch.table.c[name].type) for name in batch.columns]
        converters = [(i, kind) for i, kind in enumerate(kinds) if kind is not None]
        rows = [_sqlite_row(row, converters) for row in batch.rows] if converters else list(batch.rows)
        names = ", ".join(f'"{name}"' for name in batch.columns)  # identifiers from the models, values bound
        marks = ", ".join("?" for _ in batch.columns)
        statement = f'INSERT INTO "{batch.table.name}" ({names}) VALUES ({marks})'  # noqa: S608
        self.uow.connection.exec_driver_sql(statement, rows)


def _binary_type(column_type: TypeEngine[Any]) -> str:
    """The binary COPY type a wire value of this column is sent as (timestamps go as int8, JSON as bytes)."""
    if isinstance(column_type, UTCDateTime):
        return "int8"
    if isinstance(column_type, JSON):
        return "bytea"  # the jsonb version byte and the text, passed through as they are
    if isinstance(column_type, Boolean):
        return "bool"
    if isinstance(column_type, Integer):
        return "int8" if isinstance(column_type, BigInteger) else "int4"
    return "text"


def _sqlite_kind(column_type: TypeEngine[Any]) -> str | None:
    if isinstance(column_type, UTCDateTime):
        return "timestamp"
    return "json" if isinstance(column_type, JSON) else None


def _sqlite_row(row: tuple[Any, ...], converters: Sequence[tuple[int, str]]) -> tuple[Any, ...]:
    """Wire values as SQLAlchemy stores them on SQLite: naive UTC text, and JSON text."""
    values = list(row)
    for i, kind in converters:
        value = values[i]
        if value is None:
            continue
        if kind == "timestamp":
            values[i] = (EPOCH + timedelta(microseconds=value)).strftime("%Y-%m-%d %H:%M:%S.%f")
        else:
            values[i] = value[len(JSONB_VERSION):].decode()
    return tuple(values)


@contextmanager
def deferred_indexes(uow: UnitOfWork, models: Sequence[Model], *,
                     keep_indexes: Sequence[Model] = ()) -> Iterator[None]:
    """Load without maintaining indexes and foreign keys, then rebuild them, in the same transaction.

    The bulk-loading recipe of the PostgreSQL manual ("Populating a Database"): building an index or
    validating a foreign key once over a full table costs a fraction of doing it row by row. Every rule
    is checked again when it is recreated, so a bad row still fails the load (and rolls everything back).
    The tables are locked for the whole transaction. A no-op on SQLite.

    ``keep_indexes``: tables whose secondary indexes stay and are maintained as rows arrive (their
    foreign keys and unique constraints are still deferred). Worth it for an append-only table whose
    keys arrive in order (the audit trail): each insert lands on the rightmost pages, the server does it
    while the generator is busy, and the rebuild after the load, which nothing can overlap, gets shorter.
    """
    if uow.dialect != "postgresql":
        yield
        return
    names = [table_of(model).name for model in models]
    statements = uow.session.execute(_DEFERRABLE, {"tables": names}).all()
    kept = {table_of(model).name for model in keep_indexes}
    statements = [row for row in statements if not (row[2] == 0 and row[3] in kept)]
    for drop, _create, _order, _table in statements:  # foreign keys first, then unique constraints, then indexes
        uow.session.execute(text(drop))
    yield
    uow.session.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
    for _drop, create, _order, _table in reversed(statements):
        started = time.perf_counter()
        uow.session.execute(text(create))
        log.debug("rebuilt in %.1f s: %s", time.perf_counter() - started, create)


__all__ = ["EPOCH", "JSONB_VERSION", "BulkWriter", "Model", "Rows", "deferred_indexes", "json_value", "table_of"]
