"""The one documented way to delete audit rows: cut a prefix of the trail and anchor what remains.

Retention archives old rows first (a later issue); this removes them. The guard triggers allow a DELETE
only of ids inside the prune window, which exists only inside this transaction. The prune itself is
recorded in the trail, with the anchor (the hash the first remaining row links to) so ``verify`` can
still check the chain from its new start.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select

from stratlogic.db.session import UnitOfWork
from stratlogic.models import AuditLog, AuditPruneWindow
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories import _trail


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed: the id range, how many rows, and the anchor hash left behind."""

    rows: int
    first_id: int | None
    last_id: int | None
    anchor_hash: str | None


def prune_before(uow: UnitOfWork, before_id: int) -> PruneResult:
    """Delete every audit row with ``id < before_id`` (a prefix), recording one ``audit.pruned`` row."""
    _trail.lock(uow)
    session = uow.session
    first, last, rows = session.execute(select(func.min(AuditLog.id), func.max(AuditLog.id), func.count())
                                        .where(AuditLog.id < before_id)).one()
    if not rows:
        return PruneResult(0, None, None, None)
    anchor_hash = session.scalar(select(AuditLog.hash).where(AuditLog.id == last))
    session.add(AuditPruneWindow(max_id=last))
    session.flush()
    session.execute(delete(AuditLog).where(AuditLog.id <= last))
    session.execute(delete(AuditPruneWindow))
    _trail.record(uow, AuditAction.AUDIT_PRUNED, "audit", None,
                 {"first_id": first, "last_id": last, "rows": rows, "anchor_hash": anchor_hash})
    return PruneResult(rows, first, last, anchor_hash)


__all__ = ["PruneResult", "prune_before"]
