"""The audit trail: verify the chain, take and check checkpoints, prune a prefix, read the trail.

Appending rows is not here: every repository write records its own (``repositories/_trail.py``). What a
person does with the trail is (``stratlogic audit …``, ``wb.audit``), so one place sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stratlogic.audit import checkpoint as checkpoints
from stratlogic.audit.checkpoint import Checkpoint
from stratlogic.audit.prune import PruneResult, prune_before
from stratlogic.audit.verify import VerifyReport
from stratlogic.audit.verify import verify as verify_chain
from stratlogic.db import Database
from stratlogic.db.actor import Actor, as_actor
from stratlogic.errors import ValidationError
from stratlogic.models import AuditLog
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories import AuditRepository, Page
from stratlogic.services._base import entry, unit
from stratlogic.storage.documents import read_document, write_document


@dataclass(frozen=True)
class CheckpointWritten:
    """A checkpoint taken and where it went (a path, or the ``s3://`` URL given)."""

    checkpoint: Checkpoint
    location: str


@entry("audit.verify", writes=False)
def verify(database: Database, *, actor: Actor, checkpoint: str | Checkpoint | None = None,
           workers: int | None = None) -> VerifyReport:
    """Check every row's content and link, and that a checkpoint's prefix is intact; never raises for tampering.

    ``checkpoint``: one taken earlier, or where it was written (a file, or ``s3://BUCKET/KEY``), read with
    the store's ``STRATLOGIC_S3_*`` settings. A file that is not a checkpoint is refused naming it.
    """
    point = _load_checkpoint(database, checkpoint) if isinstance(checkpoint, str) else checkpoint
    with as_actor(actor):
        return verify_chain(database, checkpoint=point, workers=workers)


def _load_checkpoint(database: Database, location: str) -> Checkpoint:
    """The checkpoint written at ``location`` (a file or ``s3://BUCKET/KEY``); refused naming it if it is none."""
    return Checkpoint.from_json(read_document(database.settings, location).decode(), location)


@entry("audit.checkpoint", writes=True)
def checkpoint(database: Database, out: str, *, actor: Actor) -> CheckpointWritten:
    """Record a checkpoint of the trail's tail (an ``audit.checkpoint`` row naming ``actor``) and write it to
    ``out``: a file (written atomically) or ``s3://BUCKET/KEY``, kept away from the database it vouches for."""
    with as_actor(actor):
        point = checkpoints.take(database)
    try:
        return CheckpointWritten(point, write_document(database.settings, out, point.to_json().encode()))
    except OSError as exc:  # a folder that cannot be made, a full disk: say where, not a traceback
        raise ValidationError(f"cannot write the checkpoint to {out}: {exc.strerror or exc} (the trail records it "
                              f"as taken at row {point.last_id}; nothing else changed)") from None


@entry("audit.prune", writes=True)
def prune(database: Database, before_id: int, *, actor: Actor) -> PruneResult:
    """Delete every row with ``id < before_id`` (a prefix) and record one ``audit.pruned`` row with the anchor
    the remaining chain starts from, so ``verify`` still passes."""
    if isinstance(before_id, bool) or not isinstance(before_id, int) or before_id < 1:
        raise ValidationError(f"before_id {before_id!r} is not a row id (ids are whole numbers from 1)")
    with unit(database, actor) as uow:
        return prune_before(uow, before_id)


@entry("audit.list", writes=False)
def list_rows(database: Database, *, actor: Actor, action: str | None = None, resource_type: str | None = None,
              resource_id: str | None = None, actor_id: int | None = None, since: datetime | None = None,
              until: datetime | None = None, filters: Mapping[str, Any] | None = None, limit: int = 50,
              cursor: str | None = None, labels: Mapping[str, str] | None = None) -> Page[AuditLog]:
    """One keyset page of the trail, oldest first: rows from ``since`` (inclusive) to ``until`` (exclusive).

    ``action`` in any case; one the trail never records is refused listing those it does, rather than
    matching nothing. ``filters`` adds any other filter of ``AuditRepository``. ``labels`` names the
    caller's flags in errors (``{"action": "--action", "actor_id": "--actor"}``).
    """
    names = dict(labels or {})
    chosen = {**(filters or {}), **_given(action=_action(action, names.get("action", "action")),
                                          resource_type=resource_type, resource_id=resource_id,
                                          actor_id=_user_id(actor_id, names.get("actor_id", "actor_id")),
                                          occurred_at__gte=since, occurred_at__lt=until)}
    AuditRepository.check_filters(chosen, labels=names)  # every filter refused before any query
    with unit(database, actor, readonly=True) as uow:
        return AuditRepository(uow).page(chosen, limit=limit, cursor=cursor)


@entry("audit.trail", writes=False)
def trail(database: Database, resource_type: str, resource_id: object, *, actor: Actor,
          limit: int = 100) -> list[AuditLog]:
    """Everything recorded about one resource (``"job", 42``), oldest first."""
    with unit(database, actor, readonly=True) as uow:
        return AuditRepository(uow).trail(resource_type, resource_id, limit=limit)


def _action(text: str | None, label: str) -> str | None:
    """An action as typed, in any case (``CONFIG.SET``); one the trail never records is refused, not matched."""
    if text is None:
        return None
    action = text.strip().lower()
    if action not in {a.value for a in AuditAction}:
        raise ValidationError(f"{label} {text!r} is not an audit action; allowed: "
                              f"{', '.join(a.value for a in AuditAction)}")
    return action


def _user_id(value: int | None, label: str) -> int | None:
    if value is not None and value < 0:
        raise ValidationError(f"{label} {value} is not a user id (ids are whole numbers from 1)")
    return value


def _given(**filters: Any) -> dict[str, Any]:
    """The filters given: None means not given; 0 and "" are values."""
    return {key: value for key, value in filters.items() if value is not None}


__all__ = ["CheckpointWritten", "PruneResult", "VerifyReport", "checkpoint", "list_rows", "prune",
           "trail", "verify"]
