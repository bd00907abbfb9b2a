"""Querying the audit trail by its columns (appending and the chain's own reads: ``trail.AuditTrail``)."""

from __future__ import annotations

from typing import Any

from stratlogic.models import AuditLog
from stratlogic.repositories.base import Repository
from stratlogic.repositories.trail import AuditEntry, AuditTrail


class AuditRepository(Repository[AuditLog]):
    """Query the trail by resource, actor, action and time, with keyset pages. Rows are never changed."""

    model = AuditLog
    resource = "audit"
    filterable = ("id", "occurred_at", "actor_id", "action", "resource_type", "resource_id", "ip_address")
    sortable = ("id", "occurred_at")
    default_sort = ("id",)
    audited = False

    def trail(self, resource_type: str, resource_id: object, *, limit: int = 100) -> list[AuditLog]:
        """Everything recorded about one resource, oldest first."""
        return self.list({"resource_type": resource_type, "resource_id": str(resource_id)}, limit=limit)

    def tail_hash(self) -> str:
        """The hash of the newest row (the genesis value when the trail is empty)."""
        return AuditTrail(self.uow).tail_hash()

    def record(self, *args: Any, **kwargs: Any) -> None:
        """Append one row (see ``AuditTrail.record``): for services whose changes are not row writes."""
        AuditTrail(self.uow).record(*args, **kwargs)


__all__ = ["AuditEntry", "AuditRepository"]
