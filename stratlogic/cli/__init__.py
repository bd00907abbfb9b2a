"""The ``stratlogic`` command: a thin face over the package (each command calls one entry point)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from stratlogic.cli import artifacts as artifact_commands
from stratlogic.cli import audit as audit_commands
from stratlogic.cli import config as config_commands
from stratlogic.cli import db as db_commands
from stratlogic.cli import docs as docs_commands
from stratlogic.cli import export as export_commands
from stratlogic.cli import jobs as job_commands
from stratlogic.cli import reports as report_commands
from stratlogic.cli import seed as seed_commands
from stratlogic.cli._common import cli_errors, err, out, settings, state
from stratlogic.config import stray_variables
from stratlogic.db import health as db_health
from stratlogic.db import make_engine
from stratlogic.db.actor import Origin, acting_as

app = typer.Typer(help="StratLogic Workbench: data layer and analyst workbench.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.add_typer(db_commands.app, name="db")
app.add_typer(docs_commands.app, name="docs")
app.add_typer(config_commands.app, name="config")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(job_commands.app, name="jobs")
app.add_typer(artifact_commands.app, name="artifacts")
app.add_typer(export_commands.app, name="export")
app.add_typer(report_commands.app, name="reports")
app.command("seed")(seed_commands.seed)


@app.callback()
def _root(ctx: typer.Context,
          debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    state["debug"] = debug
    # Nothing authenticates a CLI user yet: every change records the OS user and host (db/actor.py).
    ctx.with_resource(acting_as(None, origin=Origin.of_this_process("cli")))


@app.command()
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


def main() -> None:
    """Entry point of the ``stratlogic`` console script."""
    app()


__all__ = ["app", "main"]
