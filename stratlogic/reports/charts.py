"""Charts and tables for the report notebooks: titles, axes and units decided once, so cells stay one call.

Every chart is a static matplotlib figure wrapped in :class:`Chart`, which Jupyter shows as a PNG (offline,
in nbval, in the HTML export) without touching pyplot's global state. Tables are pandas ``Styler`` objects
whose headers carry the unit (``Bytes (MiB)``, ``Success rate (%)``). The functions read the columns the
analytics functions return (``stratlogic.analytics``) and show an empty window as an empty chart that says so.

Example::

    charts.volume(wb.stats.job_volume(by="day"), title="Jobs per day by status")
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from pandas.io.formats.style import Styler

__all__ = ["COLUMNS", "Chart", "bars", "exported", "histogram", "kpi_rows", "kpis", "percentiles", "span", "table",
           "trend", "volume"]

#: Known analytics columns: header (unit added by kind) and kind (count, rate, bytes, seconds, time, text).
COLUMNS: dict[str, tuple[str, str]] = {
    "jobs": ("Jobs", "count"), "completed": ("Completed", "count"), "failed": ("Failed", "count"),
    "cancelled": ("Cancelled", "count"), "active": ("Active", "count"), "events": ("Events", "count"),
    "artifacts": ("Artifacts", "count"), "pages": ("Pages", "count"), "items": ("Items", "count"),
    "changes": ("Changes", "count"), "copies": ("Copies", "count"), "rows_checked": ("Rows checked", "count"),
    "attempts": ("Attempts", "count"), "queued": ("Queued", "count"), "expired_leases": ("Expired leases", "count"),
    "success_rate": ("Success rate", "rate"), "failure_rate": ("Failure rate", "rate"),
    "coverage": ("Coverage", "rate"), "bytes": ("Bytes", "bytes"), "size_bytes": ("Size", "bytes"),
    "p50": ("p50", "number"), "p90": ("p90", "number"), "p95": ("p95", "number"), "p99": ("p99", "number"),
    "max": ("Max", "number"), "expired_for_seconds": ("Expired for", "seconds"),
    "oldest_queued_age_seconds": ("Oldest queued age", "seconds"),
    "bucket": ("Period", "time"), "occurred_at": ("Occurred at", "time"), "lease_expires_at": ("Lease expires", "time"),
    "oldest_queued_at": ("Oldest queued at", "time"), "ok": ("OK", "text"),
    "latency_ms": ("Latency (ms)", "text"), "pending": ("Pending", "count"), "running": ("Running", "count"),
    "claimable": ("Claimable", "count"), "id": ("Id", "text"), "tail_id": ("Tail id", "text"),
    "first_bad_id": ("First bad id", "text"), "local_time": ("Local time", "time"),
}
_BYTE_UNITS = (("B", 1), ("KiB", 1024), ("MiB", 1024**2), ("GiB", 1024**3), ("TiB", 1024**4))
_STATUS_COLOURS = {"completed": "#2e7d32", "failed": "#c62828", "cancelled": "#9e9e9e", "running": "#1565c0",
                   "queued": "#ef6c00", "pending": "#fbc02d"}
_SIZE = (9.0, 3.6)
_LEGEND_MAX = 8


@dataclass(frozen=True, eq=False)
class Chart:
    """One static figure; Jupyter displays it as a PNG through ``_repr_png_``."""

    figure: Figure

    @property
    def axes(self) -> Axes:
        """The figure's (only) axes, for tests and for small adjustments in a notebook."""
        return self.figure.axes[0]

    def png(self, dpi: int = 100) -> bytes:
        """The figure rendered as PNG bytes."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=dpi)
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()

    def __repr__(self) -> str:
        return f"<Chart {self.axes.get_title()!r}>"


def _figure(title: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=_SIZE, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(axis="y", alpha=0.3)
    return figure, axes


def _empty(axes: Axes) -> Chart:
    axes.annotate("no data in this window", (0.5, 0.5), xycoords="axes fraction", ha="center", va="center",
                  color="#757575")
    axes.set_xticks([])
    axes.set_yticks([])
    figure = axes.get_figure()
    assert isinstance(figure, Figure)
    return Chart(figure)


def byte_unit(largest: float) -> tuple[str, int]:
    """The binary unit that shows ``largest`` bytes with at most four digits before the point."""
    chosen = _BYTE_UNITS[0]
    for unit in _BYTE_UNITS:
        if largest >= unit[1]:
            chosen = unit
    return chosen


def _local_times(values: pd.Series, tz: str | None) -> pd.DatetimeIndex:
    """Timestamps as naive wall-clock times in ``tz`` (or their own zone), which matplotlib's date axis needs."""
    index = pd.DatetimeIndex(pd.to_datetime(values))
    if index.tz is not None:
        index = index.tz_convert(tz) if tz else index
        index = index.tz_localize(None)
    return index


