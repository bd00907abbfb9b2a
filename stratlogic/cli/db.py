"""``stratlogic db …``: migrations, in the spirit of the Alembic and Airflow ``db`` commands
(``stratlogic.services.migrate``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from stratlogic.cli._common import actor, cli_errors, database, err, out
from stratlogic.cli._output import AsCsv, AsJson, emit, output_format
from stratlogic.errors import SchemaDriftError

if TYPE_CHECKING:
    from stratlogic.services.migrate import DowngradePlan

app = typer.Typer(help="Migrate the database schema and check it against the models.", no_args_is_help=True)
#: How the migrate service's refusals name this command's options.
_FLAGS = {"confirm": "--yes", "sql": "--sql", "message": "-m/--message"}


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL from the current revision instead of running it.")]
    = False,
) -> None:
    """Apply migrations up to REVISION (default: head).

    Example: stratlogic db upgrade
    """
    from stratlogic.services import migrate

    with cli_errors():
        if sql:
            script = migrate.upgrade_sql(database(), revision, actor=actor())
            if script.sql:
                out.print(script.sql, markup=False, end="")
            else:
                err.print(f"database already at {script.current} ({revision}): no SQL to print", markup=False)
            return
        now = migrate.upgrade(database(), revision, actor=actor())
    err.print(f"database at {now or 'base'}", markup=False)


@app.command()
def downgrade(
    revision: Annotated[str | None, typer.Argument(help="Target revision, e.g. base.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Go back N revisions.")] = None,
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL instead of running it.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm a downgrade that drops tables or columns.")] = False,
) -> None:
    """Undo migrations down to REVISION, or by --steps N; dropping tables or columns needs --yes.

    Without --yes, a downgrade that drops data says what it drops and asks (on a terminal) or refuses.

    Example: stratlogic db downgrade --steps 1
    """
    from stratlogic.services import migrate

    with cli_errors():
        if sql:
            out.print(migrate.downgrade_sql(database(), revision, steps=steps, actor=actor()), markup=False, end="")
            return
        if not yes and sys.stdin.isatty():  # a person can answer: show what is lost and ask
            yes = _asked(migrate.downgrade_plan(database(), revision, steps=steps, actor=actor()))
        now = migrate.downgrade(database(), revision, steps=steps, confirm=yes, actor=actor(), labels=_FLAGS)
    err.print(f"database at {now or 'base'}", markup=False)


def _asked(plan: DowngradePlan) -> bool:
    """Whether the person at the terminal confirms a downgrade that drops data (True when it drops none)."""
    if not plan.drops:
        return False  # nothing to confirm: the service runs it without
    err.print(f"{plan.describe()}; the data in them is lost (back up first).", markup=False)
    if not typer.confirm("Downgrade?", default=False, err=True):
        err.print("nothing changed")
        raise typer.Exit(1)
    return True


@app.command()
def current() -> None:
    """Print the revision the database is at ("base" when never migrated)."""
    from stratlogic.services import migrate

    with cli_errors():
        out.print(migrate.current(database(), actor=actor()) or "base", markup=False)


@app.command()
def history(as_json: AsJson = False, as_csv: AsCsv = False) -> None:
    """List every migration, newest first, marking head and current."""
    from stratlogic.services import migrate

    with cli_errors():
        fmt = output_format(as_json, as_csv)
        revisions = migrate.history(database(), actor=actor())
    rows = [{"revision": rev.revision, "down_revision": rev.down_revision, "message": rev.message.splitlines()[0]
             if rev.message else "", "is_head": rev.is_head, "is_current": rev.is_current} for rev in revisions]
    if fmt == "table":
        rows = [{**row, "down_revision": row["down_revision"] or "-",
                 "marks": " ".join(m for m, on in (("head", row["is_head"]), ("current", row["is_current"])) if on)}
                for row in rows]
    emit(rows, fmt=fmt, columns=("revision", "down_revision", "message", "marks"),
         headers=("revision", "down", "message", ""), empty="no migrations")


@app.command()
def check() -> None:
    """Exit 1 and list the differences when models and migrations drift (or the history forks)."""
    from stratlogic.services import migrate

    with cli_errors():
        try:
            migrate.check(database(), actor=actor())
        except SchemaDriftError as exc:
            err.print(f"[red]drift:[/red] {len(exc.differences)} difference(s)", markup=True)
            for line in exc.differences:
                err.print(f"  - {line}", markup=False)
            raise typer.Exit(1) from None
        out.print("models and migrations agree; database at head")


@app.command()
def revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the migration does.")],
    empty: Annotated[bool, typer.Option("--empty", help="Do not autogenerate from the models.")] = False,
) -> None:
    """Write a new migration, autogenerated from the models; review it before committing.

    Example: stratlogic db revision -m "add jobs.kind"
    """
    from stratlogic.services import migrate

    with cli_errors():
        path = migrate.revision(database(), message, actor=actor(), autogenerate=not empty, labels=_FLAGS)
    out.print(f"wrote {path}; review it (docs/migrations.md) before committing", markup=False)
