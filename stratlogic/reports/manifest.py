"""A run's manifest: what ran, with which parameters, what it wrote (hashed) and where it came from.

``manifest.json`` (format ``stratlogic-report-run/1``)::

    run_id, started_at, finished_at, ok,
    lineage: package_version, python, git_commit, git_dirty (in a checkout), backend, database (masked URL),
             schema_revision, audit_tail {id, hash} (the chain's last row when the reports ran)
    index: {path, bytes, sha256}
    reports: [{name, notebook, notebook_sha256, parameters, started_at, finished_at, duration_seconds,
               status (ok|failed|timeout), error {cell, execution_count, source, line} | null,
               outputs: [{path, bytes, sha256, rows (data files)}]}]

The run then appends one ``report.run`` audit row holding the manifest file's sha256, so changing an output
*and* its hash in the manifest is caught by ``reports verify``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import platform
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratlogic.config import display_url
from stratlogic.db import Database
from stratlogic.db.actor import acting_as
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories.trail import AuditTrail

FORMAT = "stratlogic-report-run/1"
RESOURCE_TYPE = "report_run"
_CHUNK = 1 << 20


@dataclass
class ReportOutcome:
    """One report's entry in the manifest."""

    name: str
    notebook: str
    notebook_sha256: str
    parameters: dict[str, Any]
    started_at: str
    finished_at: str = ""
    duration_seconds: float = 0.0
    status: str = "ok"
    error: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    html: str | None = None


def sha256_file(path: Path) -> str:
    """The file's sha256, read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def data_rows(path: Path) -> int | None:
    """Rows of a data file (Parquet from its footer, CSV by reading it); None for anything else."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8", errors="replace") as stream:
            return max(sum(1 for _ in csv.reader(stream)) - 1, 0)
    if suffix == ".xlsx":
        return _xlsx_rows(path)
    return None


def _xlsx_rows(path: Path) -> int:
    """Rows of every worksheet, each less its header row, streamed from the sheets' XML (no spreadsheet library)."""
    import zipfile
    from xml.etree.ElementTree import iterparse

    total = 0
    with zipfile.ZipFile(path) as book:
        for name in book.namelist():
            if not (name.startswith("xl/worksheets/sheet") and name.endswith(".xml")):
                continue
            rows = 0
            with book.open(name) as sheet:
                for _event, element in iterparse(sheet):  # noqa: S314  # our own export's file
                    if element.tag.endswith("}row"):
                        rows += 1
                        element.clear()
            total += max(rows - 1, 0)
    return total


def describe(path: Path, root: Path) -> dict[str, Any]:
    """One output: path relative to the run folder, size, sha256 and (data files) row count."""
    entry: dict[str, Any] = {"path": path.relative_to(root).as_posix(), "bytes": path.stat().st_size,
                             "sha256": sha256_file(path)}
    if path.suffix.lower() in (".parquet", ".csv", ".xlsx"):
        entry["rows"] = data_rows(path)
    return entry


def outputs_of(folder: Path, root: Path) -> list[dict[str, Any]]:
    """Every file under ``folder``, sorted, described."""
    return [describe(path, root) for path in sorted(folder.rglob("*")) if path.is_file()]


def audit_tail(db: Database) -> dict[str, Any] | None:
    """The chain's last row (id and hash), read in a read-only unit."""
    with db.unit_of_work(readonly=True) as uow:
        tail = AuditTrail(uow).tail()
    return None if tail is None else {"id": tail.id, "hash": tail.hash}


def _git(root: Path) -> tuple[str | None, bool | None]:
    """The commit and dirty flag of the checkout the package runs from (None outside a checkout)."""
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        return None, None
    try:  # fixed arguments, no shell
        commit = subprocess.run([git, "-C", str(root), "rev-parse", "HEAD"],  # noqa: S603
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run([git, "-C", str(root), "status", "--porcelain", "--untracked-files=no"],  # noqa: S603
                                capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


def package_version() -> str:
    """The installed stratlogic version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stratlogic")
    except PackageNotFoundError:
        return "0+unknown"


def lineage(db: Database) -> dict[str, Any]:
    """Where the reports came from: package, code, database and the audit chain's tail."""
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    commit, dirty = _git(Path(__file__).resolve().parents[2])
    return {"package_version": package_version(), "python": platform.python_version(), "git_commit": commit,
            "git_dirty": dirty, "backend": db.dialect, "database": display_url(db.engine.url),
            "schema_revision": revision, "audit_tail": audit_tail(db)}


def build(run_id: str, started_at: str, finished_at: str, lineage_: Mapping[str, Any], index: Mapping[str, Any],
          reports: Sequence[ReportOutcome]) -> dict[str, Any]:
    """The manifest as a dict."""
    entries = [{key: value for key, value in vars(report).items() if key != "html"} for report in reports]
    return {"format": FORMAT, "run_id": run_id, "started_at": started_at, "finished_at": finished_at,
            "ok": all(report.status == "ok" for report in reports), "lineage": dict(lineage_),
            "index": dict(index), "reports": entries}


def write(manifest: Mapping[str, Any], folder: Path) -> tuple[Path, str]:
    """Write ``manifest.json``; returns its path and the sha256 of its bytes."""
    data = (json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8")
    path = folder / "manifest.json"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def record_run(db: Database, run_id: str, manifest_sha256: str, reports: Iterable[ReportOutcome],
               actor: int | None = None) -> None:
    """Append the run's ``report.run`` audit row, holding the manifest's hash."""
    outcomes = list(reports)
    details = {"manifest_sha256": manifest_sha256, "reports": [r.name for r in outcomes],
               "failed": [r.name for r in outcomes if r.status != "ok"]}
    with acting_as(actor), db.unit_of_work() as uow:
        AuditTrail(uow).record(AuditAction.REPORT_RUN, RESOURCE_TYPE, run_id, details)


__all__ = ["FORMAT", "RESOURCE_TYPE", "ReportOutcome", "audit_tail", "build", "data_rows", "describe", "lineage",
           "outputs_of", "record_run", "sha256_file", "write"]
