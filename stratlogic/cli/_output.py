"""One way for every listing command to print its rows: a table by default, ``--json`` or ``--csv``.

sqlite-utils' ``output_options`` is the model: the command builds plain rows (dicts of JSON-ready values)
and hands them here with the columns to show; the format is the user's choice, never the command's code.

- table (default): a Rich table of ``columns`` (long text cut, so a terminal stays readable);
- ``--json``: one JSON object per line with every key of the row (streams; ``jq -s`` makes an array);
- ``--csv``: a header and every key of the row; a text cell a spreadsheet would run as a formula
  (``=``, ``+``, ``-``, ``@``, tab, CR first) is prefixed with ``'``, as the exports do.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

import typer

from stratlogic.errors import ValidationError

Format = Literal["table", "json", "csv"]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object per line.")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print CSV (Excel-safe: formula-like cells quoted).")]
_RISKY = ("=", "+", "-", "@", "\t", "\r")
_WIDEST = 80  # characters of one table cell


def output_format(as_json: bool, as_csv: bool) -> Format:
    """The format the flags ask for; both at once is refused, naming them."""
    if as_json and as_csv:
        raise ValidationError("--json and --csv cannot be given together: choose one")
    return "json" if as_json else "csv" if as_csv else "table"


def emit(rows: Iterable[Mapping[str, Any]], *, fmt: Format, columns: Sequence[str],
         headers: Sequence[str] | None = None, title: str | None = None, empty: str | None = None) -> int:
    """Print ``rows`` in ``fmt`` and return how many there were.

    ``columns`` are the keys a table shows (``headers`` their titles when they differ); JSON and CSV carry
    every key of the first row, in its order. ``empty`` is said on stderr when there is no row (tables only:
    a machine reading JSON or CSV gets an empty stream).
    """
    if fmt == "json":
        return _json_lines(rows)
    if fmt == "csv":
        return _csv(rows)
    return _table(rows, columns, headers or columns, title, empty)


def _json_lines(rows: Iterable[Mapping[str, Any]]) -> int:
    count = 0
    for row in rows:
        sys.stdout.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
        count += 1
    sys.stdout.flush()
    return count


def _csv(rows: Iterable[Mapping[str, Any]]) -> int:
    writer: Any = None
    count = 0
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(row), extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
        writer.writerow({key: excel_safe(value) for key, value in row.items()})
        count += 1
    sys.stdout.flush()
    return count


def excel_safe(value: Any) -> Any:
    """A CSV cell: text that a spreadsheet would run is prefixed with ``'``; dicts and lists as JSON text."""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_RISKY):
        return "'" + value
    return value


def _table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], headers: Sequence[str],
           title: str | None, empty: str | None) -> int:
    from rich.table import Table  # only a table needs it
    from rich.text import Text  # a cell is text, never markup ('[draft]' stays as typed)

    from stratlogic.cli._common import err, out

    table = Table(*headers, title=title)
    count = 0
    for row in rows:
        table.add_row(*(Text(_cell(row.get(column))) for column in columns))
        count += 1
    if count:
        out.print(table)
    elif empty:
        err.print(empty, markup=False)
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= _WIDEST else text[: _WIDEST - 1] + "…"


__all__ = ["AsCsv", "AsJson", "Format", "emit", "excel_safe", "output_format"]
