"""StratLogic Workbench: ``wb = stratlogic.open()`` is the one entry point for notebooks.

    import stratlogic
    wb = stratlogic.open(readonly=True)
    p = stratlogic.report_parameters("05_audit_report", globals())   # a report notebook's second cell

Names are imported on first use, so ``import stratlogic`` (and every CLI start) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stratlogic.reports.params import ReportParameters, report_parameters
    from stratlogic.workbench import Workbench, open

_LAZY = {"open": "stratlogic.workbench", "Workbench": "stratlogic.workbench",
         "report_parameters": "stratlogic.reports.params", "ReportParameters": "stratlogic.reports.params"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("reports", "analytics"):  # `stratlogic.reports.charts` in a notebook, without an import
        return importlib.import_module(f"stratlogic.{name}")
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("stratlogic")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(f"module 'stratlogic' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY, "__version__"])


__all__ = ["ReportParameters", "Workbench", "open", "report_parameters"]
