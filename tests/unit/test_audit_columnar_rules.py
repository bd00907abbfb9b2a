"""The columnar verifier's fast path builds exactly ``audit_rules.canonical`` and ``digest``, byte for byte.

No database here: batches are built the way ADBC returns them (``details`` as PostgreSQL prints jsonb:
keys ordered by length first, ``", "`` and ``": "`` between tokens), from seeded random rows full of
awkward values: strings needing escapes next to plain ones, non-ASCII and non-BMP text, U+2028, DEL,
nested and empty objects and arrays, keys that sort differently by length than by code point, floats,
integers up to 64 bits, every HMAC key length. The PostgreSQL round trip is in
tests/integration/test_audit_columnar.py.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from stratlogic.audit import _columnar
from stratlogic.models.audit_rules import GENESIS, canonical, digest, timestamp

TEXTS = ["plain", "", "quote \" inside", "back\\slash", "new\nline\tand\rreturns", "bell\x07 \x00 \x1f",
         "ünïcödé ✓", "emoji 🚀 outside the BMP", "line sep \u2028 para \u2029", "del \x7f", "a/b</script>",
         "{\"looks\": [\"like json\"]}", "trailing space ", "١٢٣ arabic digits", "\\u0041 not an escape"]
PLAIN = [t for t in TEXTS if not any(c in t for c in "\"\\") and all(ord(c) >= 0x20 for c in t)]
KEYS = ["a", "b", "z", "aa", "ab", "ba", "zz", "aaa", "é", "ée", "z\u00e9", "", "A", "_", "10", "9", "key with space",
        "quote\"key", "🚀", "values", "to", "from", "attempt", "worker"]
KEYS_PLAIN = [k for k in KEYS if '"' not in k]


def pg_jsonb_text(value: Any) -> str:
    """``details::text`` as PostgreSQL prints jsonb: object keys by byte length, then bytes; spaced."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{pg_jsonb_text(k)}: {pg_jsonb_text(value[k])}" for k in keys) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(pg_jsonb_text(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(["str", "int", "bigint", "float", "bool", "null", "list", "dict", "dict"]
                      if depth < 3 else ["str", "int", "bool", "null"])
    if kind == "str":
        return rng.choice(TEXTS)
    if kind == "int":
        return rng.choice([0, 1, -1, 2**53, -(2**53), rng.randint(-(2**53), 2**53)])
    if kind == "bigint":
        return rng.choice([2**63 - 1, -(2**63), 2**60 + 7])
    if kind == "float":
        return rng.choice([0.5, -2.25, 1e-7, 1.0, 123456.789, 1e300])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(KEYS): random_value(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def random_details(rng: random.Random) -> dict[str, Any]:
    return {rng.choice(KEYS): random_value(rng) for _ in range(rng.randint(0, 8))}


def random_rows(rng: random.Random, count: int, *, plain: bool = False) -> list[dict[str, Any]]:
    """Rows as the database holds them; ``plain``: no string needs escaping (the pure fast path)."""
    texts = PLAIN if plain else TEXTS
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(count):
        rows.append({
            "id": 1000 + i * rng.randint(1, 3),
            "occurred_at": start + timedelta(microseconds=rng.randrange(0, 400 * 86_400 * 10**6)),
            "actor_id": rng.choice([None, 1, 42, 2**62]),
            "action": rng.choice(["job.created", "user.updated", *texts]),
            "resource_type": rng.choice(["job", "user", *texts]),
            "resource_id": rng.choice([None, "17", *texts]),
            "ip_address": rng.choice([None, "10.1.2.3", "2001:db8::1"]),
            "user_agent": rng.choice([None, *texts]),
            "details": random_details(rng) if not plain or rng.random() < 0.9 else {"only": "plain"},
        })
    return rows


def body(row: dict[str, Any]) -> bytes:
    return canonical(row["occurred_at"], row["actor_id"], row["action"], row["resource_type"], row["resource_id"],
                     row["ip_address"], row["user_agent"], row["details"])


def chain(rows: list[dict[str, Any]], key: bytes | None = None) -> list[dict[str, Any]]:
    """Fills in ``prev_hash`` and ``hash`` exactly as the package writes them."""
    prev = GENESIS
    for row in rows:
        row["prev_hash"], row["hash"] = prev, digest(prev, body(row), key)
        prev = row["hash"]
    return rows


def batch_of(rows: list[dict[str, Any]], *, details_text: Any = pg_jsonb_text) -> pa.RecordBatch:
    """The record batch ADBC returns for these rows (``details`` as the arrow.json extension type)."""
    details = pa.ExtensionArray.from_storage(pa.json_(), pa.array([details_text(r["details"]) for r in rows],
                                                                 pa.string()))
    return pa.record_batch({
        "id": pa.array([r["id"] for r in rows], pa.int64()),
        "occurred_at": pa.array([r["occurred_at"] for r in rows], pa.timestamp("us", tz="UTC")),
        "actor_id": pa.array([r["actor_id"] for r in rows], pa.int64()),
        **{name: pa.array([r[name] for r in rows], pa.string())
           for name in ("action", "resource_type", "resource_id", "ip_address", "user_agent")},
        "details": details,
        "prev_hash": pa.array([r["prev_hash"] for r in rows], pa.string()),
        "hash": pa.array([r["hash"] for r in rows], pa.string()),
    })


@pytest.mark.parametrize("seed", range(5))
def test_fast_path_messages_are_the_canonical_bytes(seed: int) -> None:
    rows = chain(random_rows(random.Random(seed), 400, plain=True))
    batch = batch_of(rows)
    assert _columnar._escaped_rows(batch) == []
    messages = _columnar._messages(batch, {}).to_pylist()
    assert messages == [row["prev_hash"].encode() + b"\n" + body(row) for row in rows]


@pytest.mark.parametrize("seed", range(3))
def test_columns_all_null_never_null_or_mixed_and_sliced_batches(seed: int) -> None:
    """Columns take different paths when all null, never null or mixed; slices start mid-buffer."""
    rng = random.Random(seed)
    rows = random_rows(rng, 200)
    for row in rows:
        row["actor_id"] = None
        row["ip_address"] = None
        row["user_agent"] = rng.choice(PLAIN)
    chain(rows)
    batch = batch_of(rows)
    for start, stop in ((0, 200), (7, 150), (199, 200), (50, 50)):
        part = batch.slice(start, stop - start)
        assert _columnar._digests(part, {}, None, _columnar._hasher(None)) == [r["hash"] for r in rows[start:stop]]
    plain = chain(random_rows(rng, 50, plain=True))
    for row in plain:
        row["user_agent"] = None
    assert _columnar._messages(batch_of(plain), {}).to_pylist() == [
        row["prev_hash"].encode() + b"\n" + body(row) for row in plain]


@pytest.mark.parametrize("key", [None, b"", b"k", b"k" * 64, b"long-" * 30, "ключ ✓".encode()])
@pytest.mark.parametrize("seed", range(3))
def test_every_digest_matches_audit_rules(seed: int, key: bytes | None) -> None:
    rows = chain(random_rows(random.Random(seed), 300), key)
    batch = batch_of(rows)
    assert _columnar._escaped_rows(batch), "the sample should include rows needing escapes"
    computed = _columnar._digests(batch, {}, key, _columnar._hasher(key))
    assert computed == [row["hash"] for row in rows]


@pytest.mark.parametrize("details_text", [
    lambda value: json.dumps(value, ensure_ascii=True),                       # \\u escapes, Python's key order
    lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
    lambda value: json.dumps(value, indent=2),                                  # newlines and indentation
], ids=["ascii-escaped", "compact-sorted", "indented"])
def test_details_are_canonicalised_from_the_parsed_value_not_the_text(details_text: Any) -> None:
    rows = chain(random_rows(random.Random(7), 200, plain=True))
    assert _columnar._digests(batch_of(rows, details_text=details_text), {}, None,
                              _columnar._hasher(None)) == [row["hash"] for row in rows]


def test_cached_and_long_details_agree_across_batches_and_the_cache_stays_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_columnar, "_CACHE_TEXT", 40)  # some documents cached, some too long to be
    monkeypatch.setattr(_columnar, "_CACHE_LIMIT", 8)
    rng = random.Random(11)
    shapes = [{"to": "running", "from": "queued", "attempt": i, "worker": f"w-{i}"} for i in range(20)]
    rows = random_rows(rng, 300, plain=True)
    for row in rows:
        row["details"] = rng.choice(shapes) if rng.random() < 0.8 else random_details(rng)
    chain(rows)
    cache: dict[str, bytes] = {}
    for start in range(0, len(rows), 50):  # one cache across batches, as in a segment
        part = rows[start:start + 50]
        assert _columnar._digests(batch_of(part), cache, None, _columnar._hasher(None)) == [r["hash"] for r in part]
        assert len(cache) <= 8 + 50
        assert all(len(text) <= 40 for text in cache)


def test_timestamps_are_formatted_like_audit_rules() -> None:
    rng = random.Random(5)
    moments = [datetime(1970, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
               datetime(2000, 2, 29, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)]
    moments += [datetime(1901, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(0, 200 * 365 * 86_400 * 10**6))
                for _ in range(2000)]
    found = _columnar._timestamps(pa.array(moments, pa.timestamp("us", tz="UTC"))).to_pylist()
    assert found == [timestamp(moment)[:-1].encode() for moment in moments]  # the Z is a separate part


@pytest.mark.parametrize("key", [b"k", b"x" * 63, b"x" * 64, b"x" * 65, b"long-" * 40])
def test_keyed_hasher_is_hmac_sha256(key: bytes) -> None:
    rng = random.Random(len(key))
    messages = [rng.randbytes(rng.randint(0, 300)) for _ in range(50)]
    ends = [0]
    for message in messages:
        ends.append(ends[-1] + len(message))
    found = _columnar._hasher(key)(memoryview(b"".join(messages)), ends)
    assert found == [hmac.new(key, message, hashlib.sha256).hexdigest() for message in messages]


def test_the_first_bad_row_of_a_batch_is_named_with_what_broke() -> None:
    rows = chain(random_rows(random.Random(3), 60))
    edited = [dict(row) for row in rows]
    edited[41]["details"] = {**edited[41]["details"], "extra": 1}
    state = _columnar.Progress()
    assert not _columnar._check(batch_of(edited), state, None, None, _columnar._hasher(None))
    assert (state.bad_id, state.problem, state.rows) == (rows[41]["id"], "content", 41)
    relinked = [dict(row) for row in rows]
    relinked[17]["prev_hash"] = "f" * 64
    state = _columnar.Progress()
    assert not _columnar._check(batch_of(relinked), state, None, None, _columnar._hasher(None))
    assert (state.bad_id, state.problem, state.rows) == (rows[17]["id"], "link", 17)


@pytest.mark.parametrize("escaped", [False, True])
def test_details_orjson_cannot_parse_make_the_row_a_mismatch_not_an_error(escaped: bool) -> None:
    rows = chain(random_rows(random.Random(9), 20, plain=True))
    if escaped:
        rows[5]["user_agent"] = 'needs "escaping"'
    texts = [pg_jsonb_text(row["details"]) for row in rows]
    texts[5] = '{"a": 1e400}'
    batch = batch_of(rows, details_text=lambda value: texts.pop(0))
    computed = _columnar._digests(batch, {}, None, _columnar._hasher(None))
    assert computed[5] is None
    assert computed[:5] == [row["hash"] for row in rows[:5]]
    assert _columnar._first_wrong_digest(computed, [row["hash"] for row in rows]) == 5


def test_the_cyclic_collector_is_paused_only_while_batches_are_checked() -> None:
    assert gc.isenabled()
    with _columnar._without_cyclic_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with _columnar._without_cyclic_gc():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


# --- the chain's rules, stated once in audit_rules ------------------------------------------------------

def test_the_canonical_form_takes_the_fields_in_the_order_the_rules_state() -> None:
    import inspect

    from stratlogic.models.audit_rules import CANONICAL_FIELDS, ROW_FIELDS

    assert tuple(inspect.signature(canonical).parameters) == CANONICAL_FIELDS
    assert ("id", *CANONICAL_FIELDS, "prev_hash", "hash") == ROW_FIELDS
    assert _columnar._STRINGS == ("action", "resource_type", "resource_id", "ip_address", "user_agent")


def test_the_first_row_links_to_genesis_or_the_newest_prune_anchor_only() -> None:
    from stratlogic.models.audit_rules import prune_anchor, prune_details, pruned_rows, starts_chain

    anchor = "ab" * 32
    assert starts_chain(GENESIS, None) and starts_chain(GENESIS, anchor) and starts_chain(anchor, anchor)
    assert not starts_chain(anchor, None) and not starts_chain("cd" * 32, anchor) and not starts_chain(None, None)
    details = prune_details(1, 9, 9, anchor)
    assert (prune_anchor(details), pruned_rows(details)) == (anchor, 9)
    assert (prune_anchor({}), prune_anchor(None), pruned_rows(None)) == (None, None, 0)


def test_content_ok_is_the_digest_rule_and_a_row_no_writer_could_make_is_a_mismatch() -> None:
    from stratlogic.models.audit_rules import content_ok

    fields: list[Any] = ["2026-11-25T08:30:00.000000Z", 3, "job.updated", "job", "7", None, None, {"n": 1}]
    good = digest(GENESIS, canonical(*fields), b"k")
    assert content_ok(GENESIS, good, b"k", *fields)
    assert not content_ok(GENESIS, good, None, *fields)  # keyed hash, checked without the key
    assert not content_ok(GENESIS, good, b"k", *fields[:-1], {"n": 2})
    assert not content_ok(GENESIS, good, b"k", *fields[:-1], {"n": 2**70})  # orjson refuses it: no error
