"""Report notebooks: typed parameters, papermill runs with HTML and a manifest, and verifying a run.

    spec = load_spec("05_audit_report")                      # what `stratlogic reports params` prints
    p = report_parameters("05_audit_report", globals())      # a notebook's second cell

Running and verifying (``run``, ``verify``) import papermill and nbconvert, so they are imported on use.
"""

import importlib
from typing import Any

from stratlogic.reports.params import (
    Param,
    ParameterError,
    ReportParameters,
    ReportSpec,
    load_spec,
    report_parameters,
)

#: Submodules a notebook reaches as ``stratlogic.reports.charts`` without importing them (each costs
#: matplotlib, ipywidgets or papermill to import).
_SUBMODULES = frozenset({"charts", "widgets", "run", "verify", "manifest"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"stratlogic.reports.{name}")
    raise AttributeError(f"module 'stratlogic.reports' has no attribute {name!r}")


__all__ = ["Param", "ParameterError", "ReportParameters", "ReportSpec", "load_spec", "report_parameters"]
