"""Whole tables, for backup and restore: what each table holds, its rows in one snapshot, bulk loads into an
empty schema, and the checks a restore target must pass. All the SQL backup and restore run lives here.

A backup reads every table in one snapshot, in primary-key order (so a content hash over the rows does not
depend on the engine's storage order): PostgreSQL a ``REPEATABLE READ READ ONLY`` transaction whose snapshot
is exported (``pg_export_snapshot()``) for an ADBC reader to adopt, as the export does; SQLite one deferred
read transaction (WAL: writers go on). A restore loads through the bulk writer (binary ``COPY`` on
PostgreSQL, ``executemany`` on SQLite) with the secondary indexes and keys rebuilt after the load.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
from sqlalchemy import JSON, BigInteger, Boolean, Connection, Integer, String, Table, func, inspect, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from stratlogic.db import Database, UnitOfWork, arrow
from stratlogic.errors import DatabaseError
from stratlogic.models import AuditLog, Base, SystemConfig, UTCDateTime
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories.bulk import BulkWriter, Model, deferred_indexes
from stratlogic.repositories.trail import AuditTrail

Kind = Literal["int32", "int64", "bool", "text", "time", "json"]
UTC_US = pa.timestamp("us", tz="UTC")
#: Tables that hold nothing outside one transaction (the prune window): never backed up.
TRANSIENT = frozenset({"audit_prune_window"})
#: Where the schema's revision is kept (Alembic's table).
VERSION_TABLE = "alembic_version"
INSTALLATION_KEY = "system.installation_id"


@dataclass(frozen=True)
class ColumnSpec:
    """One column as a backup stores it: its name, its kind, and its VARCHAR limit (None: unlimited)."""

    name: str
    kind: Kind
    length: int | None = None

    @property
    def arrow(self) -> pa.DataType:
        """The Arrow type the column is stored with, the same on both engines."""
        return {"int32": pa.int32(), "int64": pa.int64(), "bool": pa.bool_(), "text": pa.string(),
                "time": UTC_US, "json": pa.string()}[self.kind]


@dataclass(frozen=True)
class TableSpec:
    """One table: its name, its primary key (the order rows are read in), and its columns."""

    name: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]

    @property
    def schema(self) -> pa.Schema:
        """The table's Arrow schema."""
        return pa.schema([pa.field(c.name, c.arrow, nullable=True) for c in self.columns])

    @property
    def model(self) -> Model:
        """The mapped class of the table (the bulk writer takes models)."""
        for mapper in Base.registry.mappers:
            if mapper.local_table is Base.metadata.tables[self.name]:
                return mapper.class_
        raise LookupError(self.name)


def _kind(column_type: Any) -> tuple[Kind, int | None]:
    if isinstance(column_type, UTCDateTime):
        return "time", None
    if isinstance(column_type, JSON):
        return "json", None
    if isinstance(column_type, Boolean):
        return "bool", None
    if isinstance(column_type, Integer):
        return ("int64" if isinstance(column_type, BigInteger) else "int32"), None
    if isinstance(column_type, String):
        return "text", column_type.length
    raise TypeError(f"no backup kind for column type {column_type!r}")


def spec_of(table: Table, present: set[str] | None = None) -> TableSpec:
    """The spec of a model's table, limited to the columns ``present`` in a database at an older revision."""
    columns = []
    for column in table.columns:
        if present is not None and column.name not in present:
            continue
        kind, length = _kind(column.type)
        columns.append(ColumnSpec(column.name, kind, length))
    return TableSpec(table.name, tuple(c.name for c in table.primary_key.columns), tuple(columns))


def backed_up() -> list[Table]:
    """Every table a backup holds, parents before children (the order a restore loads them in)."""
    return [t for t in Base.metadata.sorted_tables if t.name not in TRANSIENT]


def specs(conn: Connection) -> list[TableSpec]:
    """The specs of the tables this database has, with the columns it has (an older revision has fewer)."""
    inspector = inspect(conn)
    have = set(inspector.get_table_names())
    found = []
    for table in backed_up():
        if table.name in have:
            found.append(spec_of(table, {c["name"] for c in inspector.get_columns(table.name)}))
    return found


def _quoted(name: str) -> str:
    return f'"{name}"'


