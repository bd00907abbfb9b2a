"""Filters and sort orders from plain values: what a notebook widget or a CLI flag gives.

``{"role": "admin", "created_at__gte": "2026-01-01", "username__contains": "ad"}`` becomes a list of
``Filter`` objects, each adding one clause to a ``Select``. Only whitelisted fields and the operators
that suit their type are accepted, and values are coerced to the column's type and always bound as
parameters, never pasted into SQL.

This is the one filter parser: the repositories, the analytics functions, the CLI and the notebooks all
validate filters through it, so a value is refused the same way (and in the same words) everywhere.
Callers that name a filter differently (a CLI flag such as ``--status`` for ``status__in``) pass
``labels`` and errors use their name.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Enum,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    String,
    false,
    or_,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute

from stratlogic.errors import InvalidFilterError, ValidationError

Kind = Literal["text", "number", "datetime", "bool", "enum"]
OPERATORS: dict[Kind, tuple[str, ...]] = {
    "text": ("eq", "ne", "in", "not_in", "contains", "startswith", "isnull"),
    "enum": ("eq", "ne", "in", "not_in", "isnull"),
    "number": ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "isnull"),
    "datetime": ("eq", "gt", "gte", "lt", "lte", "isnull"),
    "bool": ("eq", "isnull"),
}
_MIN_INT, _MAX_INT = -(2**63), 2**63 - 1
#: The integers each kind of integer column holds (the SQL standard's; SQLite stores 64 bits in any of
#: them, but a value PostgreSQL's column cannot hold is refused on both engines alike).
INT_RANGES: dict[str, tuple[int, int]] = {"smallint": (-(2**15), 2**15 - 1), "integer": (-(2**31), 2**31 - 1),
                                          "bigint": (_MIN_INT, _MAX_INT)}
#: The most values an ``in`` / ``not_in`` filter takes: each is a bound parameter, and PostgreSQL takes at
#: most 65,535 in one statement (pass more as several calls, or filter on something else).
MAX_IN_VALUES = 10_000
_TRUE, _FALSE = {"true", "1", "yes", "y", "on"}, {"false", "0", "no", "n", "off"}


@dataclass(frozen=True)
class Field:
    """A column that may be filtered and sorted on, with the kind that decides operators and coercion."""

    name: str
    column: InstrumentedAttribute[Any]
    kind: Kind
    nullable: bool
    enum_type: type[enum.Enum] | None = None
    #: For integer columns, the SQL integer type (a key of ``INT_RANGES``): bounds the values accepted.
    int_type: str | None = None


def field_for(name: str, column: InstrumentedAttribute[Any]) -> Field:
    """Describe a mapped column, inferring its kind from the SQL type."""
    sql_type = column.property.columns[0].type
    nullable = bool(column.property.columns[0].nullable)
    impl = getattr(sql_type, "impl", sql_type)
    if isinstance(sql_type, Enum):
        return Field(name, column, "enum", nullable, sql_type.enum_class)
    if isinstance(impl, DateTime):
        return Field(name, column, "datetime", nullable)
    if isinstance(impl, Boolean):
        return Field(name, column, "bool", nullable)
    if isinstance(impl, Integer):
        return Field(name, column, "number", nullable, int_type=_int_type(impl))
    if isinstance(impl, Float | Numeric):
        return Field(name, column, "number", nullable)
    if isinstance(impl, String) and not isinstance(impl, JSON):
        return Field(name, column, "text", nullable)
    raise TypeError(f"column {name} of type {sql_type!r} cannot be filtered")


def _int_type(sql_type: Integer) -> str:
    if isinstance(sql_type, BigInteger):
        return "bigint"
    return "smallint" if isinstance(sql_type, SmallInteger) else "integer"


@dataclass(frozen=True)
class Filter:
    """One condition: ``field op value`` with the value already coerced to the column's type."""

    field: Field
    op: str
    value: Any

    def clause(self) -> ColumnElement[bool]:
        """The SQL condition, with the value as a bound parameter."""
        column, value = self.field.column, self.value
        if self.op == "isnull":
            return column.is_(None) if value else column.is_not(None)
        if self.op in ("contains", "startswith"):
            pattern = _escape_like(value)
            pattern = f"%{pattern}%" if self.op == "contains" else f"{pattern}%"
            return column.ilike(pattern, escape="\\")
        if self.op == "in":
            return column.in_(value) if value else false()
        if self.op == "not_in":
            clause = column.not_in(value) if value else true()
            return or_(clause, column.is_(None)) if self.field.nullable else clause
        if self.op == "ne":  # like pandas: a missing value is "not equal" to anything
            return or_(column != value, column.is_(None)) if self.field.nullable else column != value
        comparisons = {"eq": column.__eq__, "gt": column.__gt__, "gte": column.__ge__,
                       "lt": column.__lt__, "lte": column.__le__}
        return comparisons[self.op](value)


