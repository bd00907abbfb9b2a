"""Backup and restore: one portable, verified copy of a database, on either engine, restored into either engine.

A backup is one Parquet file per table read in one snapshot, plus ``manifest.json`` (revision, rows, a content
hash per table that is the same on both engines, the audit chain's tail) written last. ``backup.started`` is
appended before the snapshot (the backup holds it) and ``backup.completed`` with the manifest's sha256 after.
A restore checks every file before writing anything, loads an empty target at the backup's revision in one
transaction, checks the rows again, then appends ``backup.restored`` chained to the restored tail. Every row
comes back unchanged, so ``stratlogic audit verify`` passes on the target. docs/operations.md#backup-and-restore.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from stratlogic.db import Database, migrate
from stratlogic.db.actor import Actor, as_actor
from stratlogic.errors import ConflictError, DatabaseError, MigrationError, ValidationError
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories import tables
from stratlogic.repositories.tables import TableSpec
from stratlogic.services import _backup_files as files
from stratlogic.services import _backup_objects as objects_io
from stratlogic.services._backup_read import Snapshot, snapshot
from stratlogic.services._backup_rows import ContentHash, check_limits, copy_csv, wire_rows
from stratlogic.services._base import entry


@dataclass(frozen=True)
class BackupResult:
    """A finished backup: where it is, the manifest's sha256, rows per table, objects copied."""

    location: str
    manifest_sha256: str
    revision: str | None
    rows: dict[str, int]
    bytes: int
    objects: int | None
    audit_tail_id: int | None


@dataclass(frozen=True)
class VerifyResult:
    """A backup checked file by file: its manifest, rows per table, objects checked."""

    location: str
    manifest_sha256: str
    revision: str | None
    created_at: str
    rows: dict[str, int]
    bytes: int
    objects: int | None


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore: the target, its revision, rows per table, its installation id and what to do next."""

    target: str
    revision: str | None
    rows: dict[str, int]
    installation_id: str | None
    new_identity: bool
    upgraded_to: str | None
    notes: list[str] = field(default_factory=list)


# --- backup ------------------------------------------------------------------------------------------------

@entry("backup.create", writes=True)
def backup(database: Database, out: str, *, actor: Actor, objects: bool = False) -> BackupResult:
    """Back ``database`` up to a new folder or ``s3://bucket/prefix``, in one snapshot; ``objects`` copies the
    artifact store's objects too (checked against their sha256)."""
    final = files.location(out, database.settings)
    if not files.is_empty(final):
        raise ValidationError(f"backup location {final.shown} is not empty: give a new folder or prefix")
    with as_actor(actor):
        tables.record_backup(database, AuditAction.BACKUP_STARTED, {"location": final.shown, "objects": objects})
        staged = files.staging(final)
        files.prepare(staged)
        try:
            manifest = _write(database, staged, objects)
            data = manifest.to_bytes()
            files.write_bytes(staged.child(files.MANIFEST), data)  # last: its presence means complete
            files.publish(staged, final)
        except BaseException:
            files.remove(staged, final)
            raise
        digest = hashlib.sha256(data).hexdigest()
        rows = {t.name: t.rows for t in manifest.tables}
        tables.record_backup(database, AuditAction.BACKUP_COMPLETED, {
            "location": final.shown, "manifest_sha256": digest, "revision": manifest.revision,
            "rows": sum(rows.values())})
    tail = manifest.audit_tail
    return BackupResult(final.shown, digest, manifest.revision, rows, sum(t.bytes for t in manifest.tables),
                        None if manifest.objects is None else int(manifest.objects["count"]),
                        int(tail["id"]) if tail else None)


def _write(database: Database, staged: files.Target, with_objects: bool) -> files.Manifest:
    with snapshot(database) as snap:
        facts = snap.facts
        entries = [_write_table(snap.batches(spec), staged, spec, facts.counts[spec.name]) for spec in facts.specs]
    manifest = files.Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        package_version=importlib.metadata.version("stratlogic"), dialect=database.dialect,
        revision=facts.revision, installation_id=facts.installation_id,
        audit_tail=None if facts.tail is None else {"id": facts.tail[0], "hash": facts.tail[1]}, tables=entries)
    if with_objects:
        manifest.objects = objects_io.copy_objects(database.settings, staged, manifest.table("artifacts"))
    return manifest


