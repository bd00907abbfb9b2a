"""Reading an export's rows and their ``COUNT(*)`` from one snapshot, as Arrow record batches.

PostgreSQL: a REPEATABLE READ READ ONLY transaction on the project's engine exports its snapshot
(``pg_export_snapshot()``), counts the rows and reads the audit chain's tail; an ADBC connection adopts
that snapshot (``SET TRANSACTION SNAPSHOT``) and streams the rows as Arrow batches (binary COPY, decoded in
C++ on a reader thread, so decoding overlaps the writing). The filter values travel as transaction-local
settings (``set_config($1, $2, true)``, a bound statement) that the query reads once with ``current_setting``:
ADBC runs a query with bound parameters without COPY and holds its whole result (measured: 5.7 GB and
twice the time for 5.5M audit rows), so the streamed query carries no parameters and no caller's text. The
window's bounds are literals made from datetimes: read from a setting inside the WHERE clause they were
parsed again for every row of a sequential scan (three times the COPY's time), and from an InitPlan they
hid the bounds from the planner, which then walked an index for a whole-table export.
It has no ORDER BY either: rows come in storage order (time order, for an append-only trail), because
sorting them, or walking an index in order, cost the server a quarter to a third more than the COPY the
export is measured against.

SQLite: one deferred read transaction (WAL) serves the count, the tail and the rows; rows come from the
DBAPI cursor in batches and are typed by the declared schema, not inferred.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import adbc_driver_manager
import pyarrow as pa
from sqlalchemy import Connection, Table, func, inspect, select, text

from stratlogic.analytics._export_sources import Condition, Source, json_values, resolved, user_names
from stratlogic.db import Database, arrow
from stratlogic.errors import DatabaseError
from stratlogic.models import AuditLog, Base, User

#: Size of the Arrow batches the PostgreSQL driver returns (each becomes a Parquet row group).
BATCH_BYTES = 4 * 2**20
#: Rows per batch read from SQLite.
SQLITE_ROWS = 50_000
#: Batches decoded ahead of the one being written.
READ_AHEAD = 1
_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
#: No JIT (its compile time is wasted on a streaming plan), no parallel workers (the writer needs the core).
_SESSION = ("SET jit = off", "SET max_parallel_workers_per_gather = 0")


@dataclass
class Snapshot:
    """What one snapshot holds: the row count and the chain's tail (being read while the rows stream), and
    the rows as batches."""

    counted: Future[tuple[int, tuple[int, str] | None]]
    batches: Iterator[pa.RecordBatch]
    conditions: list[Condition]
    source: Source

    @property
    def count(self) -> int:
        """``COUNT(*)`` of the export's rows in this snapshot."""
        return self.counted.result()[0]

    @property
    def tail(self) -> tuple[int, str] | None:
        """The audit chain's last id and hash in this snapshot."""
        return self.counted.result()[1]


def _done(count: int, tail: tuple[int, str] | None) -> Future[tuple[int, tuple[int, str] | None]]:
    future: Future[tuple[int, tuple[int, str] | None]] = Future()
    future.set_result((count, tail))
    return future


@contextlib.contextmanager
def open_snapshot(db: Database, source: Source, since: datetime, until: datetime,
                  conditions: Sequence[Condition]) -> Iterator[Snapshot]:
    """Count and stream the rows of ``source`` in ``[since, until)`` matching ``conditions``, in one snapshot."""
    opener = _pg_snapshot if db.dialect == "postgresql" else _sqlite_snapshot
    with opener(db, source, since, until, conditions) as snapshot:
        yield snapshot


def _present(conn: Connection, source: Source) -> Source:
    """The source limited to the columns this database has (``target_domain`` arrived with migration 0008)."""
    have = {c["name"] for c in inspect(conn).get_columns(source.table)}
    return source.without(c.name for c in source.columns if c.name not in have)


