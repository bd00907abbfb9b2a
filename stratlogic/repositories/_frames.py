"""Rows as pandas DataFrames for ``Repository.frame`` / ``frames``: a capped frame that says when it was cut,
and every row streamed as frames of a batch each.

JSON columns (audit details, job options, config and metadata values) come out as JSON text, one
canonical string per cell (sorted keys), so any frame writes to Parquet: dicts and lists of different
shapes in one object column are what Arrow cannot type (``cannot mix list and non-list``).
``json.loads`` gives the value back.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column

if TYPE_CHECKING:
    import pandas as pd

#: The rows ``frame()`` holds by default (beyond them it warns, naming the total).
FRAME_LIMIT = 1000
#: The batch ``frames()`` reads by default: a keyset page per query, memory flat in the table's size.
FRAME_BATCH = 10_000


class TruncatedFrameWarning(UserWarning):
    """A frame holds only the first ``limit`` of the matching rows (``frame(all=True)`` gets every one)."""


def json_columns(columns: Sequence[Column[Any]]) -> list[str]:
    """The names of the columns holding JSON documents."""
    return [column.name for column in columns if isinstance(column.type, JSON)]


def as_json_text(value: Any) -> str | None:
    """One JSON cell as canonical text (None stays a missing value)."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def build(rows: Sequence[Any], keys: Sequence[str], json_names: Sequence[str]) -> pd.DataFrame:
    """A DataFrame of these rows, JSON columns as text."""
    import pandas as pd  # imported here: it costs every CLI start ~0.7 s otherwise

    frame = pd.DataFrame(list(rows), columns=list(keys))
    for name in json_names:
        if name in frame.columns:
            frame[name] = pd.Series([as_json_text(v) for v in frame[name]], index=frame.index, dtype=object)
    return frame


def warn_truncated(resource: str, limit: int, offset: int, total: int) -> None:
    """Say that a frame was cut at its limit, naming the total and how to get every row."""
    shown = f"rows {offset + 1}-{offset + limit}" if offset else f"the first {limit}"
    warnings.warn(f"{resource} frame holds {shown} of {total} matching rows (limit={limit}); pass all=True, "
                  "or iterate frames(), for every row", TruncatedFrameWarning, stacklevel=3)


def concat(parts: Iterator[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """Every batch in one frame (``empty``, with the columns, when there are none)."""
    import pandas as pd

    collected = list(parts)
    if not collected:
        return empty
    return collected[0] if len(collected) == 1 else pd.concat(collected, ignore_index=True)


__all__ = ["FRAME_BATCH", "FRAME_LIMIT", "TruncatedFrameWarning", "as_json_text", "build", "concat", "json_columns",
           "warn_truncated"]
