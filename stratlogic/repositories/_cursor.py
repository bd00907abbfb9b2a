"""Keyset (cursor) pagination: opaque, tamper-checked cursors and the "rows after this one" condition.

A cursor carries the sort-key values of the last row of a page, plus fingerprints of the sort order and
the filters it was made for. It is signed (HMAC-SHA256), so an edited cursor, or one reused with other
filters or another order, is refused with a clear message instead of returning wrong rows. Filters are
always applied again: a cursor can never widen what a query may see.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, tuple_

from stratlogic.errors import ValidationError
from stratlogic.repositories._filters import Filter, Order, to_json_value


def fingerprint(table: str, orders: Sequence[Order], filters: Sequence[Filter]) -> str:
    """A short stable digest of a query: its table, sort order and filters."""
    described = {"table": table, "sort": [order.spec for order in orders],
                 "filters": sorted([f.field.name, f.op, _jsonable(f.value)] for f in filters)}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [to_json_value(item) for item in value]
    return to_json_value(value)


class CursorCodec:
    """Encode and check cursors with one signing key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()[:32]

    def encode(self, query: str, values: Sequence[Any]) -> str:
        """A cursor for the row whose sort-key values are ``values``, for the query fingerprinted ``query``."""
        payload = json.dumps({"q": query, "v": [to_json_value(v) for v in values]}, separators=(",", ":"))
        raw = payload.encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + self._sign(raw)

    def decode(self, token: str, query: str, orders: Sequence[Order]) -> list[Any]:
        """The sort-key values in ``token``; raises ValidationError if it was edited or is for another query."""
        body, _, signature = token.partition(".")
        if not token.isascii():
            raise ValidationError("invalid cursor: not a cursor this package made")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise ValidationError("invalid cursor: not a cursor this package made") from None
        if not hmac.compare_digest(self._sign(raw), signature):
            raise ValidationError("invalid cursor: it was altered or made by another installation")
        malformed = ValidationError("invalid cursor: not a cursor this package made")
        try:  # signed, yet perhaps not shaped as this package writes them
            data = json.loads(raw)
            belongs = data["q"] == query
        except (KeyError, TypeError, ValueError):
            raise malformed from None
        if not belongs:
            raise ValidationError("cursor does not belong to this query: the filters or sort order changed; "
                                  "start again from the first page")
        try:
            return [_revive(order, value) for order, value in zip(orders, data["v"], strict=True)]
        except (KeyError, TypeError, ValueError):
            raise malformed from None


def _revive(order: Order, value: Any) -> Any:
    """A sort-key value from its JSON form, checked against the field's kind (TypeError/ValueError if not)."""
    if value is None:
        return None
    kind = order.field.kind
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "enum" and order.field.enum_type is not None:
        return order.field.enum_type(value)
    expected = {"number": (int, float), "text": (str,), "bool": (bool,)}.get(kind, (object,))
    if not isinstance(value, expected) or (kind == "number" and isinstance(value, bool)):
        raise TypeError(f"{order.field.name}: {value!r} is not a {kind}")
    return value


def after(orders: Sequence[Order], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order ``orders`` (whose last key is unique), NULLs last.

    With one direction and no NULLs this is a row-value comparison, which PostgreSQL answers from a
    matching index; otherwise the equivalent OR-expansion.
    """
    directions = {order.descending for order in orders}
    if len(directions) == 1 and None not in values and not any(o.field.nullable for o in orders):
        left = tuple_(*(order.field.column for order in orders))
        right = tuple_(*values)
        return left < right if directions.pop() else left > right
    branches = []
    for i, (order, value) in enumerate(zip(orders, values, strict=True)):
        equal_before = [_equal(o, v) for o, v in zip(orders[:i], values[:i], strict=True)]
        branches.append(and_(*equal_before, _beyond(order, value)))
    return or_(*branches)


def _equal(order: Order, value: Any) -> ColumnElement[bool]:
    column = order.field.column
    return column.is_(None) if value is None else column == value


def _beyond(order: Order, value: Any) -> ColumnElement[bool]:
    """Rows whose key comes after ``value`` in this column alone (NULLs sort last)."""
    column = order.field.column
    if value is None:
        return false()  # nothing sorts after NULL in this column
    step = column < value if order.descending else column > value
    return or_(step, column.is_(None)) if order.field.nullable else step


__all__ = ["CursorCodec", "after", "fingerprint"]
