"""A Database whose connections refuse writes, whatever the code above them does (read-only workbenches).

SQLite connections run ``PRAGMA query_only``; PostgreSQL sessions start with ``default_transaction_read_only``.
That guards against mistakes, not intent: raw SQL can lift either (a role without write privileges is the
hard boundary). Transactions of such a Database must begin DEFERRED on SQLite, which read-only units do.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from stratlogic.config import Settings
from stratlogic.db.engine import SQLITE_BEGIN, make_engine
from stratlogic.db.session import Database


def read_only_engine(settings: Settings) -> Engine:
    """An engine whose every connection refuses writes.

    On SQLite its transactions begin DEFERRED: the default ``BEGIN IMMEDIATE`` takes the write lock, which a
    ``query_only`` connection refuses ("attempt to write a readonly database"), so even a health probe failed.
    """
    if settings.backend == "postgresql":
        return make_engine(settings, server_settings={"default_transaction_read_only": "on"})
    engine = make_engine(settings)

    @event.listens_for(engine, "connect")
    def _query_only(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")

    return engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})


def open_database(settings: Settings, *, readonly: bool = False) -> Database:
    """The Database for ``settings``; with ``readonly`` its connections refuse writes."""
    return Database(read_only_engine(settings), settings) if readonly else Database.from_settings(settings)


__all__ = ["open_database", "read_only_engine"]
