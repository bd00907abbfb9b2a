"""``stratlogic health``: is the system usable, and if not, which part is not."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from stratlogic.cli._common import actor, cli_errors, database, err, out

if TYPE_CHECKING:
    from stratlogic.services.health import SystemHealth

_LABELS = {"ok": "ok", "warn": "warning", "fail": "unhealthy"}


def health(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    deep: Annotated[bool, typer.Option("--deep", help="Also write, read back and delete a probe object in the "
                                                      "store, and verify the newest audit rows.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 2 when some part warns (and none fails).")] = False,
    timeout: Annotated[int, typer.Option("--timeout", min=1, max=600,
                                         help="Seconds to wait for a silent database or store.")] = 3,
    audit_rows: Annotated[int, typer.Option("--audit-rows", min=1,
                                            help="With --deep: how many of the newest audit rows to verify.")] = 1000,
) -> None:
    """Check the database, its pool, the artifact store, the audit chain, the job queue and the disk.

    Each part is ok, warn or fail, with a reason. Exit 0 when nothing fails, 1 when a part fails,
    2 with --strict when a part warns and none fails. Warns about STRATLOGIC_* variables that are no setting.

    Example: stratlogic health --deep --strict
    """
    with cli_errors():
        from stratlogic.services.health import check

        report = check(database(), actor=actor(), deep=deep, timeout=timeout, audit_rows=audit_rows)
    if as_json:
        out.print(json.dumps(report.as_dict(), indent=2, default=str), markup=False)
    else:
        _print(report)
    code = report.exit_code(strict=strict)
    if code:
        raise typer.Exit(code)


def _print(report: SystemHealth) -> None:
    console = err if report.status == "fail" else out
    console.print(f"{_LABELS[report.status]}: {report.message}", markup=False)
    console.print(f"database: {report.url}", markup=False)
    console.print(f"store: {report.store}", markup=False)
    width = max(len(part.name) for part in report.parts)
    for part in report.parts:
        console.print(f"  {part.status:<4}  {part.name:<{width}}  {part.reason}", markup=False)
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False)