def _write_table(batches: Iterator[pa.RecordBatch], staged: files.Target, spec: TableSpec,
                 counted: int) -> files.TableEntry:
    relative = f"tables/{spec.name}.parquet"
    target = staged.child(relative)
    writer, hasher = files.TableWriter(target, spec), ContentHash(spec)
    try:
        for batch in batches:
            hasher.update(batch)
            writer.write(batch)
    finally:
        writer.close()
    if hasher.rows != counted:
        raise DatabaseError(f"table {spec.name}: read {hasher.rows} rows, the snapshot counts {counted}")
    size, sha = files.file_digest(target)
    return files.TableEntry(spec.name, relative, hasher.rows, size, sha, hasher.hexdigest(), list(spec.key),
                            [{"name": c.name, "kind": c.kind, "length": c.length} for c in spec.columns])


# --- verify ------------------------------------------------------------------------------------------------

@entry("backup.verify", writes=False)
def verify_backup(location: str, *, actor: Actor, database: Database | None = None) -> VerifyResult:
    """Check a backup without restoring it: every file's size and sha256, every table's rows and content hash,
    and the objects copied with it. ``database`` only supplies settings (the S3 endpoint of an s3:// backup)."""
    from stratlogic.config import get_settings

    with as_actor(actor):
        settings = database.settings if database is not None else get_settings()
        where = files.location(location, settings)
        manifest, digest = files.read_manifest(where)
        _check_files(where, manifest, content=True, limits=False)
        count = objects_io.verify_objects(where, manifest) if manifest.objects is not None else None
    return VerifyResult(where.shown, digest, manifest.revision, manifest.created_at,
                        {t.name: t.rows for t in manifest.tables}, sum(t.bytes for t in manifest.tables), count)


def _check_files(where: files.Target, manifest: files.Manifest, *, content: bool, limits: bool) -> None:
    """Every table file as the manifest says: size, sha256 and rows; ``content``: its content hash recomputed
    too (``backup verify``; a restore compares the content hashes on the loaded target instead); ``limits``:
    every row within PostgreSQL's limits."""
    for entry_ in manifest.tables:
        if not files.exists_file(where.child(entry_.file)):
            raise ValidationError(f"{where.child(entry_.file).shown} is missing from the backup")
    with ThreadPoolExecutor(1, thread_name_prefix="backup-sha256") as pool:  # hashing releases the GIL
        digests = [pool.submit(files.file_digest, where.child(entry_.file)) for entry_ in manifest.tables]
        for entry_, digest in zip(manifest.tables, digests, strict=True):
            _check_file(where.child(entry_.file), entry_, digest.result(), content=content, limits=limits)


def _check_file(target: files.Target, entry_: files.TableEntry, digest: tuple[int, str], *, content: bool,
                limits: bool) -> None:
    """One table file: the next file's sha256 is being computed meanwhile."""
    size, sha = digest
    if size != entry_.bytes:
        raise ValidationError(f"{target.shown} is {size} bytes, the manifest says {entry_.bytes} "
                              "(truncated or altered): the backup cannot be used")
    if sha != entry_.sha256:
        raise ValidationError(f"{target.shown} has sha256 {sha}, the manifest says {entry_.sha256} "
                              "(altered): the backup cannot be used")
    spec = entry_.spec
    hasher = ContentHash(spec)
    if content:
        for batch in _batches_of(target, spec):
            hasher.update(batch)
            if limits:
                check_limits(spec, batch)
    else:
        hasher.rows = files.row_count(target)
        if limits:  # only the key and the text columns are read
            texts = TableSpec(spec.name, spec.key, tuple(c for c in spec.columns
                                                         if c.name in spec.key or c.kind in ("text", "json")))
            for batch in _batches_of(target, texts):
                check_limits(texts, batch)
    _same(target.shown, entry_, hasher, content=content)


def _batches_of(target: files.Target, spec: TableSpec) -> Iterator[pa.RecordBatch]:
    for batch in files.read_batches(target, [c.name for c in spec.columns]):
        if batch.schema != spec.schema:
            raise ValidationError(f"{target.shown}: columns {batch.schema.names} of types "
                                  f"{[str(t) for t in batch.schema.types]} are not the manifest's")
        yield batch