@dataclass(frozen=True)
class Order:
    """One sort key; ``-name`` in the plain form means descending."""

    field: Field
    descending: bool

    @property
    def spec(self) -> str:
        """The plain form, e.g. ``-created_at``."""
        return f"{'-' if self.descending else ''}{self.field.name}"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def parse_filters(values: Mapping[str, Any] | None, fields: Mapping[str, Field], resource: str, *,
                  labels: Mapping[str, str] | None = None) -> list[Filter]:
    """Turn ``{"field__op": value}`` into Filters; unknown fields, operators and bad values are refused.

    Args:
        values: the filters, ``field`` or ``field__op`` -> a plain value (text, number, list, date…).
        fields: the whitelisted fields, by name (a repository's ``filter_fields()``).
        resource: what the rows are, for messages (``job``).
        labels: how the caller names some filters (``{"status__in": "--status"}``); errors use that name.

    Raises:
        InvalidFilterError: an unknown field or an operator its kind does not take.
        ValidationError: a value that cannot be the column's type (or lies beyond an integer column's range).
    """
    parsed = []
    for key, value in (values or {}).items():
        name, _, op = key.partition("__")
        op = op or "eq"
        if name not in fields:
            raise InvalidFilterError(f"unknown filter field {name!r} for {resource}", field=name, allowed=fields)
        field = fields[name]
        if op not in OPERATORS[field.kind]:
            raise InvalidFilterError(f"operator {op!r} is not allowed on {resource}.{name} ({field.kind})",
                                     field=key, allowed=OPERATORS[field.kind])
        label = (labels or {}).get(key) or f"filter {key}"
        parsed.append(Filter(field, op, _coerce_for(field, op, value, label)))
    return parsed


def parse_sort(values: str | Sequence[str] | None, fields: Mapping[str, Field], resource: str,
               default: Sequence[str]) -> list[Order]:
    """Turn ``["-created_at", "username"]`` (or ``"-created_at,username"``) into Orders."""
    if isinstance(values, str):
        values = [part.strip() for part in values.split(",") if part.strip()]
    if values is not None and not isinstance(values, Sequence):
        raise ValidationError(f"sort must be field names like '-created_at', got {values!r}")
    orders = []
    for spec in values or default:
        if not isinstance(spec, str):
            raise ValidationError(f"sort must be field names like '-created_at', got {spec!r}")
        name = spec.removeprefix("-").removeprefix("+")
        if name not in fields:
            raise InvalidFilterError(f"unknown sort field {name!r} for {resource}", field=name, allowed=fields)
        orders.append(Order(fields[name], spec.startswith("-")))
    return orders


def _coerce_for(field: Field, op: str, value: Any, label: str) -> Any:
    if op == "isnull":
        return _coerce(field, value, label, kind="bool")
    if op in ("in", "not_in"):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, Iterable):
            raise ValidationError(f"{label}: expected a list of values, got {value!r}")
        items = list(items)
        if len(items) > MAX_IN_VALUES:
            raise ValidationError(f"{label}: {len(items)} values, more than the {MAX_IN_VALUES} one filter takes")
        return [_coerce(field, item, label) for item in items]
    if op in ("contains", "startswith"):
        return _coerce(field, value, label, kind="text")
    return _coerce(field, value, label)


def _coerce(field: Field, value: Any, label: str, kind: Kind | None = None) -> Any:
    """Coerce one plain value to the field's type, or raise naming the filter and the value."""
    kind = kind or field.kind
    try:
        coerced = _COERCERS[kind](field, value)
    except (ValueError, TypeError, OverflowError) as exc:
        what = field.name if kind == "enum" else kind  # "not a valid status", "not a valid number"
        raise ValidationError(f"{label}: {value!r} is not a valid {what} ({exc})") from None
    if kind == "number" and field.int_type and isinstance(coerced, int):
        low, high = INT_RANGES[field.int_type]
        if not low <= coerced <= high:  # PostgreSQL would fail in the driver, SQLite would match nothing
            raise ValidationError(f"{label}: {value!r} is beyond what {field.name} holds ({field.int_type}, "
                                  f"{low}..{high})")
    return coerced


def _as_text(_field: Field, value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise TypeError(f"expected text, got {type(value).__name__}")
    text = str(value)
    if "\x00" in text:
        raise ValueError("text cannot hold NUL")
    text.encode("utf-8")  # a lone surrogate (UnicodeEncodeError is a ValueError) no database can store
    return text


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _as_number(_field: Field, value: Any) -> int | float:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if not isinstance(value, int | float):
        text = str(value).strip()
        if not _NUMBER.match(text):
            raise ValueError("expected a number such as 3, -2 or 1.5")
        value = int(text) if text.lstrip("+-").isdigit() else float(text)
    if isinstance(value, int) and not _MIN_INT <= value <= _MAX_INT:
        raise ValueError("outside the 64-bit integer range")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a finite number")
    return value  # type: ignore[no-any-return]


def _as_bool(_field: Field, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValueError(f"use one of {', '.join(sorted(_TRUE | _FALSE))}")


def _as_enum(field: Field, value: Any) -> enum.Enum:
    assert field.enum_type is not None
    try:
        return field.enum_type(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in field.enum_type)
        raise ValueError(f"allowed: {allowed}") from None


def _as_datetime(_field: Field, value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip())
    else:
        raise TypeError(f"expected a date or datetime, got {type(value).__name__}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_COERCERS = {"text": _as_text, "number": _as_number, "bool": _as_bool, "enum": _as_enum,
             "datetime": _as_datetime}


def to_json_value(value: Any) -> Any:
    """A sort-key value as JSON (for cursors): datetimes as ISO strings, enums as their value."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    json.dumps(value)  # raises for anything a cursor could not carry
    return value


__all__ = ["INT_RANGES", "MAX_IN_VALUES", "OPERATORS", "Field", "Filter", "Kind", "Order", "field_for", "parse_filters",
           "parse_sort", "to_json_value"]
