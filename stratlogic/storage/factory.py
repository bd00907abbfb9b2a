"""Choose the store from ``STRATLOGIC_ARTIFACT_STORE``, like papermill picks an I/O handler by scheme."""

from __future__ import annotations

from stratlogic.config import Settings
from stratlogic.storage.base import ArtifactStore
from stratlogic.storage.local import LocalStore


def store_from_settings(settings: Settings) -> ArtifactStore:
    """``file:PATH`` -> LocalStore; ``s3://BUCKET[/PREFIX]`` -> S3Store with the endpoint and keys from settings.

    Nothing is contacted here: the S3 bucket is checked (and created when allowed) at the first write.
    """
    if settings.artifact_path is not None:
        return LocalStore(settings.artifact_path)
    from stratlogic.storage.s3 import MIB, S3Store  # only S3 users pay for importing the minio client

    bucket, _, prefix = settings.artifact_store.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    return S3Store.connect(
        str(settings.s3_endpoint), bucket,
        access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
        secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
        secure=settings.s3_secure, prefix=f"{prefix}/" if prefix else "", create_bucket=settings.s3_create_bucket,
        part_size=settings.s3_part_size_mb * MIB, connect_timeout=settings.connect_timeout,
    )


__all__ = ["store_from_settings"]
