"""``stratlogic export audit|jobs|artifacts``: stream rows of one snapshot to Parquet, CSV or XLSX."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from stratlogic.cli._common import actor as cli_actor
from stratlogic.cli._common import cli_errors, database, err, out, settings

app = typer.Typer(help="Export audit rows, jobs or artifacts (Parquet, CSV, XLSX) with a sidecar.",
                  no_args_is_help=True)

Since = Annotated[str, typer.Option(help="From (inclusive): -7d, -12h, today, yesterday, 2026-12-01, ISO time.")]
Until = Annotated[str, typer.Option(help="Before (same forms as --since, or now).")]
Tz = Annotated[str, typer.Option(help="Time zone for dates without one (IANA name).")]
Format = Annotated[str, typer.Option("--format", "-f", help="parquet, csv or xlsx.")]
Out = Annotated[str, typer.Option("--out", "-o", help="File (or dataset folder with --partition), or s3://BUCKET/KEY.")]
Partition = Annotated[str | None, typer.Option(help="'day': a Hive-partitioned Parquet dataset (day=YYYY-MM-DD/).")]
Force = Annotated[bool, typer.Option("--force", help="Replace an existing file, or this window's partitions.")]
CsvRaw = Annotated[bool, typer.Option("--csv-raw", help="CSV for machines: no Excel-safety quote on any cell.")]
Compression = Annotated[str, typer.Option(help="Parquet compression: zstd or snappy.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _run(kind: str, out_path: str, fmt: str, since: str, until: str, tz: str, partition: str | None, force: bool,
         csv_raw: bool, compression: str, as_json: bool, filters: dict[str, Any]) -> None:
    """Call the one entry point, with a progress bar on a terminal, and print one summary line."""
    with cli_errors():
        from stratlogic.services import analytics  # pyarrow and the drivers: only this command pays

        with _progress(kind) as progress:
            result = analytics.export(database(), kind, out_path, actor=cli_actor(), fmt=fmt,  # type: ignore[arg-type]
                                      since=since, until=until, tz=tz, partition=partition,  # type: ignore[arg-type]
                                      filters={k: v for k, v in filters.items() if v}, force=force, csv_raw=csv_raw,
                                      store_settings=settings(), progress=progress, compression=compression)
    if as_json:
        document = {**result.__dict__, "files": [f.__dict__ for f in result.files],
                    "since": result.since.isoformat() if result.since else None,
                    "until": result.until.isoformat() if result.until else None}
        out.print(json.dumps(document, indent=2), markup=False)
        return
    rate = result.rows / result.seconds if result.seconds else 0
    where = result.files[0].path if len(result.files) == 1 else f"{len(result.files)} files"
    out.print(f"exported {result.rows:,} {kind} rows to {where} in {result.seconds:.1f}s ({rate:,.0f} rows/s); "
              f"sidecar {result.sidecar}", markup=False)
    if result.empty:
        err.print("note: the window holds no rows; " + (
            "the file has the header/schema only" if result.files else "only the sidecar was written"), markup=False)


@contextmanager
def _progress(kind: str) -> Iterator[Callable[[int], None] | None]:
    """A Rich progress line with rows and rows/s when stderr is a terminal; nothing when piped."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,.0f} rows"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"exporting {kind}", total=None, rate="")

        def advance(rows: int) -> None:
            speed = bar.tasks[0].speed
            bar.update(task, completed=rows, rate=f"{speed:,.0f} rows/s" if speed else "")

        yield advance


@app.command()
def audit(
    out_path: Out, since: Since = "-30d", until: Until = "now", tz: Tz = "UTC", fmt: Format = "parquet",
    action: Annotated[list[str] | None, typer.Option(help="e.g. user.created (repeat for more).")] = None,
    actor: Annotated[list[str] | None, typer.Option(help="Acting user: username or id (repeat for more).")] = None,
    resource_type: Annotated[list[str] | None, typer.Option(help="e.g. user, job, config.")] = None,
    partition: Partition = None, force: Force = False, csv_raw: CsvRaw = False, compression: Compression = "zstd",
    as_json: AsJson = False,
) -> None:
    """Export the audit rows of a window (by occurrence time), in storage order (sort by id for chain order).

    Example: stratlogic export audit --since 2026-11-01 --until 2026-12-01 --format csv --out nov.csv
    """
    _run("audit", out_path, fmt, since, until, tz, partition, force, csv_raw, compression, as_json,
         {"action": action, "actor": actor, "resource_type": resource_type})


@app.command()
def jobs(
    out_path: Out, since: Since = "-30d", until: Until = "now", tz: Tz = "UTC", fmt: Format = "parquet",
    status: Annotated[list[str] | None, typer.Option(help="pending, queued, running, completed, failed, "
                                                          "cancelled (repeat for more).")] = None,
    owner: Annotated[list[str] | None, typer.Option(help="Owner: username or id (repeat for more).")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Job kind, e.g. scrape.")] = None,
    domain: Annotated[list[str] | None, typer.Option(help="Target domain, e.g. example.com.")] = None,
    partition: Partition = None, force: Force = False, csv_raw: CsvRaw = False, compression: Compression = "zstd",
    as_json: AsJson = False,
) -> None:
    """Export jobs created in a window.

    Example: stratlogic export jobs --since -7d --status failed --format xlsx --out failed.xlsx
    """
    _run("jobs", out_path, fmt, since, until, tz, partition, force, csv_raw, compression, as_json,
         {"status": status, "owner": owner, "kind": kind, "domain": domain})


@app.command()
def artifacts(
    out_path: Out, since: Since = "-30d", until: Until = "now", tz: Tz = "UTC", fmt: Format = "parquet",
    content_type: Annotated[list[str] | None, typer.Option(help="e.g. text/html (repeat for more).")] = None,
    bucket: Annotated[list[str] | None, typer.Option(help="Bucket name.")] = None,
    job: Annotated[list[str] | None, typer.Option(help="Job id (repeat for more).")] = None,
    partition: Partition = None, force: Force = False, csv_raw: CsvRaw = False, compression: Compression = "zstd",
    as_json: AsJson = False,
) -> None:
    """Export artifacts created in a window (their rows; the objects stay in the store).

    Example: stratlogic export artifacts --since -30d --partition day --out s3://exports/artifacts
    """
    _run("artifacts", out_path, fmt, since, until, tz, partition, force, csv_raw, compression, as_json,
         {"content_type": content_type, "bucket": bucket, "job": job})


__all__ = ["app"]
