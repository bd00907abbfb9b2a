"""The artifact service: store a file as an object plus its row, metadata and audit row, and read it back.

``store_artifact`` reads the source once: the first bytes are sniffed and checked before anything is
written, then the bytes stream to the store while their sha256 and size are computed (and the size limit
enforced). Only then is the row written, in one transaction with its metadata and audit rows. When that
transaction fails the object is removed; when the upload fails no row is written. A job that stores the
same content twice gets its existing artifact back and the second object is removed (after being copied to
the existing artifact's key, when that object was lost).
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from stratlogic.db import Database, writelock
from stratlogic.errors import (
    ArtifactRejectedError,
    ChecksumMismatchError,
    ObjectNotFoundError,
    StorageError,
    ValidationError,
)
from stratlogic.models import Artifact
from stratlogic.repositories.artifacts import ArtifactRepository, check_metadata
from stratlogic.repositories.config import ConfigRepository
from stratlogic.repositories.jobs import JobRepository
from stratlogic.storage._streams import HashingReader, VerifyingReader
from stratlogic.storage.base import CHUNK, ArtifactStore
from stratlogic.storage.identity import check_store, claim_store
from stratlogic.storage.validation import (
    SNIFF_BYTES,
    ArtifactPolicy,
    allowed_list,
    check_filename,
    resolve_content_type,
)

log = logging.getLogger(__name__)
Source = Path | bytes | bytearray | memoryview | BinaryIO
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: What ``open_artifact`` returns: a stream of an artifact's bytes, checked against its row when read to the end.
ArtifactReader = VerifyingReader
#: The longest quoted filename kept in object metadata (S3 allows 2 KB of it in all); the row keeps any name.
_MAX_METADATA_FILENAME = 1024


@dataclass(frozen=True)
class StoredArtifact:
    """An artifact row as the service returns it. ``created`` is False when existing content was reused."""

    id: int
    job_id: int
    bucket: str
    object_key: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    created: bool = True

    @classmethod
    def of(cls, row: Artifact, *, created: bool = True) -> StoredArtifact:
        """Copy the row's values (safe to use after its session has closed)."""
        return cls(row.id, row.job_id, row.bucket, row.object_key, row.filename, row.content_type, row.size_bytes,
                   row.sha256, row.created_at, created)


def artifact_policy(db: Database) -> ArtifactPolicy:
    """The size limit and allowed content types from system config (their declared defaults when unset)."""
    with db.unit_of_work(readonly=True) as uow:
        config = ConfigRepository(uow)
        return ArtifactPolicy(int(config.value("artifacts.max_size_bytes")),
                              allowed_list(config.value("artifacts.allowed_content_types")))


def store_artifact(db: Database, store: ArtifactStore, job_id: int, source: Source, filename: str,
                   content_type: str | None = None, metadata: Mapping[str, Any] | None = None) -> StoredArtifact:
    """Validate, upload and record one artifact of job ``job_id``; return its row.

    Args:
        source: a file path, the bytes themselves, or a binary stream (read once, from where it is).
        filename: the name to record (a plain name, not a path).
        content_type: the declared type; it must agree with the content. None: from the filename or content.
        metadata: key/value metadata (JSON values) written with the row.

    Raises:
        ArtifactRejectedError: empty, too large, type not allowed or not matching the content, bad filename;
            nothing was written anywhere.
        NotFoundError: the job does not exist. StorageError: the store failed (no row was written).
    """
    check_filename(filename)
    values = dict(metadata or {})
    try:
        check_metadata(values)
    except ValidationError as exc:
        raise ArtifactRejectedError("metadata", str(exc)) from None
    with db.unit_of_work(readonly=True) as uow:
        JobRepository(uow).get(job_id)
    policy = artifact_policy(db)
    claim_store(db, store)  # a store of another database is refused before a byte is written
    key = object_key(store, job_id, filename)
    with _opened(source) as (stream, known_size):
        size, digest, kind = _upload(store, key, stream, known_size, filename, content_type, policy, job_id)
    try:
        artifact = _record(db, store, job_id, key, filename, kind, size, digest, values)
    except BaseException:
        _remove(store, key, "its row could not be written")
        raise
    log.info("job %s: %s as artifact %s (%s, %s bytes, sha256 %s)%s", job_id, filename, artifact.id, kind,
             artifact.size_bytes, digest[:12], "" if artifact.created else ", content already stored")
    return artifact


