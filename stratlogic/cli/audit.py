"""``stratlogic audit …``: verify the chain, export checkpoints, and read the trail."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from stratlogic.audit import checkpoint as checkpoints
from stratlogic.audit.verify import verify as verify_chain
from stratlogic.cli._common import cli_errors, database, err, given, out, parse_range, settings
from stratlogic.errors import ValidationError
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories.audit import AuditRepository
from stratlogic.storage.documents import read_document, write_document

app = typer.Typer(help="Verify and read the hash-chained audit trail.", no_args_is_help=True)
_FLAGS = {"action": "--action", "resource_type": "--resource-type", "resource_id": "--resource-id",
          "actor_id": "--actor", "occurred_at__gte": "--since", "occurred_at__lt": "--until"}


@app.command()
def verify(
    checkpoint: Annotated[str | None, typer.Option(
        "--checkpoint", help="Also prove this prefix is intact (a file, or s3://BUCKET/KEY).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check every row's content and link (and a checkpoint); exit 1 naming the first bad row.

    Example: stratlogic audit verify --checkpoint var/audit-checkpoint.json
    """
    with cli_errors():
        point = None
        if checkpoint:
            point = checkpoints.Checkpoint.from_json(read_document(settings(), checkpoint).decode(), checkpoint)
        report = verify_chain(database(), checkpoint=point)
    if as_json:
        out.print(json.dumps(report.as_dict(), indent=2), markup=False)
    elif report.ok:
        rate = report.rows / report.seconds if report.seconds else 0
        out.print(f"ok: {report.message} in {report.seconds:.2f}s ({rate:,.0f} rows/s)", markup=False)
    else:
        err.print(f"[red]tampered:[/red] {report.message}", markup=True)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def checkpoint(
    out_file: Annotated[str, typer.Option(
        "--out", help="Where to write the checkpoint: a file, or s3://BUCKET/KEY (keep it away from the database).")],
) -> None:
    """Export the trail's tail (last id, hash, row count, time) to a file or object kept outside the database.

    Example: stratlogic audit checkpoint --out s3://audit-checkpoints/2026-11-25.json
    """
    with cli_errors():
        point = checkpoints.take(database())
        where = write_document(settings(), out_file, point.to_json().encode())
    err.print(f"checkpoint of row {point.last_id} ({point.rows} rows) written to {where}")


def _action(text: str | None) -> str | None:
    """An action as typed, in any case (``CONFIG.SET``); one the trail never records is refused, not matched."""
    if text is None:
        return None
    action = text.strip().lower()
    if action not in {a.value for a in AuditAction}:
        raise ValidationError(f"--action {text!r} is not an audit action; allowed: "
                              f"{', '.join(a.value for a in AuditAction)}")
    return action


@app.command("list")
def list_(
    action: Annotated[str | None, typer.Option(help="e.g. user.created")] = None,
    resource_type: Annotated[str | None, typer.Option(help="e.g. user, job, config")] = None,
    resource_id: Annotated[str | None, typer.Option(help="The resource's id or key.")] = None,
    actor: Annotated[int | None, typer.Option(help="Acting user id.")] = None,
    since: Annotated[str | None, typer.Option(help="From: -7d, today, 2026-12-01, an ISO time (inclusive).")]
    = None,
    until: Annotated[str | None, typer.Option(help="Before (same forms as --since).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="The next-page cursor printed by a previous call.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List trail rows, oldest first, filtered; prints a cursor for the next page.

    Example: stratlogic audit list --resource-type user --since -7d
    """
    with cli_errors():
        if actor is not None and actor < 0:
            raise ValidationError(f"--actor {actor} is not a user id (ids are whole numbers from 1)")
        start, end = parse_range(since, until)
        filters = given(action=_action(action), resource_type=resource_type, resource_id=resource_id, actor_id=actor,
                        occurred_at__gte=start, occurred_at__lt=end)
        AuditRepository.check_filters(filters, labels=_FLAGS)
        with database().unit_of_work(readonly=True) as uow:
            page = AuditRepository(uow).page(filters, limit=limit, cursor=cursor)
            rows: list[dict[str, Any]] = [
                {"id": r.id, "occurred_at": r.occurred_at.isoformat(), "actor_id": r.actor_id, "action": r.action,
                 "resource_type": r.resource_type, "resource_id": r.resource_id, "details": r.details}
                for r in page.items]
    if as_json:
        for row in rows:
            out.print(json.dumps(row), markup=False)
    else:
        table = Table("id", "when (UTC)", "actor", "action", "resource", "details")
        for row in rows:
            table.add_row(str(row["id"]), row["occurred_at"][:19], str(row["actor_id"] or "system"), row["action"],
                          f"{row['resource_type']} {row['resource_id'] or ''}", json.dumps(row["details"])[:80])
        out.print(table)
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}")
