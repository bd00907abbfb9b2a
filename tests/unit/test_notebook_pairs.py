"""The notebooks are committed as jupytext pairs (the .py is the reviewed source), without outputs, runnable.

Each ``notebooks/NN_name.ipynb`` has a ``py:percent`` twin with the same cells; the .ipynb carries no outputs
and the ``python3`` kernelspec (papermill fails with "No kernel name found" without one); exactly one cell
is tagged ``parameters`` and the next one validates them with one package call; cells hold no SQL and import
nothing from the package but ``stratlogic`` itself.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

from stratlogic.reports.params import load_spec

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "notebooks"
NAMES = ["01_migrate", "02_seed", "03_job_stats", "04_artifact_metadata", "05_audit_report"]
ALLOWED_IMPORTS = re.compile(r"^\s*(?:import stratlogic$|from typing import Literal$)")


def cells(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    """A notebook's content as jupytext reads it from either side: type, source and tags of every cell."""
    notebook = jupytext.read(path)
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in notebook.cells]


def pair_problems(py: Path) -> list[str]:
    """What is wrong with the pair of ``py``: a missing twin, different cells, outputs or no kernelspec."""
    ipynb = py.with_suffix(".ipynb")
    if not ipynb.is_file():
        return [f"{py.name} has no {ipynb.name}"]
    problems = []
    if cells(py) != cells(ipynb):
        problems.append(f"{py.name} and {ipynb.name} differ: run `jupytext --sync notebooks/{py.name}`")
    raw = nbformat.read(ipynb, as_version=4)
    for index, cell in enumerate(raw.cells):
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            problems.append(f"{ipynb.name} cell {index} carries outputs: clear them before committing")
    if raw.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append(f"{ipynb.name} has no python3 kernelspec")
    return problems


@pytest.mark.parametrize("name", NAMES)
def test_each_notebook_is_a_clean_pair(name: str) -> None:
    assert pair_problems(FOLDER / f"{name}.py") == []


def test_no_notebook_without_its_pair() -> None:
    stems = {p.stem for p in FOLDER.glob("*.ipynb")} | {p.stem for p in FOLDER.glob("*.py")}
    assert sorted(stems) == NAMES


def test_the_check_fails_when_a_pair_differs_or_an_ipynb_has_outputs(tmp_path: Path) -> None:
    for suffix in (".py", ".ipynb"):
        shutil.copyfile(FOLDER / f"03_job_stats{suffix}", tmp_path / f"03_job_stats{suffix}")
    py, ipynb = tmp_path / "03_job_stats.py", tmp_path / "03_job_stats.ipynb"
    assert pair_problems(py) == []
    py.write_text(py.read_text().replace('tz: str = "UTC"', 'tz: str = "Europe/Paris"'))
    assert pair_problems(py) == ["03_job_stats.py and 03_job_stats.ipynb differ: run "
                                 "`jupytext --sync notebooks/03_job_stats.py`"]
    shutil.copyfile(FOLDER / "03_job_stats.py", py)
    raw = json.loads(ipynb.read_text())
    code = next(i for i, c in enumerate(raw["cells"]) if c["cell_type"] == "code")
    raw["cells"][code]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
    raw["metadata"].pop("kernelspec")
    ipynb.write_text(json.dumps(raw))
    assert pair_problems(py) == [f"03_job_stats.ipynb cell {code} carries outputs: clear them before committing",
                                 "03_job_stats.ipynb has no python3 kernelspec"]


@pytest.mark.parametrize("name", NAMES)
def test_one_parameters_cell_then_one_validating_call(name: str) -> None:
    found = cells(FOLDER / f"{name}.ipynb")
    tagged = [i for i, (_, _, tags) in enumerate(found) if "parameters" in tags]
    assert len(tagged) == 1
    following = found[tagged[0] + 1][1]
    assert following == f'import stratlogic\n\np = stratlogic.report_parameters("{name}", globals())'
    spec = load_spec(FOLDER / f"{name}.ipynb")  # every default passes its own declared type
    assert spec.params
    assert all(param.description for param in spec.params), "every parameter needs a # comment"


@pytest.mark.parametrize("name", NAMES)
def test_cells_hold_no_sql_and_import_only_the_package(name: str) -> None:
    for cell_type, source, _ in cells(FOLDER / f"{name}.ipynb"):
        if cell_type != "code":
            continue
        assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\b\s", source), source
        assert "sqlalchemy" not in source and "text(" not in source, source
        imports = [line for line in source.splitlines() if re.match(r"\s*(from|import)\s", line)]
        assert all(ALLOWED_IMPORTS.match(line) for line in imports), imports


@pytest.mark.parametrize("name", ["03_job_stats", "04_artifact_metadata", "05_audit_report"])
def test_report_notebooks_take_the_window_and_open_read_only(name: str) -> None:
    spec = load_spec(FOLDER / f"{name}.ipynb")
    assert {"since", "until", "tz", "export_format", "output_dir"} <= set(spec.names)
    sources = "\n".join(source for _, source, _ in cells(FOLDER / f"{name}.ipynb"))
    assert "stratlogic.open(readonly=True)" in sources
    assert sources.count("charts.") >= 2


def test_the_audit_report_takes_its_required_parameters() -> None:
    spec = load_spec(FOLDER / "05_audit_report.ipynb")
    assert {"since", "until", "actions", "actor", "tz", "export_format", "output_dir"} <= set(spec.names)
