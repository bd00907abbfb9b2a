"""``stratlogic config …``: typed system configuration (``stratlogic.services.config``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from stratlogic.cli._common import NEGATIVE_VALUES, actor, cli_errors, database, err, out
from stratlogic.cli._output import AsCsv, AsJson, emit, output_format

app = typer.Typer(help="Read and change typed system configuration.", no_args_is_help=True)
_COLUMNS = ("key", "value", "type", "default", "description", "read_by")


@app.command("list")
def list_(as_json: AsJson = False, as_csv: AsCsv = False) -> None:
    """List every declared key with its value (secrets masked), type, description and what reads it.

    --json prints one object per key (key, value, type, default, secret, description, read_by).

    Example: stratlogic config list
    """
    from stratlogic.services import config

    with cli_errors():
        fmt = output_format(as_json, as_csv)
        entries = config.list_entries(database(), actor=actor())
    rows = [{"key": e.key, "value": e.value, "type": e.type_name, "default": e.is_default, "secret": e.is_secret,
             "description": e.description, "read_by": e.read_by} for e in entries]
    if fmt == "table":  # a person reads "set" or "default", and text values without JSON quotes
        rows = [{**row, "default": "default" if row["default"] else "set"} for row in rows]
    emit(rows, fmt=fmt, columns=_COLUMNS, headers=("key", "value", "type", "set?", "description", "read by"))


@app.command()
def get(key: Annotated[str, typer.Argument(help="A declared key, e.g. jobs.lease_seconds.")]) -> None:
    """Print one key's value as JSON (a secret is masked).

    Example: stratlogic config get jobs.lease_seconds
    """
    from stratlogic.services import config

    with cli_errors():
        entry = config.get(database(), key, actor=actor())
    out.print(json.dumps(entry.value), markup=False)


@app.command("set", context_settings=NEGATIVE_VALUES)
def set_(
    key: Annotated[str, typer.Argument(help="A declared key.")],
    value: Annotated[str, typer.Argument(help="JSON (10, true, [\"a\"]) or plain text for text keys.")],
) -> None:
    """Set a key after checking the value against its declared type (a negative number needs no `--`).

    Example: stratlogic config set jobs.lease_seconds 600
    """
    from stratlogic.services import config

    with cli_errors():
        entry = config.set(database(), key, value, actor=actor(), as_text=True)
    err.print(f"{entry.key} = {json.dumps(entry.value)}", markup=False)


@app.command()
def unset(key: Annotated[str, typer.Argument(help="A declared key.")]) -> None:
    """Return a key to its default.

    Example: stratlogic config unset jobs.lease_seconds
    """
    from stratlogic.services import config

    with cli_errors():
        changed = config.unset(database(), key, actor=actor())
    err.print(f"{key} {'back to its default' if changed else 'was already at its default'}", markup=False)