def _upload(store: ArtifactStore, key: str, stream: BinaryIO, known_size: int | None, filename: str,
            declared: str | None, policy: ArtifactPolicy, job_id: int) -> tuple[int, str, str]:
    """Check what can be checked before writing, then stream to the store; return size, sha256 and type."""
    if known_size is not None:
        policy.check_size(known_size, filename)
    head = _read_up_to(stream, SNIFF_BYTES)
    policy.check_size(len(head), filename)  # catches an empty stream of unknown size
    kind = resolve_content_type(filename, declared, head)
    policy.check_type(kind, filename)
    reader = HashingReader(head, stream, policy.max_size_bytes, lambda: _too_large(policy, filename))
    try:
        store.put(reader, key, kind, object_metadata(job_id, filename),
                  length=known_size if known_size is not None else -1)
        return reader.size, reader.hexdigest(), kind
    finally:
        reader.close()


def object_metadata(job_id: int, filename: str) -> dict[str, str]:
    """The user metadata an artifact's object carries: its job, and its filename (percent-encoded) unless that
    is too long for S3's 2 KB of metadata (a 245-character CJK name quotes to 2.2 KB); the row has it anyway."""
    values = {"job-id": str(job_id)}
    quoted = quote(filename)
    if len(quoted) <= _MAX_METADATA_FILENAME:
        values["filename"] = quoted
    return values


def object_key(store: ArtifactStore, job_id: int, filename: str) -> str:
    """A new key ``PREFIX jobs/JOB/UUID/NAME``: unique per upload, readable, safe in every store."""
    safe = _UNSAFE.sub("_", filename).lstrip(".")[:100] or "artifact"
    return f"{store.prefix}jobs/{job_id}/{uuid.uuid4().hex}/{safe}"


def _record(db: Database, store: ArtifactStore, job_id: int, key: str, filename: str, content_type: str, size: int,
            digest: str, metadata: Mapping[str, Any]) -> StoredArtifact:
    """Write the row, metadata and audit rows in one transaction, or return the job's existing copy."""
    with db.unit_of_work() as uow:
        writelock.take(uow.session)  # check-then-insert under the one writer lock: no duplicate slips in
        artifacts = ArtifactRepository(uow)
        existing = artifacts.by_checksum(job_id, digest, bucket=store.bucket)  # a copy in another store is no copy
        if existing is None:
            row = artifacts.add(Artifact(job_id=job_id, bucket=store.bucket, object_key=key, filename=filename,
                                         content_type=content_type, size_bytes=size, sha256=digest))
            if metadata:
                artifacts.set_metadata(row.id, metadata)
            return StoredArtifact.of(row)
        found = StoredArtifact.of(existing, created=False)
    if found.bucket == store.bucket and not store.exists(found.object_key):
        _replace_lost(store, key, found)
    _remove(store, key, f"job {job_id} already has this content as artifact {found.id}")
    return found


def _replace_lost(store: ArtifactStore, key: str, artifact: StoredArtifact) -> None:
    """Copy the object just uploaded at ``key`` (same sha256) to ``artifact``'s key, whose object was lost.

    The copy streams through the checksum check. If it fails, the error propagates and the caller removes the
    new object: the artifact stays as it was (missing), and no second row is written.
    """
    log.warning("artifact %s: its object %r is missing; restoring it from the same content just uploaded",
                artifact.id, artifact.object_key)

    def mismatch(expected: str, actual: str) -> ChecksumMismatchError:
        return ChecksumMismatchError(artifact.id, key, expected, actual)

    with VerifyingReader(store.open(key), artifact.size_bytes, artifact.sha256, mismatch) as source:
        store.put(source, artifact.object_key, artifact.content_type,
                  object_metadata(artifact.job_id, artifact.filename), length=artifact.size_bytes)


def _remove(store: ArtifactStore, key: str, why: str) -> None:
    """Delete an object we just wrote; if even that fails, say so (reconcile finds the orphan later)."""
    try:
        store.delete(key)
    except StorageError as exc:
        log.warning("could not remove object %r after %s: %s; `stratlogic artifacts reconcile --fix` will", key,
                    why, exc)


def _too_large(policy: ArtifactPolicy, filename: str) -> ArtifactRejectedError:
    return ArtifactRejectedError("too_large", f"{filename!r} is larger than the limit of {policy.max_size_bytes} "
                                              "bytes (artifacts.max_size_bytes); the upload was abandoned")


@contextmanager
def _opened(source: Source) -> Iterator[tuple[BinaryIO, int | None]]:
    """The source as a stream and how many bytes it holds from here (None when it cannot tell)."""
    if isinstance(source, str):
        raise ValidationError("give the source as a Path, bytes or a binary stream, not a str")
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        yield io.BytesIO(data), len(data)
    elif isinstance(source, os.PathLike):
        path = Path(source)
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise ValidationError(f"cannot read {str(path)!r}: {exc.strerror}") from None
        with handle:
            info = os.fstat(handle.fileno())
            # a pipe, /dev/stdin or a /proc file says 0 bytes: only a regular file's size is its content's
            yield handle, info.st_size if stat.S_ISREG(info.st_mode) else None
    else:
        yield source, _remaining(source)


