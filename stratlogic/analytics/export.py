"""Streaming exports of audit rows, jobs and artifacts to Parquet, CSV or XLSX, with a sidecar.

``export(db, "audit", "audit.parquet", since="-7d")`` reads the rows of one snapshot in Arrow batches
and writes them as they come, so memory stays flat however many rows there are. The rows and their
``COUNT(*)`` come from the same snapshot, and a mismatch is an error. Every file is written under a
temporary name and moved in place when complete; the sidecar (filters, window, row count, sha256 of each
file, Arrow schema, package version, the audit chain's tail) is written last and marks the export done.

``partition="day"`` writes a Hive-style dataset (``day=YYYY-MM-DD/part-N.parquet``, UTC days; the window
widens to whole days) that may already hold other windows: new days are added, days of this window that
exist are replaced only with ``force=True``, each day's files moved in place one at a time after every
file was written; its sidecar is ``_meta-<kind>-<since>-<until>.json`` (a leading ``_``, which Spark skips).

The export itself is not audited: nothing is appended to the trail, so a whole-trail export's row count
is the chain's length at the snapshot.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import posixpath
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from stratlogic.analytics._export_read import Snapshot, open_snapshot
from stratlogic.analytics._export_sources import KINDS, Condition, Source, as_json, parse_conditions, source_for
from stratlogic.analytics._export_write import BatchWriter, CsvOut, HashingFile, ParquetOut, XlsxOut
from stratlogic.analytics.window import Window, parse_window
from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.errors import ConflictError, DatabaseError, ValidationError
from stratlogic.storage import locations as files

Format = Literal["parquet", "csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("parquet", "csv", "xlsx")
COMPRESSIONS = ("zstd", "snappy")
SIDECAR_VERSION = 1
#: A day with more rows than this continues in part-1, part-2, ... (each file stays a comfortable size).
ROWS_PER_PART = 5_000_000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportedFile:
    """One file an export wrote: where, how many rows, its size and its sha256."""

    path: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote; ``empty`` when the window held no rows (the files still carry the schema)."""

    kind: str
    fmt: str
    rows: int
    files: tuple[ExportedFile, ...]
    sidecar: str
    seconds: float
    empty: bool
    since: datetime | None = None
    until: datetime | None = None
    replaced: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportRequest:
    """An export's validated inputs."""

    db: Database
    source: Source
    fmt: Format
    window: Window
    conditions: list[Condition]
    force: bool
    csv_raw: bool
    compression: str
    progress: Progress | None


def export(db: Database, kind: Literal["audit", "jobs", "artifacts"], out: str | Path, *, fmt: Format = "parquet",
           since: Any = "-30d", until: Any = "now", tz: str = "UTC", filters: Mapping[str, object] | None = None,
           partition: Literal["day"] | None = None, force: bool = False, csv_raw: bool = False,
           store_settings: Settings | None = None, progress: Progress | None = None,
           compression: str = "zstd") -> ExportResult:
    """Export the rows of ``kind`` in the window to ``out`` (a file, a dataset folder, or ``s3://bucket/key``).

    Args:
        kind: ``audit``, ``jobs`` or ``artifacts``.
        out: the file (or, with ``partition``, the dataset folder); ``s3://`` goes to the configured S3 store.
        fmt: ``parquet``, ``csv`` or ``xlsx``.
        since, until, tz: the window (``parse_window``'s grammar) on the occurrence / creation time.
        filters: audit ``action``, ``actor``, ``resource_type``; jobs ``status``, ``owner``, ``kind``, ``domain``;
            artifacts ``content_type``, ``bucket``, ``job``. A scalar or a list each.
        partition: ``"day"`` writes a Hive-partitioned Parquet dataset.
        force: replace an existing file, or this window's existing partitions.
        csv_raw: CSV for machine readers: text cells exactly as stored, none neutralised for Excel.
        store_settings: the S3 endpoint and keys (default: the database's settings).
        progress: called with the number of rows written so far, after each batch.
        compression: Parquet compression, ``zstd`` or ``snappy``.

    Raises:
        ValidationError: unknown kind, format, filter or compression, or a bad window.
        ConflictError: the output exists (or holds this window's partitions) and ``force`` is not set.
        StorageError: the output cannot be written.
        DatabaseError: reading failed (a dropped connection), or the rows did not match their COUNT(*).
    """
    started = time.perf_counter()
    source = source_for(kind)
    request = ExportRequest(db, source, _format(fmt), parse_window(since, until, tz=tz),
                            parse_conditions(source, filters), force, csv_raw, _compression(compression), progress)
    target = files.resolve(out, store_settings or db.settings)
    if partition is None:
        return _single(request, target, started)
    if partition != "day":
        raise ValidationError(f"partition {partition!r} is not supported; use 'day' (or none)")
    if request.fmt != "parquet":
        raise ValidationError(f"partition 'day' writes Parquet; format {request.fmt!r} cannot be partitioned")
    from stratlogic.analytics._export_partitions import write_partitioned

    return write_partitioned(request, target, started)


