"""Verifying a PostgreSQL segment in column batches: the fast path behind ``verify`` (millions of rows).

Row by row in Python a row costs about 5 µs (parse, canonical JSON, sha256), so one process tops out
near 140k rows/s. Here the database streams Arrow batches over ADBC (binary COPY, decoded in C++ on a
reader thread), Arrow builds each row's canonical form column-wise, DuckDB hashes the batch, and Python
only canonicalises ``details`` objects (sorted keys), with a cache because most of them repeat. The
result is byte-for-byte the same canonical form as ``audit_rules.canonical``: any row whose strings
need JSON escaping (a quote, a backslash, a control character) is built by ``canonical`` itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import adbc_driver_postgresql.dbapi as adbc
import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from stratlogic.db import Database
from stratlogic.models.audit_rules import FORMAT_VERSION, canonical

_QUERY = ("SELECT id, occurred_at, actor_id, action, resource_type, resource_id, ip_address, user_agent, "
          "details, prev_hash, hash FROM audit_logs WHERE id >= {low} AND id < {high} ORDER BY id")
_STRINGS = ("action", "resource_type", "resource_id", "ip_address", "user_agent")
_NEEDS_ESCAPING = r'["\\\x00-\x1f]'
_CACHE_LIMIT = 65_536
#: Size of the Arrow batches the driver returns (tests shrink it to cross many batch boundaries).
BATCH_BYTES = 16 * 2**20


@dataclass
class Progress:
    """The chain as verified so far in one segment; ``bad_*`` set at the first fault."""

    rows: int = 0
    first_id: int | None = None
    first_prev: str | None = None
    last_id: int | None = None
    last_hash: str | None = None
    bad_id: int | None = None
    problem: str | None = None
    checkpoint_hash: str | None = None
    rows_to_checkpoint: int = 0
    details_cache: dict[str, bytes] = field(default_factory=dict)


def verify_batches(database: Database, low: int, high: int, checkpoint_id: int | None,
                   key: bytes | None) -> Progress:
    """Check content and links of every row in ``[low, high)``; stop at the first bad row."""
    state = Progress()
    hasher = duckdb.connect()
    try:
        for batch in _batches(database, low, high):
            if not _check(batch, state, checkpoint_id, key, hasher):
                break
    finally:
        hasher.close()
    return state


def _libpq_url(database: Database) -> str:
    return database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _batches(database: Database, low: int, high: int) -> Iterator[pa.RecordBatch]:
    """Record batches read ahead on a thread (decoding releases the GIL, so it overlaps the hashing)."""
    ready: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=3)
    stop = threading.Event()

    def read() -> None:
        try:
            with adbc.connect(_libpq_url(database)) as connection, connection.cursor() as cursor:
                cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
                cursor.execute(_QUERY.format(low=int(low), high=int(high)))
                for batch in cursor.fetch_record_batch():
                    if stop.is_set():
                        return
                    ready.put(batch)
            ready.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            ready.put(exc)

    reader = threading.Thread(target=read, name="audit-verify-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue, then let it finish
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)


def _check(batch: pa.RecordBatch, state: Progress, checkpoint_id: int | None, key: bytes | None,
           hasher: duckdb.DuckDBPyConnection) -> bool:
    """Check one batch against the running state; False once a bad row is found."""
    if batch.num_rows == 0:
        return True
    ids, prevs, hashes = batch.column("id"), batch.column("prev_hash"), batch.column("hash")
    if state.first_id is None:
        state.first_id, state.first_prev = ids[0].as_py(), prevs[0].as_py()
    previous = pa.concat_arrays([pa.array([state.last_hash or prevs[0].as_py()], pa.string()),
                                 hashes.slice(0, len(hashes) - 1).cast(pa.string())])
    links_ok = pc.equal(prevs.cast(pa.string()), previous)
    bad_link = _first_false(links_ok)
    bad_content = _first_wrong_digest(prevs, _bodies(batch, state.details_cache), hashes, key, hasher)
    bad = min((i for i in (bad_link, bad_content) if i is not None), default=None)
    good = batch.num_rows if bad is None else bad
    if checkpoint_id is not None and state.checkpoint_hash is None:
        _note_checkpoint(state, ids.slice(0, good), hashes, checkpoint_id)
    state.rows += good
    if good:
        state.last_id, state.last_hash = ids[good - 1].as_py(), hashes[good - 1].as_py()
    if bad is None:
        return True
    state.bad_id = ids[bad].as_py()
    state.problem = "link" if bad == bad_link else "content"
    return False


def _first_false(mask: pa.Array) -> int | None:
    index = pc.index(pc.fill_null(mask, False), False).as_py()
    return None if index < 0 else index


def _note_checkpoint(state: Progress, ids: pa.Array, hashes: pa.Array, checkpoint_id: int) -> None:
    position = pc.index(ids, checkpoint_id).as_py()
    if position >= 0:
        state.checkpoint_hash = hashes[position].as_py()
        state.rows_to_checkpoint = state.rows + position + 1


def _bodies(batch: pa.RecordBatch, cache: dict[str, bytes]) -> pa.Array:
    """Each row's canonical form (``audit_rules.canonical``), built column-wise."""
    when = _timestamps(batch.column("occurred_at"))
    actor = pc.fill_null(batch.column("actor_id").cast(pa.string()), "null")
    strings = [_json_string(batch.column(name)) for name in _STRINGS]
    details = pa.array(_details(batch.column("details"), cache), pa.binary()).cast(pa.string())
    parts = [f'["{FORMAT_VERSION}","', when, '",', actor]
    for text in strings:
        parts += [",", text]
    parts += [",", details, "]"]
    bodies = pc.binary_join_element_wise(*parts, "")
    escaped = _needs_escaping(batch)
    if not pc.any(escaped).as_py():
        return bodies
    return _with_escaped_rows(batch, bodies, when, escaped)


