"""The audit trail's rows: appended in the same transaction as the change, chained, and read back.

Appends are serialised so the chain never forks: on PostgreSQL a transaction-scoped advisory lock is
taken before the tail is read, and held until commit; on SQLite every writer already holds the write
lock from ``BEGIN IMMEDIATE``. The tail is re-read on every append (one index probe), so a rolled-back
savepoint can never leave a stale tail behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, text

from stratlogic.db.actor import current_actor
from stratlogic.models import AuditLog, utcnow
from stratlogic.models.audit_rules import GENESIS, AuditAction, canonical, clean_details, digest
from stratlogic.repositories.base import Repository

#: pg_advisory_xact_lock key for audit appends ("STRATAUD" as a 64-bit integer).
APPEND_LOCK = 0x5354524154415544


@dataclass(frozen=True)
class AuditEntry:
    """One change to record: what happened to which resource, with details (masked where secret)."""

    action: AuditAction
    resource_type: str
    resource_id: str | None
    details: Mapping[str, Any] = field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()


class AuditRepository(Repository[AuditLog]):
    """Append to and read the audit trail. Rows are never updated or deleted here."""

    model = AuditLog
    resource = "audit"
    filterable = ("id", "occurred_at", "actor_id", "action", "resource_type", "resource_id", "ip_address")
    sortable = ("id", "occurred_at")
    default_sort = ("id",)
    audited = False

    def record(self, action: AuditAction, resource_type: str, resource_id: object | None,
               details: Mapping[str, Any] | None = None, *, secret_keys: frozenset[str] = frozenset()) -> None:
        """Append one row for a change made in this unit of work."""
        entry = AuditEntry(action, resource_type, None if resource_id is None else str(resource_id),
                           details or {}, secret_keys)
        self.record_many([entry])

    def record_many(self, entries: Sequence[AuditEntry]) -> None:
        """Append one row per entry, chained in order, under the append lock."""
        if not entries:
            return
        self._lock()
        prev = self.tail_hash()
        actor, now, key = current_actor(), utcnow(), self._key()
        rows = []
        for entry in entries:
            AuditAction(entry.action)  # the closed set: anything else is a programming error
            details = clean_details(dict(entry.details), entry.secret_keys)
            body = canonical(now, actor.user_id, entry.action, entry.resource_type, entry.resource_id,
                             actor.ip_address, actor.user_agent, details)
            current = digest(prev, body, key)
            rows.append({"occurred_at": now, "actor_id": actor.user_id, "action": str(entry.action),
                         "resource_type": entry.resource_type, "resource_id": entry.resource_id,
                         "ip_address": actor.ip_address, "user_agent": actor.user_agent, "details": details,
                         "prev_hash": prev, "hash": current})
            prev = current
        table = self._table
        for start in range(0, len(rows), 2000):
            self.session.execute(insert(table), rows[start:start + 2000])

    def _lock(self) -> None:
        if self.uow.dialect == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK})

    def _key(self) -> bytes | None:
        key = self.uow.database.settings.audit_key
        return key.get_secret_value().encode() if key else None

    def tail_hash(self) -> str:
        """The hash of the newest row (the genesis value when the trail is empty)."""
        found = self.session.scalar(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1))
        return found or GENESIS

    def trail(self, resource_type: str, resource_id: object, *, limit: int = 100) -> list[AuditLog]:
        """Everything recorded about one resource, oldest first."""
        return self.list({"resource_type": resource_type, "resource_id": str(resource_id)}, limit=limit)


__all__ = ["APPEND_LOCK", "AuditEntry", "AuditRepository"]
