"""Statistics, exports, row frames and the database summary: the read-only looks at the data, behind one
entry point each, with the caller's actor named (the access-control issue checks it here).

    services.analytics.statistic(db, "job_summary", {"since": "-7d"}, actor=actor)
    services.analytics.export(db, "audit", "out/audit.parquet", since="-30d", actor=actor)

A statistic's parameters travel as a mapping, not as keyword arguments: several statistics take an ``actor``
filter of their own (``top_actors(actor="ada")``), which must not be taken for the acting user.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.db.actor import Actor, as_actor
from stratlogic.errors import StratLogicError, ValidationError
from stratlogic.services._base import entry, unit

if TYPE_CHECKING:
    import pandas as pd

    from stratlogic.analytics.export import ExportResult

Statistic = Callable[..., Any]


def statistics() -> dict[str, Statistic]:
    """Every statistic by name: each function of ``stratlogic.analytics.__all__`` taking the database first.

    Looked up on every call, so a statistic added to the package later is found without a change here.
    """
    module = importlib.import_module("stratlogic.analytics")
    found: dict[str, Statistic] = {}
    for name in getattr(module, "__all__", ()):
        candidate = getattr(module, name, None)
        if inspect.isfunction(candidate) and _first_parameter(candidate) in ("db", "database"):
            found[name] = candidate
    return found


def _first_parameter(function: Statistic) -> str | None:
    parameters = list(inspect.signature(function).parameters)
    return parameters[0] if parameters else None


@entry("analytics.statistic", writes=False)
def statistic(database: Database, name: str, params: Mapping[str, Any] | None = None, *, actor: Actor) -> Any:
    """The statistic ``name`` computed with ``params`` (usually a small DataFrame, docs/analytics.md).

    Raises:
        ValidationError: no statistic has that name (the message lists them), or a parameter is unknown or bad.
    """
    functions = statistics()
    function = functions.get(name)
    if function is None:
        raise ValidationError(f"unknown statistic {name!r}; available: {', '.join(sorted(functions))}")
    with as_actor(actor):
        return function(database, **dict(params or {}))


@entry("analytics.export", writes=False)
def export(database: Database, kind: Literal["audit", "jobs", "artifacts"], out: str | Path, *, actor: Actor,
           fmt: Literal["parquet", "csv", "xlsx"] = "parquet", since: Any = "-30d", until: Any = "now",
           tz: str = "UTC", filters: Mapping[str, object] | None = None, partition: Literal["day"] | None = None,
           force: bool = False, csv_raw: bool = False, store_settings: Settings | None = None,
           progress: Callable[[int], None] | None = None, compression: str = "zstd") -> ExportResult:
    """Stream the rows of ``kind`` in the window to ``out`` (a file, a dataset folder or ``s3://``) with a sidecar.

    The export changes nothing in the database (it appends no audit row): it writes files only, so it is a
    read. Arguments as ``stratlogic.analytics.export.export``.
    """
    from stratlogic.analytics.export import export as run_export  # pyarrow: only an export pays for it

    with as_actor(actor):
        return run_export(database, kind, out, fmt=fmt, since=since, until=until, tz=tz, filters=filters,
                          partition=partition, force=force, csv_raw=csv_raw, store_settings=store_settings,
                          progress=progress, compression=compression)


#: The tables ``rows``, ``row``, ``row_count`` and ``row_frame`` read, by the name a caller gives.
TABLES = ("users", "jobs", "artifacts", "audit", "config")


def _repository(uow: Any, table: str) -> Any:
    from stratlogic.repositories import Repos

    if table not in TABLES:
        raise ValidationError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    return getattr(Repos.of(uow), table)


@entry("analytics.row", writes=False)
def row(database: Database, table: str, ident: Any, *, actor: Actor) -> Any:
    """One row of ``table`` by its key (detached, columns loaded); NotFoundError naming it."""
    with unit(database, actor, readonly=True) as uow:
        return _repository(uow, table).get(ident)


@entry("analytics.rows", writes=False)
def rows(database: Database, table: str, filters: Mapping[str, Any] | None = None, *, actor: Actor,
         sort: Any = None, limit: int = 50) -> list[Any]:
    """Rows of ``table`` matching ``filters`` (the repository's filter grammar), at most ``limit``."""
    with unit(database, actor, readonly=True) as uow:
        return list(_repository(uow, table).list(filters, sort=sort, limit=limit))


@entry("analytics.row_count", writes=False)
def row_count(database: Database, table: str, filters: Mapping[str, Any] | None = None, *, actor: Actor) -> int:
    """How many rows of ``table`` match ``filters``."""
    with unit(database, actor, readonly=True) as uow:
        return int(_repository(uow, table).count(filters))


@entry("analytics.row_frame", writes=False)
def row_frame(database: Database, table: str, filters: Mapping[str, Any] | None = None, *, actor: Actor,
              sort: Any = None, limit: int | None = None) -> pd.DataFrame:
    """Rows of ``table`` as a DataFrame of their visible columns (password hashes never appear, secret values
    are masked), at most ``limit`` (default 1000; a ``TruncatedFrameWarning`` names the total when more match)."""
    with unit(database, actor, readonly=True) as uow:
        return _repository(uow, table).frame(filters, sort=sort, limit=limit)


@entry("analytics.audit_tail", writes=False)
def audit_tail(database: Database, *, actor: Actor) -> dict[str, Any] | None:
    """The newest audit row's ``id`` and ``hash`` (None for an empty trail): what a result was computed from."""
    from stratlogic.repositories.session_info import trail_end

    with unit(database, actor, readonly=True) as uow:
        return trail_end(uow)


@dataclass(frozen=True)
class DatabaseSummary:
    """What a database holds: its schema revision and its main tables' rows, or the problem met reading them."""

    revision: str | None
    counts: dict[str, int] = field(default_factory=dict)
    approximate: bool = False
    problem: str | None = None


@entry("analytics.summary", writes=False)
def summary(database: Database, *, actor: Actor) -> DatabaseSummary:
    """The schema revision and row counts (estimates on PostgreSQL); never raises: a problem is described."""
    from sqlalchemy.exc import SQLAlchemyError

    from stratlogic.repositories.session_info import schema_revision, table_counts

    try:
        with unit(database, actor, readonly=True) as uow:
            revision = schema_revision(uow)
            if revision is None:
                return DatabaseSummary(None, problem="not migrated: run wb.migrate()")
            found = table_counts(uow)
    except (SQLAlchemyError, StratLogicError) as exc:
        return DatabaseSummary(None, problem=f"unreachable: {type(exc).__name__}")
    return DatabaseSummary(revision, found.counts, found.approximate)


__all__ = ["TABLES", "DatabaseSummary", "audit_tail", "export", "row", "row_count", "row_frame", "rows", "statistic",
           "statistics", "summary"]
