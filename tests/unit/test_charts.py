"""Charts and tables for the report notebooks, on synthetic frames with the analytics functions' columns."""

from __future__ import annotations

import pandas as pd
import pytest

from stratlogic.reports import charts

PNG = b"\x89PNG\r\n\x1a\n"


def _days(n: int, tz: str = "UTC") -> pd.DatetimeIndex:
    return pd.date_range("2026-11-01", periods=n, freq="D", tz=tz)


def job_volume() -> pd.DataFrame:
    days = _days(3)
    return pd.DataFrame({"bucket": [days[0], days[0], days[1], days[2]],
                         "status": ["completed", "failed", "completed", "cancelled"],
                         "jobs": [5, 2, 7, 1]})


def test_volume_stacks_each_status_per_period_with_title_axes_and_units() -> None:
    chart = charts.volume(job_volume(), title="Jobs per day")
    axes = chart.axes
    assert axes.get_title() == "Jobs per day"
    assert axes.get_ylabel() == "Jobs per period (count)"
    assert axes.get_xlabel() == "Time (UTC)"
    legend = axes.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["completed", "failed", "cancelled"]  # largest first
    heights = [round(p.get_height()) for p in axes.patches]
    assert heights == [5, 7, 0, 2, 0, 0, 0, 0, 1]  # per status (largest total first), one bar per day
    assert chart.png().startswith(PNG)
    assert chart._repr_png_().startswith(PNG)
    assert repr(chart) == "<Chart 'Jobs per day'>"


def test_volume_reads_audit_volume_columns_and_shows_local_time() -> None:
    frame = pd.DataFrame({"bucket": _days(2, "Europe/Paris"), "key": ["job.created", "user.login"],
                          "events": [3, 4]})
    chart = charts.volume(frame, title="Audit events", tz="Europe/Paris")
    assert chart.axes.get_ylabel() == "Events per period (count)"
    assert chart.axes.get_xlabel() == "Time (Europe/Paris)"
    assert sum(p.get_height() for p in chart.axes.patches) == 7


@pytest.mark.parametrize("make", [
    lambda f: charts.volume(f, title="t"),
    lambda f: charts.trend(f, "pages", title="t"),
    lambda f: charts.bars(f, "key", "jobs", title="t"),
    lambda f: charts.histogram(f, "bin", "artifacts", title="t", xlabel="Size"),
    lambda f: charts.percentiles(f, title="t"),
])
def test_an_empty_window_draws_a_chart_that_says_so(make: object) -> None:
    empty = pd.DataFrame({c: [] for c in ("bucket", "status", "jobs", "pages", "key", "bin", "artifacts", "metric",
                                          "p50", "p90", "p95", "p99")})
    chart = make(empty)  # type: ignore[operator]
    notes = [a.get_text() for a in chart.axes.texts]
    assert notes == ["no data in this window"]
    assert chart.png().startswith(PNG)


def test_trend_scales_bytes_to_a_binary_unit() -> None:
    frame = pd.DataFrame({"bucket": _days(3), "pages": [1, 2, 3], "items": [4, 5, 6],
                          "bytes": [3 * 1024**2, 5 * 1024**2, 1024**2]})
    chart = charts.trend(frame, "bytes", title="Bytes per day")
    assert chart.axes.get_ylabel() == "Bytes per period (MiB)"
    assert list(chart.axes.lines[0].get_ydata()) == [3.0, 5.0, 1.0]


def test_percentiles_group_bars_per_metric_in_seconds_or_bytes() -> None:
    durations = pd.DataFrame({"metric": ["duration", "queue_wait"], "jobs": [10, 10], "p50": [1.0, 0.5],
                              "p90": [2.0, 0.7], "p95": [3.0, 0.8], "p99": [4.0, 0.9]})
    chart = charts.percentiles(durations, title="Durations")
    assert chart.axes.get_ylabel() == "Duration (s)"
    assert [t.get_text() for t in chart.axes.get_xticklabels()] == ["duration", "queue wait"]
    assert len(chart.axes.patches) == 8
    sizes = pd.DataFrame({"artifacts": [3], "p50": [2048], "p90": [4096], "p95": [8192], "p99": [10240],
                          "max": [20480]})
    chart = charts.percentiles(sizes, title="Sizes", label=None, unit="bytes", columns=("p50", "p90", "max"))
    assert chart.axes.get_ylabel() == "Size (KiB)"
    assert [p.get_height() for p in chart.axes.patches] == [2.0, 4.0, 20.0]


