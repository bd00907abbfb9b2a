"""``stratlogic jobs …``: look at and steer scraping jobs."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from stratlogic import jobs as job_services
from stratlogic.cli._common import (
    NEGATIVE_VALUES,
    cli_errors,
    database,
    err,
    given,
    lowered,
    out,
    parse_age_or_moment,
    parse_range,
    settings,
)
from stratlogic.errors import ValidationError
from stratlogic.models import JobStatus, ScrapingJob, utcnow
from stratlogic.repositories.audit import AuditRepository
from stratlogic.repositories.jobs import JobRepository, finished_statuses
from stratlogic.storage.factory import store_from_settings

app = typer.Typer(help="List, inspect and steer scraping jobs.", no_args_is_help=True)
#: How the commands' flags name the filters they build, for errors.
_FLAGS = {"status__in": "--status", "kind": "--kind", "owner_id": "--owner", "id__in": "--id",
          "error_type": "--error-type", "created_at__gte": "--since", "created_at__lt": "--until"}


def _owner(owner: int | None) -> int | None:
    """An owner id: 0 is a value like any other (no job has it), a negative one is no id at all."""
    if owner is not None and owner < 0:
        raise ValidationError(f"--owner {owner} is not a user id (ids are whole numbers from 1)")
    return owner


def attempts(attempt: int, max_retries: int) -> str:
    """Attempts made and allowed, as people count them: a job runs at least once however few retries it
    has, and fails for good when its attempts reach ``max_retries`` (``1 of 3``; ``0 of 1`` not yet run)."""
    return f"{attempt} of {max(max_retries, attempt, 1)}"


def _row(job: ScrapingJob) -> dict[str, Any]:
    return {"id": job.id, "name": job.name, "kind": job.kind, "status": job.status.value, "priority": job.priority,
            "attempt": job.attempt, "max_retries": job.max_retries, "owner_id": job.owner_id,
            "target_url": job.target_url, "claimed_by": job.claimed_by, "progress": job.progress,
            "pages_done": job.pages_done, "pages_total": job.pages_total, "items_scraped": job.items_scraped,
            "bytes_downloaded": job.bytes_downloaded, "error_type": job.error_type,
            "error_message": job.error_message, "created_at": job.created_at.isoformat(),
            "started_at": job.started_at.isoformat() if job.started_at else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "next_retry_at": job.next_retry_at.isoformat() if job.next_retry_at else None,
            "lease_expires_at": job.lease_expires_at.isoformat() if job.lease_expires_at else None}


@app.command("list")
def list_(
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses, any case (repeatable).")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    owner: Annotated[int | None, typer.Option(help="Only this owner's jobs (a user id).")] = None,
    since: Annotated[str | None, typer.Option(help="Created from: -7d, today, 2026-12-01, an ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="Created before (same forms as --since).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Next-page cursor from a previous call.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List jobs, newest first, a keyset page at a time.

    Example: stratlogic jobs list --status failed --since -7d --limit 20
    """
    with cli_errors():
        start, end = parse_range(since, until)
        filters = given(status__in=lowered(status), kind=kind, owner_id=_owner(owner), created_at__gte=start,
                        created_at__lt=end)
        JobRepository.check_filters(filters, labels=_FLAGS)
        with database().unit_of_work(readonly=True) as uow:
            page = JobRepository(uow).page(filters, sort="-created_at", limit=limit, cursor=cursor)
            rows = [_row(job) for job in page.items]
    if as_json:
        for row in rows:
            out.print(json.dumps(row), markup=False)
    else:
        table = Table("id", "name", "kind", "status", "prio", "attempts", "progress", "created (UTC)")
        for r in rows:
            shown = f"{r['progress']:.0%}" if r["progress"] is not None else "-"
            table.add_row(str(r["id"]), r["name"], r["kind"], r["status"], str(r["priority"]),
                          attempts(r["attempt"], r["max_retries"]), shown, r["created_at"][:19])
        out.print(table)
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}")


@app.command(context_settings=NEGATIVE_VALUES)
def show(job_id: Annotated[int, typer.Argument(help="The job's id.")],
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show one job and its audit trail.

    Example: stratlogic jobs show 42
    """
    with cli_errors(), database().unit_of_work(readonly=True) as uow:
        row = _row(JobRepository(uow).get(job_id))
        row["attempts"] = attempts(row["attempt"], row["max_retries"])  # "1 of 3", as jobs list shows it
        row["history"] = [{"id": a.id, "at": a.occurred_at.isoformat(), "action": a.action, "details": a.details}
                          for a in AuditRepository(uow).trail("job", job_id, limit=1000)]
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
    with cli_errors(), database().unit_of_work() as uow:
        JobRepository(uow).cancel(job_id)
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
    filters = given(id__in=job_id or None, error_type=error_type, kind=kind)
    with cli_errors():
        if not filters and not all_failed:
            raise ValidationError("say which failed jobs to retry: --id, --error-type, --kind, or --all-failed")
        with database().unit_of_work() as uow:
            jobs = JobRepository(uow)
            for named in job_id or []:  # a job named by id must exist and be failed, or nothing is re-queued
                status = jobs.get(named).status
                if status is not JobStatus.FAILED:
                    raise ValidationError(f"job {named} is {status.value}, not failed: only failed jobs can be "
                                          "retried; nothing was re-queued")
            JobRepository.check_filters(filters, labels=_FLAGS)  # after the ids: a huge one is "not found"
            ids = jobs.retry(filters, extra_attempts=extra_attempts)
    err.print(f"re-queued {len(ids)} job(s)" + (f": {', '.join(map(str, ids[:20]))}" if ids else ""))


@app.command("recover-stale")
def recover_stale() -> None:
    """Return jobs whose worker stopped heartbeating (lease expired) to queued, or to failed when spent.

    Example: stratlogic jobs recover-stale
    """
    with cli_errors(), database().unit_of_work() as uow:
        result = JobRepository(uow).recover_stale()
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
    """Delete finished jobs (and their artifacts' rows) older than a cut, in batches.

    Example: stratlogic jobs cleanup --older-than 90d --dry-run
    """
    with cli_errors():
        cut = parse_age_or_moment(older_than, "--older-than")
        if cut > utcnow():
            raise ValidationError(f"--older-than {older_than!r} is in the future ({cut.isoformat()}): it would "
                                  "select every finished job; give an age such as 90d or a past date")
        statuses = lowered(status) or [s.value for s in job_services.FINISHED]
        try:
            finished_statuses(statuses)
        except ValidationError as exc:
            raise ValidationError(f"--status: {exc}") from None
        db = database()
        preview = job_services.cleanup(db, cut, statuses=statuses, dry_run=True)
        err.print(f"{preview.total} job(s) finished before {cut.isoformat()}: {json.dumps(preview.by_status)}")
        if dry_run or not preview.total:
            return
        if not yes and not (sys.stdin.isatty() and typer.confirm("delete them?")):
            raise ValidationError("not confirmed: pass --yes to delete without a prompt")
        report = job_services.cleanup(db, cut, statuses=statuses, dry_run=False, batch_size=batch_size,
                                      store=store_from_settings(settings()))
    err.print(f"deleted {report.total} job(s) in {report.batches} batch(es): {json.dumps(report.by_status)}")
