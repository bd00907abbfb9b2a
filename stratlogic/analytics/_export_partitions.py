"""Hive-partitioned Parquet exports: ``day=YYYY-MM-DD/part-N.parquet`` under a folder or an S3 prefix.

Rows arrive in storage order (for an append-only trail, time order), so few files are open at once.
Every file of the export is written under a
hidden temporary name first (``.part-0.parquet.tmp-…``: Spark skips a leading dot, and globs for
``*.parquet`` do not match it); only when all rows are written and counted are the days put in place,
one at a time: the new files moved to their final names, then the files they replace deleted. A failure
before that leaves every old partition as it was, and the sidecar (``_meta-….json``), written last,
marks the export complete.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import pyarrow as pa
import pyarrow.fs as pafs

from stratlogic.analytics._export_read import open_snapshot
from stratlogic.analytics.export import (
    ROWS_PER_PART,
    ExportedFile,
    ExportRequest,
    ExportResult,
    OpenFile,
    check_count,
    day_runs,
    day_window,
    requested_days,
    sidecar_document,
)
from stratlogic.errors import ConflictError, ValidationError
from stratlogic.storage import locations as files

_SKIPPED = (".", "_")
#: Days with an open file at once; one more closes the least recently written.
OPEN_FILES = 4


class _Staged:
    """The files written so far, per day, and the ones still open (rows come in storage order, which is
    nearly time order: a day whose file was closed and that shows up again continues in its next part)."""

    def __init__(self, request: ExportRequest, target: files.Target, stack: ExitStack) -> None:
        self.request, self.target, self.stack = request, target, stack
        self.days: dict[str, list[tuple[OpenFile, ExportedFile]]] = {}
        self.open: dict[str, OpenFile] = {}
        self.parts: dict[str, int] = {}

    def write(self, day: str, rows: pa.RecordBatch) -> None:
        handle = self.open.pop(day, None)
        if handle is not None and handle.rows >= ROWS_PER_PART:
            self._close(day, handle)
            handle = None
        if handle is None:
            while len(self.open) >= OPEN_FILES:
                oldest = next(iter(self.open))
                self._close(oldest, self.open.pop(oldest))
            part = self.parts.get(day, 0)
            self.parts[day] = part + 1
            final = self.target.child(f"day={day}", f"part-{part}.parquet")
            files.prepare_parent(final)
            handle = OpenFile(self.request, final, self.stack)
        self.open[day] = handle  # most recently used last
        handle.write(rows)

    def _close(self, day: str, handle: OpenFile) -> None:
        self.days.setdefault(day, []).append((handle, handle.close()))

    def close_all(self) -> None:
        while self.open:
            day = next(iter(self.open))
            self._close(day, self.open.pop(day))

    def abort(self) -> None:
        """Remove every temporary file not yet put in place."""
        for handle in self.open.values():
            handle.abort()
        for parts in self.days.values():
            for handle, _ in parts:
                files.discard(handle.temporary)


def _existing(target: files.Target, days: list[str]) -> dict[str, list[files.Target]]:
    """The data files of this window's days that the dataset already holds."""
    wanted = {f"day={day}" for day in days}
    found: dict[str, list[files.Target]] = {}
    for info in files.listing(target):
        if info.type == pafs.FileType.Directory and info.base_name in wanted:
            folder = target.child(info.base_name)
            found[info.base_name.removeprefix("day=")] = [
                folder.child(f.base_name) for f in files.listing(folder)
                if f.type == pafs.FileType.File and not f.base_name.startswith(_SKIPPED)]
    return found


def _put_in_place(staged: _Staged, days: list[str], existing: dict[str, list[files.Target]]) -> list[str]:
    """One day at a time: new files to their final names, then the old files they replace deleted."""
    replaced: list[str] = []
    for day in days:
        new = staged.days.get(day, [])
        for handle, _ in new:
            handle.put()
        names = {handle.final.name for handle, _ in new}
        for old in existing.get(day, []):
            if old.name not in names:
                files.delete(old)
        if day in existing:
            replaced.append(f"day={day}")
    return replaced


def write_partitioned(request: ExportRequest, target: files.Target, started: float) -> ExportResult:
    """Write the window's rows as a day-partitioned dataset; see the module's docstring."""
    if files.exists(target) and not files.is_dir(target):
        raise ValidationError(f"out {target.shown!r} is a file; a partitioned export needs a folder or prefix")
    start, end = day_window(request.window)
    days = requested_days(start, end)
    existing = _existing(target, days)
    if existing and not request.force:
        shown = ", ".join(f"day={day}" for day in sorted(existing)[:3]) + (" …" if len(existing) > 3 else "")
        raise ConflictError(f"{target.shown} already holds {len(existing)} partition(s) of this window ({shown}); "
                            "use --force to replace them")
    if not target.is_s3:
        with files.storage_errors(target, "write"):
            target.fs.create_dir(target.path, recursive=True)
    total = 0
    with ExitStack() as stack:
        staged = _Staged(request, target, stack)
        try:
            with open_snapshot(request.db, request.source, start, end, request.conditions) as snap:
                for batch in snap.batches:
                    for day, rows in day_runs(batch, request.source.time_column):
                        staged.write(day, rows)
                    total += batch.num_rows
                    if request.progress is not None:
                        request.progress(total)
                staged.close_all()
                check_count(snap, total)
            replaced = _put_in_place(staged, days, existing)
        except BaseException:
            staged.abort()
            raise
    written = tuple(info for parts in staged.days.values() for _, info in parts)
    sidecar = target.child(f"_meta-{request.source.kind}-{start:%Y%m%d}-{end:%Y%m%d}.json")
    result = ExportResult(request.source.kind, "parquet", total, written, sidecar.shown,
                          time.perf_counter() - started, total == 0, start, end, tuple(replaced))
    files.write_json(sidecar, sidecar_document(request, snap, result, (start, end)))
    return result


__all__ = ["write_partitioned"]
