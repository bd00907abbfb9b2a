"""What each export kind reads: its columns (with their Arrow types), its time column and its filters.

The column types are declared here, not inferred from the first rows: an empty window, a column that
starts with NULLs or SQLite's untyped values must give the same schema as a full PostgreSQL export.
Filters are validated by the repositories' parser (known names only; values of the column's type: text
without NUL or lone surrogates, ids within the column's width, statuses from their closed list; at most
10,000 values) and become one WHERE clause that both the row query and its ``COUNT(*)`` use.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
from sqlalchemy.orm import InstrumentedAttribute

from stratlogic.analytics._filters import listed, user_ids
from stratlogic.errors import InvalidFilterError, ValidationError
from stratlogic.models import Artifact, AuditLog, ScrapingJob, User
from stratlogic.repositories.filters import field_for, parse_filters

Kind = Literal["audit", "jobs", "artifacts"]
KINDS: tuple[Kind, ...] = ("audit", "jobs", "artifacts")
ValueKind = Literal["text", "id", "user", "status", "action"]
UTC_US = pa.timestamp("us", tz="UTC")
#: Columns with few distinct values, worth Parquet's dictionary encoding; for the others (ids, hashes, details,
#: times) building a dictionary that overflows and is dropped cost CPU for nothing.
REPEATED = frozenset({"actor_id", "action", "resource_type", "ip_address", "user_agent", "owner_id", "kind",
                      "target_domain", "status", "priority", "attempt", "max_retries", "error_type", "claimed_by",
                      "job_id", "bucket", "content_type"})


@dataclass(frozen=True)
class Column:
    """One exported column: its name, its SQL type family, and its Arrow type."""

    name: str
    family: Literal["int", "text", "time", "json"]
    arrow: pa.DataType


@dataclass(frozen=True)
class FilterSpec:
    """A filter the export accepts: the column it applies to and how its values are checked."""

    name: str
    column: str
    kind: ValueKind


@dataclass(frozen=True)
class Source:
    """One export kind: table, columns in output order, time column (the window) and filters."""

    kind: Kind
    table: str
    time_column: str
    columns: tuple[Column, ...]
    filters: tuple[FilterSpec, ...]

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema every export of this kind has, whatever the engine and however many rows."""
        return pa.schema([pa.field(c.name, c.arrow) for c in self.columns])

    def without(self, missing: Iterable[str]) -> Source:
        """This source minus columns the database does not have yet (``target_domain`` before 0008)."""
        gone = set(missing)
        return Source(self.kind, self.table, self.time_column, tuple(c for c in self.columns if c.name not in gone),
                      tuple(f for f in self.filters if f.column not in gone))


def _int(name: str, width: int = 64) -> Column:
    return Column(name, "int", pa.int64() if width == 64 else pa.int32())


def _text(name: str) -> Column:
    return Column(name, "text", pa.string())


def _time(name: str) -> Column:
    return Column(name, "time", UTC_US)


def _json(name: str) -> Column:
    return Column(name, "json", pa.string())


SOURCES: dict[Kind, Source] = {
    "audit": Source("audit", "audit_logs", "occurred_at", (
        _int("id"), _time("occurred_at"), _int("actor_id"), _text("action"), _text("resource_type"),
        _text("resource_id"), _text("ip_address"), _text("user_agent"), _json("details"), _text("prev_hash"),
        _text("hash")),
        (FilterSpec("action", "action", "action"), FilterSpec("actor", "actor_id", "user"),
         FilterSpec("resource_type", "resource_type", "text"))),
    "jobs": Source("jobs", "scraping_jobs", "created_at", (
        _int("id"), _int("owner_id"), _text("name"), _text("kind"), _text("target_url"), _text("target_domain"),
        _text("status"), _int("priority", 32), _json("options"), _int("pages_done", 32), _int("pages_total", 32),
        _int("items_scraped", 32), _int("bytes_downloaded"), _int("attempt", 32), _int("max_retries", 32),
        _time("next_retry_at"), _text("error_type"), _text("error_message"), _text("claimed_by"),
        _time("heartbeat_at"), _time("lease_expires_at"), _text("dedupe_key"), _time("created_at"),
        _time("started_at"), _time("finished_at"), _time("updated_at"), _int("version", 32)),
        (FilterSpec("status", "status", "status"), FilterSpec("owner", "owner_id", "user"),
         FilterSpec("kind", "kind", "text"), FilterSpec("domain", "target_domain", "text"))),
    "artifacts": Source("artifacts", "artifacts", "created_at", (
        _int("id"), _int("job_id"), _text("bucket"), _text("object_key"), _text("filename"), _text("content_type"),
        _int("size_bytes"), _text("sha256"), _time("created_at")),
        (FilterSpec("content_type", "content_type", "text"), FilterSpec("bucket", "bucket", "text"),
         FilterSpec("job", "job_id", "id"))),
}


