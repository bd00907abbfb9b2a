"""``stratlogic health``: is the system usable, and if not, which part is not."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from stratlogic.cli._common import cli_errors, err, out, settings
from stratlogic.config import stray_variables
from stratlogic.db import health as db_health
from stratlogic.db import make_engine


def health(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    timeout: Annotated[int, typer.Option("--timeout", min=1, help="Seconds to wait for a silent server.")] = 3,
) -> None:
    """Check the database: reachable, latency, schema revision. Exit 1 when unhealthy.

    Names the database checked (password masked) and warns about STRATLOGIC_* variables that are no setting.

    Example: stratlogic health --json
    """
    with cli_errors():
        loaded = settings()
        engine = make_engine(loaded.model_copy(update={"connect_timeout": timeout}))
        try:
            report = db_health.check(engine)
        finally:
            engine.dispose()
    warnings = stray_variables(env_file=loaded.home / ".env")
    if as_json:
        out.print(json.dumps({**report.as_dict(), "warnings": warnings}, indent=2), markup=False)
    else:
        (out if report.ok else err).print(("ok: " if report.ok else "unhealthy: ") + report.message,
                                          markup=False)
        (out if report.ok else err).print(f"database: {report.url}", markup=False)
        for warning in warnings:
            err.print(f"warning: {warning}", markup=False)
    if not report.ok:
        raise typer.Exit(1)
