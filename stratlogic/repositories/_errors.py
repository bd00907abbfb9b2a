"""Integrity errors from either engine, turned into messages that name the field and the value.

PostgreSQL names the violated constraint (``diag.constraint_name``) and its detail reads
``Key (username)=(ada) already exists``; SQLite says ``UNIQUE constraint failed: users.username`` or
``CHECK constraint failed: ck_users_username_length``. Both become the same package errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError

from stratlogic.errors import ConflictError, ValidationError
from stratlogic.models import Base

_PG_KEY = re.compile(r"Key \((?P<cols>[^)]*)\)=\((?P<vals>.*)\) already exists")
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>[\w., ]+)")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (?P<name>\w+)")
_SQLITE_NOT_NULL = re.compile(r"NOT NULL constraint failed: \w+\.(?P<col>\w+)")


def _unique_columns(constraint: str) -> list[str]:
    for table in Base.metadata.tables.values():
        for item in table.constraints:
            if isinstance(item, UniqueConstraint) and item.name == constraint:
                return [column.name for column in item.columns]
    return []


def explain(exc: IntegrityError, resource: str, values: Mapping[str, Any] | None = None) -> Exception:
    """The package error for an integrity failure while writing ``resource`` with ``values``."""
    orig = exc.orig
    text = str(orig)
    diag = getattr(orig, "diag", None)
    name = getattr(diag, "constraint_name", None) or ""
    detail = getattr(diag, "message_detail", None) or ""
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate == "23505" or "UNIQUE constraint failed" in text:
        return _conflict(resource, name, detail, text, values or {})
    if sqlstate == "23503" or "FOREIGN KEY constraint failed" in text:
        return ConflictError(f"{resource}: the change would break a reference between rows "
                             f"({name or 'foreign key'}): a referenced row is missing, or other rows still "
                             "refer to this one")
    if sqlstate == "23514" or "CHECK constraint failed" in text:
        check = name or (m.group("name") if (m := _SQLITE_CHECK.search(text)) else "a check constraint")
        return ValidationError(f"{resource}: the values break the rule {check}")
    if sqlstate == "23502" or "NOT NULL constraint failed" in text:
        column = getattr(diag, "column_name", None) or (m.group("col") if (m := _SQLITE_NOT_NULL.search(text))
                                                         else "a column")
        return ValidationError(f"{resource}: {column} is required")
    return ConflictError(f"{resource}: the database refused the change ({text.splitlines()[0]})")


def _conflict(resource: str, name: str, detail: str, text: str, values: Mapping[str, Any]) -> ConflictError:
    if match := _PG_KEY.search(detail):
        columns = [c.strip() for c in match.group("cols").split(",")]
        parts = match.group("vals").split(", ")
        shown = ", ".join(repr(part) for part in parts) if len(parts) == len(columns) else repr(match.group("vals"))
    else:
        if match := _SQLITE_UNIQUE.search(text):
            columns = [part.strip().split(".")[-1] for part in match.group("cols").split(",")]
        else:
            columns = _unique_columns(name)
        known = [values[c] for c in columns if c in values]
        shown = ", ".join(repr(v) for v in known) if len(known) == len(columns) else ""
    field = ", ".join(columns) or name
    message = f"{resource} with {field} {shown} already exists" if shown else \
        f"{resource} with that {field} already exists"
    return ConflictError(message, field=field, value=shown or None)


@contextmanager
def integrity(resource: str, values: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Re-raise IntegrityError as ConflictError / ValidationError.

    The driver's error is kept as ``driver_error`` rather than chained, so a notebook user sees one clear
    message and not a driver traceback (``stratlogic --debug`` and the attribute still give the cause).
    """
    try:
        yield
    except IntegrityError as exc:
        error = explain(exc, resource, values)
        error.driver_error = exc  # type: ignore[attr-defined]
        raise error from None


__all__ = ["explain", "integrity"]
