"""Verify the whole audit chain, streaming in id order with flat memory.

Each row is checked twice: its *content* (the hash recomputed from its canonical form and its
``prev_hash``) and its *link* (its ``prev_hash`` equals the hash of the row before it; the first row
links to the genesis value, or to the anchor recorded when an older prefix was pruned). The first row
that fails is named, with which of the two broke.

On PostgreSQL the rows come from a server-side cursor with timestamps already formatted by the server
and details as JSON text parsed by orjson: the database formats while Python hashes, using both cores.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

import orjson
from sqlalchemy import select

from stratlogic.audit.checkpoint import Checkpoint
from stratlogic.db import Database
from stratlogic.models import AuditLog
from stratlogic.models.audit_rules import GENESIS, AuditAction, canonical, digest, timestamp

Row = tuple[int, str, int | None, str, str, str | None, str | None, str | None, Any, str, str]
Problem = Literal["content", "link", "checkpoint"]
_PG_ROWS = """
SELECT id, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor_id, action,
       resource_type, resource_id, ip_address, user_agent, details::text, prev_hash, hash
FROM audit_logs ORDER BY id
"""


@dataclass(frozen=True)
class VerifyReport:
    """The outcome: ``ok``, how many rows were checked, and the first bad row when not ok."""

    ok: bool
    rows: int
    last_id: int | None
    last_hash: str | None
    anchored: bool
    bad_id: int | None
    problem: Problem | None
    message: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _pg_rows(database: Database, batch: int) -> Iterator[Row]:
    with database.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor(name="stratlogic_audit_verify") as cursor:
            cursor.itersize = batch
            cursor.execute(_PG_ROWS)
            for row in cursor:
                yield (row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], orjson.loads(row[8]),
                       row[9], row[10])
        raw.rollback()


def _portable_rows(database: Database, batch: int) -> Iterator[Row]:
    columns = [AuditLog.id, AuditLog.occurred_at, AuditLog.actor_id, AuditLog.action, AuditLog.resource_type,
               AuditLog.resource_id, AuditLog.ip_address, AuditLog.user_agent, AuditLog.details,
               AuditLog.prev_hash, AuditLog.hash]
    with database.unit_of_work(readonly=True) as uow:
        result = uow.session.execute(select(*columns).order_by(AuditLog.id).execution_options(yield_per=batch))
        for row in result:
            values: Any = tuple(row)
            yield (values[0], timestamp(values[1]), *values[2:])


def anchor(database: Database) -> str | None:
    """The hash the first remaining row links to, recorded by the newest prune (None: never pruned)."""
    with database.unit_of_work(readonly=True) as uow:
        details = uow.session.scalar(select(AuditLog.details).where(AuditLog.action == AuditAction.AUDIT_PRUNED)
                                     .order_by(AuditLog.id.desc()).limit(1))
    return str(details["anchor_hash"]) if details and "anchor_hash" in details else None


def verify(database: Database, *, checkpoint: Checkpoint | None = None, batch: int = 20_000) -> VerifyReport:
    """Check every row's content and link, and the checkpoint when given; never raises for tampering."""
    started = time.perf_counter()
    key_secret = database.settings.audit_key
    key = key_secret.get_secret_value().encode() if key_secret else None
    start_anchor = anchor(database)
    rows = _pg_rows(database, batch) if database.dialect == "postgresql" else _portable_rows(database, batch)
    expected, count, last_id, last_hash, seen_checkpoint = None, 0, None, None, False
    pruned_after_checkpoint = _pruned_after(database, checkpoint)
    for row in rows:
        row_id, when, actor, action, rtype, rid, ip, agent, details, prev, current = row
        if expected is None:
            expected = prev if prev in (GENESIS, start_anchor) else GENESIS
        if prev != expected:
            return _bad(row_id, "link", f"row {row_id}: link broken: its prev_hash does not match the hash of "
                        f"row {last_id} before it (a row was inserted, deleted or reordered)"
                        if last_id else f"row {row_id}: link broken: the first row links neither to the "
                        "genesis value nor to a recorded prune anchor", count, started)
        body = canonical(when, actor, action, rtype, rid, ip, agent, details)
        if digest(prev, body, key) != current:
            return _bad(row_id, "content", f"row {row_id}: content does not match its hash (the row was "
                        "edited" + (", or the audit key is wrong)" if key else ")"), count, started)
        count, last_id, last_hash, expected = count + 1, row_id, current, current
        if checkpoint and row_id == checkpoint.last_id:
            seen_checkpoint = True
            problem = _checkpoint_problem(checkpoint, current, count, pruned_after_checkpoint)
            if problem:
                return _bad(row_id, "checkpoint", problem, count, started)
    if checkpoint and not seen_checkpoint:
        return _bad(checkpoint.last_id, "checkpoint", f"row {checkpoint.last_id} of the checkpoint taken at "
                    f"{checkpoint.taken_at} is missing: rows were cut off the end", count, started)
    elapsed = time.perf_counter() - started
    return VerifyReport(True, count, last_id, last_hash, expected not in (None, GENESIS) and start_anchor is not None,
                        None, None, f"{count} rows verified" + (" against the checkpoint" if checkpoint else ""),
                        elapsed)


def _bad(row_id: int, problem: Problem, message: str, count: int, started: float) -> VerifyReport:
    return VerifyReport(False, count, None, None, False, row_id, problem, message, time.perf_counter() - started)


def _pruned_after(database: Database, checkpoint: Checkpoint | None) -> int:
    """Rows at or before the checkpoint that a prune taken after it removed (they are legitimately gone)."""
    if checkpoint is None:
        return 0
    with database.unit_of_work(readonly=True) as uow:
        found = uow.session.scalars(select(AuditLog.details).where(
            AuditLog.action == AuditAction.AUDIT_PRUNED, AuditLog.id > checkpoint.last_id))
        return sum(int(details.get("rows", 0)) for details in found)


def _checkpoint_problem(checkpoint: Checkpoint, current: str, count: int, pruned: int) -> str | None:
    if current != checkpoint.last_hash:
        return (f"row {checkpoint.last_id} no longer has the hash recorded by the checkpoint taken at "
                f"{checkpoint.taken_at}: the chain up to it was rewritten")
    if count + pruned != checkpoint.rows:
        return (f"the checkpoint taken at {checkpoint.taken_at} counted {checkpoint.rows} rows up to "
                f"row {checkpoint.last_id}; the database now holds {count} (+{pruned} pruned since)")
    return None


__all__ = ["VerifyReport", "anchor", "verify"]
