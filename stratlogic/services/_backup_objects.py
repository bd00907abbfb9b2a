"""``--objects``: the artifact store's objects copied into a backup (``objects/KEY``), each checked against the
size and sha256 its artifact row records, and checked again by ``backup verify`` and before a restore.

The backup's own ``artifacts`` table lists them (bucket, key, size, sha256), so the manifest records only the
bucket, the count and the bytes. Objects of another bucket than the configured store's are not copied (their
store is not this one) and are counted as skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pyarrow.fs as pafs

from stratlogic.config import Settings
from stratlogic.errors import ValidationError
from stratlogic.services import _backup_files as files
from stratlogic.storage.factory import store_from_settings
from stratlogic.storage.locations import Target, storage_errors

_CHUNK = 4 * 2**20


def _artifacts(where: Target, entry: files.TableEntry) -> Iterator[tuple[int, str, str, int, str]]:
    """(id, bucket, key, size, sha256) of every artifact row in the backup's table file."""
    for batch in files.read_batches(where.child(entry.file)):
        columns = {name: batch.column(name).to_pylist() for name in ("id", "bucket", "object_key", "size_bytes",
                                                                     "sha256")}
        yield from zip(columns["id"], columns["bucket"], columns["object_key"], columns["size_bytes"],
                       columns["sha256"], strict=True)


def copy_objects(settings: Settings, staged: Target, entry: files.TableEntry) -> dict[str, Any]:
    """Copy every object of the configured store that the backup's artifact rows name; a corrupt one is refused."""
    store = store_from_settings(settings)
    count = size = skipped = 0
    for artifact_id, bucket, key, expected_size, expected_sha in _artifacts(staged, entry):
        if bucket != store.bucket:
            skipped += 1
            continue
        target = staged.child("objects", key)
        if not staged.is_s3:
            with storage_errors(target, "write"):
                staged.fs.create_dir(target.path.rsplit("/", 1)[0], recursive=True)
        digest, written = hashlib.sha256(), 0
        with store.open(key) as body, storage_errors(target, "write"), \
                staged.fs.open_output_stream(target.path) as out:
            while chunk := body.read(_CHUNK):
                digest.update(chunk)
                written += len(chunk)
                out.write(chunk)
        if written != expected_size or digest.hexdigest() != expected_sha:
            raise ValidationError(f"artifact {artifact_id} ({key!r}) in {store.describe()} is corrupt: recorded "
                                  f"{expected_size} bytes sha256 {expected_sha}, read {written} bytes sha256 "
                                  f"{digest.hexdigest()}; run `stratlogic artifacts reconcile`")
        count += 1
        size += written
    return {"bucket": store.bucket, "count": count, "bytes": size, "skipped_other_buckets": skipped}


def verify_objects(where: Target, manifest: files.Manifest) -> int:
    """Every copied object present with the size and sha256 its artifact row records; returns how many."""
    listed = manifest.objects or {}
    bucket = listed.get("bucket")
    count = 0
    for artifact_id, row_bucket, key, expected_size, expected_sha in _artifacts(where, manifest.table("artifacts")):
        if row_bucket != bucket:
            continue
        target = where.child("objects", key)
        digest, size = hashlib.sha256(), 0
        with storage_errors(target, "read"):
            if where.fs.get_file_info(target.path).type != pafs.FileType.File:
                raise ValidationError(f"{target.shown} (artifact {artifact_id}) is missing from the backup")
            with where.fs.open_input_stream(target.path) as body:
                while chunk := body.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        if size != expected_size or digest.hexdigest() != expected_sha:
            raise ValidationError(f"{target.shown} (artifact {artifact_id}) is {size} bytes sha256 "
                                  f"{digest.hexdigest()}, the backup's row records {expected_size} bytes sha256 "
                                  f"{expected_sha} (truncated or altered)")
        count += 1
    if count != listed.get("count"):
        raise ValidationError(f"{where.shown}: {count} objects found, the manifest says {listed.get('count')}")
    return count


__all__ = ["copy_objects", "verify_objects"]
