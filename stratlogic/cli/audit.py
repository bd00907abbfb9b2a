"""``stratlogic audit …``: verify the chain, export checkpoints, and read the trail (``stratlogic.services.audit``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from stratlogic.cli._common import actor, cli_errors, database, err, out, parse_range
from stratlogic.cli._output import AsCsv, AsJson, emit, output_format

app = typer.Typer(help="Verify and read the hash-chained audit trail.", no_args_is_help=True)
_FLAGS = {"action": "--action", "resource_type": "--resource-type", "resource_id": "--resource-id",
          "actor_id": "--actor", "occurred_at__gte": "--since", "occurred_at__lt": "--until"}
_COLUMNS = ("id", "occurred_at", "actor_id", "action", "resource_type", "resource_id", "details")
_HEADERS = ("id", "when (UTC)", "actor", "action", "resource type", "resource id", "details")


@app.command()
def verify(
    checkpoint: Annotated[str | None, typer.Option(
        "--checkpoint", help="Also prove this prefix is intact (a file, or s3://BUCKET/KEY).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check every row's content and link (and a checkpoint); exit 1 naming the first bad row.

    Example: stratlogic audit verify --checkpoint var/audit-checkpoint.json
    """
    from stratlogic.services import audit

    with cli_errors():
        report = audit.verify(database(), actor=actor(), checkpoint=checkpoint)
    if as_json:
        out.print(json.dumps(report.as_dict(), indent=2), markup=False)
    elif report.ok:
        rate = report.rows / report.seconds if report.seconds else 0
        out.print(f"ok: {report.message} in {report.seconds:.2f}s ({rate:,.0f} rows/s)", markup=False)
    else:
        err.print("[red]tampered:[/red] ", markup=True, end="")
        err.print(report.message, markup=False)
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
    from stratlogic.services import audit

    with cli_errors():
        written = audit.checkpoint(database(), out_file, actor=actor())
    point = written.checkpoint
    err.print(f"checkpoint of row {point.last_id} ({point.rows} rows) written to {written.location}", markup=False)


@app.command("list")
def list_(
    action: Annotated[str | None, typer.Option(help="e.g. user.created")] = None,
    resource_type: Annotated[str | None, typer.Option(help="e.g. user, job, config")] = None,
    resource_id: Annotated[str | None, typer.Option(help="The resource's id or key.")] = None,
    actor_id: Annotated[int | None, typer.Option("--actor", help="Acting user id.")] = None,
    since: Annotated[str | None, typer.Option(help="From: -7d, today, 2026-12-01, an ISO time (inclusive).")]
    = None,
    until: Annotated[str | None, typer.Option(help="Before (same forms as --since).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="The next-page cursor printed by a previous call.")] = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """List trail rows, oldest first, filtered; prints a cursor for the next page.

    Example: stratlogic audit list --resource-type user --since -7d
    """
    from stratlogic.services import audit

    with cli_errors():
        fmt = output_format(as_json, as_csv)
        start, end = parse_range(since, until)
        page = audit.list_rows(database(), actor=actor(), action=action, resource_type=resource_type,
                               resource_id=resource_id, actor_id=actor_id, since=start, until=end, limit=limit,
                               cursor=cursor, labels=_FLAGS)
    rows: list[dict[str, Any]] = [
        {"id": r.id, "occurred_at": r.occurred_at.isoformat(), "actor_id": r.actor_id, "action": r.action,
         "resource_type": r.resource_type, "resource_id": r.resource_id, "details": r.details} for r in page.items]
    shown = rows if fmt != "table" else [{**row, "occurred_at": row["occurred_at"][:19],
                                          "actor_id": row["actor_id"] or "system"} for row in rows]
    emit(shown, fmt=fmt, columns=_COLUMNS, headers=_HEADERS, empty="no audit rows match")
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}", markup=False)
