"""``stratlogic artifacts …``: store, fetch, list and share artifacts; reconcile rows with objects."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from stratlogic.cli._common import NEGATIVE_VALUES, cli_errors, database, err, out, parse_duration, settings
from stratlogic.errors import ValidationError
from stratlogic.repositories.artifacts import ArtifactRepository
from stratlogic.storage import (
    ReconcileReport,
    StoredArtifact,
    delete_artifact,
    download_artifact,
    get_artifact,
    open_artifact,
    reconcile,
    store_artifact,
    store_from_settings,
)
from stratlogic.storage.artifacts import check_in_store
from stratlogic.storage.base import CHUNK

app = typer.Typer(help="Store, fetch, list and share artifacts; reconcile rows with stored objects.",
                  no_args_is_help=True)
#: The longest a presigned URL may work (S3's limit, which the local store checks too).
MAX_EXPIRY = timedelta(days=7)


def _duration(text: str, option: str) -> timedelta:
    """``90s`` / ``15m`` / ``12h`` / ``7d`` / ``2w``: the one duration grammar (``cli/_common.parse_duration``)."""
    return parse_duration(text, option, shortest=timedelta(0))


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


def _row(artifact: StoredArtifact) -> dict[str, Any]:
    return {"id": artifact.id, "job_id": artifact.job_id, "filename": artifact.filename,
            "content_type": artifact.content_type, "size_bytes": artifact.size_bytes, "sha256": artifact.sha256,
            "bucket": artifact.bucket, "object_key": artifact.object_key,
            "created_at": artifact.created_at.isoformat()}


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
    with cli_errors():
        stored = store_artifact(database(), store_from_settings(settings()), job_id, path,
                                path.name if name is None else name,
                                content_type, _metadata(meta))
    out.print(json.dumps(_row(stored)), markup=False)
    err.print(f"stored as artifact {stored.id}" if stored.created else
              f"job {job_id} already has this content: artifact {stored.id} (nothing stored)")


@app.command(context_settings=NEGATIVE_VALUES)
def get(
    artifact_id: Annotated[int, typer.Argument(help="The artifact's id.")],
    out_path: Annotated[str | None, typer.Option("--out", "-o", help="File or folder to write; '-' for stdout.")]
    = None,
) -> None:
    """Download an artifact, checking its size and sha256 (a corrupt object is an error, never a file).

    Example: stratlogic artifacts get 7 --out downloads/
    """
    with cli_errors():
        db, store = database(), store_from_settings(settings())
        if out_path == "-":
            with open_artifact(db, store, artifact_id) as reader:
                for chunk in reader.iter_chunks(CHUNK):
                    sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        written = download_artifact(db, store, artifact_id, _target(out_path))
    err.print(f"wrote {written} (sha256 verified)", markup=False)


def _target(text: str | None) -> Path:
    """Where ``get`` writes; ``downloads/`` names a folder, made when missing (as the workbench's download
    does), never a file named ``downloads``."""
    if text is None:
        return Path.cwd()
    if text.endswith(("/", os.sep)):  # Path() drops the slash that says "folder"
        try:
            Path(text).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValidationError(f"--out {text!r}: cannot make that folder ({exc.strerror or exc})") from None
    return Path(text)


@app.command("ls")
def list_(
    job: Annotated[int | None, typer.Option(help="Only this job's artifacts.")] = None,
    content_type: Annotated[str | None, typer.Option("--type", help="Only this content type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Next-page cursor from a previous call.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List artifacts, newest first, a keyset page at a time.

    Example: stratlogic artifacts ls --job 42 --json
    """
    with cli_errors():
        if job is not None and job < 0:
            raise ValidationError(f"--job {job} is not a job id (ids are whole numbers from 1)")
    content_type = None if content_type is None else content_type.strip().lower()  # TEXT/HTML means text/html
    filters = {k: v for k, v in {"job_id": job, "content_type": content_type}.items() if v is not None}
    with cli_errors(), database().unit_of_work(readonly=True) as uow:
        page = ArtifactRepository(uow).page(filters, sort="-created_at", limit=limit, cursor=cursor)
        rows = [_row(StoredArtifact.of(a, created=False)) for a in page.items]
    if as_json:
        for row in rows:
            out.print(json.dumps(row), markup=False)
    else:
        table = Table("id", "job", "filename", "type", "bytes", "sha256", "created (UTC)")
        for r in rows:
            table.add_row(str(r["id"]), str(r["job_id"]), r["filename"], r["content_type"], str(r["size_bytes"]),
                          r["sha256"][:12], r["created_at"][:19])
        out.print(table)
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
    with cli_errors():
        artifact = get_artifact(database(), artifact_id)
        store = store_from_settings(settings())
        check_in_store(artifact, store)  # as open_artifact: never sign the key in another bucket
        link = store.presigned_url(artifact.object_key, parse_duration(expires, "--expires", longest=MAX_EXPIRY))
    out.print(link, markup=False, soft_wrap=True)


@app.command("rm", context_settings=NEGATIVE_VALUES)
def remove(artifact_id: Annotated[int, typer.Argument(help="The artifact's id.")]) -> None:
    """Delete an artifact: its row, metadata and audit row, then its stored object.

    Example: stratlogic artifacts rm 7
    """
    with cli_errors():
        gone = delete_artifact(database(), store_from_settings(settings()), artifact_id)
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
    with cli_errors():
        report = reconcile(database(), store_from_settings(settings()), fix=fix, dry_run=dry_run,
                           checksums=not quick, grace=_duration(grace, "--grace"))
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
