"""Report parameters read from a notebook's ``parameters`` cell: each type's good value passes, a bad one fails
naming the parameter, unknown names are refused listing the real ones; the real notebooks' specs parse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from stratlogic.errors import ValidationError
from stratlogic.reports.params import (
    NOTEBOOKS_ENV,
    Param,
    ParameterError,
    load_spec,
    report_parameters,
    resolve,
)

ROOT = Path(__file__).resolve().parents[2]
CELL = '''from typing import Literal

since: str = "-7d"  # start of the window
until: str = "now"  # end of the window
tz: str = "UTC"  # time zone
by: Literal["hour", "day", "week", "month"] = "day"  # period
statuses: list[str] = []  # job statuses (empty: all)
actions: list[str] = []  # audit actions
ids: list[int] = []  # job ids
top: int = 10  # how many
ratio: float = 0.5  # a fraction
charts: bool = True  # draw charts
level: Literal[1, 2, 3] = 2  # a numeric choice
label: str | None = None  # optional label
export_format: Literal["parquet", "csv", "xlsx", "none"] = "none"  # data file to keep
'''


def write_notebook(folder: Path, name: str, source: str, *, tag: bool = True) -> Path:
    """A notebook whose first cell is ``source`` (tagged ``parameters``), then the validating call."""
    v4: Any = nbformat.v4
    notebook = v4.new_notebook()
    notebook.cells = [v4.new_code_cell(source, metadata={"tags": ["parameters"]} if tag else {}),
                      v4.new_code_cell(f'p = stratlogic.report_parameters("{name}", globals())')]
    path = folder / f"{name}.ipynb"
    write: Any = nbformat.write
    write(notebook, path)
    return path


@pytest.fixture
def spec(tmp_path: Path) -> Any:
    return load_spec(write_notebook(tmp_path, "07_sample", CELL))


def test_a_param_built_from_its_annotation_text_checks_values_the_same_way(spec: Any) -> None:
    built = Param("by", "Literal['hour', 'day', 'week', 'month']", "day", "period")
    assert built == spec.get("by") and built.coerce("week") == "week"
    with pytest.raises(ParameterError, match="parameter 'by'"):
        built.coerce("fortnight")
    with pytest.raises(ParameterError, match="annotation 'dict' is not supported"):
        Param("x", "dict", {}, "")


def test_the_spec_has_names_annotations_defaults_and_descriptions(spec: Any) -> None:
    assert spec.name == "07_sample"
    assert spec.names == ["since", "until", "tz", "by", "statuses", "actions", "ids", "top", "ratio", "charts",
                          "level", "label", "export_format"]
    by = spec.get("by")
    assert (by.type_text, by.default, by.description) == ("Literal['hour', 'day', 'week', 'month']", "day", "period")
    assert (spec.get("label").type_text, spec.get("label").default) == ("str | None", None)
    assert spec.get("statuses").description == "job statuses (empty: all)"


GOOD = [
    ("since", "-30d", "-30d"), ("since", "2026-11-01", "2026-11-01"), ("until", "today", "today"),
    ("tz", "Europe/Paris", "Europe/Paris"), ("by", "week", "week"),
    ("statuses", "failed,cancelled", ["failed", "cancelled"]), ("statuses", ["failed"], ["failed"]),
    ("statuses", "", []), ("actions", '["user.created", "config.set"]', ["user.created", "config.set"]),
    ("ids", "1, 2,3", [1, 2, 3]), ("ids", [4, "5"], [4, 5]), ("top", "25", 25), ("top", 3, 3),
    ("ratio", "0.25", 0.25), ("ratio", 1, 1.0), ("charts", "false", False), ("charts", "yes", True),
    ("charts", True, True), ("level", "3", 3), ("level", 1, 1), ("label", "none", None), ("label", "x", "x"),
    ("export_format", "csv", "csv"),
]


@pytest.mark.parametrize(("name", "value", "expected"), GOOD, ids=[f"{n}={v!r}" for n, v, _ in GOOD])
def test_a_good_value_passes(spec: Any, name: str, value: Any, expected: Any) -> None:
    assert getattr(resolve(spec, {name: value}), name) == expected


BAD = [
    ("since", "-7x"), ("since", "+3d"), ("until", "someday"), ("tz", "Mars/Olympus"), ("by", "fortnight"),
    ("statuses", "failed,exploded"), ("statuses", 7), ("actions", "user.hacked"), ("ids", "1,two"),
    ("ids", "[1, 2"), ("top", "ten"), ("top", "2.5"), ("top", True), ("ratio", "half"), ("charts", "maybe"),
    ("charts", 1), ("level", "4"), ("label", 5), ("export_format", "pdf"), ("since", 20261101),
]


@pytest.mark.parametrize(("name", "value"), BAD, ids=[f"{n}={v!r}" for n, v in BAD])
def test_a_bad_value_fails_naming_the_parameter(spec: Any, name: str, value: Any) -> None:
    with pytest.raises(ParameterError, match=rf"^parameter '{name}': "):
        resolve(spec, {name: value})


def test_an_inverted_window_names_until(spec: Any) -> None:
    with pytest.raises(ParameterError, match=r"^parameter 'until': .*window"):
        resolve(spec, {"since": "-1d", "until": "-3d"})


def test_an_unknown_name_is_refused_listing_the_real_ones(spec: Any) -> None:
    with pytest.raises(ParameterError, match=r"unknown parameter 'sincee' for 07_sample; its parameters: since, "
                                             r"until, tz, by"):
        resolve(spec, {"sincee": "-1d"})


def test_the_kernel_call_reads_only_declared_names_and_freezes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_notebook(tmp_path, "07_sample", CELL)
    monkeypatch.setenv(NOTEBOOKS_ENV, str(tmp_path))
    namespace = {"since": "-3d", "top": "4", "In": [], "get_ipython": object(), "__name__": "__main__"}
    p = report_parameters("07_sample", namespace)
    assert (p.since, p.top, p.by, p.statuses) == ("-3d", 4, "day", [])
    assert p.window.until > p.window.since
    with pytest.raises(AttributeError, match="frozen"):
        p.top = 5
    with pytest.raises(AttributeError, match="no parameter 'nope'"):
        _ = p.nope
    with pytest.raises(ValidationError, match="parameter 'top'"):
        report_parameters("07_sample", {"top": "lots"})
    assert p.replace(top="9").top == 9


@pytest.mark.parametrize(("source", "problem"), [
    ("since = '-7d'", "every statement must be 'name: type = default"),
    ("since: datetime = '-7d'", "annotation 'datetime' is not supported"),
    ("since: str = compute()", "default must be a literal"),
    ("top: int = 'ten'  # a default that is not its own type", "parameter 'top'"),
    ("since: str = (", "does not parse"),
])
def test_a_malformed_parameters_cell_is_refused(tmp_path: Path, source: str, problem: str) -> None:
    with pytest.raises(ParameterError, match=problem.replace("(", r"\(")):
        load_spec(write_notebook(tmp_path, "08_bad", source))


def test_a_notebook_without_a_parameters_cell_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="exactly one cell tagged 'parameters', found 0"):
        load_spec(write_notebook(tmp_path, "09_untagged", "x: int = 1", tag=False))


def test_an_unknown_notebook_lists_the_ones_there(tmp_path: Path) -> None:
    write_notebook(tmp_path, "07_sample", CELL)
    with pytest.raises(ParameterError, match=r"no notebook '99_nothing' .* notebooks there: 07_sample"):
        load_spec("99_nothing", tmp_path)


def test_a_kernel_in_the_notebooks_folder_finds_its_spec_without_settings(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    write_notebook(tmp_path, "07_sample", CELL)
    monkeypatch.setenv(NOTEBOOKS_ENV, str(tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)
    assert report_parameters("07_sample", {"top": "3"}).top == 3


def test_a_percent_script_gives_the_same_spec_as_its_notebook(tmp_path: Path) -> None:
    notebook = load_spec(write_notebook(tmp_path, "07_sample", CELL))
    script = tmp_path / "other" / "07_sample.py"
    script.parent.mkdir()
    script.write_text('# %% [markdown]\n# Title\n\n# %% tags=["parameters"]\n' + CELL + "\n# %%\nprint(1)\n")
    assert load_spec(script).params == notebook.params


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_real_notebook_declares_typed_documented_parameters(path: Path) -> None:
    spec = load_spec(path)
    assert spec.params, f"{path.name} declares no parameters"
    assert all(param.description for param in spec.params), f"{path.name}: a parameter has no # description"
    assert resolve(spec, {}).as_dict() == spec.defaults()
    assert load_spec(path.with_suffix(".py")).params == spec.params


def test_offline_html_keeps_no_external_reference() -> None:
    from stratlogic.reports._html import EXTERNAL_REFERENCE, offline

    page = ('<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href=\'http://cdn/y.css\'>'
            '<a href="https://example.com/docs">docs</a><img src="data:image/png;base64,AAAA"><a href="#top">top</a>')
    cleaned = offline(page)
    assert EXTERNAL_REFERENCE.search(cleaned) is None
    assert 'title="https://example.com/docs">docs</a>' in cleaned
    assert 'src="data:image/png;base64,AAAA"' in cleaned and 'href="#top"' in cleaned


def test_rendered_html_fetches_nothing_even_the_templates_own_scripts(tmp_path: Path) -> None:
    """nbconvert's lab template imports mermaid from a CDN in every page: rendered (no kernel), none is left."""
    from stratlogic.reports._html import EXTERNAL_REFERENCE, render

    v4: Any = nbformat.v4
    notebook = v4.new_notebook()
    notebook.cells = [v4.new_markdown_cell("See [docs](https://example.com/docs)."),
                      v4.new_code_cell("print(1)", outputs=[v4.new_output("stream", name="stdout", text="1\n")])]
    write: Any = nbformat.write
    write(notebook, tmp_path / "n.ipynb")
    page = render(tmp_path / "n.ipynb", tmp_path / "n.html").read_text(encoding="utf-8")
    found = EXTERNAL_REFERENCE.search(page)
    assert found is None, page[found.start():found.end() + 60]
    assert "cdnjs" not in page and "print(1)" not in page


