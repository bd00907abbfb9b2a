"""The per-report time budget nbclient asks for before each cell (no kernel needed to prove its arithmetic)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stratlogic.reports.params import ParameterError
from stratlogic.reports.run import cell_budget, plan


def test_no_timeout_gives_every_cell_no_limit() -> None:
    assert cell_budget(None)(object()) is None


def test_each_cell_gets_what_is_left_and_nothing_once_it_is_spent() -> None:
    """Before, every cell got at least 1 s however late: 30 cells of 0.9 s ran 27 s under --timeout 6."""
    budget = cell_budget(600)
    given = budget(object())
    assert given is not None and 599 <= given <= 600
    spent = cell_budget(0.01)
    time.sleep(0.05)
    with pytest.raises(TimeoutError, match=r"0\.01 s budget is spent"):
        spent(object())


@pytest.mark.parametrize("where", ["/srv/exports", "../../elsewhere", "exports/../../up"])
def test_an_output_dir_outside_the_run_folder_is_refused_before_any_kernel(where: str) -> None:
    """Data files written there were missing from the manifest, and a fixed path was overwritten each night."""
    folder = Path(__file__).resolve().parents[2] / "notebooks"
    with pytest.raises(ParameterError, match=r"^parameter 'output_dir': .* is outside the run folder"):
        plan(folder, ["05_audit_report"], {"output_dir": where, "export_format": "csv"})
    inside = plan(folder, ["05_audit_report"], {"output_dir": "exports", "export_format": "csv"})
    assert inside[0].parameters.output_dir == "exports"


def test_an_xlsx_data_file_gets_its_row_count_in_the_manifest(tmp_path: Path) -> None:
    """CSV and Parquet had one; XLSX was recorded with rows null. Two sheets, each with its header row."""
    import xlsxwriter

    from stratlogic.reports.manifest import describe

    path = tmp_path / "jobs.xlsx"
    book = xlsxwriter.Workbook(str(path))
    for sheet_name, count in (("jobs", 3), ("jobs (2)", 2)):
        sheet = book.add_worksheet(sheet_name)
        sheet.write_row(0, 0, ["id", "status"])
        for row in range(1, count + 1):
            sheet.write_row(row, 0, [row, "failed"])
    book.close()
    assert describe(path, tmp_path)["rows"] == 5


def test_a_report_named_twice_runs_once() -> None:
    """Both would have run into the same folder, the manifest listing its files twice."""
    folder = Path(__file__).resolve().parents[2] / "notebooks"
    planned = plan(folder, ["05_audit_report", "03_job_stats", "05_audit_report.ipynb"], {})
    assert [item.spec.name for item in planned] == ["05_audit_report", "03_job_stats"]
