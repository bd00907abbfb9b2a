"""Appending to the audit trail, in the caller's transaction (used by every repository write).

Private to ``repositories/``: everything else uses the public ``trail.AuditTrail``, which calls this.

Appends are serialised so the chain never forks: on PostgreSQL by the write lock (``db/writelock.py``),
which a transaction takes before its first write and holds until commit; on SQLite every writer already
holds the write lock from ``BEGIN IMMEDIATE``. The tail is re-read on every append (one index probe), so a rolled-back
savepoint can never leave a stale tail behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from stratlogic.config import Settings
from stratlogic.db import writelock
from stratlogic.db.actor import current_actor
from stratlogic.db.session import UnitOfWork
from stratlogic.db.writelock import WRITE_LOCK
from stratlogic.models import AuditLog, utcnow
from stratlogic.models.audit_rules import GENESIS, AuditAction, canonical, clean_details, digest

APPEND_LOCK = WRITE_LOCK
_BATCH = 2000
_TAIL = select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)
_INSERT = insert(AuditLog)


@dataclass(frozen=True)
class AuditEntry:
    """One change to record: what happened to which resource, with details (masked where secret)."""

    action: AuditAction
    resource_type: str
    resource_id: str | None
    details: Mapping[str, Any] = field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()


def lock(uow: UnitOfWork) -> None:
    """Take the append lock for the rest of this transaction (PostgreSQL; SQLite writers already hold one)."""
    writelock.take(uow.session)


def tail_hash(uow: UnitOfWork) -> str:
    """The hash of the newest row (the genesis value when the trail is empty)."""
    found = uow.connection.scalar(_TAIL)
    return found or GENESIS


def audit_key(uow: UnitOfWork) -> bytes | None:
    """The HMAC key when STRATLOGIC_AUDIT_KEY is set."""
    return key_of(uow.database.settings)


def key_of(settings: Settings) -> bytes | None:
    """``audit_key`` from settings alone (for paths that run without a unit of work)."""
    key = settings.audit_key
    return key.get_secret_value().encode() if key else None


def append(uow: UnitOfWork, entries: Sequence[AuditEntry]) -> None:
    """Append one row per entry, chained in order, under the append lock, in the current transaction."""
    if not entries:
        return
    lock(uow)
    prev = tail_hash(uow)
    actor, now, key = current_actor(), utcnow(), audit_key(uow)
    rows = []
    for entry in entries:
        action = AuditAction(entry.action)  # the closed set: anything else is a programming error
        details = clean_details(dict(actor.details(entry.details)), entry.secret_keys)  # + its origin
        body = canonical(now, actor.user_id, action, entry.resource_type, entry.resource_id, actor.ip_address,
                         actor.user_agent, details)
        current = digest(prev, body, key)
        rows.append({"occurred_at": now, "actor_id": actor.user_id, "action": action.value,
                     "resource_type": entry.resource_type, "resource_id": entry.resource_id,
                     "ip_address": actor.ip_address, "user_agent": actor.user_agent, "details": details,
                     "prev_hash": prev, "hash": current})
        prev = current
    connection = uow.connection  # Core, not the ORM's bulk path: appends sit on every write's hot path
    for start in range(0, len(rows), _BATCH):
        connection.execute(_INSERT, rows[start:start + _BATCH])


def record(uow: UnitOfWork, action: AuditAction, resource_type: str, resource_id: object | None,
           details: Mapping[str, Any] | None = None, *, secret_keys: frozenset[str] = frozenset()) -> None:
    """Append one row for a change made in this unit of work."""
    rid = None if resource_id is None else str(resource_id)
    append(uow, [AuditEntry(action, resource_type, rid, details or {}, secret_keys)])


__all__ = ["APPEND_LOCK", "AuditEntry", "append", "audit_key", "key_of", "lock", "record", "tail_hash"]