def _same(shown: str, entry_: files.TableEntry, hasher: ContentHash, *, content: bool = True) -> None:
    if hasher.rows != entry_.rows:
        raise ValidationError(f"{shown}: {hasher.rows} rows, the manifest says {entry_.rows}")
    if content and hasher.hexdigest() != entry_.content_hash:
        raise ValidationError(f"{shown}: content hash {hasher.hexdigest()} is not the manifest's "
                              f"{entry_.content_hash}")


# --- restore -----------------------------------------------------------------------------------------------

@entry("backup.restore", writes=True)
def restore(location: str, into: Database, *, actor: Actor, force: bool = False, upgrade: bool = False,
            new_identity: bool = False) -> RestoreResult:
    """Restore the backup at ``location`` into the empty database ``into`` (``force``: drop and recreate a
    non-empty one), checked before and after the load; ``upgrade`` then migrates it to head; ``new_identity``
    gives it an installation id of its own (an independent copy, which needs its own artifact store)."""
    with as_actor(actor):
        where = files.location(location, into.settings)
        manifest, digest = files.read_manifest(where)
        _refuse_unknown_revision(manifest)
        # PostgreSQL's limits: a backup of PostgreSQL (at this revision: the same limits) cannot break them
        _check_files(where, manifest, content=False,
                     limits=into.dialect == "postgresql" and manifest.dialect != "postgresql")
        if manifest.objects is not None:
            objects_io.verify_objects(where, manifest)
        state = tables.target_state(into)
        _refuse_target(into, state, manifest, force)
        identity = str(_new_uuid()) if new_identity else None
        details: dict[str, object] = {"location": where.shown, "manifest_sha256": digest, "revision": manifest.revision,
                   "source_dialect": manifest.dialect, "rows": sum(t.rows for t in manifest.tables),
                   "new_identity": new_identity}
        if into.dialect == "postgresql":
            _restore_postgresql(where, manifest, into, state, force, details, identity)
        else:
            _restore_sqlite(where, manifest, into, details, identity)
        upgraded = None
        if upgrade and manifest.revision != migrate.heads()[0]:
            migrate.upgrade(into.settings, "head")
            upgraded = migrate.current(into.settings)
    installation = identity or manifest.installation_id
    rows = {t.name: t.rows for t in manifest.tables}
    return RestoreResult(into.settings.safe_url, upgraded or manifest.revision, rows, installation, new_identity,
                         upgraded, _notes(manifest, installation, new_identity))


def _new_uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def _refuse_unknown_revision(manifest: files.Manifest) -> None:
    if manifest.revision is None:
        raise ValidationError("the backup records no schema revision (its database was never migrated)")
    known = {r.revision for r in migrate.script_directory().walk_revisions()}
    if manifest.revision not in known:
        raise MigrationError(f"the backup is at revision {manifest.revision}, which this version of stratlogic "
                             "does not know (it was made by a newer one): restore it with that version")


def _refuse_target(into: Database, state: tables.TargetState, manifest: files.Manifest, force: bool) -> None:
    if state.empty or force:
        return
    held = ", ".join(f"{n} {c}" for n, c in state.rows.items() if c)
    if state.revision not in (None, manifest.revision):
        raise ConflictError(f"target {into.settings.safe_url} is at revision {state.revision}, not the backup's "
                            f"{manifest.revision}, and holds data ({held}): restore into an empty database, "
                            "or add --force to drop and recreate its schema")
    raise ConflictError(f"target {into.settings.safe_url} is not empty ({held}): restore into an empty database, "
                        "or add --force to drop and recreate its schema")


def _restore_postgresql(where: files.Target, manifest: files.Manifest, into: Database, state: tables.TargetState,
                        force: bool, details: dict[str, object], identity: str | None) -> None:
    """Drop (``--force``, or an empty schema at another revision), build the backup's revision, load, check.

    The load is one transaction; the migrations before it are not (some build indexes CONCURRENTLY), so a
    failure after the schema was built drops it again: the target ends empty, as an empty target was.
    """
    rebuild = bool(state.tables) and (force or state.revision != manifest.revision)
    if rebuild:
        tables.drop_schema(into)
        into.dispose()
    built = rebuild or state.revision is None
    try:
        if built:
            migrate.upgrade(into.settings, str(manifest.revision))
        _load(where, manifest, into)
        _check_loaded(manifest, into)
    except BaseException:
        if built:
            into.dispose()
            tables.drop_schema(into)
        raise
    tables.record_restore(into, details, new_identity=identity)


