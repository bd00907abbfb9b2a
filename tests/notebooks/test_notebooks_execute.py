"""The notebooks executed with papermill, as a scheduler runs them: what they show is what the package computes.

Lax nbval (test_nbval.py) only proves that nothing raised; here the executed notebooks are read back: the
headline numbers equal the analytics functions' results on the same seeded data, each report draws its
charts as PNG, no widget is drawn under papermill, a bad parameter value stops the run at the validating
cell with one line naming the parameter, and the data-changing notebooks migrate and seed a database of
their own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import stratlogic
from stratlogic import analytics
from stratlogic.db import Database, migrate
from stratlogic.reports import charts
from stratlogic.seed import DemoOptions, seed_demo
from tests.notebooks.conftest import ADMIN_PASSWORD, REPORTS, Place, execute, new_place, shown_rows, tagged

pytestmark = [pytest.mark.sqlite, pytest.mark.slow]
WINDOW = {"since": "-30d", "until": "now", "tz": "UTC"}  # the report notebooks' defaults


def expected_headline(name: str, db: Database) -> list[tuple[str, str]]:
    """What the headline table of notebook ``name`` must show, straight from the analytics functions."""
    if name == "03_job_stats":
        return charts.kpi_rows(analytics.job_summary(db, **WINDOW))
    if name == "04_artifact_metadata":
        return charts.kpi_rows(analytics.artifact_size_percentiles(db, **WINDOW), unit="bytes")
    volume = analytics.audit_volume(db, by="day", group="action", **WINDOW)
    return charts.kpi_rows({
        "Events": int(volume["events"].sum()),
        "Security changes": len(analytics.security_changes(db, **WINDOW)),
        "After-hours events": len(analytics.after_hours(db, start="08:00", end="18:00", **WINDOW)),
        "Audit chain intact": bool(analytics.chain_status(db)["ok"].iloc[0]),
    })


@pytest.mark.parametrize("name", REPORTS)
def test_the_headline_numbers_are_the_analytics_results(name: str, executed: dict[str, Any],
                                                        seeded_db: Database) -> None:
    shown = shown_rows(tagged(executed[name], "kpis"))
    assert shown == expected_headline(name, seeded_db)
    assert shown[0][1] not in ("0", "-"), f"{name}: the seeded window shows nothing: {shown}"


def _outputs(notebook: Any) -> list[dict[str, Any]]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


@pytest.mark.parametrize("name", REPORTS)
def test_reports_draw_charts_and_tables_without_errors_or_widgets(name: str, executed: dict[str, Any]) -> None:
    outputs = _outputs(executed[name])
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    tables = [o for o in outputs if "<table" in o.get("data", {}).get("text/html", "")]
    assert len(pngs) >= 2
    assert len(tables) >= 3
    assert [o for o in outputs if o["output_type"] == "error"] == []
    assert [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})] == []
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr


@pytest.mark.parametrize("name", REPORTS)
def test_reports_say_what_they_read_from(name: str, executed: dict[str, Any]) -> None:
    shown = [o["data"]["text/plain"] for o in _outputs(executed[name]) if "<Workbench " in o.get("data", {}).get(
        "text/plain", "")]
    assert len(shown) == 1
    assert "read-only" in shown[0] and "revision " in shown[0] and "unreachable" not in shown[0], shown[0]


@pytest.mark.parametrize("name", REPORTS)
def test_no_secret_reaches_an_executed_report(name: str, executed: dict[str, Any]) -> None:
    text = json.dumps(executed[name])
    assert ADMIN_PASSWORD not in text
    assert "password_hash" not in text and "$argon2" not in text


BAD_VALUES = [
    ("01_migrate", {"revision": 5}, "parameter 'revision': 5 is not a str"),
    ("02_seed", {"users": "twelve"}, "parameter 'users': 'twelve' is not an integer"),
    ("03_job_stats", {"since": "-3x"}, "parameter 'since'"),
    ("04_artifact_metadata", {"export_format": "pdf"}, "parameter 'export_format': 'pdf' is not one of"),
    ("05_audit_report", {"actions": "user.created,user.exploded"}, "parameter 'actions': 'user.exploded'"),
]


@pytest.mark.parametrize(("name", "parameters", "message"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_a_bad_value_stops_the_run_at_the_validating_cell_naming_the_parameter(
        name: str, parameters: dict[str, Any], message: str, tmp_path: Path) -> None:
    import papermill

    place = new_place(tmp_path / "place")  # nothing is created: the run must stop before opening anything
    with pytest.raises(papermill.PapermillExecutionError) as caught:
        execute(name, place, tmp_path / "out.ipynb", parameters)
    assert caught.value.ename == "ParameterError"
    assert caught.value.evalue.startswith(message)
    assert "\n" not in caught.value.evalue
    failed = papermill_failed_cell(tmp_path / "out.ipynb")
    assert failed.startswith("import stratlogic\n")
    assert not (place.folder / "stratlogic.db").exists()


def papermill_failed_cell(path: Path) -> str:
    """The source of the cell papermill marked as failed in the saved notebook."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    failed = [c for c in notebook.cells
              if c.cell_type == "code" and any(o["output_type"] == "error" for o in c.outputs)]
    assert len(failed) == 1
    return str(failed[0].source)