def source_for(kind: str) -> Source:
    """The source of an export kind, or a ValidationError naming the kind and the accepted ones."""
    if kind not in SOURCES:
        raise ValidationError(f"unknown export kind {kind!r}; use one of {', '.join(KINDS)}")
    return SOURCES[kind]


@dataclass(frozen=True)
class Condition:
    """One validated filter: ``column IN values`` (user names are resolved to ids later, in the snapshot)."""

    spec: FilterSpec
    values: tuple[str | int, ...]


def parse_conditions(source: Source, filters: Mapping[str, object] | None) -> list[Condition]:
    """Validate ``{"action": ["user.created", ...], "actor": "ada"}``; a scalar counts as a one-value list.

    Values go through the repositories' filter parser (``stratlogic.repositories.filters``), under the
    filter's own name, so an export refuses exactly what the statistics, the repositories and the CLI refuse.
    """
    known = {f.name: f for f in source.filters}
    conditions = []
    for name, raw in (filters or {}).items():
        if name not in known:
            raise InvalidFilterError(f"unknown filter {name!r} for {source.kind} exports", field=name, allowed=known)
        items = listed(name, raw)
        if items is None:
            continue
        if not items:
            raise ValidationError(f"{name}: give at least one value")
        spec = known[name]
        conditions.append(Condition(spec, tuple(_values(source, spec, items))))
    return conditions


def _values(source: Source, spec: FilterSpec, items: list[Any]) -> list[str | int]:
    """The values checked against their column; a user filter takes ids and usernames (lowercased)."""
    if spec.kind != "user":
        return _parsed(source, spec.name, _COLUMNS[spec.column], items)
    if any(isinstance(item, bool) or not isinstance(item, int | str) for item in items):
        raise ValidationError(f"{spec.name}: {items!r} is not a username or a user id (or a list of them)")
    ids = user_ids(spec.name, [item for item in items if isinstance(item, int) or item.strip().lstrip("-").isdigit()])
    names = [item.strip().lower() for item in items if isinstance(item, str) and item not in ids]
    return [*(_parsed(source, spec.name, _COLUMNS[spec.column], ids) if ids else []),
            *(_parsed(source, spec.name, User.username, names) if names else [])]


def _parsed(source: Source, name: str, column: InstrumentedAttribute[Any], items: list[Any]) -> list[Any]:
    key = f"{name}__in"
    [parsed] = parse_filters({key: items}, {name: field_for(name, column)}, source.kind, labels={key: name})
    return [v.value if isinstance(v, enum.Enum) else v for v in parsed.value]


#: The model column behind each filter, for the repositories' parser (type, width, enum values).
_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "action": AuditLog.action, "actor_id": AuditLog.actor_id, "resource_type": AuditLog.resource_type,
    "status": ScrapingJob.status, "owner_id": ScrapingJob.owner_id, "kind": ScrapingJob.kind,
    "target_domain": ScrapingJob.target_domain, "content_type": Artifact.content_type, "bucket": Artifact.bucket,
    "job_id": Artifact.job_id,
}


def user_names(conditions: Sequence[Condition]) -> set[str]:
    """Usernames that user filters (``actor``, ``owner``) name, to resolve to ids inside the snapshot."""
    return {v for c in conditions if c.spec.kind == "user" for v in c.values if isinstance(v, str)}


def resolved(conditions: Sequence[Condition], ids: Mapping[str, int]) -> list[Condition]:
    """The conditions with usernames replaced by ids; an unknown username is a ValidationError naming it."""
    out = []
    for condition in conditions:
        values: list[str | int] = []
        for value in condition.values:
            if condition.spec.kind == "user" and isinstance(value, str):
                if value.lower() not in ids:
                    raise ValidationError(f"filter {condition.spec.name}: no user named {value!r}")
                value = ids[value.lower()]
            values.append(value)
        out.append(Condition(condition.spec, tuple(values)))
    return out


def as_json(conditions: Sequence[Condition]) -> dict[str, list[str | int]]:
    """The filters as the sidecar records them."""
    return {c.spec.name: list(c.values) for c in conditions}


def json_values(condition: Condition) -> str:
    """A condition's values as one JSON array (PostgreSQL reads it back with ``jsonb_array_elements_text``)."""
    return json.dumps([str(v) for v in condition.values], ensure_ascii=False)


__all__ = ["KINDS", "SOURCES", "Column", "Condition", "FilterSpec", "Kind", "Source", "as_json", "json_values",
           "parse_conditions", "resolved", "source_for", "user_names"]
