"""Compare artifact rows with the store's objects both ways, and repair only what is safe.

Findings: a row whose object is missing, an object no row points at (an orphan), and an object whose
size or sha256 differs from its row. Orphans are looked for only among the keys the artifact service
writes (``PREFIX jobs/…``): other objects under the prefix (checkpoints, backups, files put there by
hand) are not the service's and are left out of the report. ``fix`` does two things, both safe by
construction:

- deletes orphans older than ``grace`` (a younger one may be an upload whose row is being written), and at
  once those written by a run that has ended (a killed demo seed: ``storage/runs.py``);
- restores a missing or drifted object from another object with the same recorded sha256, streaming it
  through the checksum check, so a copy that does not match aborts and writes nothing;
- in a folder store, removes the temporary files of writes that never finished (a killed process), once
  untouched for an hour or ``grace``, whichever is longer.

Rows are never deleted and a drifted object is never overwritten with anything but verified content: those
need a person (restore from a backup, or delete the artifact). A store whose marker names another database
is refused (``storage/identity.py``): its objects are not this database's orphans. Memory: the keys of the
store's objects are held in a set (about 150 bytes each); rows are read a keyset page at a time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from stratlogic.db import Database
from stratlogic.errors import ChecksumMismatchError, InvalidKeyError, ObjectNotFoundError, StorageError
from stratlogic.repositories.artifacts import ArtifactRepository
from stratlogic.storage._streams import VerifyingReader
from stratlogic.storage.artifacts import StoredArtifact, object_metadata
from stratlogic.storage.base import CHUNK, ArtifactStore, StoredObject
from stratlogic.storage.identity import check_store, claim_store
from stratlogic.storage.runs import RUN_METADATA, forget_ended_runs, run_ended

_BATCH = 500
#: The least age of a temporary file ``fix`` removes, whatever ``grace`` says.
TEMPORARY_GRACE = timedelta(hours=1)


class DriftKind(enum.StrEnum):
    """What disagrees between a row and its object."""

    MISSING_OBJECT = "missing_object"
    ORPHAN_OBJECT = "orphan_object"
    SIZE_DRIFT = "size_drift"
    CHECKSUM_DRIFT = "checksum_drift"


@dataclass(frozen=True)
class Finding:
    """One disagreement, and what ``fix`` did (or, with ``dry_run``, would do) about it."""

    kind: DriftKind
    key: str
    artifact_id: int | None = None
    expected: str | None = None
    actual: str | None = None
    fixed: bool = False
    action: str = ""

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form."""
        return {"kind": self.kind.value, "key": self.key, "artifact_id": self.artifact_id, "expected": self.expected,
                "actual": self.actual, "fixed": self.fixed, "action": self.action}


@dataclass(frozen=True)
class ReconcileReport:
    """The findings of one run; ``ok`` when nothing is left to look at."""

    store: str
    rows_checked: int
    objects_checked: int
    checksums: bool
    fix: bool
    dry_run: bool
    findings: list[Finding] = field(default_factory=list)
    #: Temporary files of writes that never finished (a killed process), removed by ``fix`` (folder stores).
    temporaries_removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every finding was fixed (or there were none); a dry run fixes nothing."""
        return all(f.fixed for f in self.findings)

    def count(self, kind: DriftKind) -> int:
        """How many findings of one kind."""
        return sum(1 for f in self.findings if f.kind is kind)


def reconcile(db: Database, store: ArtifactStore, *, fix: bool = False, dry_run: bool = False,
              checksums: bool = True, grace: timedelta = timedelta(hours=1)) -> ReconcileReport:
    """Compare rows in this store's bucket (under its prefix) with its objects; repair safely when ``fix``.

    Objects without a row are reported (and, with ``fix``, deleted) only under ``PREFIX jobs/``, the keys the
    artifact service writes; anything else under the prefix is left alone and not counted.

    Args:
        checksums: read every object whose size matches and compare its sha256 (reads all the bytes).
        dry_run: with ``fix``, say what would be done and change nothing.
        grace: orphans younger than this are left alone (an upload may be about to write their row).
    """
    if fix and not dry_run:
        claim_store(db, store)  # a store of another database: its objects are not our orphans
    else:
        check_store(db, store)
    seen: set[str] = set()
    findings: list[Finding] = []
    objects = 0
    service_keys = f"{store.prefix}jobs/"
    for batch in _batches(store.iter_objects(store.prefix), _BATCH):
        seen.update(o.key for o in batch)
        rows = _rows_for(db, store.bucket, [o.key for o in batch])
        for found in batch:
            row = rows.get(found.key)
            if row is None and not found.key.startswith(service_keys):
                continue  # not written by the artifact service (a checkpoint, a backup): not an orphan of ours
            objects += 1
            findings += _compare(store, row, found, checksums)
    rows_checked = 0
    for row in _rows_in(db, store):
        rows_checked += 1
        if row.object_key not in seen and not store.exists(row.object_key):  # re-check: it may be brand new
            findings.append(Finding(DriftKind.MISSING_OBJECT, row.object_key, row.id,
                                    f"{row.size_bytes} bytes, sha256 {row.sha256}", "no object"))
    temporaries: list[str] = []
    if fix:
        findings = [_repair(db, store, f, dry_run, grace) for f in findings]
        if not dry_run:
            forget_ended_runs(store)
            temporaries = _clear_temporary(store, grace)
    return ReconcileReport(store.describe(), rows_checked, objects, checksums, fix, dry_run, findings, temporaries)


def _clear_temporary(store: ArtifactStore, grace: timedelta) -> list[str]:
    """A folder store's temporary files left by a killed writer, untouched for ``grace`` (an hour at least:
    a slow upload still writes its own)."""
    clear = getattr(store, "clear_temporary", None)  # S3 has no such files (an abandoned upload is its own)
    return list(clear(max(grace, TEMPORARY_GRACE))) if clear is not None else []


def _batches(items: Iterator[StoredObject], size: int) -> Iterator[list[StoredObject]]:
    batch: list[StoredObject] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _rows_for(db: Database, bucket: str, keys: Sequence[str]) -> dict[str, StoredArtifact]:
    with db.unit_of_work(readonly=True) as uow:
        rows = ArtifactRepository(uow).list({"bucket": bucket, "object_key__in": list(keys)}, limit=len(keys))
        return {row.object_key: StoredArtifact.of(row, created=False) for row in rows}


def _rows_in(db: Database, store: ArtifactStore) -> Iterator[StoredArtifact]:
    """Every row of this bucket under the store's prefix, a keyset page per short transaction."""
    after = 0
    while True:
        with db.unit_of_work(readonly=True) as uow:
            page = ArtifactRepository(uow).list({"bucket": store.bucket, "id__gt": after}, sort="id", limit=_BATCH)
            rows = [StoredArtifact.of(row, created=False) for row in page]
        yield from (row for row in rows if row.object_key.startswith(store.prefix))
        if len(rows) < _BATCH:
            return
        after = rows[-1].id