def test_migrate_then_seed_notebooks_build_a_database_of_their_own(tmp_path: Path) -> None:
    place: Place = new_place(tmp_path / "own")
    execute("01_migrate", place, tmp_path / "01.ipynb")
    settings = place.settings()
    assert migrate.current(settings) in migrate.heads()
    seeded = execute("02_seed", place, tmp_path / "02.ipynb", {"users": 3, "jobs": 40, "days": 3, "seed": 2})
    shown = dict(shown_rows(tagged(seeded, "kpis")))
    with stratlogic.open(place.url) as wb:
        counts = wb.summary().counts
    assert shown["scraping_jobs"] == f"{counts['jobs']:,}"
    assert counts["jobs"] == 40
    assert shown["users"] == f"{counts['users']:,}"
    assert ADMIN_PASSWORD not in json.dumps(seeded)


@pytest.mark.postgres
def test_a_report_on_postgresql_shows_neither_the_password_nor_the_url(
        pg_database: Any, pg_template: str, tmp_path: Path) -> None:
    from sqlalchemy.engine import make_url

    secret = "Pg-Report-Secret-8842"
    url = make_url(pg_database(pg_template)).set(password=secret).render_as_string(hide_password=False)
    place = Place(tmp_path, url)
    database = place.database()
    try:
        seed_demo(database, DemoOptions(users=3, jobs=60, days=5, seed=4))
    finally:
        database.dispose()
    done = execute("05_audit_report", place, tmp_path / "05.ipynb")
    text = json.dumps(done)
    assert secret not in text
    assert url not in text and url.split("@")[0] not in text
    assert "postgresql" in text  # it did show what it is connected to, masked
    assert shown_rows(tagged(done, "kpis"))[0][1] not in ("0", "-")


def test_a_report_exports_into_output_dir_and_shows_what_it_wrote(seeded: Place, seeded_db: Database,
                                                                  tmp_path: Path) -> None:
    import csv

    out = tmp_path / "exports"
    out.mkdir()
    done = execute("03_job_stats", seeded, tmp_path / "03.ipynb",
                   {"export_format": "csv", "output_dir": str(out), "statuses": "failed,cancelled"})
    with (out / "jobs.csv").open(newline="") as stream:
        rows = sum(1 for _ in csv.reader(stream)) - 1
    summary = analytics.job_summary(db=seeded_db, status=["failed", "cancelled"], **WINDOW)
    assert rows == int(summary["jobs"].iloc[0]) > 0
    htmls = [o["data"]["text/html"] for o in _outputs(done)
             if "Exported jobs as csv" in o.get("data", {}).get("text/html", "")]
    assert len(htmls) == 1
    assert f"Exported jobs as csv: {rows:,} rows" in htmls[0] and "jobs.csv" in htmls[0]
