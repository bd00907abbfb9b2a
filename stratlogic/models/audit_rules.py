"""The audit trail's rules: the closed set of actions, the canonical form each row is hashed in, how rows
link (to the one before, the first to the genesis value or a prune's anchor), what a prune and a checkpoint
record. Stated here once; the code that appends (``repositories/_trail.py``, the seeds' ``Chain``, the
claim statement in ``repositories/_claim.py``) and the code that checks (``audit/verify.py`` and its
columnar path ``audit/_columnar.py``) build on these names.

docs/audit.md specifies the same format in prose, precisely enough to write an independent verifier.
The canonical form is built from parsed values (never from stored text), so it survives PostgreSQL's
JSONB key reordering and a restore into the other engine.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

FORMAT_VERSION = "v1"
GENESIS = "0" * 64
MASK = "***"
_MAX_INT = 2**53  # integers beyond this are recorded as strings (JSON readers disagree past it)
#: A row's hashed fields, in the order the canonical form lists them after ``FORMAT_VERSION``.
CANONICAL_FIELDS = ("occurred_at", "actor_id", "action", "resource_type", "resource_id", "ip_address", "user_agent",
                    "details")
#: A stored row: its position in the chain (order is the id, never the time), the hashed fields, its link
#: (the previous row's hash) and its own hash.
ROW_FIELDS = ("id", *CANONICAL_FIELDS, "prev_hash", "hash")
#: The ``format`` a checkpoint file carries.
CHECKPOINT_FORMAT = "stratlogic-audit-checkpoint/1"


class AuditAction(enum.StrEnum):
    """Every action the trail records. Adding one is a deliberate change to this list and docs/audit.md."""

    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"
    USER_ACTIVATED = "user.activated"
    USER_DEACTIVATED = "user.deactivated"
    USER_VERIFIED = "user.verified"
    USER_ROLE_CHANGED = "user.role_changed"
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 (an action name, not a password)
    USER_LOGGED_IN = "user.logged_in"
    CONFIG_SET = "config.set"
    CONFIG_UNSET = "config.unset"
    ARTIFACT_CREATED = "artifact.created"
    ARTIFACT_UPDATED = "artifact.updated"
    ARTIFACT_DELETED = "artifact.deleted"
    ARTIFACT_STORED = "artifact.stored"
    ARTIFACT_METADATA_SET = "artifact.metadata_set"
    ARTIFACT_METADATA_DELETED = "artifact.metadata_deleted"
    JOB_CREATED = "job.created"
    JOB_UPDATED = "job.updated"
    JOB_DELETED = "job.deleted"
    JOB_STATUS_CHANGED = "job.status_changed"
    JOB_RECOVERED = "job.recovered"
    ROW_CREATED = "row.created"
    ROW_UPDATED = "row.updated"
    ROW_DELETED = "row.deleted"
    AUDIT_PRUNED = "audit.pruned"
    AUDIT_CHECKPOINT = "audit.checkpoint"
    BACKUP_CREATED = "backup.created"
    BACKUP_STARTED = "backup.started"
    BACKUP_COMPLETED = "backup.completed"
    BACKUP_RESTORED = "backup.restored"
    RETENTION_CLEANED = "retention.cleaned"
    REPORT_RUN = "report.run"


def timestamp(moment: datetime) -> str:
    """UTC, microsecond precision, always the same width: ``2026-11-25T08:30:00.000000Z``."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clean_details(value: Any, secret_keys: frozenset[str] = frozenset()) -> Any:
    """Details reduced to the JSON types the canonical form allows (strings, integers, booleans, null,
    arrays, objects with string keys). Floats, decimals, big integers, dates and enums become strings;
    keys named in ``secret_keys`` have their values masked.
    """
    if isinstance(value, Mapping):
        return {str(k): MASK if str(k) in secret_keys and v is not None else clean_details(v, secret_keys)
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [clean_details(item, secret_keys) for item in items]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, enum.Enum):
        return clean_details(value.value, secret_keys)
    if isinstance(value, int):
        return value if -_MAX_INT <= value <= _MAX_INT else str(value)
    if isinstance(value, float | Decimal):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        return timestamp(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def canonical(occurred_at: datetime | str, actor_id: int | None, action: str, resource_type: str,
              resource_id: str | None, ip_address: str | None, user_agent: str | None,
              details: Any) -> bytes:
    """The row as bytes: a compact JSON array with sorted object keys, UTF-8, no insignificant space."""
    when = occurred_at if isinstance(occurred_at, str) else timestamp(occurred_at)
    row = [FORMAT_VERSION, when, actor_id, action, resource_type, resource_id, ip_address, user_agent, details]
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)


def digest(prev_hash: str, canonical_row: bytes, key: bytes | None = None) -> str:
    """``sha256(prev_hash || "\\n" || canonical)`` as hex, or HMAC-SHA256 with ``key`` when one is set."""
    message = prev_hash.encode("ascii") + b"\n" + canonical_row
    if key:
        return hmac.new(key, message, hashlib.sha256).hexdigest()
    return hashlib.sha256(message).hexdigest()


def content_ok(prev_hash: str, stored_hash: str, key: bytes | None, *fields: Any) -> bool:
    """The content rule: the row (``fields`` in ``CANONICAL_FIELDS`` order) hashes onto ``prev_hash`` to its
    stored hash. Details no recorded row can hold (an integer beyond 64 bits, which orjson refuses to
    write) make it a mismatch rather than an error."""
    try:
        return digest(prev_hash, canonical(*fields), key) == stored_hash
    except TypeError:  # orjson.JSONEncodeError
        return False


def starts_chain(prev_hash: str | None, anchor_hash: str | None) -> bool:
    """The link rule for the first row of a trail: it links to the genesis value, or to the anchor the newest
    prune recorded (the hash of the last row it removed). Every other row links to the hash of the row
    before it."""
    return prev_hash == GENESIS or (anchor_hash is not None and prev_hash == anchor_hash)


def prune_details(first_id: int, last_id: int, rows: int, anchor_hash: str | None) -> dict[str, Any]:
    """What an ``audit.pruned`` row records: the id range removed, how many rows, and the anchor."""
    return {"first_id": first_id, "last_id": last_id, "rows": rows, "anchor_hash": anchor_hash}


def prune_anchor(details: Mapping[str, Any] | None) -> str | None:
    """The anchor an ``audit.pruned`` row recorded (None for details without one)."""
    return str(details["anchor_hash"]) if details and "anchor_hash" in details else None


def pruned_rows(details: Mapping[str, Any] | None) -> int:
    """How many rows an ``audit.pruned`` row says it removed."""
    return int((details or {}).get("rows", 0))


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """RFC 2104's inner and outer keys (the key, hashed when longer than a block, padded and xored with
    ipad and opad), so code with only sha256 (the claim statement in PostgreSQL, the columnar verifier) can
    compute ``digest`` with a key: ``sha256(outer || sha256(inner || message))``."""
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


__all__ = ["CANONICAL_FIELDS", "CHECKPOINT_FORMAT", "FORMAT_VERSION", "GENESIS", "MASK", "ROW_FIELDS", "AuditAction",
           "canonical", "clean_details", "content_ok", "digest", "hmac_pads", "prune_anchor", "prune_details",
           "pruned_rows", "starts_chain", "timestamp"]
