"""Checkpoints: the tail of the trail (last id, its hash, row count, time) kept outside the database.

A chain alone cannot show rows cut off its end, or a chain recomputed by someone with database access.
A checkpoint saved elsewhere can: ``verify(checkpoint=...)`` proves the database still holds that prefix
unchanged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from stratlogic.db import Database
from stratlogic.errors import NotFoundError, ValidationError
from stratlogic.models import utcnow
from stratlogic.models.audit_rules import CHECKPOINT_FORMAT, AuditAction, timestamp
from stratlogic.repositories.trail import AuditTrail


@dataclass(frozen=True)
class Checkpoint:
    """Where the trail ended when the checkpoint was taken."""

    last_id: int
    last_hash: str
    rows: int
    taken_at: str
    keyed: bool

    def to_json(self) -> str:
        """The file's content."""
        return json.dumps({"format": CHECKPOINT_FORMAT, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "checkpoint") -> Checkpoint:
        """Parse a checkpoint file; raises ValidationError naming what is wrong with it."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.pop("format", None) != CHECKPOINT_FORMAT:
                raise ValueError("not a stratlogic audit checkpoint")
            found = cls(int(data["last_id"]), str(data["last_hash"]), int(data["rows"]), str(data["taken_at"]),
                        bool(data["keyed"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError(f"{source} is not a valid audit checkpoint: {exc}") from None
        if len(found.last_hash) != 64:
            raise ValidationError(f"{source} is not a valid audit checkpoint: hash of wrong length")
        return found


def take(database: Database) -> Checkpoint:
    """Read the current tail, and record in the trail that a checkpoint was taken."""
    with database.unit_of_work() as uow:
        trail = AuditTrail(uow)
        trail.lock()  # the tail and count of one moment: no append lands between them
        last = trail.tail()
        if last is None:
            raise NotFoundError("the audit trail is empty: nothing to checkpoint")
        rows = trail.count()
        point = Checkpoint(last.id, last.hash, rows, timestamp(utcnow()),
                           database.settings.audit_key is not None)
        trail.record(AuditAction.AUDIT_CHECKPOINT, "audit", last.id, {"rows": rows, "hash": last.hash})
    return point


def save(point: Checkpoint, path: Path) -> Path:
    """Write a checkpoint file (atomically: a half-written checkpoint would be worse than none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(point.to_json(), encoding="utf-8")
    partial.replace(path)
    return path


def load(path: Path) -> Checkpoint:
    """Read a checkpoint file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    return Checkpoint.from_json(text, str(path))


__all__ = ["Checkpoint", "load", "save", "take"]
