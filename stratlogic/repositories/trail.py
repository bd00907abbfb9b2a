"""The audit trail as a repository: the one public way to append to the chain and to read what checking,
checkpointing and pruning it need. Every row read or written here; the rules the rows obey (the closed set
of actions, the canonical form, the hash) are in ``models/audit_rules.py``.

``AuditTrail(uow)`` works in the caller's unit of work, like every repository. Appending is serialised by
the write lock (``lock``), taken before the tail is read, so the chain never forks; ``record`` and
``append`` take it themselves. The implementation of appending stays in ``_trail`` (every repository's
write calls it); this module is what code outside ``repositories/`` uses.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import delete, func, select

from stratlogic.config import Settings
from stratlogic.db.session import UnitOfWork
from stratlogic.errors import ValidationError
from stratlogic.models import AuditLog, AuditPruneWindow
from stratlogic.models.audit_rules import ROW_FIELDS, AuditAction, prune_details
from stratlogic.repositories import _trail
from stratlogic.repositories._trail import AuditEntry

if TYPE_CHECKING:
    import pyarrow as pa

    from stratlogic.db import Database

#: One row as the chain hashes it, in column order: id, occurred_at, actor_id, action, resource_type,
#: resource_id, ip_address, user_agent, details, prev_hash, hash.
Row = tuple[int, Any, int | None, str, str, str | None, str | None, str | None, Any, str, str]
#: The columns of ``Row``, in order (``audit_rules.ROW_FIELDS``).
ROW_COLUMNS = ROW_FIELDS
#: Rows fetched per round trip when streaming a range (flat memory over millions of rows).
STREAM_ROWS = 20_000
_TAIL = select(AuditLog.id, AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)
#: The columnar verifier's query (PostgreSQL, over ADBC): the same columns as ``Row``, in key order.
ARROW_QUERY = (f"SELECT {', '.join(ROW_COLUMNS)} FROM audit_logs "  # noqa: S608 (our column names)
               "WHERE id >= {low} AND id <= {high} ORDER BY id")
#: Stream in primary-key order instead of sorting: without statistics (autovacuum off, or right after a
#: bulk load) the planner picks a bitmap scan and an on-disk sort of the whole range, which on the demo
#: trail cost a third more server time and held back the first row until it was done. No JIT (its
#: compile time is wasted on this plan), no parallel workers (the verifier already uses every core).
ARROW_SESSION = ("SET enable_sort = off", "SET jit = off", "SET max_parallel_workers_per_gather = 0")


class TrailEnd(NamedTuple):
    """A row of the chain named by its id and hash (the tail, a checkpoint's last row)."""

    id: int
    hash: str


@dataclass(frozen=True)
class Pruned:
    """What a prune removed: the id range, how many rows, and the anchor hash the first remaining row links to."""

    rows: int
    first_id: int | None
    last_id: int | None
    anchor_hash: str | None


def key_of(settings: Settings) -> bytes | None:
    """The HMAC key when STRATLOGIC_AUDIT_KEY is set (for paths that run without a unit of work: the
    verifier's processes, the claim statement)."""
    return _trail.key_of(settings)


class AuditTrail:
    """The audit chain seen from one unit of work: append, read its tail and ranges, prune a prefix."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    # --- appending ---------------------------------------------------------------------------------------

    def lock(self) -> None:
        """Take the append lock for the rest of this transaction (PostgreSQL; SQLite writers already hold one).
        Take it before reading the tail to chain on, and before lifting a statement timeout."""
        _trail.lock(self.uow)

    def key(self) -> bytes | None:
        """The HMAC key the chain is computed with, None when unkeyed."""
        return _trail.audit_key(self.uow)

    def tail(self) -> TrailEnd | None:
        """The newest row's id and hash; None when the trail is empty."""
        row = self.uow.connection.execute(_TAIL).first()
        return None if row is None else TrailEnd(int(row[0]), str(row[1]))

    def tail_hash(self) -> str:
        """The hash the next row links to: the newest row's, or the genesis value when the trail is empty."""
        return _trail.tail_hash(self.uow)

    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Append one row per entry, chained in order, under the append lock, in this transaction."""
        _trail.append(self.uow, entries)

    def record(self, action: AuditAction, resource_type: str, resource_id: object | None,
               details: Mapping[str, Any] | None = None, *, secret_keys: frozenset[str] = frozenset()) -> None:
        """Append one row for a change made in this unit of work (``secret_keys``: details masked)."""
        _trail.record(self.uow, action, resource_type, resource_id, details, secret_keys=secret_keys)

    # --- reading -----------------------------------------------------------------------------------------

    def count(self) -> int:
        """How many rows the trail holds."""
        return int(self.uow.connection.scalar(select(func.count()).select_from(AuditLog)) or 0)

    def id_span(self) -> tuple[int, int] | None:
        """The lowest and highest id; None when the trail is empty."""
        low, high = self.uow.connection.execute(select(func.min(AuditLog.id), func.max(AuditLog.id))).one()
        return None if low is None else (int(low), int(high))

    def first_id(self) -> int | None:
        """The lowest id (above 1 once a prefix was pruned); None when the trail is empty."""
        found = self.uow.connection.scalar(select(func.min(AuditLog.id)))
        return None if found is None else int(found)

    def hash_of(self, row_id: int) -> str | None:
        """The stored hash of row ``row_id``; None when there is no such row."""
        return self.uow.connection.scalar(select(AuditLog.hash).where(AuditLog.id == int(row_id)))

    def rows(self, low: int, high: int) -> Iterator[Row]:
        """Every row with ``low <= id <= high`` in id order, streamed (``STREAM_ROWS`` per round trip)."""
        columns = [getattr(AuditLog, name) for name in ROW_COLUMNS]
        query = select(*columns).where(AuditLog.id >= low, AuditLog.id <= high).order_by(AuditLog.id)
        # SQLAlchemy's rows are tuples already: handed on as they come (millions of them, on the verifier's path)
        yield from cast("Iterator[Row]", self.uow.session.execute(query.execution_options(yield_per=STREAM_ROWS)))

    def recorded(self, action: AuditAction, resource_type: str, resource_id: object) -> list[tuple[int, Any]]:
        """The id and details of every row recording ``action`` on one resource, oldest first."""
        query = (select(AuditLog.id, AuditLog.details)
                 .where(AuditLog.action == AuditAction(action).value, AuditLog.resource_type == resource_type,
                        AuditLog.resource_id == str(resource_id)).order_by(AuditLog.id))
        return [(int(row_id), details) for row_id, details in self.uow.session.execute(query)]

    def prunes(self) -> list[tuple[int, Any]]:
        """Every ``audit.pruned`` row's id and details, oldest first (a handful). Filtered on the action alone,
        so the (action, occurred_at) index answers it: ordering or filtering by id as well lets the planner
        walk the primary key instead, through the whole trail when there has never been a prune."""
        found = self.uow.session.execute(select(AuditLog.id, AuditLog.details)
                                         .where(AuditLog.action == AuditAction.AUDIT_PRUNED))
        return sorted(((int(row_id), details) for row_id, details in found), key=lambda row: row[0])

    # --- the one delete ----------------------------------------------------------------------------------

    def prune_before(self, before_id: int) -> Pruned:
        """Delete every row with ``id < before_id`` (a prefix) and record one ``audit.pruned`` row holding
        the anchor (the hash the first remaining row links to), so the rest still verifies.

        The guard triggers allow a DELETE only of ids inside the prune window, which exists only inside
        this transaction, under the append lock.

        Raises:
            ValidationError: ``before_id`` is not an integer (nothing is deleted).
        """
        before_id = _row_id(before_id, "prune before id")
        self.lock()
        session = self.uow.session
        first, last, rows = session.execute(select(func.min(AuditLog.id), func.max(AuditLog.id), func.count())
                                            .where(AuditLog.id < before_id)).one()
        if not rows:
            return Pruned(0, None, None, None)
        anchor_hash = self.hash_of(last)
        session.add(AuditPruneWindow(max_id=last))
        session.flush()
        session.execute(delete(AuditLog).where(AuditLog.id <= last))
        session.execute(delete(AuditPruneWindow))
        self.record(AuditAction.AUDIT_PRUNED, "audit", None, prune_details(first, last, rows, anchor_hash))
        return Pruned(rows, first, last, anchor_hash)


def _row_id(value: object, what: str) -> int:
    """An audit row id given as any integer (numpy's too), refusing text, floats and booleans by name."""
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be an integer row id, not {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValidationError(f"{what} must be an integer row id, not {value!r}") from None


def arrow_batches(database: Database, low: int, high: int, *, batch_bytes: int,
                  read_ahead: int) -> Iterator[pa.RecordBatch]:
    """The rows with ``low <= id <= high`` as Arrow batches in id order, columns as ``ROW_COLUMNS``
    (PostgreSQL over ADBC, read ahead on a thread: the columnar verifier's source)."""
    from stratlogic.db import arrow  # pyarrow and ADBC: a fifth of a second, paid only by who streams

    query = ARROW_QUERY.format(low=int(low), high=int(high))
    return arrow.stream(database, query, session=ARROW_SESSION, batch_bytes=batch_bytes, read_ahead=read_ahead,
                        thread_name="audit-verify-reader")


__all__ = ["ARROW_QUERY", "ARROW_SESSION", "ROW_COLUMNS", "AuditEntry", "AuditTrail", "Pruned", "Row", "TrailEnd",
           "arrow_batches", "key_of"]
