"""What a database holds, read in one unit of work: its schema revision, the size of its main tables and the
end of its audit trail.

The workbench shows them (``repr(wb)``, ``wb.audit.tail()``); they are read here so that no face runs SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text

from stratlogic.db.session import UnitOfWork
from stratlogic.models import Artifact, AuditLog, ScrapingJob, User
from stratlogic.repositories.trail import AuditTrail

#: The tables a summary counts, by the label it shows them under.
COUNTED = {"users": User, "jobs": ScrapingJob, "artifacts": Artifact, "audit rows": AuditLog}

_ESTIMATE = text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:name)")


@dataclass(frozen=True)
class TableCounts:
    """Rows per table label; ``approximate`` when they are the planner's estimates (PostgreSQL)."""

    counts: dict[str, int] = field(default_factory=dict)
    approximate: bool = False


def schema_revision(uow: UnitOfWork) -> str | None:
    """The Alembic revision the database is at (None: not migrated)."""
    from alembic.runtime.migration import MigrationContext  # alembic costs an import only here

    return MigrationContext.configure(uow.session.connection()).get_current_revision()


def table_counts(uow: UnitOfWork) -> TableCounts:
    """Exact counts on SQLite; on PostgreSQL the planner's estimates, as counting 5M audit rows takes seconds
    (exact counts there too when a table was never analysed and has no estimate yet)."""
    connection = uow.session.connection()
    if uow.dialect == "postgresql":
        estimates: dict[str, int] = {}
        for label, model in COUNTED.items():
            value = connection.execute(_ESTIMATE, {"name": model.__tablename__}).scalar()
            if value is None or value < 0:  # -1: never analysed (PostgreSQL 14+)
                break
            estimates[label] = int(value)
        else:
            return TableCounts(estimates, approximate=True)
    exact = {label: int(connection.execute(select(func.count()).select_from(model)).scalar_one())
             for label, model in COUNTED.items()}
    return TableCounts(exact)


def trail_end(uow: UnitOfWork) -> dict[str, Any] | None:
    """The newest audit row's ``id`` and ``hash``; None when the trail is empty."""
    tail = AuditTrail(uow).tail()
    return None if tail is None else {"id": tail.id, "hash": tail.hash}


__all__ = ["COUNTED", "TableCounts", "schema_revision", "table_counts", "trail_end"]
