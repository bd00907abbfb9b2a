"""Rows in the bulk writer's wire form, and audit rows chained as they are made.

Times are integers, microseconds since 2000-01-01 UTC (``bulk.EPOCH``), from generation to the database;
they become the audit trail's canonical text (``2026-11-25T08:30:00.000000Z``) only where a hash or a
details document needs it. Audit rows are hashed with ``models.audit_rules`` (``canonical`` + ``digest``):
the one scheme that ``stratlogic audit verify`` checks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from hashlib import sha256
from typing import Any

import orjson

from stratlogic.models.audit_rules import canonical, digest
from stratlogic.repositories.bulk import EPOCH, json_value

MILLISECOND = 1_000
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_SORTED = orjson.OPT_SORT_KEYS

AUDIT_COLUMNS = ("id", "occurred_at", "actor_id", "action", "resource_type", "resource_id", "ip_address",
                 "user_agent", "details", "prev_hash", "hash")


def micros(moment: datetime) -> int:
    """A timezone-aware datetime as microseconds since ``EPOCH``."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds


@lru_cache(maxsize=8192)
def _day_prefix(day: int) -> str:
    return (EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")


@lru_cache(maxsize=1)
def _clock() -> tuple[str, ...]:
    """"HH:MM:SS" for every second of a day (a lookup instead of three divisions and formats), made once."""
    return tuple(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))


def stamp(us: int) -> str:
    """Microseconds since ``EPOCH`` as the trail's canonical UTC text (what ``audit_rules.timestamp`` gives)."""
    day, rest = divmod(us, DAY)
    return f"{_day_prefix(day)}{_clock()[rest // SECOND]}.{rest % SECOND:06d}Z"


def moment(us: int) -> datetime:
    """Microseconds since ``EPOCH`` as a datetime."""
    return EPOCH + timedelta(microseconds=us)


def json_text(value: Any) -> bytes:
    """A document as compact JSON with sorted keys (how the SQLite column stores it; the canonical form)."""
    return orjson.dumps(value, option=_SORTED)


def jsonb(value: Any) -> bytes:
    """A JSON column's wire value."""
    return json_value(orjson.dumps(value, option=_SORTED))


class Chain:
    """Makes audit rows with consecutive ids, each hashed onto the one before (docs/audit.md)."""

    def __init__(self, first_id: int, tail_hash: str, key: bytes | None) -> None:
        self.next_id = first_id
        self.tail = tail_hash
        self.key = key
        self._tail_bytes = tail_hash.encode("ascii")

    def row(self, when: int, at: str, actor: int | None, action: str, resource_type: str, resource_id: str | None,
            details: bytes) -> tuple[Any, ...]:
        """One row, chained: ``at`` is ``when`` as canonical text, ``details`` the document as canonical JSON
        (``json_text`` of what ``clean_details`` returns); ``action`` an ``AuditAction`` value.

        Millions of rows pass here one after another, so without a key the hash is ``digest``'s
        ``sha256(prev || "\n" || body)`` written out, on the previous hash kept as bytes.
        """
        # The details go in pre-serialised (a Fragment is written as is): the same bytes, made once.
        body = canonical(at, actor, action, resource_type, resource_id, None, None, orjson.Fragment(details))
        if self.key is None:
            current = sha256(self._tail_bytes + b"\n" + body).hexdigest()
        else:
            current = digest(self.tail, body, self.key)
        row = (self.next_id, when, actor, action, resource_type, resource_id, None, None, json_value(details),
               self.tail, current)
        self.next_id += 1
        self.tail, self._tail_bytes = current, current.encode("ascii")
        return row

    def entry(self, when: int, actor: int | None, action: str, resource_type: str, resource_id: str | None,
              details: dict[str, Any]) -> tuple[Any, ...]:
        """``row`` from a details dict, for the few rows made outside the day producer."""
        return self.row(when, stamp(when), actor, action, resource_type, resource_id, json_text(details))


__all__ = ["AUDIT_COLUMNS", "DAY", "HOUR", "MILLISECOND", "MINUTE", "SECOND", "Chain", "json_text", "jsonb", "micros",
           "moment", "stamp"]
