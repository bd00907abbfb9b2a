"""``reports verify DIR``: the outputs are unchanged and the audit history they were computed from is intact.

Checks, in order, stopping at the first failure (which it names):
1. every output (and ``index.html``) has the size and sha256 the manifest records, and no file was added to the
   run folder since (a planted ``data/extra.csv`` would be read beside the real ones);
2. the manifest file's sha256 equals the one in the run's ``report.run`` audit row;
3. the audit row the reports saw as the chain's tail is still there with the same hash (when retention has
   since pruned it, the prune anchor stands in for it);
4. the audit chain verifies (content and links of every row, so those up to that tail too).

Only the audit trail is chained: a job or artifact row changed afterwards is not detected here, but the
audit rows recording the change are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratlogic.db import Database
from stratlogic.errors import ValidationError
from stratlogic.models.audit_rules import AuditAction
from stratlogic.reports.manifest import FORMAT, RESOURCE_TYPE, sha256_file
from stratlogic.repositories.trail import AuditTrail


@dataclass(frozen=True)
class RunVerification:
    """``ok`` and one line saying what was checked, or the first bad file or row."""

    ok: bool
    message: str
    files_checked: int = 0
    audit_rows_checked: int = 0


def _load(folder: Path) -> tuple[dict[str, Any], str]:
    path = folder / "manifest.json"
    try:
        data = path.read_bytes()
        manifest = json.loads(data)
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{path}: not a readable manifest ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValidationError(f"{path}: not a stratlogic report manifest (format {FORMAT})")
    return manifest, hashlib.sha256(data).hexdigest()


def _recorded(manifest: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    index = manifest.get("index")
    if index:
        yield index
    for report in manifest.get("reports", []):
        yield from report.get("outputs", [])


def _file_problem(folder: Path, entry: Mapping[str, Any]) -> str | None:
    path = folder / str(entry["path"])
    if not path.resolve().is_relative_to(folder.resolve()):
        return f"output {entry['path']}: points outside the run folder"
    if not path.is_file():
        return f"output {entry['path']}: missing"
    if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
        return f"output {entry['path']}: changed since the run (size or sha256 differs from the manifest)"
    return None


def _unrecorded(folder: Path, files: list[Mapping[str, Any]]) -> str | None:
    """The first file in the run folder the manifest does not list (``manifest.json`` itself aside, and the
    ``.ipynb_checkpoints`` JupyterLab makes when someone opens an executed notebook there)."""
    known = {str(entry["path"]) for entry in files} | {"manifest.json"}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if ".ipynb_checkpoints" in path.relative_to(folder).parts:
            continue
        if path.is_file() and relative not in known:
            return f"file {relative}: not in the manifest (added to the run folder after the run)"
    return None


def _run_row_problem(db: Database, run_id: str, digest: str) -> str | None:
    with db.unit_of_work(readonly=True) as uow:
        rows = AuditTrail(uow).recorded(AuditAction.REPORT_RUN, RESOURCE_TYPE, run_id)
    if not rows:
        return f"run {run_id}: no report.run audit row in this database (wrong database, or it was removed)"
    # run ids are unique per --out folder only: two folders' runs started in the same second share one
    if any((details or {}).get("manifest_sha256") == digest for _row_id, details in rows):
        return None
    ids = ", ".join(str(row_id) for row_id, _details in rows)
    return f"manifest.json: its sha256 differs from the one recorded in audit row {ids} (the manifest was edited)"


def _tail_problem(db: Database, tail: Mapping[str, Any] | None) -> str | None:
    if not tail:
        return None
    with db.unit_of_work(readonly=True) as uow:
        trail = AuditTrail(uow)
        found, first = trail.hash_of(int(tail["id"])), trail.first_id()
    if found == tail["hash"]:
        return None
    if found is None and first is not None and first > int(tail["id"]):
        from stratlogic.audit.verify import anchor

        if anchor(db):  # pruned by retention: the remaining chain starts from the recorded anchor
            return None
    if found is None:
        return f"audit row {tail['id']}, the chain's tail when the reports ran, is missing"
    return f"audit row {tail['id']}, the chain's tail when the reports ran, no longer has the hash the run saw"


def verify_run(db: Database, folder: Path) -> RunVerification:
    """Check the run in ``folder`` (a run folder, or the ``--out`` folder: its latest run) against its manifest,
    its audit row and the audit chain."""
    if not (folder / "manifest.json").exists() and (folder / "latest" / "manifest.json").exists():
        folder = folder / "latest"  # the --out folder itself: its newest run
    folder = folder.resolve()
    manifest, digest = _load(folder)
    files = list(_recorded(manifest))
    for entry in files:
        if problem := _file_problem(folder, entry):
            return RunVerification(False, problem)
    if problem := _unrecorded(folder, files):
        return RunVerification(False, problem, len(files))
    run_id = str(manifest.get("run_id"))
    tail = (manifest.get("lineage") or {}).get("audit_tail")
    problem = _run_row_problem(db, run_id, digest) or _tail_problem(db, tail)
    if problem:
        return RunVerification(False, problem, len(files))
    from stratlogic.audit.verify import verify

    chain = verify(db)
    if not chain.ok:
        return RunVerification(False, f"audit chain: {chain.message}", len(files), chain.rows)
    return RunVerification(True, f"run {run_id}: {len(files)} files match the manifest, its audit row matches, "
                                 f"audit chain intact ({chain.rows} rows)", len(files), chain.rows)


__all__ = ["RunVerification", "verify_run"]