def _time_axis(axes: Axes, zone: str) -> None:
    locator = AutoDateLocator(maxticks=10)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes.set_xlabel(f"Time ({zone})")


def _zone(values: pd.Series, tz: str | None) -> str:
    dtype_tz = getattr(values.dtype, "tz", None)
    return tz or (str(dtype_tz) if dtype_tz is not None else "UTC")


def volume(frame: pd.DataFrame, *, title: str, value: str | None = None, group: str | None = None,
           tz: str | None = None, legend: str | None = None) -> Chart:
    """Stacked bars per period: ``job_volume`` (bucket, status, jobs) or ``audit_volume`` (bucket, key, events).

    Args:
        value: the count column (default ``jobs`` or ``events``, whichever is present).
        group: the stacking column (default ``status`` or ``key``).
        tz: show periods in this zone (default: the buckets' own zone).
        legend: the legend's title (default: the stacking column's name).
    """
    value = value or ("jobs" if "jobs" in frame.columns else "events")
    group = group or ("status" if "status" in frame.columns else "key")
    figure, axes = _figure(title)
    if frame.empty:
        return _empty(axes)
    table = _largest_groups(frame.pivot_table(index="bucket", columns=group, values=value, aggfunc="sum",
                                              fill_value=0))
    times = _local_times(pd.Series(table.index), tz)
    width = _bar_width(times)
    bottom = np.zeros(len(times))
    for name in table.columns:
        heights = table[name].to_numpy(dtype=float)
        axes.bar(times, heights, width=width, bottom=bottom, align="edge", label=str(name),
                 color=_STATUS_COLOURS.get(str(name)))
        bottom = bottom + heights
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", title=legend or group.title())
    axes.set_ylabel(f"{COLUMNS.get(value, (value.title(), ''))[0]} per period (count)")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    _time_axis(axes, _zone(frame["bucket"], tz))
    return Chart(figure)


def _largest_groups(table: pd.DataFrame, keep: int = _LEGEND_MAX) -> pd.DataFrame:
    """Columns largest total first; beyond ``keep`` of them the rest are summed as ``other`` (a legend of 40
    actors helps nobody)."""
    table = table[table.sum().sort_values(ascending=False).index]
    if len(table.columns) <= keep:
        return table
    kept = table.iloc[:, : keep - 1].copy()
    kept["other"] = table.iloc[:, keep - 1:].sum(axis=1)
    return kept


def _bar_width(times: pd.DatetimeIndex) -> float:
    """Bar width in days: 80% of the smallest gap between periods (a day when there is one period)."""
    if len(times) < 2:
        return 0.8
    gaps = pd.Series(times).diff().dropna().dt.total_seconds()
    return float(gaps.min()) / 86_400 * 0.8


def trend(frame: pd.DataFrame, value: str, *, title: str, tz: str | None = None) -> Chart:
    """A line of one column over the periods (``job_throughput``: pages, items or bytes per bucket)."""
    figure, axes = _figure(title)
    if frame.empty:
        return _empty(axes)
    label, kind = COLUMNS.get(value, (value.title(), "count"))
    series = frame[value].astype(float)
    unit, scale = byte_unit(float(series.max())) if kind == "bytes" else ("count", 1)
    axes.plot(_local_times(frame["bucket"], tz), series / scale, marker="o", markersize=3, color="#1565c0")
    axes.set_ylabel(f"{label} per period ({unit})")
    axes.set_ylim(bottom=0)
    _time_axis(axes, _zone(frame["bucket"], tz))
    return Chart(figure)