def _compare(store: ArtifactStore, row: StoredArtifact | None, found: StoredObject, checksums: bool) -> list[Finding]:
    if row is None:
        age = f", modified {found.last_modified.isoformat(timespec='seconds')}" if found.last_modified else ""
        return [Finding(DriftKind.ORPHAN_OBJECT, found.key, None, "a row", f"an object of {found.size} bytes{age}")]
    if found.size != row.size_bytes:
        return [Finding(DriftKind.SIZE_DRIFT, found.key, row.id, f"{row.size_bytes} bytes", f"{found.size} bytes")]
    if checksums:
        try:
            _verified_read(store, row)
        except ChecksumMismatchError as exc:
            return [Finding(DriftKind.CHECKSUM_DRIFT, found.key, row.id, f"sha256 {row.sha256}", exc.actual)]
    return []


def _verified_read(store: ArtifactStore, row: StoredArtifact) -> None:
    with _reader(store, row.object_key, row) as reader:
        for _ in reader.iter_chunks(CHUNK):
            pass


def _reader(store: ArtifactStore, key: str, row: StoredArtifact) -> VerifyingReader:
    def mismatch(expected: str, actual: str) -> ChecksumMismatchError:
        return ChecksumMismatchError(row.id, key, expected, actual.rsplit("sha256 ", 1)[-1])

    return VerifyingReader(store.open(key), row.size_bytes, row.sha256, mismatch)


def _repair(db: Database, store: ArtifactStore, finding: Finding, dry_run: bool, grace: timedelta) -> Finding:
    try:
        if finding.kind is DriftKind.ORPHAN_OBJECT:
            return _remove_orphan(store, finding, dry_run, grace)
        return _restore(db, store, finding, dry_run)
    except InvalidKeyError as exc:  # an object someone else put in the bucket (".DS_Store"): not ours to touch
        return replace(finding, action=f"left alone: {exc}")


def _remove_orphan(store: ArtifactStore, finding: Finding, dry_run: bool, grace: timedelta) -> Finding:
    try:
        found = store.stat(finding.key)
    except ObjectNotFoundError:
        return replace(finding, fixed=True, action="already gone")
    run = found.metadata.get(RUN_METADATA)
    if run is not None and run_ended(store, run):  # a killed seed's: nothing will write its row
        if dry_run:
            return replace(finding, action=f"would delete the object left by run {run}, which ended")
        store.delete(finding.key)
        return replace(finding, fixed=True, action=f"deleted the object left by run {run}, which ended")
    modified = found.last_modified
    if modified is None or modified > datetime.now(UTC) - grace:
        return replace(finding, action=f"left alone: younger than the grace period ({grace}); it may be an "
                                       "upload whose row is being written")
    if dry_run:
        return replace(finding, action="would delete the orphan object")
    store.delete(finding.key)
    return replace(finding, fixed=True, action="deleted the orphan object")


def _restore(db: Database, store: ArtifactStore, finding: Finding, dry_run: bool) -> Finding:
    """Copy verified content from another object with the row's sha256 over the missing or drifted one."""
    assert finding.artifact_id is not None
    with db.unit_of_work(readonly=True) as uow:
        repo = ArtifactRepository(uow)
        row = StoredArtifact.of(repo.get(finding.artifact_id), created=False)
        twins = [StoredArtifact.of(a, created=False) for a in
                 repo.list({"sha256": row.sha256, "bucket": store.bucket, "id__ne": row.id}, limit=20)]
    for twin in twins:
        if dry_run:
            return replace(finding, action=f"would restore from artifact {twin.id} (same sha256), if it verifies")
        try:
            with _reader(store, twin.object_key, twin) as source:
                store.put(source, row.object_key, row.content_type, object_metadata(row.job_id, row.filename),
                          length=row.size_bytes)
        except (ChecksumMismatchError, ObjectNotFoundError, StorageError):
            continue  # that copy is bad or gone too: try the next one
        return replace(finding, fixed=True, action=f"restored from artifact {twin.id} (same sha256, verified)")
    return replace(finding, action="not fixed: no intact copy with the same sha256; restore the object from a "
                                   "backup or delete the artifact")


__all__ = ["DriftKind", "Finding", "ReconcileReport", "reconcile"]
