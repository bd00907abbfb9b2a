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
#: session.info keys: the (sub)transaction the lock belongs to, and the savepoint that last passed it to its
#: parent. A lock taken after a savepoint is released when the server rolls back to that savepoint, so the
#: note must follow it: a write after that rollback takes the lock again instead of trusting a stale note.
_HELD = "stratlogic_write_lock_held"
_PASSED_UP = "stratlogic_write_lock_passed_up"


def take(session: Session) -> None:
    """Take the write lock for the rest of this transaction (once; a no-op off PostgreSQL)."""
    if session.info.get(_HELD) is not None:
        return
    take_on(session.connection())
    held(session)


def held(session: Session) -> None:
    """Note that the current (sub)transaction holds the lock (``take``, or a statement that took it itself,
    as the claim statement does)."""
    session.info[_HELD] = session.get_nested_transaction() or session.get_transaction()


def take_on(connection: Connection) -> None:
    """The same lock for Core code writing on a bare connection (bulk loads, COPY)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})


def install(factory: sessionmaker[Session]) -> None:
    """Make every session from ``factory`` take the lock before its first write."""
    event.listen(factory, "before_flush", _before_flush)
    event.listen(factory, "do_orm_execute", _before_execute)
    event.listen(factory, "after_transaction_end", _after_transaction_end)
    event.listen(factory, "after_soft_rollback", _after_soft_rollback)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    take(session)


def _before_execute(state: ORMExecuteState) -> None:
    writes = state.is_insert or state.is_update or state.is_delete
    if writes or (state.is_select and getattr(state.statement, "_for_update_arg", None) is not None):
        take(state.session)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the real transaction ended (not a savepoint): the lock is released
        session.info.pop(_HELD, None)
        session.info.pop(_PASSED_UP, None)
    elif session.info.get(_HELD) is transaction:  # a savepoint released: the lock is now its parent's...
        session.info[_HELD], session.info[_PASSED_UP] = transaction.parent, transaction


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    if session.info.get(_PASSED_UP) is previous:  # ...unless it was rolled back, which released the lock
        session.info.pop(_HELD, None)
        session.info.pop(_PASSED_UP, None)


__all__ = ["WRITE_LOCK", "held", "install", "take", "take_on"]
