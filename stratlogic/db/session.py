"""The database handle, its session factory, and the unit of work.

A unit of work is one transaction: it commits when the block ends normally and rolls back on any
exception. A unit opened inside another (in the same thread or task) becomes a savepoint of the outer
one, so a service can call another service without either knowing whether it is the outermost.

A connection that died while idle in the pool is replaced at checkout (``engine._check_on_checkout``). One
that dies while a unit uses it raises ``DatabaseUnavailableError`` and the transaction is gone: nothing it
wrote was committed. ``Database.read(work)`` runs a read once more on a fresh connection when that happens
(see there why only then); ``unit_of_work`` cannot, because its caller's block has already run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from stratlogic.config import Settings, get_settings
from stratlogic.db.engine import SQLITE_BEGIN, make_engine
from stratlogic.db.errors import lost_connection, translated
from stratlogic.db.writelock import install as install_write_lock
from stratlogic.errors import DatabaseUnavailableError

T = TypeVar("T")
_log = logging.getLogger(__name__)
_current: ContextVar[UnitOfWork | None] = ContextVar("stratlogic_unit_of_work", default=None)


@dataclass
class UnitOfWork:
    """One transaction and its session; repositories hang off it as later issues add them."""

    session: Session
    database: Database
    readonly: bool = False

    @property
    def connection(self) -> Connection:
        """The connection this unit's transaction runs on (for bulk paths and raw SQL helpers)."""
        return self.session.connection()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.database.engine.dialect.name


@dataclass
class Database:
    """An engine plus its session factory: the one object every service is handed."""

    engine: Engine
    settings: Settings = field(default_factory=get_settings)
    #: Process-local notes for hot paths: config values with the time they were read (ConfigRepository),
    #: when expired leases were last recovered (JobRepository.recovery_due).
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        # Same pool and events; on SQLite its transactions begin DEFERRED so long reads never hold the lock.
        reader = self.engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
        self.readonly_session_factory = sessionmaker(reader, expire_on_commit=False)
        # Writers serialise before their first row lock; a read-only unit that writes after all (or holds a
        # nested writing unit) must too, or its audit rows would append to the chain without the lock.
        install_write_lock(self.session_factory)
        install_write_lock(self.readonly_session_factory)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Database:
        """Build the engine the settings describe (the embedded SQLite default when nothing is set)."""
        settings = settings or get_settings()
        return cls(make_engine(settings), settings)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def in_unit_of_work(self) -> bool:
        """Whether a unit of work of this database is open in this context (a new one would nest in it)."""
        outer = _current.get()
        return outer is not None and outer.database is self

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[UnitOfWork]:
        """Open a transaction (or a savepoint inside the current one) that commits on success.

        Args:
            readonly: on SQLite, begin a deferred transaction so long reads never hold the write lock.
        """
        outer = _current.get()
        if outer is not None and outer.database is self:
            with translated(self.engine), outer.session.begin_nested():
                yield outer
            return
        factory = self.readonly_session_factory if readonly else self.session_factory
        with translated(self.engine), factory() as session:
            unit = UnitOfWork(session, self, readonly)
            token = _current.set(unit)
            try:
                with session.begin():
                    yield unit
            finally:
                _current.reset(token)

    def read(self, work: Callable[[UnitOfWork], T], *, retries: int = 1) -> T:
        """Run ``work(uow)`` in a read-only unit of work and return its result; when the connection is lost
        while ``work`` runs (a killed backend, a restarted server), run it once more on a fresh connection.

        Safe because nothing reached the caller yet: the result is returned only after the unit ended, and
        a lost connection's transaction never committed, so the second run starts from nothing. Therefore
        ``work`` must only read, have no effect outside the database, and return a complete result (a
        list, a frame), never a lazy iterator over the unit's rows. Not retried: a server that cannot be
        reached at all (the error is the same twice, and a silent server would double the wait); a
        connection lost while committing (the read was complete, but ``work`` may have written); a unit
        nested in a caller's (the caller's transaction is gone too: the caller decides).
        """
        if self.in_unit_of_work():
            with self.unit_of_work(readonly=True) as uow:
                return work(uow)
        for attempt in range(retries + 1):
            ran = False
            try:
                with self.unit_of_work(readonly=True) as uow:
                    result = work(uow)
                    ran = True
                return result
            except DatabaseUnavailableError as exc:
                if ran or attempt == retries or not lost_connection(exc):
                    raise
                _log.warning("read retried on a new connection: %s", exc)
        raise AssertionError("unreachable")  # the loop returns or raises

    def dispose(self) -> None:
        """Close every pooled connection (call before forking worker processes, and at exit)."""
        self.engine.dispose()


__all__ = ["Database", "UnitOfWork", "lost_connection"]
