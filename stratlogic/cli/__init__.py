"""The ``stratlogic`` command: a thin face over the package (each command calls one entry point)."""

from __future__ import annotations

from typing import Annotated

import typer

from stratlogic.cli import artifacts as artifact_commands
from stratlogic.cli import audit as audit_commands
from stratlogic.cli import config as config_commands
from stratlogic.cli import db as db_commands
from stratlogic.cli import docs as docs_commands
from stratlogic.cli import export as export_commands
from stratlogic.cli import health as health_commands
from stratlogic.cli import jobs as job_commands
from stratlogic.cli import reports as report_commands
from stratlogic.cli import seed as seed_commands
from stratlogic.cli._common import state
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
app.command("health")(health_commands.health)


@app.callback()
def _root(ctx: typer.Context,
          debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    state["debug"] = debug
    # Nothing authenticates a CLI user yet: every change records the OS user and host (db/actor.py).
    ctx.with_resource(acting_as(None, origin=Origin.of_this_process("cli")))


def main() -> None:
    """Entry point of the ``stratlogic`` console script."""
    app()


__all__ = ["app", "main"]
