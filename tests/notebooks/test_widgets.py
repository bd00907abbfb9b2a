"""The explore panel driven from Python: its controls come from the parameters cell, and a change re-runs the view.

No kernel here: the panel is built in this process over the seeded database, as a notebook cell builds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import pandas as pd
import pytest

import stratlogic
from stratlogic.errors import ValidationError
from stratlogic.reports import charts, widgets
from stratlogic.reports.params import ReportParameters, load_spec, resolve
from stratlogic.workbench import Workbench
from tests.notebooks.conftest import NOTEBOOKS, Place, execute

pytestmark = pytest.mark.sqlite


def parameters(name: str, **values: Any) -> ReportParameters:
    """A notebook's parameters as its validating cell resolves them (defaults, then ``values``)."""
    return resolve(load_spec(NOTEBOOKS / f"{name}.ipynb"), values, strict=False)


@pytest.fixture
def wb(seeded: Place) -> Iterator[Workbench]:
    with stratlogic.open(seeded.url, readonly=True) as workbench:
        yield workbench


class Recorder:
    """A view like the notebook's: job volume for the parameters; remembers every frame it drew."""

    def __init__(self, wb: Workbench) -> None:
        self.wb, self.frames = wb, []  # type: ignore[var-annotated]

    def __call__(self, r: ReportParameters) -> object:
        frame = self.wb.stats.job_volume(by=r.by, since=r.since, until=r.until, tz=r.tz, status=r.statuses or None,
                                         owner=r.owners or None)
        self.frames.append(frame)
        return charts.volume(frame, title=f"Jobs per {r.by}")


def test_controls_follow_the_parameter_types() -> None:
    p = parameters("03_job_stats")
    built = widgets.panel(p.spec, p, lambda r: None)
    controls = built.controls
    assert isinstance(controls["by"], ipywidgets.Dropdown)
    assert list(controls["by"].options) == ["hour", "day", "week", "month"] and controls["by"].value == "day"
    assert isinstance(controls["since"], ipywidgets.Text) and controls["since"].value == "-30d"
    assert isinstance(controls["statuses"], ipywidgets.TagsInput)
    assert "failed" in controls["statuses"].allowed_tags
    assert controls["owners"].allowed_tags == []  # any owner may be typed
    assert "export_format" not in controls and "output_dir" not in controls
    audit = parameters("05_audit_report")
    assert "user.created" in widgets.panel(audit.spec, audit, lambda r: None).controls["actions"].allowed_tags


def test_setting_a_value_reruns_the_view_with_the_new_data(wb: Workbench) -> None:
    view = Recorder(wb)
    p = parameters("03_job_stats")
    built = widgets.panel(p.spec, p, view)
    assert len(view.frames) == 1
    everything = view.frames[0]
    assert {"completed", "failed"} <= set(everything["status"])

    built.controls["statuses"].value = ["failed"]
    assert len(view.frames) == 2
    assert set(view.frames[1]["status"]) == {"failed"}
    assert view.frames[1]["jobs"].sum() == everything.loc[everything["status"] == "failed", "jobs"].sum()
    assert built.params.statuses == ["failed"]
    print(f"\nre-running the job volume view from a widget took {built.seconds:.3f} s on the demo data")

    built.controls["by"].value = "week"
    weekly = view.frames[2]
    assert weekly["bucket"].nunique() < everything["bucket"].nunique()
    assert weekly["jobs"].sum() == view.frames[1]["jobs"].sum()
    assert built.seconds is not None
    print(f"re-running it by week took {built.seconds:.3f} s")


def test_a_bad_value_shows_one_line_naming_the_parameter_and_keeps_the_view(wb: Workbench) -> None:
    view = Recorder(wb)
    p = parameters("03_job_stats")
    built = widgets.panel(p.spec, p, view)
    built.controls["since"].value = "-3x"
    assert len(view.frames) == 1
    assert built.error is not None and built.error.startswith("parameter 'since'")
    assert "\n" not in built.error
    assert "parameter &#x27;since&#x27;" in built.status.value
    assert built.params.since == "-30d"
    built.controls["since"].value = "-7d"
    assert built.error is None and len(view.frames) == 2


def test_an_error_the_view_raises_is_shown_as_one_line_too(wb: Workbench) -> None:
    recorder = Recorder(wb)

    def view(r: ReportParameters) -> object:
        if "robot" in r.owners:
            raise ValidationError("filter owner: 'robot' is not a user")
        return recorder(r)

    p = parameters("03_job_stats")
    built = widgets.panel(p.spec, p, view)
    built.controls["owners"].value = ["robot"]
    assert built.error == "filter owner: 'robot' is not a user"
    assert built.params.owners == []  # the panel keeps the parameters its output shows
    assert len(recorder.frames) == 1
    built.controls["owners"].value = []
    assert built.error is None and len(recorder.frames) == 2


def test_the_panel_shows_only_when_a_person_drives_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    p = parameters("05_audit_report")
    monkeypatch.delenv(widgets.FORCE_ENV, raising=False)
    assert widgets.interactive() is False  # no kernel at all in this process
    assert widgets.explore(p, lambda r: None) is None
    monkeypatch.setenv(widgets.FORCE_ENV, "1")
    assert widgets.interactive() is True
    shown = widgets.explore(p, lambda r: pd.DataFrame({"a": [1]}))
    assert isinstance(shown, widgets.ReportPanel)
    monkeypatch.setenv(widgets.FORCE_ENV, "0")
    assert widgets.explore(p, lambda r: None) is None


@pytest.mark.slow
def test_a_kernel_a_person_drives_shows_widgets_and_a_scheduled_one_does_not() -> None:
    """JupyterLab executes with allow_stdin on; papermill, nbclient and nbval with it off."""
    import os

    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if k != widgets.FORCE_ENV}
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        seen: dict[bool, str] = {}
        for allow_stdin in (True, False):
            results: list[str] = []

            def hook(message: dict[str, Any], into: list[str] = results) -> None:
                if message["msg_type"] == "execute_result":
                    into.append(message["content"]["data"]["text/plain"])

            client.execute_interactive("import stratlogic\nstratlogic.reports.widgets.interactive()",
                                       allow_stdin=allow_stdin, output_hook=hook, timeout=60)
            seen[allow_stdin] = "".join(results)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert seen == {True: "True", False: "False"}


@pytest.mark.slow
def test_in_a_kernel_with_widgets_on_the_last_cell_shows_the_panel(seeded: Place, tmp_path: Path) -> None:
    done = execute("05_audit_report", seeded, tmp_path / "05.ipynb", env={widgets.FORCE_ENV: "1"})
    last = [cell for cell in done.cells if cell.cell_type == "code"][-1]
    assert [o["output_type"] for o in last.outputs] == ["execute_result"]
    assert "application/vnd.jupyter.widget-view+json" in last.outputs[0]["data"]
    assert "ReportPanel" in last.outputs[0]["data"]["text/plain"]
    errors = [o for cell in done.cells if cell.cell_type == "code" for o in cell.outputs if o["output_type"] == "error"]
    assert errors == []