def select_sql(spec: TableSpec, dialect: str, *, ordered: bool = True) -> str:
    """The whole table in primary-key order (text keys in byte order on both engines), as the reader reads it;
    ``ordered=False``: in storage order (a sequential scan, for a table just loaded in key order).

    Names come from the models, never from input. PostgreSQL sends JSON as its text (parsed for the hash).
    """
    columns = ", ".join(f"{_quoted(c.name)}::text AS {_quoted(c.name)}" if c.kind == "json" and dialect == "postgresql"
                        else _quoted(c.name) for c in spec.columns)
    collate = ' COLLATE "C"' if dialect == "postgresql" else ""
    order = ", ".join(f"{_quoted(k)}{collate if _is_text(spec, k) else ''}" for k in spec.key)
    query = f"SELECT {columns} FROM {_quoted(spec.name)}"  # noqa: S608 (model names only)
    return f"{query} ORDER BY {order}" if ordered else query


def _is_text(spec: TableSpec, name: str) -> bool:
    return any(c.name == name and c.kind == "text" for c in spec.columns)


# --- reading one snapshot ----------------------------------------------------------------------------------

@dataclass
class SnapshotFacts:
    """What a backup records about its snapshot besides the rows."""

    specs: list[TableSpec]
    counts: dict[str, int]
    revision: str | None
    tail: tuple[int, str] | None
    installation_id: str | None


def _facts(conn: Connection) -> SnapshotFacts:
    found = specs(conn)
    counts = {s.name: int(conn.execute(text(f"SELECT count(*) FROM {_quoted(s.name)}")).scalar_one())  # noqa: S608
              for s in found}
    tail_row = conn.execute(select(AuditLog.id, AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)).first()
    identity = conn.execute(select(SystemConfig.value).where(SystemConfig.key == INSTALLATION_KEY)).scalar()
    return SnapshotFacts(found, counts, revision_of(conn),
                         (int(tail_row[0]), str(tail_row[1])) if tail_row else None,
                         str(identity) if identity else None)


def revision_of(conn: Connection) -> str | None:
    """The schema revision Alembic recorded, or None for a database it never migrated."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    found = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()  # noqa: S608
    return str(found[0]) if len(found) == 1 else None


@contextlib.contextmanager
def pg_snapshot(db: Database) -> Iterator[tuple[str, SnapshotFacts]]:
    """A REPEATABLE READ READ ONLY transaction: its exported snapshot id (for ADBC readers) and its facts.

    The transaction stays open, holding the snapshot, until the block ends.
    """
    with db.engine.connect() as raw:
        conn = raw.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            conn.execute(text("SET LOCAL statement_timeout = 0"))  # a count of a big table may be long
            snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            yield snapshot, _facts(conn)


@contextlib.contextmanager
def sqlite_snapshot(db: Database) -> Iterator[tuple[UnitOfWork, SnapshotFacts]]:
    """One deferred read transaction (WAL: writers go on) and its facts."""
    with db.unit_of_work(readonly=True) as uow:
        yield uow, _facts(uow.connection)


def sqlite_batches(uow: UnitOfWork, spec: TableSpec) -> Iterator[pa.RecordBatch]:
    """The whole table in key order as batches of the table's schema, inside the unit's read transaction.

    Rows of tuples go straight into an Arrow struct (one call per batch); SQLite's stored forms are typed
    after: UTC text to timestamps, 0/1 to booleans.
    """
    raw = pa.struct([pa.field(c.name, _SQLITE_RAW.get(c.kind, c.arrow)) for c in spec.columns])
    cursor = uow.connection.exec_driver_sql(select_sql(spec, "sqlite")).cursor
    try:
        while rows := cursor.fetchmany(SQLITE_ROWS):
            batch = pa.RecordBatch.from_struct_array(pa.array(rows, type=raw))
            yield pa.RecordBatch.from_arrays([_typed(c, a) for c, a in zip(spec.columns, batch.columns, strict=True)],
                                             schema=spec.schema)
    finally:
        cursor.close()


#: Rows per batch read from SQLite.
SQLITE_ROWS = 50_000
_SQLITE_RAW = {"time": pa.string(), "bool": pa.int64(), "int32": pa.int64()}
_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
#: Size of the Arrow batches the PostgreSQL driver returns (each becomes a Parquet row group).
BATCH_BYTES = 4 * 2**20


def _typed(column: ColumnSpec, array: pa.Array) -> pa.Array:
    if column.kind == "time" and array.type == pa.string():
        return array.cast(pa.timestamp("us")).cast(UTC_US)  # stored as naive UTC text
    return array.cast(column.arrow)


def pg_batches(db: Database, snapshot: str, spec: TableSpec, *, storage_order: bool = False
               ) -> Iterator[pa.RecordBatch]:
    """The whole table in key order, read by an ADBC connection that adopts ``snapshot`` (binary COPY, decoded
    on a reader thread), as batches of the table's schema.

    ``storage_order``: a plain sequential scan from the table's first page (``synchronize_seqscans`` off), no
    index walked: a table just loaded in key order comes back in key order, which the caller checks.
    """
    if not _SNAPSHOT_ID.match(snapshot):  # SET TRANSACTION SNAPSHOT takes no parameter: check what is pasted
        raise DatabaseError(f"unexpected snapshot id {snapshot!r} from pg_export_snapshot()")

    def adopt(connection: Any) -> None:
        connection.set_autocommit(True)
        arrow.run(connection, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        arrow.run(connection, f"SET TRANSACTION SNAPSHOT '{snapshot}'")

    session = (*_PG_SESSION, "SET synchronize_seqscans = off") if storage_order else _PG_SESSION
    batches = arrow.stream(db, select_sql(spec, "postgresql", ordered=not storage_order), session=session,
                           prepare=adopt,
                           batch_bytes=BATCH_BYTES, read_ahead=1, thread_name=f"backup-{spec.name}")
    try:
        for batch in batches:
            yield pa.RecordBatch.from_arrays([_typed(c, a) for c, a in zip(spec.columns, batch.columns, strict=True)],
                                             schema=spec.schema)
    finally:
        batches.close()


#: No JIT (its compile time is wasted on a streaming plan), no parallel workers (the writer needs the core).
_PG_SESSION = ("SET jit = off", "SET max_parallel_workers_per_gather = 0")


# --- restore targets ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TargetState:
    """What a restore target holds: its revision, its tables, and how many rows each backed-up table has."""

    revision: str | None
    tables: frozenset[str]
    rows: dict[str, int]

    @property
    def empty(self) -> bool:
        """No row in any table a backup holds (an unmigrated or freshly migrated database)."""
        return not any(self.rows.values())


def target_state(db: Database) -> TargetState:
    """Inspect a target without changing it."""
    with db.engine.connect() as conn:
        names = frozenset(inspect(conn).get_table_names())
        rows = {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in backed_up() if t.name in names}
        return TargetState(revision_of(conn), names, rows)


#: Functions the migrations create on PostgreSQL (dropped with the schema's tables by ``drop_schema``).
_PG_DROP = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT format('DROP TABLE IF EXISTS %I.%I CASCADE', schemaname, tablename) AS s
           FROM pg_tables WHERE schemaname = current_schema() LOOP
    EXECUTE r.s;
  END LOOP;
  FOR r IN SELECT format('DROP FUNCTION IF EXISTS %s CASCADE', p.oid::regprocedure) AS s
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = current_schema() AND p.prokind = 'f'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE r.s;
  END LOOP;
END $$
"""


