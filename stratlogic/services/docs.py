"""Documentation generated from the code: docs/schema.md from the models (``stratlogic docs schema``).

It reads no database: the models are the source, and a test fails when the committed file differs.
"""

from __future__ import annotations

from pathlib import Path

from stratlogic.db.actor import Actor, as_actor
from stratlogic.db.migrate import PROJECT_ROOT
from stratlogic.errors import ValidationError
from stratlogic.schema_docs import render_schema
from stratlogic.services._base import entry

#: Where ``write_schema`` writes when given no path: the project's own docs/schema.md.
SCHEMA_DOC = PROJECT_ROOT / "docs" / "schema.md"


@entry("docs.schema", writes=False)
def write_schema(output: Path | None = None, *, actor: Actor) -> Path:
    """Write the schema document (a Mermaid ER diagram and a table per model) to ``output`` (default
    docs/schema.md), making its folder; return where it went."""
    target = output or SCHEMA_DOC
    with as_actor(actor):
        text = render_schema()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


__all__ = ["SCHEMA_DOC", "write_schema"]