def _timestamps(column: pa.Array) -> pa.Array:
    """``audit_rules.timestamp`` column-wise: UTC, microseconds, ``T`` and ``Z`` (20x quicker than strftime)."""
    text = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us")).cast(pa.string())
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T", max_replacements=1), "Z", "")


def _json_string(column: pa.Array) -> pa.Array:
    """``"value"`` or ``null``; rows needing escapes are rebuilt separately."""
    return pc.fill_null(pc.binary_join_element_wise('"', column.cast(pa.string()), '"', ""), "null")


def _needs_escaping(batch: pa.RecordBatch) -> pa.Array:
    masks = [pc.fill_null(pc.match_substring_regex(batch.column(name).cast(pa.string()), _NEEDS_ESCAPING), False)
             for name in _STRINGS]
    combined = masks[0]
    for mask in masks[1:]:
        combined = pc.or_(combined, mask)
    return combined


def _with_escaped_rows(batch: pa.RecordBatch, bodies: pa.Array, when: pa.Array, escaped: pa.Array) -> pa.Array:
    """Rebuild the rows whose strings need escaping with ``canonical`` itself."""
    rows = bodies.to_pylist()
    for i in pc.indices_nonzero(escaped).to_pylist():
        value = {name: batch.column(name)[i].as_py() for name in ("actor_id", *_STRINGS)}
        details = orjson.loads(_details_text(batch.column("details")[i].as_py()))
        rows[i] = canonical(when[i].as_py(), value["actor_id"], value["action"], value["resource_type"],
                            value["resource_id"], value["ip_address"], value["user_agent"], details).decode()
    return pa.array(rows, pa.string())


def _details_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _details(column: pa.Array, cache: dict[str, bytes]) -> list[bytes]:
    """Canonical ``details`` (sorted keys, compact); repeated objects are canonicalised once."""
    storage = column.storage if isinstance(column, pa.ExtensionArray) else column  # jsonb: arrow.json
    out = []
    dumps, loads, sort_keys = orjson.dumps, orjson.loads, orjson.OPT_SORT_KEYS
    for text in storage.to_pylist():
        found = cache.get(text)
        if found is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            found = cache[text] = dumps(loads(text), option=sort_keys)
        out.append(found)
    return out


def _first_wrong_digest(prevs: pa.Array, bodies: pa.Array, hashes: pa.Array, key: bytes | None,
                       hasher: duckdb.DuckDBPyConnection) -> int | None:
    """The first row whose ``digest(prev, body, key)`` is not its stored hash; DuckDB hashes the batch
    on every core (HMAC built from two sha256 passes, RFC 2104)."""
    messages = pc.binary_join_element_wise(prevs.cast(pa.string()), bodies, "\n")
    hasher.register("messages", pa.table({"i": pa.array(range(len(messages)), pa.int64()), "m": messages,
                                          "h": hashes.cast(pa.string())}))
    try:
        if key is None:
            found = hasher.execute("SELECT min(i) FROM messages WHERE sha256(m) <> h").fetchall()[0]
        else:
            inner, outer = _hmac_pads(key)
            found = hasher.execute("SELECT min(i) FROM messages WHERE sha256($outer::BLOB || unhex(sha256("
                                   "$inner::BLOB || encode(m)))) <> h", {"inner": inner, "outer": outer}).fetchall()[0]
    finally:
        hasher.unregister("messages")
    return None if found is None or found[0] is None else int(found[0])


def _hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """RFC 2104: the key (hashed when longer than a block) padded and xored with ipad and opad."""
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


__all__ = ["BATCH_BYTES", "Progress", "verify_batches"]