def percentiles(frame: pd.DataFrame, *, title: str, label: str | None = "metric", unit: str = "seconds",
                columns: Sequence[str] = ("p50", "p90", "p95", "p99")) -> Chart:
    """Grouped bars of percentiles per row: ``job_durations`` (seconds) or ``artifact_size_percentiles`` (bytes).

    Args:
        label: the column naming each row (``None``: one unnamed row).
        unit: ``seconds`` or ``bytes``; bytes are scaled to a readable binary unit.
    """
    figure, axes = _figure(title)
    rows = frame.dropna(subset=list(columns))
    if rows.empty:
        return _empty(axes)
    scale_unit, scale = byte_unit(float(rows[list(columns)].max().max())) if unit == "bytes" else ("s", 1)
    names = [str(v).replace("_", " ") for v in rows[label]] if label else [""]
    width = 0.8 / len(columns)
    for i, column in enumerate(columns):
        positions = [n + (i - (len(columns) - 1) / 2) * width for n in range(len(names))]
        axes.bar(positions, rows[column].astype(float) / scale, width=width, label=column)
    axes.set_xticks(range(len(names)), names)
    values = rows[list(columns)].astype(float).to_numpy()
    positive = values[values > 0]
    log = positive.size > 0 and positive.max() / positive.min() > 50  # a long tail hides the median otherwise
    if log:
        axes.set_yscale("log")
    axes.set_ylabel(f"{'Duration' if unit == 'seconds' else 'Size'} ({scale_unit}{', log scale' if log else ''})")
    axes.legend(fontsize="small", title="percentile")
    return Chart(figure)


def bars(frame: pd.DataFrame, label: str, value: str, *, title: str, limit: int = 15) -> Chart:
    """Horizontal bars, largest first, at most ``limit`` (breakdowns, top actors, errors, content types)."""
    figure, axes = _figure(title)
    rows = frame.dropna(subset=[value]).nlargest(limit, value).iloc[::-1] if not frame.empty else frame
    if rows.empty:
        return _empty(axes)
    name, kind = COLUMNS.get(value, (value.title(), "count"))
    values = rows[value].astype(float)
    unit, scale = byte_unit(float(values.max())) if kind == "bytes" else ("count", 1)
    if kind == "rate":
        unit, values = "%", values * 100
    axes.barh([_short(v) for v in rows[label]], values / scale, color="#1565c0")
    axes.set_xlabel(f"{name} ({unit})")
    axes.grid(axis="x", alpha=0.3)
    axes.grid(axis="y", visible=False)
    if kind == "count":
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return Chart(figure)


def _short(value: object, width: int = 32) -> str:
    text = "(none)" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def histogram(frame: pd.DataFrame, label: str, value: str, *, title: str, xlabel: str) -> Chart:
    """Vertical bars in the frame's order: ``artifact_sizes`` (bin), ``job_attempts``, ``artifacts_per_job``."""
    figure, axes = _figure(title)
    if frame.empty:
        return _empty(axes)
    axes.bar([str(v) for v in frame[label]], frame[value].astype(float), color="#6a1b9a")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(f"{COLUMNS.get(value, (value.title(), ''))[0]} (count)")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axes.tick_params(axis="x", labelrotation=30)
    return Chart(figure)


# ---------------------------------------------------------------------------------------------- tables


def _kind(column: str, unit: str) -> str:
    kind = COLUMNS.get(column, ("", "text"))[1]
    return ("bytes" if unit == "bytes" else "seconds") if kind == "number" else kind


def _header(column: str, kind: str, byte_label: str, name: str | None = None) -> str:
    name = name or COLUMNS.get(column, (column.replace("_", " ").capitalize(), ""))[0]
    suffix = {"count": "", "rate": " (%)", "bytes": f" ({byte_label})", "seconds": " (s)"}.get(kind, "")
    return name + suffix


def _format(value: object, kind: str, scale: int, tz: str | None) -> str:
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if kind == "count" and isinstance(value, int | float):
        return f"{value:,.0f}"
    if kind == "rate" and isinstance(value, int | float):
        return f"{value * 100:.1f}"
    if kind == "bytes" and isinstance(value, int | float):
        return f"{value / scale:,.2f}" if scale > 1 else f"{value:,.0f}"
    if kind == "seconds" and isinstance(value, int | float):
        return f"{value:,.1f}"
    if kind == "time" and isinstance(value, datetime | str):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_convert(tz) if tz and stamp.tzinfo else stamp
        return str(stamp.strftime("%Y-%m-%d %H:%M %Z")).strip()
    return _short(value, 100)


