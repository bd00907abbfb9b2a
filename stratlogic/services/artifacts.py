"""The artifacts service: store, fetch, list, share and delete artifacts; reconcile rows with objects.

Where each ``stratlogic artifacts`` command happens (and what the workbench's ``wb.artifacts`` calls):

    artifacts put  -> put            artifacts get -> download (``--out -``: open_reader)
    artifacts ls   -> list_artifacts artifacts url -> url
    artifacts rm   -> delete         artifacts reconcile -> reconcile
    (workbench)    -> get, find, count, frame, metadata, set_metadata, find_by_metadata

Every function takes the store to use, or None for the one the database's settings configure. Moving bytes
is ``stratlogic.storage`` (which owns its transactions: the actor is entered around it); rows are
``ArtifactRepository`` inside one unit of work carrying the caller's actor. ``labels`` (parameter or filter
name -> the caller's flag) makes errors name the caller's flags (``--job``, ``--out``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratlogic.db import Database
from stratlogic.db.actor import Actor, as_actor
from stratlogic.errors import ValidationError
from stratlogic.models import Artifact
from stratlogic.repositories.artifacts import ArtifactRepository
from stratlogic.services._base import entry, unit
from stratlogic.storage import artifacts as engine
from stratlogic.storage.artifacts import ArtifactReader, Source, StoredArtifact
from stratlogic.storage.base import CHUNK
from stratlogic.storage.reconcile import ReconcileReport

if TYPE_CHECKING:
    import pandas as pd

    from stratlogic.storage.base import ArtifactStore

Labels = Mapping[str, str] | None
#: The longest a presigned URL may work (S3's limit, which the local store checks too).
MAX_EXPIRY = timedelta(days=7)


@dataclass(frozen=True)
class ArtifactPage:
    """One keyset page of artifacts as JSON-ready rows (``artifact_row``), and the next page's cursor."""

    rows: list[dict[str, Any]]
    next_cursor: str | None


def _label(labels: Labels, name: str) -> str:
    return (labels or {}).get(name, name)


def configured_store(database: Database) -> ArtifactStore:
    """The store the database's settings configure (``STRATLOGIC_ARTIFACT_STORE``); nothing is contacted yet."""
    from stratlogic.storage.factory import store_from_settings

    return store_from_settings(database.settings)


def _store(database: Database, store: ArtifactStore | None) -> ArtifactStore:
    """The store given, or the configured one."""
    return store if store is not None else configured_store(database)


def artifact_row(artifact: StoredArtifact | Artifact) -> dict[str, Any]:
    """An artifact as a JSON-ready row: the shape ``artifacts ls --json`` and ``artifacts put`` print."""
    return {"id": artifact.id, "job_id": artifact.job_id, "filename": artifact.filename,
            "content_type": artifact.content_type, "size_bytes": artifact.size_bytes, "sha256": artifact.sha256,
            "bucket": artifact.bucket, "object_key": artifact.object_key,
            "created_at": artifact.created_at.isoformat()}


@entry("artifacts.put", writes=True)
def put(database: Database, job_id: int, source: Source, filename: str, *, actor: Actor,
        content_type: str | None = None, metadata: Mapping[str, Any] | None = None,
        store: ArtifactStore | None = None) -> StoredArtifact:
    """Validate, upload and record a file (path, bytes or stream) as an artifact of job ``job_id``; the same
    content twice is stored once (``created`` False). Rejected content writes nothing anywhere."""
    with as_actor(actor):
        return engine.store_artifact(database, _store(database, store), job_id, source, filename, content_type,
                                     metadata)


@entry("artifacts.get", writes=False)
def get(database: Database, artifact_id: int, *, actor: Actor) -> StoredArtifact:
    """One artifact's row; NotFoundError naming the id."""
    with as_actor(actor):
        return engine.get_artifact(database, artifact_id)


@entry("artifacts.open", writes=False)
def open_reader(database: Database, artifact_id: int, *, actor: Actor, store: ArtifactStore | None = None,
                verify: bool = True) -> ArtifactReader:
    """A stream of the artifact's bytes (a context manager); with ``verify`` reading to the end checks its
    size and sha256 (ChecksumMismatchError otherwise)."""
    with as_actor(actor):
        return engine.open_artifact(database, _store(database, store), artifact_id, verify=verify)


def _target(target: str | Path, labels: Labels) -> Path:
    """Where a download goes: a file, an existing folder, or a name ending in ``/`` (a folder, made when
    missing: ``Path()`` drops the slash that says so, and a file named ``downloads`` would be written)."""
    if isinstance(target, str) and target.endswith(("/", os.sep)):
        try:
            Path(target).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValidationError(f"{_label(labels, 'target')} {target!r}: cannot make that folder "
                                  f"({exc.strerror or exc})") from None
    return Path(target)


@entry("artifacts.download", writes=False)
def download(database: Database, artifact_id: int, target: str | Path, *, actor: Actor,
             store: ArtifactStore | None = None, labels: Labels = None) -> Path:
    """Write the artifact to ``target`` (a file, or a folder to put its filename in: an existing one, or a name
    ending in ``/``, made if missing), verified, atomically; returns the file written."""
    folder = _target(target, labels)
    with as_actor(actor):
        return engine.download_artifact(database, _store(database, store), artifact_id, folder)


