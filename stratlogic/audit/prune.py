"""The one documented way to delete audit rows: cut a prefix of the trail and anchor what remains.

Retention archives old rows first (a later issue); this removes them. The guard triggers allow a DELETE
only of ids inside the prune window, which exists only inside this transaction. The prune itself is
recorded in the trail, with the anchor (the hash the first remaining row links to) so ``verify`` can
still check the chain from its new start. The rows are removed by ``AuditTrail.prune_before``.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratlogic.db.session import UnitOfWork
from stratlogic.repositories.trail import AuditTrail


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed: the id range, how many rows, and the anchor hash left behind."""

    rows: int
    first_id: int | None
    last_id: int | None
    anchor_hash: str | None


def prune_before(uow: UnitOfWork, before_id: int) -> PruneResult:
    """Delete every audit row with ``id < before_id`` (a prefix), recording one ``audit.pruned`` row."""
    pruned = AuditTrail(uow).prune_before(before_id)
    return PruneResult(pruned.rows, pruned.first_id, pruned.last_id, pruned.anchor_hash)


__all__ = ["PruneResult", "prune_before"]
