"""The PostgreSQL claim: one statement picks, updates and appends the audit rows, hashed by the server.

Claims are the hottest write path of the system, and a claim that also had to send its audit rows back
from Python costs another statement inside the write lock. Here the statement does it all: pick in claim
order with ``FOR UPDATE SKIP LOCKED``, mark running, read the audit tail, chain one row per job with
PostgreSQL's ``sha256()`` (HMAC as two passes, RFC 2104, when a key is set) and insert them. The rows'
canonical form (docs/audit.md) is built in Python by ``audit_rules.canonical`` itself, once per worker
and actor, as text around the two values only the server knows (the job's id and attempt); a self-check
at that moment proves the pieces rebuild ``canonical`` byte for byte.

The statement takes the write lock itself (``stratlogic_write_lock()`` in the pick's WHERE clause,
evaluated below the row-locking step, so before any job row is locked; a poll that finds nothing to
claim takes no lock and waits for no writer) and reads the audit tail through
``stratlogic_audit_tail()``, whose query gets a snapshot taken after the lock: the statement's own
snapshot predates its wait for the lock and could miss rows appended meanwhile (migration 0006). So a
claim is one round trip plus the commit, like the bare ``SKIP LOCKED`` loop, and the lock is held for
one statement and the commit.

``run`` is the worker's path (``JobRepository.claim_now``): the statement as a transaction of its own
(autocommit: one round trip, and the write lock is released by the server's commit) on a pooled driver
connection, without an ORM session, because a session's bookkeeping costs more client time than the
claim itself.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import inspect
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from stratlogic.db.actor import Actor
from stratlogic.db.errors import translated, translated_driver
from stratlogic.models import JobStatus, ScrapingJob
from stratlogic.models.audit_rules import AuditAction, canonical, hmac_pads, timestamp
from stratlogic.models.job import CLAIM, Claimed

if TYPE_CHECKING:
    from stratlogic.db import Database

Row = tuple[object, ...]

JOB_COLUMNS = tuple(column.name for column in ScrapingJob.__table__.columns)
_ACTION = AuditAction.JOB_STATUS_CHANGED.value
_MESSAGE = "convert_to(c.hash || %(head)s || o.id || %(middle)s || o.attempt || %(tail)s, 'UTF8')"
#: ``CLAIM.sets`` in SQL: each value bound, except the rule's own constants.
_FORMS = {Claimed.TARGET: f"'{CLAIM.target.value}'", Claimed.WORKER: "%(worker)s", Claimed.NOW: "%(now)s",
          Claimed.LEASE_UNTIL: "%(lease_until)s", Claimed.NULL: "NULL", Claimed.ZERO: "0"}
_SET = ", ".join(f"{column} = j.{column} + 1" if how is Claimed.NEXT else f"{column} = {_FORMS[how]}"
                 for column, how in CLAIM.sets.items())
_ORDER = ", ".join(f"{column} DESC" if descending else column for column, descending in CLAIM.order)
_DUE = f"status = '{CLAIM.source.value}' AND ({CLAIM.due_column} IS NULL OR {CLAIM.due_column} <= %(now)s)"
#: The row's details: the actor's origin (``{"cli": {...}}``, or ``{}``) under the rule's own keys, as
#: ``Actor.details`` builds them for every other audit row (the row's own keys win: jsonb ``||`` keeps the right).
_DETAILS = ("%(origin)s::jsonb || "
            f"jsonb_build_object('from', '{CLAIM.source.value}', 'to', '{CLAIM.target.value}', 'attempt', attempt, "
            "'worker', %(worker)s::text)")


@lru_cache(maxsize=64)
def claim_sql(n: int, by_kind: bool) -> str:
    """The statement (psycopg placeholders), built from ``models.job.CLAIM``. Only fixed clauses, the rule's
    and the model's column names and ``n`` (an int, checked) are interpolated; every value is bound. ``n``
    is written in, not bound: with a bound LIMIT the server's generic plan sorts every queued job instead of
    reading the claim-order index."""
    kind = "AND kind = ANY(%(kinds)s) " if by_kind else ""
    columns = ", ".join(f"j.{name}" for name in JOB_COLUMNS)
    return (
        f"WITH RECURSIVE picked AS (SELECT id FROM scraping_jobs WHERE {_DUE} "  # noqa: S608
        f"{kind}AND stratlogic_write_lock() "
        f"ORDER BY {_ORDER} LIMIT {int(n)} FOR UPDATE SKIP LOCKED), "
        f"claimed AS (UPDATE scraping_jobs AS j SET {_SET} "
        f"FROM picked WHERE j.id = picked.id RETURNING {columns}), "
        f"ordered AS (SELECT row_number() OVER (ORDER BY {_ORDER}) AS k, id, attempt "
        "FROM claimed), "
        # the chain: row 0 carries the tail; row k hashes row k-1's hash with its own canonical form
        "chain (k, id, attempt, prev, hash) AS ("
        "SELECT 0::bigint, NULL::bigint, NULL::integer, NULL::text, stratlogic_audit_tail() "
        "WHERE EXISTS (SELECT FROM ordered) "  # an idle poll claims nothing and takes no lock
        "UNION ALL SELECT o.k, o.id, o.attempt, c.hash, encode(CASE WHEN %(inner)s::bytea IS NULL "
        f"THEN sha256({_MESSAGE}) ELSE sha256(%(outer)s::bytea || sha256(%(inner)s::bytea || {_MESSAGE})) END, "
        "'hex') FROM chain c JOIN ordered o ON o.k = c.k + 1), "
        "written AS (INSERT INTO audit_logs (occurred_at, actor_id, action, resource_type, resource_id, "
        "ip_address, user_agent, details, prev_hash, hash) "
        f"SELECT %(now)s, %(actor_id)s, '{_ACTION}', 'job', id::text, %(ip)s, %(user_agent)s, {_DETAILS}, "
        "prev, hash FROM chain WHERE k > 0 ORDER BY k RETURNING 1) "
        f"SELECT * FROM claimed ORDER BY {_ORDER}"
    )


def statement(n: int, kinds: Sequence[str] | None) -> str:
    """The claim statement for ``n`` jobs of an optional list of kinds."""
    return claim_sql(n, bool(kinds))


def params(worker_id: str, n: int, kinds: Sequence[str] | None, now: datetime, lease_until: datetime,
           actor: Actor, key: bytes | None) -> dict[str, Any]:
    """The statement's values; the audit rows' text pieces come from ``canonical`` (cached per worker)."""
    before, after, middle, tail = _pieces(worker_id, actor)
    inner, outer = _pads(key) if key else (None, None)
    return {"worker": worker_id, "now": now, "lease_until": lease_until,
            "kinds": list(kinds) if kinds else None, "actor_id": actor.user_id,
            "ip": actor.ip_address, "user_agent": actor.user_agent,
            "origin": json.dumps(actor.origin.as_details() if actor.origin else {}),
            "head": f"{before}{timestamp(now)}{after}",
            "middle": middle, "tail": tail, "inner": inner, "outer": outer}


#: The key's HMAC pads, made once per key rather than on every claim.
_pads = lru_cache(maxsize=4)(hmac_pads)

#: Markers cut out of a rendered row; random per process, so no worker name can be built to contain them.
_ID, _WHEN = f"job-{secrets.token_hex(12)}", f"when-{secrets.token_hex(12)}"
_ATTEMPT = -(10**17 + secrets.randbelow(10**17))


@lru_cache(maxsize=256)
def _pieces(worker_id: str, actor: Actor) -> tuple[str, str, str, str]:
    """``canonical`` of a claim's audit row cut around its timestamp, job id and attempt.

    Raises:
        RuntimeError: the pieces would not rebuild ``canonical`` exactly (nothing is claimed then; a
            change to the canonical form that this cutting no longer fits shows up here and in the tests).
    """
    def body(when: str, job_id: str, attempt: int) -> str:
        details = actor.details(CLAIM.audit_details(attempt, worker_id))
        return canonical(when, actor.user_id, _ACTION, "job", job_id, actor.ip_address, actor.user_agent,
                         details).decode()

    text = body(_WHEN, _ID, _ATTEMPT)
    if any(text.count(marker) != 1 for marker in (f'"{_WHEN}"', f'"{_ID}"', str(_ATTEMPT))):
        raise RuntimeError("the claim's audit template markers are not unique in the rendered row")
    start, rest = text.split(f'"{_WHEN}"')
    after, rest = rest.split(f'"{_ID}"')
    middle, tail = rest.split(str(_ATTEMPT))
    pieces = ("\n" + start + '"', '"' + after + '"', '"' + middle, tail)
    sample = datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=UTC)
    rebuilt = f"{pieces[0]}{timestamp(sample)}{pieces[1]}12345{pieces[2]}7{pieces[3]}"
    if rebuilt != "\n" + body(timestamp(sample), "12345", 7):
        raise RuntimeError("the claim's audit template does not rebuild audit_rules.canonical; refusing to claim")
    return pieces


def detached_job(row: Sequence[Any]) -> ScrapingJob:
    """A claimed row (its columns in ``JOB_COLUMNS`` order) as a detached ``ScrapingJob``, as if loaded by a
    session since closed: the status as its enum, timestamps in UTC (as ``UTCDateTime`` gives).

    Built the way the ORM's loader builds objects, with no constructor and no change history: about 7 µs
    where ``ScrapingJob(**values)`` took 30, out of a worker claim's 200-250 µs of client time.
    """
    values = dict(zip(JOB_COLUMNS, row, strict=True))
    values["status"] = JobStatus(values["status"])
    for name, value in values.items():
        if isinstance(value, datetime):
            values[name] = value.astimezone(UTC)
    job = _job_factory()()
    instance_state(job).dict.update(values)
    make_transient_to_detached(job)
    return job


@lru_cache(maxsize=1)
def _job_factory() -> Callable[[], ScrapingJob]:
    """``ScrapingJob`` without its constructor, once the mappers are configured (the constructor is what
    would configure them, and a worker's first claim may be the process's first use of the ORM)."""
    configure_mappers()
    return inspect(ScrapingJob).class_manager.new_instance


def run(database: Database, statement: str, values: dict[str, object]) -> list[Row]:
    """The claim statement as a transaction of its own, on one pooled connection.

    In autocommit mode the server commits the statement as it ends (or rolls it back on any error): the
    write lock the statement takes is released at that commit, without waiting for this process to be
    scheduled again to send a COMMIT. With many workers on few cores that wait was most of the time
    the lock was held. The connection goes back to the pool only once it is transactional again; a lost
    one, or one whose mode could not be restored, is discarded (the pool would hand it out in autocommit).
    """
    with translated(database.engine):
        pooled = database.engine.raw_connection()  # checked: a dead connection is replaced here
    restored = False
    try:
        connection: psycopg.Connection[Row] = pooled.driver_connection  # type: ignore[assignment]
        with translated_driver(database.engine, connection):
            connection.autocommit = True
            try:
                return _cursor(pooled.info, connection).execute(statement, values).fetchall()
            finally:
                if not connection.closed:
                    connection.autocommit = False
                    restored = True
    finally:
        if restored:
            pooled.close()  # back to the pool
        else:
            pooled.invalidate()


def _cursor(info: dict[Any, Any], connection: psycopg.Connection[Row]) -> psycopg.Cursor[Row]:
    """The connection's claim cursor, kept with it in the pool (and dropped with it): a new cursor would
    look up how to read the 25 returned columns again on every claim, about a tenth of its client time."""
    cursor = info.get(_CURSOR)
    if cursor is None or cursor.closed:
        cursor = info[_CURSOR] = connection.cursor()
    return cursor


_CURSOR = "stratlogic_claim_cursor"

__all__ = ["JOB_COLUMNS", "claim_sql", "detached_job", "params", "run", "statement"]