def drop_schema(db: Database) -> None:
    """Drop every table and function of the database's schema (PostgreSQL), in one transaction.

    The audit trail's triggers refuse DELETE and TRUNCATE, so replacing a database's rows means this.
    Functions belonging to extensions stay. SQLite targets are replaced as a whole file instead.
    """
    with db.engine.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        conn.execute(text(_PG_DROP))


@dataclass
class Loader:
    """Rows of each table into an empty schema, in one transaction, through the bulk writer."""

    uow: UnitOfWork
    writer: BulkWriter

    def write(self, spec: TableSpec, rows: Sequence[tuple[Any, ...]]) -> None:
        """Queue ``rows`` (wire form, ``spec`` column order) for the table."""
        self.writer.write(spec.model, [c.name for c in spec.columns], rows)

    def write_csv(self, spec: TableSpec, data: bytes, rows: int) -> None:
        """Queue rows in ``COPY`` CSV form (PostgreSQL: no per-row work in Python)."""
        self.writer.write_csv(spec.model, [c.name for c in spec.columns], data, rows)

    def counts(self, names: Sequence[str]) -> dict[str, int]:
        """``COUNT(*)`` of each table, inside the loading transaction (after ``close``)."""
        conn = self.uow.connection
        return {n: int(conn.execute(text(f"SELECT count(*) FROM {_quoted(n)}")).scalar_one())  # noqa: S608
                for n in names if n in Base.metadata.tables}


