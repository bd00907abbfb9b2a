"""``stratlogic config …``: typed system configuration."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from stratlogic.cli._common import NEGATIVE_VALUES, cli_errors, database, err, out
from stratlogic.repositories import ConfigRepository
from stratlogic.repositories.config import parse_text

app = typer.Typer(help="Read and change typed system configuration.", no_args_is_help=True)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every declared key with its value (secrets masked), type, description and what reads it.

    Example: stratlogic config list
    """
    with cli_errors(), database().unit_of_work(readonly=True) as uow:
        entries = ConfigRepository(uow).entries()
    if as_json:
        rows = [{"key": e.key, "value": e.value, "type": e.type_name, "default": e.is_default,
                 "secret": e.is_secret, "description": e.description, "read_by": e.read_by} for e in entries]
        out.print(json.dumps(rows, indent=2), markup=False)
        return
    table = Table("key", "value", "type", "set?", "description", "read by")
    for entry in entries:
        table.add_row(entry.key, json.dumps(entry.value), entry.type_name,
                      "default" if entry.is_default else "set", entry.description, entry.read_by)
    out.print(table)


@app.command()
def get(key: Annotated[str, typer.Argument(help="A declared key, e.g. jobs.lease_seconds.")]) -> None:
    """Print one key's value as JSON (a secret is masked).

    Example: stratlogic config get jobs.lease_seconds
    """
    with cli_errors(), database().unit_of_work(readonly=True) as uow:
        entry = ConfigRepository(uow).entry(key)
    out.print(json.dumps(entry.value), markup=False)


@app.command("set", context_settings=NEGATIVE_VALUES)
def set_(
    key: Annotated[str, typer.Argument(help="A declared key.")],
    value: Annotated[str, typer.Argument(help="JSON (10, true, [\"a\"]) or plain text for text keys.")],
) -> None:
    """Set a key after checking the value against its declared type (a negative number needs no `--`).

    Example: stratlogic config set jobs.lease_seconds 600
    """
    with cli_errors(), database().unit_of_work() as uow:
        entry = ConfigRepository(uow).set(key, parse_text(key, value))
    err.print(f"{entry.key} = {json.dumps(entry.value)}")


@app.command()
def unset(key: Annotated[str, typer.Argument(help="A declared key.")]) -> None:
    """Return a key to its default.

    Example: stratlogic config unset jobs.lease_seconds
    """
    with cli_errors(), database().unit_of_work() as uow:
        changed = ConfigRepository(uow).unset(key)
    err.print(f"{key} {'back to its default' if changed else 'was already at its default'}")