def _remaining(stream: BinaryIO) -> int | None:
    try:
        if stream.seekable():
            here = stream.tell()
            end = stream.seek(0, io.SEEK_END)
            stream.seek(here)
            return end - here
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    parts, wanted = [], size
    while wanted > 0 and (chunk := stream.read(wanted)):
        parts.append(chunk)
        wanted -= len(chunk)
    return b"".join(parts)


def get_artifact(db: Database, artifact_id: int) -> StoredArtifact:
    """One artifact's row; NotFoundError naming the id."""
    with db.unit_of_work(readonly=True) as uow:
        return StoredArtifact.of(ArtifactRepository(uow).get(artifact_id), created=False)


def check_in_store(artifact: StoredArtifact, store: ArtifactStore, then: str = "") -> None:
    """Refuse to touch an artifact of another bucket through ``store``: the same key there is another object."""
    if artifact.bucket != store.bucket:
        raise StorageError(f"artifact {artifact.id} is in bucket {artifact.bucket!r}, not in the configured store "
                           f"{store.describe()}{then}")


def open_artifact(db: Database, store: ArtifactStore, artifact_id: int, *, verify: bool = True) -> VerifyingReader:
    """A stream of the artifact's bytes; with ``verify`` the read reaching the end checks size and sha256.

    Raises:
        ChecksumMismatchError: (from a read) the object differs from its row; ObjectNotFoundError: it is gone.
    """
    artifact = get_artifact(db, artifact_id)
    check_in_store(artifact, store)
    try:
        body = store.open(artifact.object_key)
    except ObjectNotFoundError:
        check_store(db, store)  # another database's store explains it better than "not found"
        raise

    def mismatch(expected: str, actual: str) -> ChecksumMismatchError:
        return ChecksumMismatchError(artifact.id, artifact.object_key, expected, actual)

    return VerifyingReader(body, artifact.size_bytes, artifact.sha256 if verify else None, mismatch)


def delete_artifact(db: Database, store: ArtifactStore, artifact_id: int) -> StoredArtifact:
    """Delete an artifact: its row, metadata and audit row in one transaction, then its object.

    In that order, so a failure never leaves a row without its object; an object whose removal fails is
    logged and left for ``reconcile --fix`` (an orphan). An artifact of another bucket is refused untouched.
    """
    claim_store(db, store)  # the same key in another database's store is that database's object
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        found = StoredArtifact.of(artifacts.get(artifact_id), created=False)
        check_in_store(found, store, "; nothing was deleted")
        artifacts.delete(artifact_id)
    _remove(store, found.object_key, f"artifact {artifact_id} was deleted")
    return found


def remove_objects(store: ArtifactStore, keys: Mapping[str, str], why: str) -> None:
    """Remove objects whose rows are gone (``keys``: object key -> bucket), those of this store's bucket."""
    for key, bucket in keys.items():
        if bucket == store.bucket:
            _remove(store, key, why)


def download_artifact(db: Database, store: ArtifactStore, artifact_id: int, target: Path) -> Path:
    """Write the artifact to ``target`` (a file, or a folder to put its filename in), verified, atomically."""
    if target.is_dir():
        target = target / check_filename(get_artifact(db, artifact_id).filename)
    if not target.parent.is_dir():
        raise ValidationError(f"cannot write {str(target)!r}: folder {str(target.parent)!r} does not exist")
    if len(target.name.encode()) > 255:
        raise ValidationError(f"cannot write {target.name[:60]!r}…: the name is {len(target.name.encode())} bytes "
                              "and a file name holds 255; give a file path to write to instead")
    temp = target.with_name(f".{uuid.uuid4().hex}.part")  # short: the target's own name may be near the limit
    try:
        with open_artifact(db, store, artifact_id) as reader, temp.open("wb") as out:
            for chunk in reader.iter_chunks(CHUNK):
                out.write(chunk)
        temp.replace(target)
    except OSError as exc:
        raise StorageError(f"could not write {str(target)!r}: {exc.strerror or exc}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return target


__all__ = ["ArtifactReader", "Source", "StoredArtifact", "artifact_policy", "check_in_store", "delete_artifact",
           "download_artifact", "get_artifact", "object_key", "object_metadata", "open_artifact", "remove_objects",
           "store_artifact"]