def _format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise ValidationError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def _compression(name: str) -> str:
    if name not in COMPRESSIONS:
        raise ValidationError(f"unknown compression {name!r}; use one of {', '.join(COMPRESSIONS)}")
    return name


def day_window(window: Window) -> tuple[datetime, datetime]:
    """The window widened to whole UTC days (a partition always holds a whole day)."""
    start = datetime.combine(window.since.astimezone(UTC).date(), clock(), UTC)
    end_day = (window.until.astimezone(UTC) - timedelta(microseconds=1)).date() + timedelta(days=1)
    return start, datetime.combine(end_day, clock(), UTC)


# --- single file ------------------------------------------------------------------------------------------

class OpenFile:
    """A file being written: the writer, its temporary target, and (XLSX) the local file it goes to."""

    def __init__(self, request: ExportRequest, final: files.Target, stack: ExitStack) -> None:
        self.final, self.temporary, self.local, self.rows = final, final.temporary(), None, 0
        self.sink: HashingFile | None = None
        schema = request.source.schema
        if request.fmt == "xlsx":
            folder = Path(self.temporary.path).parent if not final.is_s3 else Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="stratlogic-export-")))
            self.local = folder / self.temporary.name
            with files.storage_errors(final, "write"):
                self.writer: BatchWriter = XlsxOut(self.local, schema, request.source.kind)
            return
        with files.storage_errors(final, "write"):
            self.sink = HashingFile(self.temporary.fs.open_output_stream(self.temporary.path))
            self.writer = (ParquetOut(self.sink, schema, request.compression) if request.fmt == "parquet"
                           else CsvOut(self.sink, schema, request.csv_raw))

    def write(self, batch: pa.RecordBatch) -> None:
        with files.storage_errors(self.final, "write"):
            self.writer.write(batch)
        self.rows += batch.num_rows

    def close(self) -> ExportedFile:
        """Close the file and hash it; it keeps its temporary name until ``put``."""
        with files.storage_errors(self.final, "write"):
            self.writer.close()
        if self.local is None:
            assert self.sink is not None
            return ExportedFile(self.final.shown, self.rows, self.sink.size, self.sink.sha256.hexdigest())
        return ExportedFile(self.final.shown, self.rows, self.local.stat().st_size, _sha256(self.local))

    def put(self) -> None:
        """Move the closed file to its final name (replacing what was there, whole)."""
        if self.local is not None and self.final.is_s3:
            files.upload(self.local, self.final)
        else:
            files.move(self.temporary, self.final)

    def abort(self) -> None:
        """Remove whatever was written (the final name is never touched)."""
        if self.sink is not None:
            self.sink.close()
        if self.local is not None:
            self.local.unlink(missing_ok=True)
        files.discard(self.temporary)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * 2**20):
            digest.update(chunk)
    return digest.hexdigest()


def _single(request: ExportRequest, target: files.Target, started: float) -> ExportResult:
    if files.is_dir(target):
        raise ValidationError(f"out {target.shown!r} is a folder; give a file name (or --partition day)")
    if files.exists(target) and not request.force:
        raise ConflictError(f"{target.shown} already exists; use --force to replace it")
    files.prepare_parent(target)
    sidecar = target.sibling(f"{target.name}.meta.json")
    window = request.window
    with ExitStack() as stack:
        output = OpenFile(request, target, stack)  # before the query: an unwritable --out fails at once
        try:
            with open_snapshot(request.db, request.source, window.since, window.until, request.conditions) as snap:
                for batch in snap.batches:
                    output.write(batch)
                    _report(request, output.rows)
                check_count(snap, output.rows)
            written = output.close()
            output.put()
        except BaseException:
            output.abort()
            raise
    result = ExportResult(request.source.kind, request.fmt, written.rows, (written,), sidecar.shown,
                          time.perf_counter() - started, written.rows == 0, window.since, window.until)
    files.write_json(sidecar, sidecar_document(request, snap, result, None))
    return result