@contextlib.contextmanager
def loading(db: Database, tables: Sequence[TableSpec]) -> Iterator[Loader]:
    """One transaction that loads ``tables``: the write lock held, indexes and keys rebuilt after the load,
    identity sequences moved past the ids loaded. Any failure rolls the whole load back; a row the database
    refuses (a duplicate key, a broken rule) is one DatabaseError quoting the database's reason."""
    models = [t.model for t in tables]
    try:
        with db.unit_of_work() as uow:
            AuditTrail(uow).lock()
            # every index and key built once after the load (a sort each), as pg_restore does: primary keys
            # first (the inner block ends first), then the foreign keys that need them
            deferred = deferred_indexes(uow, models) if db.dialect == "postgresql" else contextlib.nullcontext()
            keys = _without_primary_keys(uow, models) if db.dialect == "postgresql" else contextlib.nullcontext()
            with deferred, keys, BulkWriter(uow) as writer:
                loader = Loader(uow, writer)
                yield loader
                writer.close()  # every row in before the indexes are rebuilt
            _reset_sequences(uow, tables)
    except (SQLAlchemyError, DBAPIError) as exc:
        raise DatabaseError(f"the database refused the backup's rows: {_first_line(exc)}; the load was rolled "
                            "back") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("psycopg", "sqlite3")):  # raised by the COPY thread, untranslated
            raise DatabaseError(f"the database refused the backup's rows: {_first_line(exc)}; the load was "
                                "rolled back") from exc
        raise


#: The primary keys of the tables, as statements dropping and recreating them (names quoted by ``format``).
_PRIMARY_KEYS = text("""
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
FROM pg_constraint WHERE contype = 'p' AND conrelid = ANY(CAST(:tables AS regclass[]))
ORDER BY 1
""")


@contextlib.contextmanager
def _without_primary_keys(uow: UnitOfWork, models: Sequence[Model]) -> Iterator[None]:
    """Load with no primary key to maintain, then build each once (inside ``deferred_indexes``, which has
    already dropped the foreign keys that refer to them). A duplicate key still fails the load."""
    names = [m.__table__.name for m in models]  # type: ignore[attr-defined]
    statements = uow.session.execute(_PRIMARY_KEYS, {"tables": names}).all()
    for drop, _create in statements:
        uow.session.execute(text(drop))
    yield
    for _drop, create in statements:
        uow.session.execute(text(create))


def _reset_sequences(uow: UnitOfWork, tables: Sequence[TableSpec]) -> None:
    """Move each identity sequence past the highest id loaded (PostgreSQL; SQLite's rowid needs nothing).

    Unlike the seed's ``BulkWriter.finish`` no ANALYZE: as after ``pg_restore``, autovacuum gathers the
    statistics (or run ``ANALYZE``).
    """
    if uow.dialect != "postgresql":
        return
    for spec in tables:
        table = Base.metadata.tables[spec.name]
        if spec.key == ("id",) and table.c.id.identity is not None:
            sequence = func.pg_get_serial_sequence(spec.name, "id")
            highest = select(func.max(table.c.id)).scalar_subquery()
            # an empty table: is_called false, so the next id is 1
            uow.connection.execute(select(func.setval(sequence, func.coalesce(highest, 1), highest.is_not(None))))


def _first_line(exc: BaseException) -> str:
    """The database's reason in one line, with its detail when it gives one (``Key (id)=(1) is duplicated.``)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    detail = getattr(getattr(cause, "diag", None), "message_detail", None)
    first = lines[0] if lines else type(exc).__name__
    return f"{first} ({detail})" if detail and detail not in first else first


def record_restore(db: Database, details: dict[str, Any], *, new_identity: str | None) -> None:
    """After a restore: a new installation id when asked (audited), then the ``backup.restored`` row,
    chained to the restored tail, in one transaction."""
    with db.unit_of_work() as uow:
        trail = AuditTrail(uow)
        trail.lock()
        if new_identity is not None:
            row = uow.session.get(SystemConfig, INSTALLATION_KEY)
            old = row.value if row is not None else None
            if row is None:
                uow.session.add(SystemConfig(key=INSTALLATION_KEY, value=new_identity, is_secret=False,
                                             description="Which database this is (set once, at first need); "
                                                         "artifact stores record it."))
            else:
                row.value = new_identity
            uow.session.flush()
            trail.record(AuditAction.CONFIG_SET, "config", INSTALLATION_KEY, {"old": old, "new": new_identity})
        trail.record(AuditAction.BACKUP_RESTORED, "database", None, details)


def record_backup(db: Database, action: AuditAction, details: dict[str, Any]) -> None:
    """Append one backup row to the trail in a transaction of its own (committed when this returns)."""
    with db.unit_of_work() as uow:
        AuditTrail(uow).record(action, "database", None, details)


__all__ = ["INSTALLATION_KEY", "TRANSIENT", "UTC_US", "ColumnSpec", "Kind", "Loader", "SnapshotFacts", "TableSpec",
           "TargetState", "backed_up", "drop_schema", "loading", "pg_batches", "pg_snapshot", "record_backup",
           "record_restore", "revision_of", "select_sql", "spec_of", "specs", "sqlite_batches", "sqlite_snapshot",
           "target_state"]