def table(frame: pd.DataFrame, *, caption: str | None = None, unit: str = "seconds", tz: str | None = None,
          limit: int = 50, labels: Mapping[str, str] | None = None) -> Styler:
    """A Styler for an analytics frame: headers with units, counts with separators, rates in %, sizes scaled.

    Args:
        unit: what percentile columns (p50…max) measure: ``seconds`` or ``bytes``.
        tz: show timestamps in this zone.
        limit: at most this many rows (the caption says when rows were left out).
        labels: headers for columns whose name says little here (``{"key": "Owner"}``); the unit is added.
    """
    shown, labels = frame.head(limit), labels or {}
    headers: dict[str, str] = {}
    formats: dict[str, object] = {}
    for column in shown.columns:
        kind = _kind(str(column), unit)
        byte_label, scale = byte_unit(_largest(shown[column])) if kind == "bytes" else ("", 1)
        headers[str(column)] = _header(str(column), kind, byte_label, labels.get(str(column)))
        formats[headers[str(column)]] = _formatter(kind, scale, tz)
    renamed = shown.rename(columns=headers).reset_index(drop=True)
    note = f" (first {limit} of {len(frame)} rows)" if len(frame) > limit else ""
    styler = renamed.style.format(formats).hide(axis="index")
    if caption or note:
        styler = styler.set_caption((caption or "") + note)
    return styler


def _largest(column: pd.Series) -> float:
    numbers = pd.to_numeric(column, errors="coerce").dropna()
    return float(numbers.abs().max()) if not numbers.empty else 0.0


def _formatter(kind: str, scale: int, tz: str | None) -> object:
    return lambda value: _format(value, kind, scale, tz)


def kpi_rows(data: object, *, unit: str = "seconds", tz: str | None = None) -> list[tuple[str, str]]:
    """The headline numbers as (label with unit, shown value).

    ``data`` is a one-row frame (an analytics summary: known columns get their unit), a mapping (its keys
    are shown as given: put the unit in the key) or a dataclass such as ``HealthReport`` (one row per field).
    """
    if isinstance(data, pd.DataFrame):
        row = {c: _scalar(data[c].iloc[0]) for c in data.columns} if len(data) else dict.fromkeys(data.columns)
        return [_known(str(column), value, unit, tz) for column, value in row.items()]
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data) if f.repr}
        return [(COLUMNS.get(k, (k.replace("_", " ").capitalize(), ""))[0], _plain(v, tz)) for k, v in fields.items()]
    if isinstance(data, Mapping):
        return [(str(label), _plain(value, tz)) for label, value in data.items()]
    raise TypeError(f"kpi_rows takes a one-row DataFrame, a mapping or a dataclass, not {type(data).__name__}")


def _scalar(value: object) -> object:
    """A numpy scalar as the Python number it holds (a frame's cell keeps its column's dtype)."""
    return value.item() if isinstance(value, np.generic) else value


def _known(column: str, value: object, unit: str, tz: str | None) -> tuple[str, str]:
    if column not in COLUMNS:
        return column.replace("_", " ").capitalize(), _plain(value, tz)
    kind = _kind(column, unit)
    byte_label, scale = byte_unit(float(value)) if kind == "bytes" and isinstance(value, int | float) else ("B", 1)
    return _header(column, kind, byte_label), _format(value, kind, scale, tz)


def _plain(value: object, tz: str | None) -> str:
    """A value given without a column to name its unit: ints with separators, floats to two places."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _format(value, "time" if isinstance(value, datetime) else "text", 1, tz)
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"


def kpis(data: object, *, caption: str = "Headline numbers", unit: str = "seconds", tz: str | None = None) -> Styler:
    """The headline table: one metric per row, its unit in the label (``kpi_rows`` gives the same pairs)."""
    rows = kpi_rows(data, unit=unit, tz=tz)
    frame = pd.DataFrame({"Value": [value for _, value in rows]}, index=pd.Index([label for label, _ in rows]))
    return frame.style.set_caption(caption).set_properties(**{"text-align": "right"})


def span(since: datetime, until: datetime, tz: str) -> str:
    """The window as people read it: ``2026-11-06 00:00 to 2026-12-06 00:00 (Europe/Paris)``."""
    zone = ZoneInfo(tz)
    return f"{since.astimezone(zone):%Y-%m-%d %H:%M} to {until.astimezone(zone):%Y-%m-%d %H:%M} ({tz})"


def exported(result: object | None) -> Styler:
    """What an export wrote (an ``ExportResult``): one row per file with rows, size and sha256."""
    if result is None:
        return pd.DataFrame().style.set_caption("Nothing exported (export_format is 'none')")
    files = getattr(result, "files", ())
    frame = pd.DataFrame({"file": [str(f.path) for f in files], "rows": [f.rows for f in files],
                          "bytes": [f.bytes for f in files], "sha256": [f.sha256 for f in files]})
    fmt, kind = getattr(result, "fmt", "?"), getattr(result, "kind", "?")
    return table(frame, caption=f"Exported {kind} as {fmt}: {getattr(result, 'rows', 0):,} rows")