def _user_ids(conn: Connection, conditions: Sequence[Condition]) -> dict[str, int]:
    names = sorted({n.lower() for n in user_names(conditions)})
    if not names:
        return {}
    rows = conn.execute(select(User.id, User.username).where(func.lower(User.username).in_(names)))
    return {str(name).lower(): int(user_id) for user_id, name in rows}


def _tail(conn: Connection) -> tuple[int, str] | None:
    row = conn.execute(select(AuditLog.id, AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)).first()
    return (int(row[0]), str(row[1])) if row else None


# --- PostgreSQL -------------------------------------------------------------------------------------------

def _pg_settings(conditions: Sequence[Condition]) -> dict[str, str]:
    return {f"stratlogic.export_f{i}": json_values(condition) for i, condition in enumerate(conditions)}


def _moment(value: datetime) -> str:
    """A window bound as a timestamptz literal: made by strftime from a datetime (digits and separators
    only, never text from the caller), so the planner sees the real bound and estimates the rows from it."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError("window bounds must be timezone-aware datetimes")
    return f"'{value.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%f}+00:00'::timestamptz"


def _pg_where(source: Source, since: datetime, until: datetime, conditions: Sequence[Condition]) -> str:
    """The WHERE clause: the window as literals, filter values read once from the transaction's settings
    (an InitPlan; names and columns are ours)."""
    t = source.time_column
    parts = [f"{t} >= {_moment(since)}", f"{t} < {_moment(until)}"]
    for i, condition in enumerate(conditions):
        cast = "::bigint" if condition.spec.kind in ("id", "user") else ""
        parts.append(f"{condition.spec.column} = ANY(ARRAY(SELECT jsonb_array_elements_text("
                     f"current_setting('stratlogic.export_f{i}')::jsonb){cast}))")
    return " AND ".join(parts)


def _pg_select(source: Source, where: str) -> str:
    columns = ", ".join(f"{c.name}::text AS {c.name}" if c.family == "json" else c.name for c in source.columns)
    return f"SELECT {columns} FROM {source.table} WHERE {where}"  # noqa: S608 (our names, _pg_where)


def _set_config_sql(names: Sequence[str]) -> str:
    return "SELECT " + ", ".join(f"set_config(:n{i}, :v{i}, true)" for i in range(len(names)))


@contextlib.contextmanager
def _pg_snapshot(db: Database, source: Source, since: datetime, until: datetime,
                 conditions: Sequence[Condition]) -> Iterator[Snapshot]:
    with db.engine.connect() as raw:
        conn = raw.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            for setting in _SESSION:  # the count runs beside the stream: no parallel workers to compete with it
                conn.execute(text(setting.replace("SET ", "SET LOCAL ", 1)))
            source = _present(conn, source)
            found = resolved(conditions, _user_ids(conn, conditions))
            settings, where = _pg_settings(found), _pg_where(source, since, until, found)
            if settings:
                binds = {f"n{i}": k for i, k in enumerate(settings)} | {
                    f"v{i}": v for i, v in enumerate(settings.values())}
                conn.execute(text(_set_config_sql(list(settings))), binds)
            snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            counting = f"SELECT count(*) FROM {source.table} WHERE {where}"  # noqa: S608 (our names, _pg_where)

            def count() -> tuple[int, tuple[int, str] | None]:
                return int(conn.execute(text(counting)).scalar_one()), _tail(conn)

            # The count runs on its own backend while the rows stream (this connection is used by nothing else
            # until the pool is shut down, which waits for it).
            with ThreadPoolExecutor(1, thread_name_prefix="export-count") as pool:
                batches = _adbc_batches(db, snapshot, settings, _pg_select(source, where), source)
                try:
                    yield Snapshot(pool.submit(count), batches, found, source)
                finally:
                    batches.close()  # type: ignore[attr-defined]


def _adopt(connection: adbc_driver_manager.AdbcConnection, snapshot: str, settings: Mapping[str, str]) -> None:
    """Begin a transaction on ``snapshot`` and set the filter values in it (bound, never pasted)."""
    if not _SNAPSHOT_ID.match(snapshot):  # SET TRANSACTION SNAPSHOT takes no parameter: check what we paste
        raise DatabaseError(f"unexpected snapshot id {snapshot!r} from pg_export_snapshot()")
    connection.set_autocommit(True)
    for setting in _SESSION:
        arrow.run(connection, setting)
    arrow.run(connection, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    arrow.run(connection, f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    names = list(settings)
    if not names:
        return
    sql = "SELECT " + ", ".join(f"set_config(${2 * i + 1}, ${2 * i + 2}, true)" for i in range(len(names)))
    values = [v for name in names for v in (name, settings[name])]
    arrow.run(connection, sql, pa.record_batch([pa.array([v]) for v in values],
                                               names=[f"p{i}" for i in range(len(values))]))


def _adbc_batches(db: Database, snapshot: str, settings: Mapping[str, str], sql: str,
                  source: Source) -> Iterator[pa.RecordBatch]:
    """Batches read ahead on a thread (decoding releases the GIL, so it overlaps the writing), typed as
    declared; the driver's own errors become one DatabaseError naming the rows being read."""
    batches = arrow.stream(db, sql, prepare=functools.partial(_adopt, snapshot=snapshot, settings=settings),
                           batch_bytes=BATCH_BYTES, read_ahead=READ_AHEAD, thread_name="export-reader")
    schema = source.schema
    with contextlib.closing(batches):
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (adbc_driver_manager.Error, OSError, pa.ArrowException) as exc:  # the stream's own errors
                raise DatabaseError(f"reading the {source.kind} rows failed: {_first_line(exc)}") from exc
            yield _typed(batch, schema)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _typed(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch with the declared types (and without the driver's per-field metadata)."""
    arrays = [batch.column(i).cast(field.type) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# --- SQLite -----------------------------------------------------------------------------------------------

def _sqlite_where(table: Table, source: Source, since: datetime, until: datetime,
                  conditions: Sequence[Condition]) -> list[Any]:
    t = table.c[source.time_column]
    return [t >= since, t < until, *(table.c[c.spec.column].in_(list(c.values)) for c in conditions)]


@contextlib.contextmanager
def _sqlite_snapshot(db: Database, source: Source, since: datetime, until: datetime,
                     conditions: Sequence[Condition]) -> Iterator[Snapshot]:
    with db.unit_of_work(readonly=True) as uow:
        conn = uow.connection
        source = _present(conn, source)
        table = Base.metadata.tables[source.table]
        found = resolved(conditions, _user_ids(conn, conditions))
        where = _sqlite_where(table, source, since, until, found)
        count = int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
        tail = _tail(conn)
        query = select(*(table.c[c.name] for c in source.columns)).where(*where)
        result = conn.execute(query)
        try:
            yield Snapshot(_done(count, tail), _sqlite_batches(result.cursor, source), found, source)
        finally:
            result.close()


def _sqlite_batches(cursor: Any, source: Source) -> Iterator[pa.RecordBatch]:
    """Raw DBAPI rows (no ORM processing) converted by Arrow in one call per batch, rows of tuples straight into
    a struct of the declared types (timestamps as their stored text first): a third of the time of
    transposing the rows in Python and building each column."""
    schema = source.schema
    raw = pa.struct([pa.field(f.name, pa.string() if c.family == "time" else f.type)
                     for c, f in zip(source.columns, schema, strict=True)])
    while rows := cursor.fetchmany(SQLITE_ROWS):
        batch = pa.RecordBatch.from_struct_array(pa.array(rows, type=raw))
        arrays = [_sqlite_time(array, field.type) if column.family == "time" else array
                  for array, column, field in zip(batch.columns, source.columns, schema, strict=True)]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _sqlite_time(values: pa.Array, arrow: pa.DataType) -> pa.Array:
    """Stored as UTC text ('2026-12-05 23:56:17.063364'), read as UTC."""
    return values.cast(pa.timestamp("us")).cast(arrow)


__all__ = ["Snapshot", "open_snapshot"]
