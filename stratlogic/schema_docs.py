"""Render docs/schema.md from the models: a Mermaid ER diagram and one table per model.

Generated, never hand-edited: ``stratlogic docs schema`` writes it, and a test fails when the committed
file differs from what the models produce.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DefaultClause,
    ForeignKeyConstraint,
    Identity,
    Index,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql

from stratlogic.models import Base

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _type(column: Column[object]) -> str:
    return str(column.type.compile(dialect=_PG))


def _mermaid_type(column: Column[object]) -> str:
    return _type(column).split("(")[0].replace(" ", "_").lower()


def _er_diagram(tables: list[Table]) -> list[str]:
    lines = ["```mermaid", "erDiagram"]
    for table in tables:
        for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
            parent = fk.referred_table.name
            optional = any(col.nullable for col in fk.columns)
            lines.append(f'    {parent} ||--{"o" if optional else "|"}{{ {table.name} : "{fk.columns[0].name}"')
    for table in tables:
        lines.append(f"    {table.name} {{")
        for column in table.columns:
            keys = ",".join(k for k, on in (("PK", column.primary_key), ("FK", bool(column.foreign_keys))) if on)
            lines.append(f"        {_mermaid_type(column)} {column.name}{' ' + keys if keys else ''}")
        lines.append("    }")
    lines.append("```")
    return lines


def _default(column: Column[object]) -> str:
    server = column.server_default
    if isinstance(server, Identity):
        return "identity"
    if isinstance(server, DefaultClause):
        arg = server.arg
        return str(getattr(arg, "text", arg))
    return ""


def _column_rows(table: Table) -> list[str]:
    rows = ["| column | type | null | default | notes |", "|---|---|---|---|---|"]
    for column in table.columns:
        default = _default(column)
        notes = []
        if column.primary_key:
            notes.append("primary key")
        for fk in column.foreign_keys:
            notes.append(f"→ {fk.target_fullname} (ON DELETE {fk.ondelete or 'NO ACTION'})")
        rows.append(f"| `{column.name}` | {_type(column)} | {'yes' if column.nullable else 'no'} | "
                    f"{default} | {'; '.join(notes)} |")
    return rows


def _constraint_rows(table: Table) -> list[str]:
    rows = []
    for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
        if isinstance(constraint, CheckConstraint):
            sql = constraint.sqltext.compile(dialect=_PG, compile_kwargs={"literal_binds": True})
            rows.append(f"- `{constraint.name}` CHECK ({sql})")
        elif isinstance(constraint, UniqueConstraint):
            rows.append(f"- `{constraint.name}` UNIQUE ({', '.join(c.name for c in constraint.columns)})")
        elif isinstance(constraint, ForeignKeyConstraint):
            rows.append(f"- `{constraint.name}` FOREIGN KEY ({', '.join(constraint.column_keys)})")
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        rows.append(_index_line(index))
    return rows


def _index_line(index: Index) -> str:
    """``UNIQUE INDEX (a DESC, b) WHERE …`` as PostgreSQL would write it (expressions and partial indexes)."""
    bare = {"include_table": False}
    parts = [e.name if isinstance(e, Column) else str(e) if isinstance(e, str)
             else str(e.compile(dialect=_PG, compile_kwargs=bare)) for e in index.expressions]
    kind = "UNIQUE INDEX" if index.unique else "INDEX"
    where = index.dialect_options["postgresql"].get("where")
    condition = f" WHERE {where}" if where is not None else ""
    return f"- `{index.name}` {kind} ({', '.join(parts)}){condition}"


def render_schema() -> str:
    """The whole of docs/schema.md as text."""
    tables = sorted(Base.metadata.tables.values(), key=lambda t: t.name)
    lines = ["# Database schema", "",
             "Generated from `stratlogic/models/` by `stratlogic docs schema`; do not edit by hand.",
             "Types are shown as PostgreSQL spells them; on SQLite the same columns use its affinities.",
             "", *_er_diagram(tables), ""]
    for table in tables:
        doc = (table.info.get("doc") or _model_doc(table.name)).strip()
        lines += [f"## {table.name}", "", doc, "", *_column_rows(table), "", "Constraints and indexes:", "",
                  *_constraint_rows(table), ""]
    return "\n".join(lines).rstrip() + "\n"


def _model_doc(table_name: str) -> str:
    for mapper in Base.registry.mappers:
        if getattr(mapper.local_table, "name", None) == table_name:
            text = mapper.class_.__doc__ or ""
            return " ".join(line.strip() for line in text.strip().splitlines()).replace("``", "`")
    return ""


__all__ = ["render_schema"]
