"""One writer at a time on PostgreSQL, taken before a transaction's first write.

Every change is audited in its own transaction, and the audit chain is linear, so appends must be
serial. Taking that lock only at append time deadlocks: a transaction holding the lock waits for a row
another transaction has locked, while that one waits for the lock (seen with concurrent workers, where a
``SKIP LOCKED`` scan keeps a lock on a row whose re-check failed). So the lock is taken *before* a
transaction locks any row: on its first flush, its first INSERT/UPDATE/DELETE, or its first
``SELECT … FOR UPDATE``. Writers then queue on one lock and never on each other's rows, as on SQLite
where ``BEGIN IMMEDIATE`` already does the same. Read-only units never take it. The claim statement
takes it in SQL (``stratlogic_write_lock()``, migration 0006) and says so with ``held``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker

#: pg_advisory_xact_lock key ("STRATAUD" as a 64-bit integer), held until the transaction ends.
WRITE_LOCK = 0x5354524154415544
_HELD = "stratlogic_write_lock_held"


def take(session: Session) -> None:
    """Take the write lock for the rest of this transaction (once; a no-op off PostgreSQL)."""
    if session.info.get(_HELD):
        return
    take_on(session.connection())
    session.info[_HELD] = True


def held(session: Session) -> None:
    """Note that a statement of this transaction took the lock itself (the claim statement does)."""
    session.info[_HELD] = True


def take_on(connection: Connection) -> None:
    """The same lock for Core code writing on a bare connection (bulk loads, COPY)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})


def install(factory: sessionmaker[Session]) -> None:
    """Make every session from ``factory`` take the lock before its first write."""
    event.listen(factory, "before_flush", _before_flush)
    event.listen(factory, "do_orm_execute", _before_execute)
    event.listen(factory, "after_transaction_end", _after_transaction_end)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    take(session)


def _before_execute(state: ORMExecuteState) -> None:
    writes = state.is_insert or state.is_update or state.is_delete
    if writes or (state.is_select and getattr(state.statement, "_for_update_arg", None) is not None):
        take(state.session)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the real transaction ended (not a savepoint): the lock is released
        session.info.pop(_HELD, None)


__all__ = ["WRITE_LOCK", "held", "install", "take", "take_on"]
