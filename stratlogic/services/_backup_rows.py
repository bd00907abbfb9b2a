"""A backup's rows as Arrow batches: the content hash, the target's limits, and the
bulk writer's wire form. Nothing here touches a database or a file.

The content hash of a table is the same for a SQLite database and its PostgreSQL restore because it is taken
over typed Arrow columns (integers as 64-bit little-endian, times as UTC microseconds, text as UTF-8 bytes with
their lengths, JSON documents parsed and written again with sorted keys), never over what a driver or the
storage returns, and rows come in primary-key order (text keys in byte order). Batch boundaries do not change
it: each column is
hashed as one stream.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from stratlogic.errors import ValidationError
from stratlogic.repositories.tables import ColumnSpec, TableSpec

#: Microseconds from the Unix epoch to 2000-01-01 (the bulk writer's wire epoch for timestamps).
_PG_EPOCH_US = 946_684_800_000_000
_JSONB_VERSION = b"\x01"


def canonical_json(text: str) -> str:
    """One JSON document as canonical text: sorted keys, no insignificant space, UTF-8 (not escaped)."""
    value = orjson.loads(text)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # an integer beyond 64 bits: the standard library keeps it
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_id(spec: TableSpec, batch: pa.RecordBatch, index: int) -> str:
    """The primary key of row ``index`` as people read it (``42``, or ``'jobs.lease_seconds'``)."""
    values = [batch.column(spec.schema.get_field_index(k))[index].as_py() for k in spec.key]
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)


def canonical_documents(spec: TableSpec, batch: pa.RecordBatch, column: ColumnSpec, array: pa.Array) -> bytes:
    """A JSON column's documents in canonical text, each followed by a comma (SQL NULL as ``null``: the validity
    stream tells them apart), parsed and written by orjson in one call per batch; a document that is not JSON
    is refused naming its row."""
    count = len(array)
    if count == 0:
        return b""
    filled = pc.fill_null(array, "null")
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, count], pa.int32()), filled), ",")[0].as_py()
    try:
        values = orjson.loads(f"[{joined}]")
        if len(values) == count:  # a "document" holding a comma would split in two: checked one by one below
            return orjson.dumps(values, option=orjson.OPT_SORT_KEYS)[1:-1] + b","
    except (ValueError, TypeError):
        pass
    parts = []
    for index, text in enumerate(filled.to_pylist()):
        try:
            parts.append(canonical_json(text).encode() + b",")
        except (ValueError, TypeError) as exc:
            raise ValidationError(f"table {spec.name}, row {row_id(spec, batch, index)}, column {column.name}: "
                                  f"not a JSON document ({exc})") from None
    return b"".join(parts)


class ContentHash:
    """The content hash of one table, fed a batch at a time in primary-key order.

    Each column has three streams (validity, then lengths for text, then the values or the UTF-8 bytes), each
    hashed on its own, so where the batches are cut does not matter.
    """

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.rows = 0
        self._streams = [(hashlib.sha256(), hashlib.sha256(), hashlib.sha256()) for _ in spec.columns]

    def update(self, batch: pa.RecordBatch) -> None:
        """Add the next rows (typed as the table's schema)."""
        self.rows += batch.num_rows
        for streams, column, array in zip(self._streams, self.spec.columns, batch.columns, strict=True):
            for hasher, part in zip(streams, _column_bytes(self.spec, batch, column, array), strict=True):
                hasher.update(part)

    def hexdigest(self) -> str:
        """``sha256`` over the table's name, its row count and each column's name, kind and stream hashes."""
        outer = hashlib.sha256(f"stratlogic-backup-content/1\n{self.spec.name}\n{self.rows}\n".encode())
        for streams, column in zip(self._streams, self.spec.columns, strict=True):
            parts = ":".join(h.hexdigest() for h in streams)
            outer.update(f"{column.name}:{column.kind}:{parts}\n".encode())
        return outer.hexdigest()


def _column_bytes(spec: TableSpec, batch: pa.RecordBatch, column: ColumnSpec,
                  array: pa.Array) -> tuple[bytes | memoryview, ...]:
    """A column's canonical bytes: validity, then the values (fixed width), the lengths and the UTF-8 data
    (text), or the canonical documents (JSON)."""
    validity = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.uint8).tobytes()
    if column.kind == "json":
        return validity, b"", canonical_documents(spec, batch, column, array)
    if column.kind == "text":
        filled = pc.fill_null(array.cast(pa.string()), "")
        lengths = np.asarray(pc.binary_length(filled).to_numpy(zero_copy_only=False), dtype="<i8").tobytes()
        buffers = filled.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int32)[filled.offset:filled.offset + len(filled) + 1]
        data: bytes | memoryview = b""
        if buffers[2] is not None and len(offsets) and offsets[-1] > offsets[0]:
            data = memoryview(buffers[2])[int(offsets[0]):int(offsets[-1])]
        return validity, lengths, data
    values = np.asarray(pc.fill_null(array.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype="<i8")
    return validity, b"", values.tobytes()


def check_limits(spec: TableSpec, batch: pa.RecordBatch) -> None:
    """Refuse a row PostgreSQL would refuse: text over its VARCHAR length, NUL in text or in a JSON document.

    SQLite stores both without a word; the message names the table, the row's id and the column.
    """
    for i, column in enumerate(spec.columns):
        array = batch.column(i)
        if column.kind == "text":
            if column.length is not None:
                _first(spec, batch, column, pc.greater(pc.utf8_length(array), column.length),
                       f"longer than {column.length} characters (VARCHAR({column.length}))")
            _first(spec, batch, column, pc.match_substring(array, "\x00"), "holds a NUL character")
        elif column.kind == "json":
            suspects = pc.match_substring(array, "\\u0000")
            if pc.any(suspects).as_py():
                holds = [_holds_nul(orjson.loads(t)) if s else False
                         for t, s in zip(array.to_pylist(), suspects.to_pylist(), strict=True)]
                _first(spec, batch, column, pa.array(holds), "holds a NUL character (\\u0000) in a JSON document")


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _first(spec: TableSpec, batch: pa.RecordBatch, column: ColumnSpec, mask: pa.Array, problem: str) -> None:
    if not pc.any(mask).as_py():
        return
    index = int(pc.index(mask, True).as_py())
    raise ValidationError(f"table {spec.name}, row {row_id(spec, batch, index)}, column {column.name}: {problem}; "
                          "PostgreSQL refuses it (fix the row in the source database, then back up again)")


def copy_csv(batch: pa.RecordBatch) -> bytes:
    """The batch as ``COPY … (FORMAT csv)`` reads it, written by Arrow in C++: no header, NULL an unquoted empty
    field, every text quoted (so an empty text stays empty), times as ``2026-12-01 08:30:00.000000Z``."""
    sink = io.BytesIO()
    pacsv.write_csv(batch, sink, pacsv.WriteOptions(include_header=False, batch_size=max(batch.num_rows, 1)))
    return sink.getvalue()


def wire_rows(spec: TableSpec, batch: pa.RecordBatch, dialect: str) -> list[tuple[Any, ...]]:
    """The batch as the bulk writer's rows: times as microseconds since 2000, JSON as jsonb's binary form
    (for SQLite in canonical text, which its JSON columns hold: equal values are equal text)."""
    columns: list[Sequence[Any]] = []
    for column, array in zip(spec.columns, batch.columns, strict=True):
        if column.kind == "time":
            micros = pc.subtract(array.cast(pa.int64()), _PG_EPOCH_US)
            columns.append(micros.to_pylist())
        elif column.kind == "json":
            if dialect == "sqlite":
                texts = [None if t is None else canonical_json(t) for t in array.to_pylist()]
                array = pa.array(texts, type=pa.string())
            prefixed = pc.binary_join_element_wise(pa.scalar(_JSONB_VERSION, pa.binary()), array.cast(pa.binary()), b"")
            columns.append(prefixed.to_pylist())
        else:
            columns.append(array.to_pylist())
    return list(zip(*columns, strict=True))


__all__ = ["ContentHash", "canonical_documents", "canonical_json", "check_limits", "copy_csv", "row_id", "wire_rows"]