def _list_filters(filters: Mapping[str, Any] | None, labels: Labels) -> dict[str, Any]:
    """Filters as people type them: a content type in any case (``TEXT/HTML`` is ``text/html``); a negative
    job id is no id at all (0 is a value: no job has it)."""
    wanted = dict(filters or {})
    job = wanted.get("job_id")
    if isinstance(job, int) and not isinstance(job, bool) and job < 0:
        raise ValidationError(f"{_label(labels, 'job_id')} {job} is not a job id (ids are whole numbers from 1)")
    if isinstance(wanted.get("content_type"), str):
        wanted["content_type"] = wanted["content_type"].strip().lower()
    ArtifactRepository.check_filters(wanted, labels=labels)
    return wanted


@entry("artifacts.list", writes=False)
def list_artifacts(database: Database, filters: Mapping[str, Any] | None = None, *, actor: Actor,
                   sort: str = "-created_at", limit: int = 50, cursor: str | None = None,
                   labels: Labels = None) -> ArtifactPage:
    """A keyset page of artifacts matching ``filters`` (``job_id``, ``content_type``…), newest first."""
    wanted = _list_filters(filters, labels)
    with unit(database, actor, readonly=True) as uow:
        page = ArtifactRepository(uow).page(wanted, sort=sort, limit=limit, cursor=cursor)
        return ArtifactPage([artifact_row(artifact) for artifact in page.items], page.next_cursor)


@entry("artifacts.find", writes=False)
def find(database: Database, filters: Mapping[str, Any] | None = None, *, actor: Actor, sort: Any = None,
         limit: int = 50) -> list[Artifact]:
    """Artifact rows matching ``filters``, at most ``limit`` (detached)."""
    with unit(database, actor, readonly=True) as uow:
        return ArtifactRepository(uow).list(filters, sort=sort, limit=limit)


@entry("artifacts.count", writes=False)
def count(database: Database, filters: Mapping[str, Any] | None = None, *, actor: Actor) -> int:
    """How many artifacts match ``filters``."""
    with unit(database, actor, readonly=True) as uow:
        return int(ArtifactRepository(uow).count(filters))


@entry("artifacts.frame", writes=False)
def frame(database: Database, filters: Mapping[str, Any] | None = None, *, actor: Actor, sort: Any = None,
          limit: int = 1000) -> pd.DataFrame:
    """Artifacts matching ``filters`` as a DataFrame, at most ``limit`` rows."""
    with unit(database, actor, readonly=True) as uow:
        return ArtifactRepository(uow).frame(filters, sort=sort, limit=limit)


@entry("artifacts.url", writes=False)
def url(database: Database, artifact_id: int, *, actor: Actor, expires: timedelta = timedelta(hours=1),
        store: ArtifactStore | None = None, labels: Labels = None) -> str:
    """A presigned GET URL for the artifact (``file://`` for a folder store), working for ``expires`` (up to
    seven days, S3's limit). An artifact of another bucket is refused: the same key there is another object."""
    if not timedelta(0) < expires <= MAX_EXPIRY:
        raise ValidationError(f"{_label(labels, 'expires')} {expires} is out of range: give 1s up to 7d")
    with as_actor(actor):
        artifact = engine.get_artifact(database, artifact_id)
    chosen = _store(database, store)
    engine.check_in_store(artifact, chosen)
    return chosen.presigned_url(artifact.object_key, expires)


@entry("artifacts.delete", writes=True)
def delete(database: Database, artifact_id: int, *, actor: Actor,
           store: ArtifactStore | None = None) -> StoredArtifact:
    """Delete an artifact: its row, metadata and audit row in one transaction, then its object."""
    with as_actor(actor):
        return engine.delete_artifact(database, _store(database, store), artifact_id)


@entry("artifacts.reconcile", writes=True)
def reconcile(database: Database, *, actor: Actor, store: ArtifactStore | None = None, fix: bool = False,
              dry_run: bool = False, checksums: bool = True,
              grace: timedelta = timedelta(hours=1)) -> ReconcileReport:
    """Compare artifact rows with the store's objects both ways; with ``fix`` repair what is safe (with
    ``dry_run``, only say what would be done). A store of another database is refused, naming both."""
    from stratlogic.storage.reconcile import reconcile as compare  # the name is this function's

    with as_actor(actor):
        return compare(database, _store(database, store), fix=fix, dry_run=dry_run, checksums=checksums,
                       grace=grace)


@entry("artifacts.metadata", writes=False)
def metadata(database: Database, artifact_id: int, *, actor: Actor) -> dict[str, Any]:
    """An artifact's metadata as a dict (NotFoundError naming the id when there is no such artifact)."""
    with unit(database, actor, readonly=True) as uow:
        artifacts = ArtifactRepository(uow)
        artifacts.get(artifact_id)
        return dict(artifacts.metadata(artifact_id))


@entry("artifacts.set_metadata", writes=True)
def set_metadata(database: Database, artifact_id: int, values: Mapping[str, Any], *, actor: Actor) -> None:
    """Set metadata keys on an artifact (insert or replace; other keys stay), audited."""
    with unit(database, actor) as uow:
        ArtifactRepository(uow).set_metadata(artifact_id, values)


@entry("artifacts.find_by_metadata", writes=False)
def find_by_metadata(database: Database, key: str, value: Any, *, actor: Actor,
                     limit: int = 100) -> list[Artifact]:
    """Artifacts whose metadata ``key`` equals ``value`` (compared as JSON values)."""
    with unit(database, actor, readonly=True) as uow:
        return ArtifactRepository(uow).find_by_metadata(key, value, limit=limit)


__all__ = ["CHUNK", "MAX_EXPIRY", "ArtifactPage", "ReconcileReport", "artifact_row", "configured_store", "count",
           "delete", "download", "find", "find_by_metadata", "frame", "get", "list_artifacts", "metadata",
           "open_reader", "put", "reconcile", "set_metadata", "url"]