def test_a_params_file_keeps_dates_as_written_and_a_bad_date_names_its_parameter(spec: Any, tmp_path: Path) -> None:
    """YAML would build 2026-11-20 as a date and fail on 2026-13-45 with a bare ValueError (the CLI's exit 1)."""
    from stratlogic.reports.params import read_params_file

    good = tmp_path / "good.yaml"
    good.write_text("since: 2026-11-20\nuntil: 2026-11-27T08:00:00+01:00\nstatuses: [failed, cancelled]\ntop: 5\n")
    values = read_params_file(good)
    assert values == {"since": "2026-11-20", "until": "2026-11-27T08:00:00+01:00",
                      "statuses": ["failed", "cancelled"], "top": 5}
    assert resolve(spec, values).since == "2026-11-20"
    bad = tmp_path / "bad.yaml"
    bad.write_text("since: 2026-13-45\n")
    with pytest.raises(ParameterError, match=r"^parameter 'since': '2026-13-45' is not a moment"):
        resolve(spec, read_params_file(bad))
    (tmp_path / "list.yaml").write_text("- since\n")
    with pytest.raises(ParameterError, match="expected a mapping"):
        read_params_file(tmp_path / "list.yaml")


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("top", "0", "is not a whole number from 1 to 10,000"), ("top", "-3", "is not a whole number"),
    ("top", 20_000, "is not a whole number"), ("workday_start", "25:99", "is not a time of day"),
    ("workday_end", "6pm", "is not a time of day"), ("metadata_key", "", "is not a metadata key"),
    ("metadata_key", "Language!", "is not a metadata key")])