def test_bars_keep_the_largest_and_show_rates_in_percent() -> None:
    frame = pd.DataFrame({"key": [f"owner{i}" for i in range(20)], "jobs": range(20),
                          "success_rate": [i / 20 for i in range(20)]})
    chart = charts.bars(frame, "key", "jobs", title="Jobs by owner", limit=5)
    labels = [t.get_text() for t in chart.axes.get_yticklabels()]
    assert labels == ["owner15", "owner16", "owner17", "owner18", "owner19"]
    assert chart.axes.get_xlabel() == "Jobs (count)"
    rates = charts.bars(frame, "key", "success_rate", title="Success", limit=1)
    assert rates.axes.get_xlabel() == "Success rate (%)"
    assert rates.axes.patches[0].get_width() == pytest.approx(95.0)


def test_histogram_keeps_the_bins_in_order() -> None:
    frame = pd.DataFrame({"bin": ["<1 KiB", "1-10 KiB", ">10 KiB"], "low": [0, 1024, 10240],
                          "high": [1024, 10240, None], "artifacts": [4, 9, 2]})
    chart = charts.histogram(frame, "bin", "artifacts", title="Sizes", xlabel="Size")
    assert [t.get_text() for t in chart.axes.get_xticklabels()] == ["<1 KiB", "1-10 KiB", ">10 KiB"]
    assert chart.axes.get_ylabel() == "Artifacts (count)"


def test_table_puts_units_in_headers_and_formats_values() -> None:
    frame = pd.DataFrame({"key": ["ada", "bob"], "jobs": [1234, 5], "success_rate": [0.5, 1.0],
                          "bytes": [3 * 1024**2, 1024**2]})
    html = charts.table(frame, caption="By owner").to_html()
    for shown in ("Jobs", "Success rate (%)", "Bytes (MiB)", "1,234", "50.0", "3.00", "By owner"):
        assert shown in html


def test_table_says_when_rows_were_left_out_and_shows_times_in_the_zone() -> None:
    frame = pd.DataFrame({"occurred_at": pd.date_range("2026-11-01 12:00", periods=3, freq="h", tz="UTC"),
                          "action": ["a", "b", "c"]})
    html = charts.table(frame, limit=2, tz="Europe/Paris").to_html()
    assert "(first 2 of 3 rows)" in html
    assert "2026-11-01 13:00 CET" in html
    assert "Occurred at" in html


def test_kpis_show_one_metric_per_row_with_its_unit() -> None:
    summary = pd.DataFrame([{"jobs": 1500, "completed": 1200, "failed": 200, "cancelled": 50, "active": 50,
                             "success_rate": 0.8, "failure_rate": 0.1333, "pages": 10, "items": 20,
                             "bytes": 5 * 1024**3}])
    rows = charts.kpi_rows(summary)
    assert rows[0] == ("Jobs", "1,500")
    assert ("Success rate (%)", "80.0") in rows
    assert ("Bytes (GiB)", "5.00") in rows
    html = charts.kpis(summary).to_html()
    assert "Headline numbers" in html
    assert "Success rate (%)" in html
    assert charts.kpi_rows({"Events": 12, "Chain": "ok"}) == [("Events", "12"), ("Chain", "ok")]


def test_kpis_of_an_empty_frame_show_dashes() -> None:
    assert charts.kpi_rows(pd.DataFrame({"jobs": [], "success_rate": []})) == [("Jobs", "-"),
                                                                                 ("Success rate (%)", "-")]


