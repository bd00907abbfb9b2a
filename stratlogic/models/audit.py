"""The audit trail: append-only rows, each hash-chained to the one before it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stratlogic.models.base import Base, BigId, JsonDocument, UTCDateTime, id_column, utcnow

if TYPE_CHECKING:
    from stratlogic.models.user import User


class AuditLog(Base):
    """One recorded change. The database refuses UPDATE and DELETE on this table (triggers).

    ``hash`` covers ``prev_hash`` and the row's canonical serialisation (docs/audit.md); rows are
    ordered by ``id``, never by time. The actor is RESTRICTed: a user in the trail cannot be deleted.
    """

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_action_occurred_at", "action", "occurred_at"),
        Index("ix_audit_logs_actor_id_occurred_at", "actor_id", "occurred_at"),
        Index("ix_audit_logs_resource_type_resource_id", "resource_type", "resource_id"),
        Index("ix_audit_logs_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = id_column()
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="RESTRICT"))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship(back_populates="audit_logs")


class AuditPruneWindow(Base):
    """While a row here exists (inside the pruning transaction only), rows with ``id <= max_id`` may be
    deleted from audit_logs, oldest first (no older row may remain): the one documented way to cut a
    prefix of the trail (see docs/audit.md).
    """

    __tablename__ = "audit_prune_window"

    max_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
