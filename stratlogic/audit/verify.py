"""Verify the whole audit chain, streaming in id order with flat memory.

Each row is checked twice: its *content* (the hash recomputed from its canonical form and its
``prev_hash``) and its *link* (its ``prev_hash`` equals the hash of the row before it; the first row
links to the genesis value, or to the anchor recorded when an older prefix was pruned). The first row
that fails is named, with which of the two broke.

Content checks are independent per row, and links only need each segment's first and last hash, so on
PostgreSQL the id range is split into segments (four per core) verified by one process per core, each
taking the next segment when done and streaming Arrow batches (``_columnar``); the parent checks the
links between segments. SQLite is verified row by row in one pass. The processes are forked, except
inside a Jupyter kernel, where they are spawned and the caller's engine is left alone (``start_method``).
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_all_start_methods, get_context
from types import ModuleType
from typing import Any, Literal

from stratlogic.audit.checkpoint import Checkpoint
from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.models.audit_rules import GENESIS, content_ok, prune_anchor, pruned_rows, starts_chain, timestamp
from stratlogic.repositories.trail import AuditTrail, key_of

Row = tuple[int, str, int | None, str, str, str | None, str | None, str | None, Any, str, str]
Problem = Literal["content", "link", "checkpoint"]
#: Below this many rows one process is quicker than starting more.
PARALLEL_FROM = 200_000
#: Id ranges per process: one that finishes its range early takes the next, so a core slowed by other
#: work, or a denser stretch of the trail, does not leave the other core idle at the end.
SEGMENTS_PER_WORKER = 4
#: The smallest id range worth its own connection and query.
MIN_SEGMENT = 100_000
_START_METHOD = "fork" if "fork" in get_all_start_methods() else "spawn"  # spawn on macOS/Windows


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


@dataclass(frozen=True)
class Segment:
    """What one pass over an id range found: its ends (for the links between segments) and any fault."""

    rows: int
    first_id: int | None
    first_prev: str | None
    last_id: int | None
    last_hash: str | None
    bad_id: int | None = None
    problem: Problem | None = None
    message: str = ""
    checkpoint_hash: str | None = None
    rows_to_checkpoint: int = 0


def _portable_rows(database: Database, low: int, high: int) -> Iterator[Row]:
    with database.unit_of_work(readonly=True) as uow:
        for row in AuditTrail(uow).rows(low, high):
            yield (row[0], timestamp(row[1]), *row[2:])


def _broken_link(row_id: int | None, prev_id: int | None) -> str:
    return (f"row {row_id}: link broken: its prev_hash does not match the hash of row {prev_id} before it "
            "(a row was inserted, deleted or reordered)")


def _broken_content(row_id: int, keyed: bool) -> str:
    cause = "the row was edited, or the audit key is wrong" if keyed else "the row was edited"
    return f"row {row_id}: content does not match its hash ({cause})"


def verify_segment(database: Database, low: int, high: int, checkpoint_id: int | None = None) -> Segment:
    """Check content of every row with ``low <= id <= high`` and the links inside it (not the first row's link)."""
    if database.dialect == "postgresql":
        return _pg_segment(database, low, high, checkpoint_id)
    key = key_of(database.settings)
    count, first, prev_id, expected = 0, None, None, None
    checkpoint_hash, rows_to_checkpoint = None, 0
    for row_id, when, actor, action, rtype, rid, ip, agent, details, prev, current in _portable_rows(
            database, low, high):
        if first is None:
            first = (row_id, prev)
        elif prev != expected:
            return Segment(count, *first, prev_id, expected, row_id, "link", _broken_link(row_id, prev_id))
        if not content_ok(prev, current, key, when, actor, action, rtype, rid, ip, agent, details):
            return Segment(count, *first, prev_id, expected, row_id, "content", _broken_content(row_id, bool(key)))
        count, prev_id, expected = count + 1, row_id, current
        if row_id == checkpoint_id:
            checkpoint_hash, rows_to_checkpoint = current, count
    first_id, first_prev = first or (None, None)
    return Segment(count, first_id, first_prev, prev_id, expected, checkpoint_hash=checkpoint_hash,
                   rows_to_checkpoint=rows_to_checkpoint)


def _columnar() -> ModuleType:
    """``_columnar``, imported on first use: pyarrow and ADBC take a fifth of a second to import, which
    neither SQLite nor the rest of the package (nor any other CLI command) should pay."""
    return importlib.import_module("stratlogic.audit._columnar")


def _pg_segment(database: Database, low: int, high: int, checkpoint_id: int | None) -> Segment:
    """The PostgreSQL path: Arrow batches over ADBC, canonical forms built column-wise, hashed with
    OpenSSL (``_columnar``): well under half the CPU per row of the row-by-row loop."""
    key = key_of(database.settings)
    found = _columnar().verify_batches(database, low, high, checkpoint_id, key)
    message = ""
    if found.bad_id is not None:
        message = (_broken_link(found.bad_id, found.last_id) if found.problem == "link"
                   else _broken_content(found.bad_id, bool(key)))
    problem: Problem | None = "link" if found.problem == "link" else "content" if found.problem else None
    return Segment(found.rows, found.first_id, found.first_prev, found.last_id, found.last_hash, found.bad_id,
                   problem, message, found.checkpoint_hash, found.rows_to_checkpoint)


def _segment_in_child(settings: Settings, low: int, high: int, checkpoint_id: int | None) -> Segment:
    database = Database.from_settings(settings)
    try:
        return verify_segment(database, low, high, checkpoint_id)
    finally:
        database.dispose()


#: Every id a row can have: a single segment reads them all, so a row slipped in at a negative id (the
#: sequence never gives one) or at the very top is checked like any other.
_ALL_IDS = (-(2**63), 2**63 - 1)


def _bounds(database: Database, workers: int) -> list[tuple[int, int]]:
    """Inclusive id ranges of about equal size for ``workers`` processes, from the lowest id to the highest
    (rows appended after this moment are not part of this check). The row count is estimated from the id
    span (gaps are rare: rolled-back transactions; pruning removes a prefix): ``count(*)`` would read the
    whole table once more."""
    if workers <= 1:
        return [_ALL_IDS]
    with database.unit_of_work(readonly=True) as uow:
        span = AuditTrail(uow).id_span()
    if span is None or span[1] - span[0] + 1 < PARALLEL_FROM:
        return [_ALL_IDS]
    low, high = span
    parts = max(workers, min(workers * SEGMENTS_PER_WORKER, (high - low + 1) // MIN_SEGMENT))
    step = (high - low) // parts + 1
    cuts = [low + i * step for i in range(parts)] + [high + 1]
    return [(start, end - 1) for start, end in itertools.pairwise(cuts)]


def _segments(database: Database, checkpoint_id: int | None, workers: int | None) -> list[Segment]:
    processes = workers if workers is not None else (os.cpu_count() or 1)
    bounds = _bounds(database, processes if database.dialect == "postgresql" else 1)
    if len(bounds) == 1:
        return [verify_segment(database, *bounds[0], checkpoint_id)]
    # fork: starts in milliseconds and needs no ``if __name__ == "__main__"`` guard in a user's script.
    # The pool is emptied first, so no child inherits a socket the parent still uses; the columnar
    # modules are imported first, so each child inherits them instead of importing them again. In a
    # notebook kernel (threads, ZeroMQ sockets, a workbench's pool in use) nothing is forked: spawn.
    method = start_method()
    if method == "fork":
        _columnar()
        database.engine.dispose()
    with ProcessPoolExecutor(min(processes, len(bounds)), mp_context=get_context(method)) as pool:
        futures = [pool.submit(_segment_in_child, database.settings, low, high, checkpoint_id)
                   for low, high in bounds]
        return [future.result() for future in futures]


def start_method() -> str:
    """``fork`` for the CLI and scripts; ``spawn`` inside a Jupyter kernel, which must never be forked (its
    threads and sockets would be copied mid-use) and whose engine must not be disposed under it."""
    app = sys.modules.get("ipykernel.kernelapp")  # imported by a kernel; initialized only in a running one
    return "spawn" if app is not None and app.IPKernelApp.initialized() else _START_METHOD


def _prunes(database: Database) -> list[tuple[int, Any]]:
    """Every prune row's id and details, oldest first (a handful)."""
    with database.unit_of_work(readonly=True) as uow:
        return AuditTrail(uow).prunes()


def anchor(database: Database) -> str | None:
    """The hash the first remaining row links to, recorded by the newest prune (None: never pruned)."""
    prunes = _prunes(database)
    return prune_anchor(prunes[-1][1]) if prunes else None


def verify(database: Database, *, checkpoint: Checkpoint | None = None, workers: int | None = None) -> VerifyReport:
    """Check every row's content and link, and the checkpoint when given; never raises for tampering.

    Args:
        database: the database whose trail to check.
        checkpoint: a checkpoint taken earlier; the prefix it describes must be intact.
        workers: processes for PostgreSQL (default: one per core; trails under 200k rows use one).
    """
    started = time.perf_counter()
    start_anchor = anchor(database)
    segments = _segments(database, checkpoint.last_id if checkpoint else None, workers)
    count, last_id, last_hash = 0, None, None
    for segment in segments:
        if segment.first_id is not None:
            link = _first_link_problem(segment, last_id, last_hash, start_anchor)
            if link:
                return _bad(segment.first_id, "link", link, count, started)
        if segment.bad_id is not None:
            return _bad(segment.bad_id, segment.problem or "content", segment.message, count + segment.rows, started)
        count += segment.rows
        if segment.last_id is not None:
            last_id, last_hash = segment.last_id, segment.last_hash
    if checkpoint:
        problem = _checkpoint_problem(database, checkpoint, segments)
        if problem:
            return _bad(checkpoint.last_id, "checkpoint", problem, count, started)
    anchored = bool(segments[0].first_prev and segments[0].first_prev != GENESIS)
    message = f"{count} rows verified" + (" against the checkpoint" if checkpoint else "")
    return VerifyReport(True, count, last_id, last_hash, anchored, None, None, message, time.perf_counter() - started)


def _first_link_problem(segment: Segment, last_id: int | None, last_hash: str | None,
                        start_anchor: str | None) -> str | None:
    if last_id is None:  # the first row of the whole trail
        if starts_chain(segment.first_prev, start_anchor):
            return None
        return (f"row {segment.first_id}: link broken: the first row links neither to the genesis value nor to "
                "a recorded prune anchor (rows were cut off the start)")
    if segment.first_prev != last_hash:
        return _broken_link(segment.first_id, last_id)
    return None


def _bad(row_id: int, problem: Problem, message: str, count: int, started: float) -> VerifyReport:
    return VerifyReport(False, count, None, None, False, row_id, problem, message, time.perf_counter() - started)


def _pruned_after(database: Database, checkpoint: Checkpoint) -> int:
    """Rows at or before the checkpoint that a prune taken after it removed (they are legitimately gone)."""
    return sum(pruned_rows(details) for row_id, details in _prunes(database) if row_id > checkpoint.last_id)


def _checkpoint_problem(database: Database, checkpoint: Checkpoint, segments: list[Segment]) -> str | None:
    seen = [s for s in segments if s.checkpoint_hash is not None]
    if not seen:
        return (f"row {checkpoint.last_id} of the checkpoint taken at {checkpoint.taken_at} is missing: rows were "
                "cut off the end, or the row was pruned")
    if seen[0].checkpoint_hash != checkpoint.last_hash:
        return (f"row {checkpoint.last_id} no longer has the hash recorded by the checkpoint taken at "
                f"{checkpoint.taken_at}: the chain up to it was rewritten")
    holder = segments.index(seen[0])
    count = sum(s.rows for s in segments[:holder]) + seen[0].rows_to_checkpoint
    pruned = _pruned_after(database, checkpoint)
    if count + pruned != checkpoint.rows:
        return (f"the checkpoint taken at {checkpoint.taken_at} counted {checkpoint.rows} rows up to row "
                f"{checkpoint.last_id}; the database now holds {count} (+{pruned} pruned since)")
    return None


__all__ = ["PARALLEL_FROM", "Segment", "VerifyReport", "anchor", "start_method", "verify", "verify_segment"]
