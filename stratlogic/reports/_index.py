"""``index.html``: one self-contained page linking each report of a run with its status."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stratlogic.reports.manifest import ReportOutcome

_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
          "td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}"
          ".ok{color:#1a7f37}.failed,.timeout{color:#b42318;font-weight:600}")


def _row(report: ReportOutcome) -> str:
    name = html.escape(report.name)
    link = f'<a href="{html.escape(report.html)}">{name}</a>' if report.html else name
    problem = html.escape(str((report.error or {}).get("line", "")))
    return (f"<tr><td>{link}</td><td class=\"{html.escape(report.status)}\">{html.escape(report.status)}</td>"
            f"<td>{report.duration_seconds:.1f} s</td><td>{problem}</td></tr>")


def write_index(folder: Path, run_id: str, lineage: Mapping[str, Any], reports: Sequence[ReportOutcome]) -> Path:
    """Write ``folder/index.html`` (no script, no external asset)."""
    tail = lineage.get("audit_tail") or {}
    facts = [("run", run_id), ("database", lineage.get("database")),
             ("schema revision", lineage.get("schema_revision")),
             ("package", lineage.get("package_version")), ("commit", lineage.get("git_commit")),
             ("audit tail", f"row {tail.get('id')}" if tail else "empty trail")]
    fact_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    rows = "".join(_row(report) for report in reports)
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Reports {html.escape(run_id)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>Reports {html.escape(run_id)}</h1>"
            f"<table><tr><th>report</th><th>status</th><th>time</th><th>error</th></tr>{rows}</table>"
            f"<h2>Lineage</h2><table>{fact_rows}</table>"
            "<p>Check this run with <code>stratlogic reports verify DIR</code>.</p></body></html>\n")
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


__all__ = ["write_index"]
