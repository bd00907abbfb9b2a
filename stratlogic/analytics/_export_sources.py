"""What each export kind reads: its columns (with their Arrow types), its time column and its filters.

The column types are declared here, not inferred from the first rows: an empty window, a column that
starts with NULLs or SQLite's untyped values must give the same schema as a full PostgreSQL export.
Filters are validated by the rules the repositories apply (known names only, text without NUL or lone
surrogates, at most 10,000 values, 64-bit ids, statuses and actions from their closed lists) and turned
into one WHERE clause that both the row query and its ``COUNT(*)`` use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from stratlogic.errors import InvalidFilterError, ValidationError
from stratlogic.models.audit_rules import AuditAction
from stratlogic.models.enums import JobStatus

Kind = Literal["audit", "jobs", "artifacts"]
KINDS: tuple[Kind, ...] = ("audit", "jobs", "artifacts")
ValueKind = Literal["text", "id", "user", "status", "action"]
#: As in the repositories' filters: each value is a bound parameter, PostgreSQL takes 65,535 per statement.
MAX_VALUES = 10_000
_MIN_ID, _MAX_ID = -(2**63), 2**63 - 1
UTC_US = pa.timestamp("us", tz="UTC")


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
    """Validate ``{"action": ["user.created", ...], "actor": "ada"}``; a scalar counts as a one-value list."""
    known = {f.name: f for f in source.filters}
    conditions = []
    for name, raw in (filters or {}).items():
        if name not in known:
            raise InvalidFilterError(f"unknown filter {name!r} for {source.kind} exports", field=name, allowed=known)
        if raw is None:
            continue
        items = list(raw) if isinstance(raw, list | tuple | set | frozenset) else [raw]
        if not items:
            raise ValidationError(f"filter {name}: give at least one value")
        if len(items) > MAX_VALUES:
            raise ValidationError(f"filter {name}: {len(items)} values, more than the {MAX_VALUES} one filter takes")
        spec = known[name]
        conditions.append(Condition(spec, tuple(_value(spec, item) for item in items)))
    return conditions


def _value(spec: FilterSpec, value: object) -> str | int:
    """One filter value checked against its kind; the message names the filter, the value and what fits."""
    if spec.kind == "id" or (spec.kind == "user" and _looks_like_id(value)):
        return _id(spec.name, value)
    text = _text_value(spec.name, value)
    if spec.kind == "status" and text not in {s.value for s in JobStatus}:
        raise ValidationError(f"filter status: {text!r} is not a job status; use one of "
                              f"{', '.join(s.value for s in JobStatus)}")
    if spec.kind == "action" and text not in {a.value for a in AuditAction}:
        raise ValidationError(f"filter action: {text!r} is not an audit action (see docs/audit.md for the list)")
    return text


def _looks_like_id(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.strip().lstrip("-").isdigit())


def _id(name: str, value: object) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or not _MIN_ID <= number <= _MAX_ID:
        raise ValidationError(f"filter {name}: {value!r} is not a valid id (a 64-bit integer)")
    return number


def _text_value(name: str, value: object) -> str:
    if not isinstance(value, str) or isinstance(value, bool):
        raise ValidationError(f"filter {name}: {value!r} is not text")
    if "\x00" in value:
        raise ValidationError(f"filter {name}: {value!r} holds NUL, which no database stores")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"filter {name}: {value!r} holds a lone surrogate") from None
    return value


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