def _report(request: ExportRequest, rows: int) -> None:
    if request.progress is not None:
        request.progress(rows)


def check_count(snapshot: Snapshot, rows: int) -> None:
    """The rows written must be the rows counted in the same snapshot."""
    if rows != snapshot.count:
        raise DatabaseError(f"export of {snapshot.source.kind}: wrote {rows} rows but COUNT(*) in the same "
                            f"snapshot is {snapshot.count}; nothing was put in place")


def day_runs(batch: pa.RecordBatch, time_column: str) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Split a batch into its rows of each UTC day: ``("2026-12-05", rows)`` (one slice when it holds one day)."""
    days = batch.column(time_column).cast(pa.timestamp("us", tz="UTC")).cast(pa.date32())
    values = days.cast(pa.int32()).to_numpy(zero_copy_only=False)
    if len(values) == 0:
        return
    cuts = np.flatnonzero(np.diff(values)) + 1
    if len(cuts) == 0:
        yield days[0].as_py().isoformat(), batch
    elif bool(np.all(np.diff(values) >= 0)):  # sorted: contiguous slices
        bounds = [0, *cuts.tolist(), len(values)]
        for start, end in itertools.pairwise(bounds):
            yield days[start].as_py().isoformat(), batch.slice(start, end - start)
    else:
        for day in np.unique(values).tolist():
            yield (date(1970, 1, 1) + timedelta(days=day)).isoformat(), batch.filter(pa.array(values == day))


def sidecar_document(request: ExportRequest, snapshot: Snapshot, result: ExportResult,
                     window: tuple[datetime, datetime] | None) -> dict[str, Any]:
    """Everything needed to know what an export holds and to check its files."""
    from stratlogic.reports.manifest import package_version

    since, until = window or (request.window.since, request.window.until)
    tail = snapshot.tail
    return {
        "sidecar_version": SIDECAR_VERSION, "kind": result.kind, "format": result.fmt,
        "csv_mode": ("raw" if request.csv_raw else "excel-safe") if result.fmt == "csv" else None,
        "excel_safe": result.fmt == "xlsx" or (result.fmt == "csv" and not request.csv_raw),
        "compression": request.compression if result.fmt == "parquet" else None,
        "timestamps": "UTC (CSV: ISO 8601 with offset; XLSX: UTC, named in the header)",
        "window": {"since": since.isoformat(), "until": until.isoformat(), "tz": request.window.tz,
                   "column": snapshot.source.time_column},
        "filters": as_json(snapshot.conditions),
        "rows": result.rows, "empty": result.empty,
        "files": [{"path": _relative(f.path, result), "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256}
                  for f in result.files],
        "replaced": list(result.replaced),
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in snapshot.source.schema],
        "arrow_schema": base64.b64encode(snapshot.source.schema.serialize().to_pybytes()).decode(),
        "package_version": package_version(),
        "database": request.db.dialect,
        "audit_chain_tail": {"id": tail[0], "hash": tail[1]} if tail else None,
        "exported_at": datetime.now(UTC).isoformat(),
    }


def _relative(path: str, result: ExportResult) -> str:
    folder = posixpath.dirname(result.sidecar)
    return path.removeprefix(folder + "/")


def requested_days(start: datetime, end: datetime) -> list[str]:
    """Every UTC day in ``[start, end)`` as ``YYYY-MM-DD``."""
    days, day = [], start.date()
    while datetime.combine(day, clock(), UTC) < end:
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


__all__ = ["COMPRESSIONS", "FORMATS", "KINDS", "ExportResult", "ExportedFile", "OpenFile", "check_count", "day_runs",
           "day_window", "export", "requested_days", "sidecar_document"]
