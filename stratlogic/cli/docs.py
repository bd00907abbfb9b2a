"""``stratlogic docs …``: documentation generated from the code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stratlogic.cli._common import cli_errors, err
from stratlogic.db.migrate import PROJECT_ROOT
from stratlogic.schema_docs import render_schema

app = typer.Typer(help="Generate documentation from the code.", no_args_is_help=True)


@app.command()
def schema(
    output: Annotated[Path, typer.Option("--out", help="Where to write it.")] = PROJECT_ROOT / "docs/schema.md",
) -> None:
    """Write docs/schema.md (Mermaid ER diagram plus a table per model) from the models.

    Example: stratlogic docs schema
    """
    with cli_errors():
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render_schema(), encoding="utf-8")
        err.print(f"wrote {output}")
