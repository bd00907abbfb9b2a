"""``stratlogic.services.reports`` and the commands over it, without starting a kernel: the notebooks and their
parameters as listed (table, JSON lines, CSV), bad parameters refused before anything is made, and a run folder
that is not one refused by verify naming what is missing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from stratlogic.db import Database
from stratlogic.db.actor import SYSTEM
from stratlogic.errors import ValidationError
from stratlogic.services import _base
from stratlogic.services import reports as service
from tests.cli_helpers import invoke

FIXTURES = Path(__file__).parents[1] / "notebooks" / "fixtures"
NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
TINY = ("since", "until", "tz", "statuses", "limit", "export_format", "output_dir")


def test_list_names_every_notebook_and_which_change_data() -> None:
    found = {info.name: info for info in service.list_reports(NOTEBOOKS, actor=SYSTEM)}
    assert {"01_migrate", "02_seed", "05_audit_report"} <= set(found)
    assert not found["01_migrate"].runs_by_default and not found["02_seed"].runs_by_default
    assert found["05_audit_report"].runs_by_default and "since" in found["05_audit_report"].parameters
    tiny = {info.name: info for info in service.list_reports(FIXTURES, actor=SYSTEM)}["10_tiny"]
    assert tiny.parameters == TINY


def test_a_missing_notebooks_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "notebook"
    with pytest.raises(service.ParameterError, match=f"notebooks folder '{missing}' does not exist"):
        service.list_reports(missing, actor=SYSTEM)
    assert service.list_reports(tmp_path, actor=SYSTEM) == []  # a folder without notebooks lists none


def test_params_and_an_unknown_notebook() -> None:
    spec = service.params("10_tiny", FIXTURES, actor=SYSTEM)
    assert tuple(spec.names) == TINY and spec.get("limit").default == 5
    with pytest.raises(service.ParameterError, match=r"no notebook '99_nothing' in .*; notebooks there: 10_tiny"):
        service.params("99_nothing", FIXTURES, actor=SYSTEM)


def test_a_run_with_a_bad_parameter_is_refused_before_anything_is_made(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    with pytest.raises(service.ParameterError, match=r"^unknown parameter 'sinse'; parameters: 10_tiny: since"):
        service.run(db, FIXTURES, out, only=["10_tiny"], values={"sinse": "-7d"}, actor=SYSTEM)
    (tmp_path / "p.yaml").write_text("limit: ten\n")
    with pytest.raises(service.ParameterError, match="parameter 'limit': 'ten' is not an integer"):
        service.run(db, FIXTURES, out, only=["10_tiny"], params_file=tmp_path / "p.yaml", actor=SYSTEM)
    assert not out.exists()


def test_values_given_override_the_params_file(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("since: -1d\nlimit: 3\n")
    assert service.given_values({"limit": "7"}, tmp_path / "p.yaml") == {"since": "-1d", "limit": "7"}


def test_verify_names_a_folder_without_a_manifest(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"manifest.json: not a readable manifest \(FileNotFoundError\)"):
        service.verify(db, tmp_path, actor=SYSTEM)


def test_list_and_params_print_json_lines_csv_or_a_table(tmp_path: Path) -> None:
    env = {"STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    listed = invoke(env, "reports", "list", "--notebooks", str(FIXTURES), "--json")
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows[0] == {"notebook": "10_tiny", "runs_by_default": True, "parameters": list(TINY)}
    shown = invoke(env, "reports", "params", "10_tiny", "--notebooks", str(FIXTURES), "--csv")
    assert shown.exit_code == 0, shown.output
    table = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert table[0] == {"parameter": "since", "type": "str", "default": "'-30d", "description": "start of the window"}
    assert [row["parameter"] for row in table] == list(TINY)
    both = invoke(env, "reports", "list", "--notebooks", str(FIXTURES), "--json", "--csv")
    assert both.exit_code == 1 and "--json and --csv cannot be given together" in both.output
    plain = invoke(env, "reports", "list", "--notebooks", str(FIXTURES))
    assert plain.exit_code == 0 and "no (changes data" not in plain.stdout and "10_tiny" in plain.stdout


def test_entry_points_are_registered() -> None:
    names = {name: item.writes for name, item in _base.ENTRIES.items() if name.startswith("reports.")}
    assert names == {"reports.list": False, "reports.params": False, "reports.run": True, "reports.verify": False}
