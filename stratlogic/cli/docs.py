"""``stratlogic docs …``: documentation generated from the code (``stratlogic.services.docs``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stratlogic.cli._common import actor, cli_errors, err

app = typer.Typer(help="Generate documentation from the code.", no_args_is_help=True)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option(
        "--out", help="Where to write it (default: docs/schema.md of the project).")] = None,
) -> None:
    """Write docs/schema.md (Mermaid ER diagram plus a table per model) from the models.

    Example: stratlogic docs schema
    """
    from stratlogic.services import docs

    with cli_errors():
        written = docs.write_schema(output, actor=actor())
    err.print(f"wrote {written}", markup=False)
