"""Translate driver and pool errors into the package's own, once, at the database boundary."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import Pool, QueuePool

from stratlogic.config import display_url
from stratlogic.errors import (
    DatabaseBusyError,
    DatabaseError,
    DatabaseUnavailableError,
    NotMigratedError,
    PoolExhaustedError,
)

_BUSY = {
    "database is locked": "the SQLite database stayed locked by another writer longer than the busy timeout "
                          "(STRATLOGIC_SQLITE_BUSY_TIMEOUT_MS)",
    "lock timeout": "a row or table lock was held by another transaction longer than lock_timeout",
    "statement timeout": "the statement ran longer than STRATLOGIC_STATEMENT_TIMEOUT_MS and was cancelled",
}
NOT_MIGRATED = "the database is not migrated (or not a StratLogic database): run `stratlogic db upgrade`"
#: Checkouts that gave up waiting for a pooled connection, per pool (``stratlogic health`` reports them).
_POOL_TIMEOUTS: weakref.WeakKeyDictionary[Pool, int] = weakref.WeakKeyDictionary()
_POOL_TIMEOUTS_LOCK = threading.Lock()


def pool_timeouts(engine: Engine) -> int:
    """How many checkouts of the engine's current pool timed out so far (a disposed engine's new pool: 0)."""
    with _POOL_TIMEOUTS_LOCK:
        return _POOL_TIMEOUTS.get(engine.pool, 0)


def _count_timeout(pool: Pool) -> None:
    with _POOL_TIMEOUTS_LOCK:
        _POOL_TIMEOUTS[pool] = _POOL_TIMEOUTS.get(pool, 0) + 1


#: Set on a DatabaseUnavailableError made for a connection that was open and died (``lost_connection``).
LOST = "stratlogic_connection_lost"


def lost_connection(exc: BaseException) -> bool:
    """Whether an error is a connection that was open and died (not one that could not be made)."""
    if getattr(exc, LOST, False):
        return True
    cause = exc.__cause__
    return isinstance(cause, sa_exc.DBAPIError) and bool(cause.connection_invalidated)


def describe_unavailable(engine: Engine, exc: BaseException) -> DatabaseUnavailableError:
    """Build the 'cannot reach' error for an engine, naming its (password-masked) URL and the cause."""
    cause = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
    reason = cause[0] if cause else type(exc).__name__
    url = display_url(engine.url)
    return DatabaseUnavailableError(f"cannot reach the database at {url}: {reason}")


@contextmanager
def translated(engine: Engine) -> Iterator[None]:
    """Re-raise connection-level failures as DatabaseUnavailableError / PoolExhaustedError, and a missing
    table (an unmigrated database) as NotMigratedError."""
    try:
        yield
    except sa_exc.TimeoutError as exc:
        pool = engine.pool
        _count_timeout(pool)
        if isinstance(pool, QueuePool):
            raise PoolExhaustedError(pool.size(), pool._max_overflow, pool._timeout) from exc
        raise DatabaseError(f"timed out waiting for a database connection: {exc}") from exc
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.ProgrammingError) as exc:
        _raise_known(engine, exc, lost=exc.connection_invalidated)
        raise


@contextmanager
def translated_driver(engine: Engine, connection: psycopg.Connection[Any]) -> Iterator[None]:
    """``translated`` for code on a bare psycopg connection (a hot path that bypasses SQLAlchemy)."""
    try:
        yield
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable) as exc:
        _raise_known(engine, exc, lost=connection.closed)
        raise


def _raise_known(engine: Engine, exc: BaseException, *, lost: bool) -> None:
    """Raise the package's error for a lost connection, a missing table or a busy database; return for
    anything else."""
    if lost or _is_connection_error(exc):
        raise describe_unavailable(engine, exc) from exc
    if _is_missing_table(exc):
        raise NotMigratedError(NOT_MIGRATED) from exc
    text = str(getattr(exc, "orig", exc)).lower()
    busy = next((why for marker, why in _BUSY.items() if marker in text), None)
    if busy:
        raise DatabaseBusyError(f"{busy}; nothing was changed, try again") from exc


def _is_missing_table(exc: BaseException) -> bool:
    """PostgreSQL's undefined_table, or SQLite's "no such table" (it has no error codes to tell by)."""
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, psycopg.errors.UndefinedTable) or str(orig).lower().startswith("no such table")


def _is_connection_error(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    markers = ("connection refused", "could not connect", "timeout expired", "connection timeout",
               "server closed the connection", "terminating connection", "connection is closed",
               "connection failed", "unable to open database", "consuming input failed",
               "no route to host", "name or service not known")
    return any(marker in text for marker in markers)


__all__ = ["LOST", "NOT_MIGRATED", "describe_unavailable", "lost_connection", "pool_timeouts", "translated",
           "translated_driver"]
