"""Every parameter of every notebook, in-process through the validating call: its default passes, a value of
the wrong kind fails with one line naming it. (The kernel runs of test_notebooks_execute.py keep one bad value
per notebook; kernels are slow.)"""

from __future__ import annotations

from typing import Any

import pytest

from stratlogic.errors import ValidationError
from stratlogic.reports.params import Param, load_spec, resolve
from tests.notebooks.conftest import NOTEBOOKS

NAMES = ["01_migrate", "02_seed", "03_job_stats", "04_artifact_metadata", "05_audit_report"]
#: A value each parameter must refuse, by name first (names with a meaning), else by declared type.
BY_NAME: dict[str, Any] = {"since": "-3x", "until": "tomorrow-ish", "tz": "Mars/Olympus_Mons", "by": "fortnight",
                           "statuses": "done", "actions": "user.exploded"}
BY_TYPE: dict[str, Any] = {"int": "many", "bool": "maybe", "str": 5, "list[str]": 7}
PARAMS = [(name, param) for name in NAMES for param in load_spec(NOTEBOOKS / f"{name}.ipynb").params]


def bad_value(param: Param) -> Any:
    if param.name in BY_NAME:
        return BY_NAME[param.name]
    return "neither" if param.kind.base == "literal" else BY_TYPE[param.type_text]


@pytest.mark.parametrize(("name", "param"), PARAMS, ids=[f"{n}-{p.name}" for n, p in PARAMS])
def test_the_default_passes_and_a_bad_value_fails_naming_the_parameter(name: str, param: Param) -> None:
    spec = load_spec(NOTEBOOKS / f"{name}.ipynb")
    good = resolve(spec, {param.name: param.default}, strict=False)
    assert good[param.name] == param.default
    with pytest.raises(ValidationError) as caught:
        resolve(spec, {param.name: bad_value(param)}, strict=False)
    assert str(caught.value).startswith(f"parameter {param.name!r}: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("name", "values", "expected"), [
    ("03_job_stats", {"statuses": "failed,cancelled", "since": "2026-11-01", "by": "week"},
     {"statuses": ["failed", "cancelled"], "since": "2026-11-01", "by": "week"}),
    ("04_artifact_metadata", {"top": "25", "content_types": '["text/html"]'},
     {"top": 25, "content_types": ["text/html"]}),
    ("05_audit_report", {"actions": "user.created", "actor": "ada", "export_format": "csv"},
     {"actions": ["user.created"], "actor": "ada", "export_format": "csv"}),
    ("02_seed", {"users": "3", "objects": "false"}, {"users": 3, "objects": False}),
])
def test_values_as_papermill_and_the_cli_give_them_are_coerced(name: str, values: dict[str, Any],
                                                               expected: dict[str, Any]) -> None:
    resolved = resolve(load_spec(NOTEBOOKS / f"{name}.ipynb"), values, strict=False)
    assert {key: resolved[key] for key in expected} == expected
