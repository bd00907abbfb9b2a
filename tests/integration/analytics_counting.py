"""Count the rows a statistic fetches from the database (DBAPI row factories on both drivers)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from stratlogic.db import Database

TABLES = re.compile(r"\b(scraping_jobs|artifacts|artifact_metadata|audit_logs|users)\b")


class Fetched:
    """Rows fetched by statements that read the package's tables (pings and pragmas are not counted)."""

    def __init__(self) -> None:
        self.rows = 0
        self.statements: dict[int, str] = {}

    def counts(self, cursor: Any) -> bool:
        return bool(TABLES.search(self.statements.get(id(cursor), "")))


@contextmanager
def counting_fetches(db: Database) -> Iterator[Fetched]:
    """Within the block, every row any connection of ``db`` fetches for a table-reading statement is counted."""
    fetched = Fetched()
    db.dispose()  # fresh connections get the counting row factory

    def before(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        fetched.statements[id(cursor)] = statement

    def connect(dbapi: Any, _record: Any) -> None:
        dbapi.row_factory = _sqlite_factory(fetched) if isinstance(dbapi, sqlite3.Connection) else _pg_factory(fetched)

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "connect", connect)
    try:
        yield fetched
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "connect", connect)
        db.dispose()


def _sqlite_factory(fetched: Fetched) -> Callable[[Any, Any], Any]:
    def make(cursor: Any, row: Any) -> Any:
        fetched.rows += fetched.counts(cursor)
        return row
    return make


def _pg_factory(fetched: Fetched) -> Callable[[Any], Any]:
    from psycopg.rows import tuple_row

    def factory(cursor: Any) -> Callable[[Any], Any]:
        make = tuple_row(cursor)
        counted = fetched.counts(cursor)

        def row(values: Any) -> Any:
            fetched.rows += counted
            return make(values)
        return row
    return factory