def test_kpis_of_a_dataclass_show_one_row_per_field() -> None:
    from dataclasses import dataclass

    @dataclass
    class Report:
        ok: bool
        latency_ms: float
        current_revision: str | None
        rows: int

    assert charts.kpi_rows(Report(True, 0.5432, None, 12345)) == [
        ("OK", "True"), ("Latency (ms)", "0.54"), ("Current revision", "-"), ("Rows", "12,345")]
    with pytest.raises(TypeError, match="not int"):
        charts.kpi_rows(5)


def test_table_labels_override_a_vague_column_name_and_keep_the_unit() -> None:
    frame = pd.DataFrame({"key": ["ada"], "bytes": [2048]})
    html = charts.table(frame, labels={"key": "Owner", "bytes": "Fetched"}).to_html()
    assert "Owner" in html and "Fetched (KiB)" in html and ">Key<" not in html


def test_kpis_keep_integers_of_a_mixed_row_and_show_unknown_columns_plainly() -> None:
    row = pd.DataFrame([{"jobs": 3, "success_rate": 0.5, "pending": 0, "claimable": 2, "odd_ratio": 1.25}])
    assert charts.kpi_rows(row) == [("Jobs", "3"), ("Success rate (%)", "50.0"), ("Pending", "0"),
                                    ("Claimable", "2"), ("Odd ratio", "1.25")]


def test_percentiles_with_a_long_tail_use_a_log_scale() -> None:
    frame = pd.DataFrame({"metric": ["duration"], "p50": [1.0], "p90": [10.0], "p95": [100.0], "p99": [1000.0]})
    chart = charts.percentiles(frame, title="Durations")
    assert chart.axes.get_yscale() == "log"
    assert chart.axes.get_ylabel() == "Duration (s, log scale)"


def test_missing_values_show_as_dashes_and_long_text_is_cut() -> None:
    row = pd.DataFrame({"first_bad_id": pd.array([None], dtype="Int64"), "message": ["x" * 300]})
    shown = dict(charts.kpi_rows(row))
    assert shown["First bad id"] == "-"
    html = charts.table(pd.DataFrame({"details": ["y" * 300]})).to_html()
    assert "y" * 99 + "…" in html and "y" * 100 not in html


def test_volume_legend_title_can_be_named() -> None:
    frame = pd.DataFrame({"bucket": _days(1), "key": ["user.created"], "events": [2]})
    legend = charts.volume(frame, title="t", legend="Action").axes.get_legend()
    assert legend is not None and legend.get_title().get_text() == "Action"


def test_exported_lists_the_files_an_export_wrote() -> None:
    from types import SimpleNamespace

    written = SimpleNamespace(path="out/jobs.csv", rows=1234, bytes=4096, sha256="ab" * 32)
    result = SimpleNamespace(kind="jobs", fmt="csv", rows=1234, files=(written,))
    html = charts.exported(result).to_html()
    assert "Exported jobs as csv: 1,234 rows" in html and "out/jobs.csv" in html and "ab" * 32 in html
    assert "Bytes (KiB)" in html
    nothing = charts.exported(None).to_html()
    assert "Nothing exported (export_format is 'none')" in nothing
    assert "<td" not in nothing


def test_volume_sums_groups_beyond_eight_as_other() -> None:
    frame = pd.DataFrame({"bucket": list(_days(1)) * 12, "key": [f"actor{i:02d}" for i in range(12)],
                          "events": range(1, 13)})
    legend = charts.volume(frame, title="t").axes.get_legend()
    assert legend is not None
    names = [t.get_text() for t in legend.get_texts()]
    assert names == ["actor11", "actor10", "actor09", "actor08", "actor07", "actor06", "actor05", "other"]
    heights = [p.get_height() for p in charts.volume(frame, title="t").axes.patches]
    assert heights[-1] == 1 + 2 + 3 + 4 + 5 and sum(heights) == sum(range(1, 13))
