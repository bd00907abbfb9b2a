"""Artifact storage: the store protocol, a local folder and S3 stores, and the artifact service over them.

``store_from_settings(settings)`` picks the store; ``store_artifact`` / ``open_artifact`` move bytes with
their checksums; ``MetadataManager`` handles typed metadata; ``reconcile`` compares rows with objects.
``stratlogic.storage.testing`` (a SeaweedFS launcher for tests and benchmarks) is not imported here.
"""

from __future__ import annotations

from stratlogic.storage.artifacts import (
    StoredArtifact,
    artifact_policy,
    delete_artifact,
    download_artifact,
    get_artifact,
    open_artifact,
    store_artifact,
)
from stratlogic.storage.base import ArtifactStore, StoredObject, check_key
from stratlogic.storage.factory import store_from_settings
from stratlogic.storage.local import LocalStore
from stratlogic.storage.metadata import MetadataManager
from stratlogic.storage.reconcile import DriftKind, Finding, ReconcileReport, reconcile
from stratlogic.storage.validation import ArtifactPolicy


def __getattr__(name: str) -> object:
    """``S3Store`` is imported on first use: the minio client would cost every CLI start otherwise."""
    if name == "S3Store":
        from stratlogic.storage.s3 import S3Store

        return S3Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ArtifactPolicy",
    "ArtifactStore",
    "DriftKind",
    "Finding",
    "LocalStore",
    "MetadataManager",
    "ReconcileReport",
    "S3Store",
    "StoredArtifact",
    "StoredObject",
    "artifact_policy",
    "check_key",
    "delete_artifact",
    "download_artifact",
    "get_artifact",
    "open_artifact",
    "reconcile",
    "store_artifact",
    "store_from_settings",
]
