"""``stratlogic artifacts …``: store, fetch, list and share artifacts; reconcile rows with objects.

Each command parses its flags, calls one function of ``stratlogic.services.artifacts`` (the store is the
configured one) and prints what it returns. Services and storage load inside the commands: ``--help``
stays light.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stratlogic.cli._common import NEGATIVE_VALUES, actor, cli_errors, database, err, out, parse_duration
from stratlogic.cli._output import AsCsv, AsJson, emit, output_format
from stratlogic.errors import ValidationError

if TYPE_CHECKING:
    from stratlogic.services.artifacts import ReconcileReport

app = typer.Typer(help="Store, fetch, list and share artifacts; reconcile rows with stored objects.",
                  no_args_is_help=True)
#: How the commands' flags name the filters and parameters they pass, for the service's errors.
_FLAGS = {"job_id": "--job", "content_type": "--type", "target": "--out", "expires": "--expires"}
_COLUMNS = ["id", "job_id", "filename", "content_type", "size_bytes", "short_sha256", "created"]
_HEADERS = ["id", "job", "filename", "type", "bytes", "sha256", "created (UTC)"]


def _metadata(pairs: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs; a value that parses as JSON (``3``, ``true``, ``["a"]``) keeps its type."""
    values: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep:
            raise ValidationError(f"--meta {pair!r} is not key=value")
        try:
            values[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[key.strip()] = text
    return values


@app.command(context_settings=NEGATIVE_VALUES)
def put(
    job_id: Annotated[int, typer.Argument(help="The job the artifact belongs to.")],
    path: Annotated[Path, typer.Argument(help="The file to store.", exists=True, dir_okay=False, readable=True)],
    name: Annotated[str | None, typer.Option(help="Filename to record (default: the file's name).")] = None,
    content_type: Annotated[str | None, typer.Option("--type", help="Declared content type (checked).")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Metadata key=value (repeatable).")] = None,
) -> None:
    """Validate and store a file as an artifact of a job (same content twice is stored once).

    Example: stratlogic artifacts put 42 page.html --meta url=https://example.com/ --meta pages=3
    """
    from stratlogic.services import artifacts as service

    with cli_errors():
        stored = service.put(database(), job_id, path, path.name if name is None else name, actor=actor(),
                             content_type=content_type, metadata=_metadata(meta))
    out.print(json.dumps(service.artifact_row(stored)), markup=False)
    err.print(f"stored as artifact {stored.id}" if stored.created else
              f"job {job_id} already has this content: artifact {stored.id} (nothing stored)")


@app.command(context_settings=NEGATIVE_VALUES)
def get(
    artifact_id: Annotated[int, typer.Argument(help="The artifact's id.")],
    out_path: Annotated[str | None, typer.Option("--out", "-o", help="File or folder to write; '-' for stdout.")]
    = None,
) -> None:
    """Download an artifact, checking its size and sha256 (a corrupt object is an error, never a file).

    A folder given with a trailing slash (downloads/) is made when missing.

    Example: stratlogic artifacts get 7 --out downloads/
    """
    from stratlogic.services import artifacts as service

    with cli_errors():
        if out_path == "-":
            with service.open_reader(database(), artifact_id, actor=actor()) as reader:
                for chunk in reader.iter_chunks(service.CHUNK):
                    sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        written = service.download(database(), artifact_id, Path.cwd() if out_path is None else out_path,
                                   actor=actor(), labels=_FLAGS)
    err.print(f"wrote {written} (sha256 verified)", markup=False)


@app.command("ls")
def list_(
    job: Annotated[int | None, typer.Option(help="Only this job's artifacts.")] = None,
    content_type: Annotated[str | None, typer.Option("--type", help="Only this content type, any case.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Next-page cursor from a previous call.")] = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """List artifacts, newest first, a keyset page at a time (a table, --json lines or --csv).

    Example: stratlogic artifacts ls --job 42 --json
    """
    from stratlogic.services import artifacts as service

    with cli_errors():
        fmt = output_format(as_json, as_csv)
        filters = {k: v for k, v in {"job_id": job, "content_type": content_type}.items() if v is not None}
        page = service.list_artifacts(database(), filters, actor=actor(), limit=limit, cursor=cursor,
                                      labels=_FLAGS)
    rows = page.rows if fmt != "table" else [
        {**row, "short_sha256": row["sha256"][:12], "created": row["created_at"][:19]} for row in page.rows]
    emit(rows, fmt=fmt, columns=_COLUMNS, headers=_HEADERS, empty="no artifacts match")
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}")


@app.command(context_settings=NEGATIVE_VALUES)
def url(
    artifact_id: Annotated[int, typer.Argument(help="The artifact's id.")],
    expires: Annotated[str, typer.Option(help="How long the URL works: 90s, 15m, 12h, 7d (1s up to 7d).")]
    = "1h",
) -> None:
    """Print a presigned GET URL for an artifact (a file:// URL for a local store).

    Example: stratlogic artifacts url 7 --expires 15m
    """
    from stratlogic.services import artifacts as service

    with cli_errors():
        lasting = parse_duration(expires, "--expires", longest=service.MAX_EXPIRY)
        link = service.url(database(), artifact_id, actor=actor(), expires=lasting, labels=_FLAGS)
    out.print(link, markup=False, soft_wrap=True)


@app.command("rm", context_settings=NEGATIVE_VALUES)
def remove(artifact_id: Annotated[int, typer.Argument(help="The artifact's id.")]) -> None:
    """Delete an artifact: its row, metadata and audit row, then its stored object.

    Example: stratlogic artifacts rm 7
    """
    from stratlogic.services import artifacts as service

    with cli_errors():
        gone = service.delete(database(), artifact_id, actor=actor())
    err.print(f"deleted artifact {gone.id} ({gone.filename}, {gone.size_bytes} bytes) and its object", markup=False)


@app.command("reconcile")
def reconcile_(
    fix: Annotated[bool, typer.Option("--fix", help="Repair what is safe (and say what was done).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --fix: say what would be done, change nothing.")]
    = False,
    quick: Annotated[bool, typer.Option("--quick", help="Compare sizes only (skip reading every object).")] = False,
    grace: Annotated[str, typer.Option(help="Leave orphans younger than this (uploads in flight); those of a "
                                            "killed demo seed go at once.")] = "1h",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare artifact rows with stored objects both ways; exit 1 while anything is left unresolved.

    A store that belongs to another database (its marker) is refused, naming both.

    Example: stratlogic artifacts reconcile --fix --dry-run
    """
    from stratlogic.services import artifacts as service

    with cli_errors():
        waited = parse_duration(grace, "--grace", shortest=timedelta(0))
        report = service.reconcile(database(), actor=actor(), fix=fix, dry_run=dry_run, checksums=not quick,
                                   grace=waited)
    _print_report(report, as_json)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: ReconcileReport, as_json: bool) -> None:
    summary = {"store": report.store, "rows_checked": report.rows_checked, "objects_checked": report.objects_checked,
               "checksums": report.checksums, "fix": report.fix, "dry_run": report.dry_run, "ok": report.ok,
               "temporaries_removed": report.temporaries_removed}
    if as_json:
        out.print(json.dumps({**summary, "findings": [f.as_dict() for f in report.findings]}, indent=2),
                  markup=False)
        return
    for finding in report.findings:
        where = f"artifact {finding.artifact_id}" if finding.artifact_id else "no row"
        line = f"{finding.kind.value:<15} {finding.key}  ({where}) expected {finding.expected}, found {finding.actual}"
        out.print(line + (f"\n                -> {finding.action}" if finding.action else ""), markup=False)
    verdict = "ok" if report.ok else f"{sum(not f.fixed for f in report.findings)} unresolved"
    if report.temporaries_removed:
        verdict += f"; {len(report.temporaries_removed)} unfinished temporary file(s) removed"
    err.print(f"{report.rows_checked} row(s), {report.objects_checked} object(s) in {report.store}: "
              f"{len(report.findings)} finding(s), {verdict}" + (" (dry run: nothing changed)" if report.dry_run
                                                                   else ""), markup=False)


__all__ = ["app"]
