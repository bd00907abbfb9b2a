"""Small documents (audit checkpoints, report outputs) at a local path or an ``s3://BUCKET/KEY`` URL.

A checkpoint is only useful kept away from the database it vouches for, and for many teams "away" is
a bucket. The endpoint and keys are the artifact store's (``STRATLOGIC_S3_*``); the bucket is the URL's.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from stratlogic.config import Settings
from stratlogic.errors import ValidationError

if TYPE_CHECKING:
    from stratlogic.storage.s3 import S3Store

MAX_DOCUMENT = 16 * 2**20  # documents are small; refuse to read a multi-gigabyte object into memory


def is_remote(target: str) -> bool:
    """Whether ``target`` names an object in S3 rather than a local file."""
    return target.startswith("s3://")


def write_document(settings: Settings, target: str, data: bytes, content_type: str = "application/json") -> str:
    """Write ``data`` to a path (atomically) or to ``s3://BUCKET/KEY``; returns where it went."""
    if not is_remote(target):
        path = Path(target).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(path)
        return str(path)
    store, key = _s3(settings, target)
    store.put(io.BytesIO(data), key, content_type, length=len(data))
    return target


def read_document(settings: Settings, source: str) -> bytes:
    """Read a document from a path or ``s3://BUCKET/KEY`` (at most 16 MiB)."""
    if not is_remote(source):
        try:
            with Path(source).expanduser().open("rb") as handle:
                data = handle.read(MAX_DOCUMENT + 1)
        except OSError as exc:
            raise ValidationError(f"cannot read {source}: {exc.strerror}") from None
    else:
        store, key = _s3(settings, source)
        with store.open(key) as handle:
            data = handle.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        raise ValidationError(f"{source} is larger than {MAX_DOCUMENT // 2**20} MiB: not a document this reads")
    return data


def _s3(settings: Settings, url: str) -> tuple[S3Store, str]:
    from stratlogic.storage.s3 import S3Store  # only S3 users pay for importing the minio client

    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ValidationError(f"{url!r} is not an s3://BUCKET/KEY URL of an object")
    if not settings.s3_endpoint:
        raise ValidationError(f"{url!r} needs STRATLOGIC_S3_ENDPOINT (and the S3 keys) to be set")
    store = S3Store.connect(
        settings.s3_endpoint, bucket,
        access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
        secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
        secure=settings.s3_secure, create_bucket=settings.s3_create_bucket, connect_timeout=settings.connect_timeout)
    return store, key


__all__ = ["MAX_DOCUMENT", "is_remote", "read_document", "write_document"]
