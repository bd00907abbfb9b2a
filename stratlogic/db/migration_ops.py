"""Helpers for migration scripts. Import them from a revision; they take Alembic's ``op``.

SQLite cannot ALTER most things, so Alembic's batch mode rebuilds the table (create a copy, copy the
rows, drop the old table, rename). Dropping the old table drops its triggers too, silently: the
audit log's append-only guards would vanish. ``batch_alter_keeping_triggers`` puts them back.
(Foreign keys are already off during migrations: see ``migrate.prepare_connection``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.operations import BatchOperations, Operations


@contextmanager
def batch_alter_keeping_triggers(op: Operations, table: str, **kwargs: Any) -> Iterator[BatchOperations]:
    """``op.batch_alter_table`` that recreates on SQLite every trigger of ``table`` the rebuild dropped."""
    bind = op.get_bind()
    saved: list[tuple[str, str]] = []
    if bind.dialect.name == "sqlite":
        saved = [(str(name), str(sql)) for name, sql in bind.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))]
    with op.batch_alter_table(table, **kwargs) as batch:
        yield batch
    if saved:
        present = {row[0] for row in bind.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,))}
        for name, sql in saved:
            if name not in present:
                bind.exec_driver_sql(sql)


__all__ = ["batch_alter_keeping_triggers"]