def _restore_sqlite(where: files.Target, manifest: files.Manifest, into: Database, details: dict[str, object],
                    identity: str | None) -> None:
    """Build a new file beside the target, load and check it, then move it over the target in one rename:
    a failure anywhere leaves the target as it was."""
    path = Path(str(into.settings.url.database or ""))
    if not str(path) or str(path) == ":memory:":
        raise ValidationError(f"cannot restore into {into.settings.safe_url}: give a SQLite file")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.restore-{secrets.token_hex(4)}")
    settings = into.settings.model_copy(update={"database_url": f"sqlite:///{temporary}"})
    built = Database.from_settings(settings)
    try:
        migrate.upgrade(settings, str(manifest.revision))
        _load(where, manifest, built)
        _check_loaded(manifest, built)
        tables.record_restore(built, details, new_identity=identity)
        built.dispose()
        into.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        temporary.replace(path)
    finally:
        built.dispose()
        for leftover in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
            leftover.unlink(missing_ok=True)


def _load(where: files.Target, manifest: files.Manifest, into: Database) -> None:
    """Every table in one transaction through the bulk writer (PostgreSQL: ``COPY`` of CSV that Arrow writes in
    C++; SQLite: ``executemany``); the rows sent counted against the manifest before it commits (the read-back
    after the commit counts what the tables hold)."""
    specs = [t.spec for t in manifest.tables]
    with tables.loading(into, specs) as loader:
        for entry_, spec in zip(manifest.tables, specs, strict=True):
            for batch in files.read_batches(where.child(entry_.file)):
                if into.dialect == "postgresql":
                    loader.write_csv(spec, copy_csv(batch), batch.num_rows)
                else:
                    loader.write(spec, wire_rows(spec, batch, into.dialect))
        loader.writer.close()  # every COPY done: a COPY stores every row it was sent, or fails
        counts = loader.writer.rows_written
        for entry_ in manifest.tables:
            if counts.get(entry_.name, 0) != entry_.rows:
                raise DatabaseError(f"table {entry_.name}: {counts.get(entry_.name, 0)} rows loaded, the backup holds "
                                    f"{entry_.rows}; nothing was kept")


def _check_loaded(manifest: files.Manifest, into: Database) -> None:
    """Read the target back in one snapshot: the same rows and content hashes as the backup's.

    A table with an integer key is read in storage order (a sequential scan: it was just loaded in key order)
    while each id is checked to be above the last; should one not be, the table is read again in key order.
    """
    with snapshot(into) as snap:
        for spec in snap.facts.specs:
            entry_ = manifest.table(spec.name)
            hasher = _hashed(snap, spec, entry_, storage_order=spec.key == ("id",))
            if hasher is None:
                hasher = _hashed(snap, spec, entry_, storage_order=False)
            assert hasher is not None
            _same(f"table {spec.name} as restored", entry_, hasher)


def _hashed(snap: Snapshot, spec: TableSpec, entry_: files.TableEntry, *, storage_order: bool) -> ContentHash | None:
    """The table's content hash; None when rows read in storage order came out of key order."""
    hasher, last = ContentHash(entry_.spec), None
    batches = snap.batches(spec, storage_order=storage_order)
    try:
        for batch in batches:
            if storage_order:
                ids = batch.column("id")
                rising = pc.all(pc.greater(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py() is not False
                if not rising or (last is not None and ids[0].as_py() <= last):
                    return None
                last = ids[len(ids) - 1].as_py()
            hasher.update(batch)
    finally:
        batches.close()  # type: ignore[attr-defined]
    return hasher


def _notes(manifest: files.Manifest, installation: str | None, new_identity: bool) -> list[str]:
    if new_identity:
        return [f"this copy has a new installation id {installation}: it is independent of the source and needs an "
                "artifact store of its own (STRATLOGIC_ARTIFACT_STORE); the source's store refuses it"]
    if installation is None:
        return ["the source had no installation id yet (it never wrote to an artifact store): this database makes "
                "its own at its first write to a store; give it a store of its own"]
    return [f"this database now has the source's installation id {installation}: it is the same installation "
            "moved, so it uses the source's artifact store; stop the old database writing to that store now "
            "(or restore with --new-identity for an independent copy)"]


__all__ = ["BackupResult", "RestoreResult", "VerifyResult", "backup", "restore", "verify_backup"]
