"""``stratlogic jobs …``: look at and steer scraping jobs.

Each command parses its flags, calls one function of ``stratlogic.services.jobs`` (where the rules live)
and prints what it returns. Services, models and Rich load inside the commands: ``--help`` stays light.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from stratlogic.cli._common import (
    NEGATIVE_VALUES,
    actor,
    cli_errors,
    database,
    err,
    given,
    lowered,
    out,
    parse_range,
)
from stratlogic.cli._output import AsCsv, AsJson, emit, output_format
from stratlogic.errors import ValidationError

app = typer.Typer(help="List, inspect and steer scraping jobs.", no_args_is_help=True)
#: How the commands' flags name the filters and parameters they pass, for the service's errors.
_FLAGS = {"status__in": "--status", "kind": "--kind", "owner_id": "--owner", "id__in": "--id",
          "error_type": "--error-type", "created_at__gte": "--since", "created_at__lt": "--until",
          "all_failed": "--all-failed", "older_than": "--older-than", "statuses": "--status",
          "batch_size": "--batch-size"}
_COLUMNS = ["id", "name", "kind", "status", "priority", "attempts", "shown_progress", "created"]
_HEADERS = ["id", "name", "kind", "status", "prio", "attempts", "progress", "created (UTC)"]


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A row with what the table shows: attempts as people count them, progress in percent, the minute."""
    from stratlogic.services.jobs import attempts

    progress = row["progress"]
    return {**row, "attempts": attempts(row["attempt"], row["max_retries"]),
            "shown_progress": f"{progress:.0%}" if progress is not None else "-", "created": row["created_at"][:19]}


@app.command("list")
def list_(
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses, any case (repeatable).")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    owner: Annotated[int | None, typer.Option(help="Only this owner's jobs (a user id).")] = None,
    since: Annotated[str | None, typer.Option(help="Created from: -7d, today, 2026-12-01, an ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="Created before (same forms as --since).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Next-page cursor from a previous call.")] = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """List jobs, newest first, a keyset page at a time (a table, --json lines or --csv).

    Example: stratlogic jobs list --status failed --since -7d --limit 20
    """
    from stratlogic.services import jobs as service

    with cli_errors():
        fmt = output_format(as_json, as_csv)
        start, end = parse_range(since, until)
        filters = given(status__in=lowered(status), kind=kind, owner_id=owner, created_at__gte=start,
                        created_at__lt=end)
        page = service.list_jobs(database(), filters, actor=actor(), limit=limit, cursor=cursor, labels=_FLAGS)
    rows = page.rows if fmt != "table" else [_shown(row) for row in page.rows]
    emit(rows, fmt=fmt, columns=_COLUMNS, headers=_HEADERS, empty="no jobs match")
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}")


@app.command(context_settings=NEGATIVE_VALUES)
def show(job_id: Annotated[int, typer.Argument(help="The job's id.")],
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show one job and its audit trail.

    Example: stratlogic jobs show 42
    """
    from stratlogic.services import jobs as service

    with cli_errors():
        row = service.show(database(), job_id, actor=actor())
    if as_json:
        out.print(json.dumps(row, indent=2), markup=False)
        return
    for key, value in row.items():
        if key != "history":
            out.print(f"{key:>17}: {value}", markup=False)
    for entry in row["history"]:
        out.print(f"  {entry['at'][:19]}  {entry['action']:<20} {json.dumps(entry['details'])}", markup=False)


@app.command(context_settings=NEGATIVE_VALUES)
def cancel(job_id: Annotated[int, typer.Argument(help="The job's id.")]) -> None:
    """Cancel a pending, queued or running job.

    Example: stratlogic jobs cancel 42
    """
    from stratlogic.services import jobs as service

    with cli_errors():
        service.cancel(database(), job_id, actor=actor())
    err.print(f"job {job_id} cancelled")


@app.command()
def retry(
    job_id: Annotated[list[int] | None, typer.Option("--id", help="Job ids (repeatable).")] = None,
    error_type: Annotated[str | None, typer.Option(help="Only failed jobs with this error type.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only failed jobs of this kind.")] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed job.")] = False,
    extra_attempts: Annotated[int, typer.Option(min=0, help="Attempts to grant beyond those spent.")] = 1,
) -> None:
    """Re-queue failed jobs (the dead-letter view) chosen by id or filter.

    Example: stratlogic jobs retry --error-type Timeout
    """
    from stratlogic.services import jobs as service

    with cli_errors():
        ids = service.retry(database(), given(error_type=error_type, kind=kind), actor=actor(), ids=job_id,
                            all_failed=all_failed, extra_attempts=extra_attempts, labels=_FLAGS)
    err.print(f"re-queued {len(ids)} job(s)" + (f": {', '.join(map(str, ids[:20]))}" if ids else ""))


@app.command("recover-stale")
def recover_stale() -> None:
    """Return jobs whose worker stopped heartbeating (lease expired) to queued, or to failed when spent.

    Example: stratlogic jobs recover-stale
    """
    from stratlogic.services import jobs as service

    with cli_errors():
        result = service.recover_stale(database(), actor=actor())
    err.print(f"re-queued {len(result.requeued)}, failed {len(result.failed)} (attempts spent)")


@app.command()
def cleanup(
    older_than: Annotated[str, typer.Option(
        help="Finished before: an age (30d, 12h), -30d, yesterday, or an ISO date; not in the future.")],
    status: Annotated[list[str] | None, typer.Option(help="Only these finished statuses, any case (repeatable).")]
    = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be deleted.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
) -> None:
    """Delete finished jobs (and their artifacts' rows and objects) older than a cut, in batches.

    Example: stratlogic jobs cleanup --older-than 90d --dry-run
    """
    from stratlogic.services import jobs as service

    with cli_errors():
        cut = service.cleanup_cut(older_than, labels=_FLAGS)  # once: the preview and the deletion agree
        db, who, statuses = database(), actor(), lowered(status)
        preview = service.cleanup(db, cut, actor=who, statuses=statuses, dry_run=True, labels=_FLAGS)
        err.print(f"{preview.total} job(s) finished before {cut.isoformat()}: {json.dumps(preview.by_status)}")
        if dry_run or not preview.total:
            return
        if not yes and not (sys.stdin.isatty() and typer.confirm("delete them?")):
            raise ValidationError("not confirmed: pass --yes to delete without a prompt")
        report = service.cleanup(db, cut, actor=who, statuses=statuses, dry_run=False, batch_size=batch_size,
                                 labels=_FLAGS)
    err.print(f"deleted {report.total} job(s) in {report.batches} batch(es): {json.dumps(report.by_status)}")


__all__ = ["app"]
