"""Writing Arrow batches as Parquet, CSV or XLSX, one batch in memory at a time, hashing as they go.

Excel safety (OWASP CSV injection): a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return is what a spreadsheet may run as a formula, so CSV (unless raw) and XLSX prefix such cells with a
single quote, in every text column. Numbers and timestamps are never touched, and every other cell keeps
its value exactly. CSV timestamps are ISO 8601 with their offset (``2026-12-05T23:56:17.063364+00:00``);
XLSX has no time zones, so its timestamps are UTC and its header says so.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from stratlogic.analytics._export_sources import REPEATED

#: OWASP's list of characters that make a spreadsheet cell a formula.
DANGEROUS_START = r"^[=+\-@\t\r]"
#: Data rows per sheet: Excel's 1,048,576 rows less the header.
SHEET_ROWS = 1_048_575
_EXCEL_EPOCH_US = int(datetime(1899, 12, 30, tzinfo=UTC).timestamp() * 1_000_000)
_US_PER_DAY = 86_400_000_000
_ISO = "%Y-%m-%dT%H:%M:%S+00:00"


class HashingFile:
    """A write-only file object that forwards to ``sink`` while counting bytes and computing sha256."""

    def __init__(self, sink: pa.NativeFile) -> None:
        self.sink, self.sha256, self.size, self.closed = sink, hashlib.sha256(), 0, False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        if self.closed:  # an aborted file's writer, closed later by the garbage collector: nothing to keep
            return view.nbytes
        self.sha256.update(view)
        self.sink.write(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.sink.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sink.close()

    def writable(self) -> bool:
        return True


class BatchWriter(Protocol):
    """Takes batches of the export's schema, then is closed (or aborted, leaving the temp file to be removed)."""

    def write(self, batch: pa.RecordBatch) -> None: ...

    def close(self) -> None: ...


def neutralised(array: pa.Array) -> pa.Array:
    """Text cells that a spreadsheet would run prefixed with ``'``; every other cell unchanged."""
    if not pa.types.is_string(array.type) or len(array) == 0:
        return array
    risky = pc.fill_null(pc.match_substring_regex(array, DANGEROUS_START), False)
    if not pc.any(risky).as_py():
        return array
    return pc.if_else(risky, pc.binary_join_element_wise("'", array, ""), array)


def needs_neutralising(value: str) -> bool:
    """Whether a text cell is one the Excel-safe formats change."""
    return value[:1] in ("=", "+", "-", "@", "\t", "\r")


class ParquetOut:
    """Each batch becomes a row group of one Parquet file."""

    def __init__(self, sink: HashingFile, schema: pa.Schema, compression: str) -> None:
        self.sink = sink
        self.writer = pq.ParquetWriter(sink, schema, compression=compression,
                                       use_dictionary=[name for name in schema.names if name in REPEATED])

    def write(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(batch)

    def close(self) -> None:
        self.writer.close()
        self.sink.close()


class CsvOut:
    """RFC 4180 CSV with a header; text always quoted, so an empty text and a missing value differ."""

    def __init__(self, sink: HashingFile, schema: pa.Schema, raw: bool) -> None:
        self.sink, self.raw = sink, raw
        self.schema = pa.schema([pa.field(f.name, pa.string() if pa.types.is_timestamp(f.type) else f.type)
                                 for f in schema])
        self.writer = pacsv.CSVWriter(sink, self.schema)

    def write(self, batch: pa.RecordBatch) -> None:
        arrays = []
        for column in batch.columns:
            if pa.types.is_timestamp(column.type):
                column = pc.strftime(column.cast(pa.timestamp("us", tz="UTC")), format=_ISO)
            elif not self.raw:
                column = neutralised(column)
            arrays.append(column)
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()
        self.sink.close()


class XlsxOut:
    """xlsxwriter in ``constant_memory`` mode (rows flushed as written); sheets of 1,048,575 rows each."""

    def __init__(self, path: Path, schema: pa.Schema, title: str) -> None:
        import xlsxwriter  # a second to import; only XLSX exports pay it

        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                                    "strings_to_urls": False, "strings_to_numbers": False})
        self.schema, self.title = schema, title
        self.times = [pa.types.is_timestamp(f.type) for f in schema]
        self.date_format = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
        self.header_format = self.book.add_format({"bold": True})
        self.sheets, self.row = 0, SHEET_ROWS + 1
        self.sheet: Any = None

    def _new_sheet(self) -> None:
        self.sheets += 1
        name = self.title if self.sheets == 1 else f"{self.title} ({self.sheets})"
        self.sheet = self.book.add_worksheet(name[:31])
        for col, (field, is_time) in enumerate(zip(self.schema, self.times, strict=True)):
            label = f"{field.name} (UTC)" if is_time else field.name
            self.sheet.write_string(0, col, label, self.header_format)
            if is_time:
                self.sheet.set_column(col, col, 24, self.date_format)
        self.row = 1

    def write(self, batch: pa.RecordBatch) -> None:
        start = 0
        while start < batch.num_rows:
            if self.row > SHEET_ROWS:
                self._new_sheet()
            take = min(batch.num_rows - start, SHEET_ROWS + 1 - self.row)
            self._rows(batch.slice(start, take))
            start += take

    def _rows(self, batch: pa.RecordBatch) -> None:
        columns = [_excel_values(column, is_time) for column, is_time in zip(batch.columns, self.times, strict=True)]
        write_row, row = self.sheet.write_row, self.row
        for values in zip(*columns, strict=True):
            write_row(row, 0, values)
            row += 1
        self.row = row

    def close(self) -> None:
        if self.sheet is None:  # an empty export still has its header
            self._new_sheet()
        self.book.close()


def _excel_values(column: pa.Array, is_time: bool) -> list[Any]:
    """Python values for one column: timestamps as Excel serial days (UTC), text neutralised."""
    if is_time:
        micros = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        days = pc.divide(pc.subtract(micros, _EXCEL_EPOCH_US).cast(pa.float64()), float(_US_PER_DAY))
        return days.to_pylist()  # type: ignore[no-any-return]
    return neutralised(column).to_pylist()  # type: ignore[no-any-return]


__all__ = ["SHEET_ROWS", "BatchWriter", "CsvOut", "HashingFile", "ParquetOut", "XlsxOut", "needs_neutralising",
           "neutralised"]
