"""Engines for the two supported backends, tuned once here so no caller has to remember the details.

SQLite: WAL, foreign keys on, a busy timeout, and SQLAlchemy (not the sqlite3 module) emitting BEGIN, so
savepoints work and writers take the write lock up front (``BEGIN IMMEDIATE``) instead of failing with
"database is locked" when two deferred transactions both try to upgrade. PostgreSQL: psycopg 3, a
pool that checks each connection before lending it out, a connect timeout (a silent server must not
hang us) and a statement timeout.
"""

from __future__ import annotations

import select
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection, ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

from stratlogic.config import Settings

#: Execution option naming the SQLite BEGIN mode for a connection: "IMMEDIATE" (default) or "DEFERRED".
SQLITE_BEGIN = "sqlite_begin"
_BEGIN_MODES = {"IMMEDIATE", "DEFERRED", "EXCLUSIVE"}


def make_engine(settings: Settings, *, server_settings: Mapping[str, str] | None = None,
                **overrides: Any) -> Engine:
    """Create the engine the settings describe.

    Args:
        settings: where and how to connect.
        server_settings: PostgreSQL settings sent at connection start-up (e.g. ``lock_timeout``), so
            they hold before any transaction begins; ignored on SQLite.
        overrides: passed to ``create_engine`` (tests, tools).
    """
    if settings.backend == "sqlite":
        return _sqlite_engine(settings, **overrides)
    return _postgres_engine(settings, dict(server_settings or {}), **overrides)


def _sqlite_engine(settings: Settings, **overrides: Any) -> Engine:
    database = settings.url.database
    assert database is not None  # guaranteed by Settings validation
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"connect_args": {"timeout": settings.sqlite_busy_timeout_ms / 1000},
                               "hide_parameters": True}
    options.update(overrides)
    engine = create_engine(settings.url, **options)
    busy_ms = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        # SQLite's lower()/upper() fold only A-Z; Python's fold all of Unicode, as PostgreSQL's do. Case-
        # insensitive search (ILIKE is lower() LIKE lower() here) and the lower-case CHECKs rely on it.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
        dbapi_connection.create_function("upper", 1, _upper, deterministic=True)
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", f"busy_timeout={int(busy_ms)}",
                       "synchronous=NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = str(connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")).upper()
        if mode not in _BEGIN_MODES:
            raise ValueError(f"{SQLITE_BEGIN}={mode!r}; allowed: {', '.join(sorted(_BEGIN_MODES))}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _postgres_engine(settings: Settings, server_settings: dict[str, str], **overrides: Any) -> Engine:
    # READ COMMITTED whatever the server's default: a writer that waited for the write lock must read the
    # audit tail in a snapshot taken after the lock, which a REPEATABLE READ transaction does not take.
    server_settings = {"statement_timeout": str(settings.statement_timeout_ms),
                       "default_transaction_isolation": "read committed", **server_settings}
    server_options = " ".join(f"-c {name}={_escaped(value)}" for name, value in server_settings.items())
    options: dict[str, Any] = {
        "hide_parameters": True,  # bound values (password hashes, secrets) never reach error messages
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        "pool_recycle": settings.pool_recycle,
        "connect_args": {
            "connect_timeout": settings.connect_timeout,
            "options": server_options,
            "application_name": "stratlogic",
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": 30_000,  # ms: data the server never acknowledges (a vanished host) fails
        },
    }
    if "poolclass" in overrides:  # NullPool and friends take no sizing arguments
        for key in ("pool_size", "max_overflow", "pool_timeout"):
            options.pop(key)
    options.update(overrides)
    engine = create_engine(settings.url, **options)
    if not options.get("pool_pre_ping"):
        _check_on_checkout(engine, settings.pool_ping_after)
    _typed_when_lost(engine)
    return engine


def _typed_when_lost(engine: Engine) -> None:
    """Raise ``DatabaseUnavailableError`` for a connection that dies in use, wherever it is used.

    ``db.errors.translated`` does this around units of work; a connection used outside one (an export's
    snapshot, a tool's ``engine.connect()``) raised SQLAlchemy's own error instead, and so did the rollback
    that follows when leaving its block. SQLAlchemy still invalidates the connection (the pool drops it);
    a connection that could not be made at all is left to ``translated`` (nothing was lost), as is a ping.
    """
    from stratlogic.db.errors import LOST, describe_unavailable

    @event.listens_for(engine, "handle_error")
    def _lost(context: ExceptionContext) -> None:
        if context.is_disconnect and context.connection is not None and not context.is_pre_ping:
            error = describe_unavailable(engine, context.sqlalchemy_exception or context.original_exception)
            setattr(error, LOST, True)
            raise error


def _escaped(value: str) -> str:
    """A value for libpq's ``options``, where spaces separate arguments unless backslash-escaped."""
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def _check_on_checkout(engine: Engine, ping_after: float) -> None:
    """Make sure a pooled connection is alive before lending it out, without a round trip when it was in
    use a moment ago.

    SQLAlchemy's ``pool_pre_ping`` sends a query on every checkout: for a worker claiming jobs in a loop
    that is a second round trip per claim. Here a connection idle for ``ping_after`` seconds or more is
    pinged (HikariCP's alive-bypass window); a younger one is only polled for anything its server sent
    while it sat idle: a killed backend's FATAL message or its closed socket. A dead connection raises
    ``DisconnectionError``, on which the pool discards it and checks out another (SQLAlchemy's documented
    pessimistic disconnect handling).
    """
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: object) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None:  # connected just now
            return
        if time.monotonic() - idle_since < ping_after and not _has_input(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):  # the pool replaces it, tries again
                raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc
            raise  # anything else is reported, as pool_pre_ping does


_IDLE_SINCE = "stratlogic_idle_since"


def _has_input(dbapi_connection: DBAPIConnection) -> bool:
    """Whether an idle connection's socket is readable (or closed): its server said something, or hung up."""
    try:
        descriptor = dbapi_connection.fileno()
    except Exception:  # closed on our side
        return True
    if not hasattr(select, "poll"):  # Windows: no cheap check, so ping
        return True
    poller = select.poll()
    poller.register(descriptor, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


__all__ = ["SQLITE_BEGIN", "make_engine"]