def test_values_the_statistics_would_refuse_in_the_kernel_are_refused_here_naming_the_parameter(
        tmp_path: Path, name: str, value: Any, problem: str) -> None:
    """Before, ``-p top=-3`` started kernels and failed there naming ``limit``, ``workday_start`` naming ``start``,
    ``metadata_key`` naming ``key``."""
    cell = ('top: int = 10  # rows\nworkday_start: str = "08:00"  # from\nworkday_end: str = "18:00"  # to\n'
            'metadata_key: str = "language"  # key\n')
    spec = load_spec(write_notebook(tmp_path, "08_hours", cell))
    with pytest.raises(ParameterError, match=rf"^parameter '{name}': .*{problem}"):
        resolve(spec, {name: value})
    assert resolve(spec, {"top": "10000", "workday_start": "07:30", "workday_end": "23:59"}).top == 10_000


def test_a_failed_cell_shows_its_error_line_not_the_traceback(tmp_path: Path) -> None:
    from stratlogic.reports._html import render

    v4: Any = nbformat.v4
    notebook = v4.new_notebook()
    failure = v4.new_output("error", ename="ValueError", evalue="limit: -3 is not a whole number "
                            "(postgresql://report:Tb-Hidden-Pass-41@db.example/prod)",
                            traceback=["Traceback (most recent call last)", "  File \"<cell>\", line 1",
                                       "    secret_call(p.top)", "ValueError: limit: -3 is not a whole number"])
    notebook.cells = [v4.new_code_cell("secret_call(p.top)", outputs=[failure])]
    write: Any = nbformat.write
    write(notebook, tmp_path / "n.ipynb")
    page = render(tmp_path / "n.ipynb", tmp_path / "n.html").read_text(encoding="utf-8")
    assert "ValueError: limit: -3 is not a whole number" in page
    assert "Traceback" not in page and "secret_call" not in page and "Tb-Hidden-Pass-41" not in page
    assert "Traceback" in (tmp_path / "n.ipynb").read_text()  # the executed notebook keeps it
