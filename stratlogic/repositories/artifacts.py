"""Artifact rows and their key/value metadata (the objects themselves live in the artifact store)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from sqlalchemy import bindparam, select

from stratlogic.errors import ValidationError
from stratlogic.models import Artifact, ArtifactMetadata
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories.base import Repository

METADATA_KEY = re.compile(r"^[a-z][a-z0-9_.-]{0,99}$")
_SCALARS = (str, int, float, bool, type(None))


def check_metadata(values: Mapping[str, Any]) -> None:
    """Refuse metadata keys outside ``[a-z][a-z0-9_.-]*`` and values JSON cannot hold, naming the key."""
    for key, value in values.items():
        if not isinstance(key, str) or not METADATA_KEY.fullmatch(key):
            raise ValidationError(f"metadata key {key!r} is not valid: use 1-100 of a-z, 0-9, '_', '.', '-', "
                                  "starting with a letter")
        if not _is_json(value):
            raise ValidationError(f"metadata {key!r}: {type(value).__name__} values cannot be stored; use "
                                  "str, int, float, bool, None, or lists/dicts of those")


def _is_json(value: Any) -> bool:
    if isinstance(value, _SCALARS):
        return not isinstance(value, float) or math.isfinite(value)  # NaN and infinities are not JSON
    if isinstance(value, list):
        return all(_is_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


class MetadataRepository(Repository[ArtifactMetadata]):
    """Rows of artifact_metadata; used through ArtifactRepository."""

    model = ArtifactMetadata
    resource = "artifact metadata"
    filterable = ("id", "artifact_id", "key")
    sortable = ("id", "key")
    actions: ClassVar[Mapping[str, AuditAction]] = {"created": AuditAction.ARTIFACT_METADATA_SET,
                                                     "updated": AuditAction.ARTIFACT_METADATA_SET,
                                                     "deleted": AuditAction.ARTIFACT_METADATA_DELETED}


class ArtifactRepository(Repository[Artifact]):
    """Artifact rows, their metadata, and metadata statistics."""

    model = Artifact
    resource = "artifact"
    filterable = ("id", "job_id", "bucket", "object_key", "filename", "content_type", "size_bytes", "sha256",
                  "created_at")
    sortable = ("id", "job_id", "filename", "content_type", "size_bytes", "created_at")
    writable = ("filename", "content_type")
    actions: ClassVar[Mapping[str, AuditAction]] = {"created": AuditAction.ARTIFACT_CREATED,
                                                     "updated": AuditAction.ARTIFACT_UPDATED,
                                                     "deleted": AuditAction.ARTIFACT_DELETED}

    def _cascaded(self, ids: Sequence[Any]) -> dict[Any, dict[str, Any]]:
        """The metadata keys the database deletes with each artifact (recorded on the artifact's row)."""
        keys: dict[Any, list[str]] = {}
        for start in range(0, len(ids), 10_000):
            rows = self.session.execute(select(ArtifactMetadata.artifact_id, ArtifactMetadata.key)
                                        .where(ArtifactMetadata.artifact_id.in_(ids[start:start + 10_000]))
                                        .order_by(ArtifactMetadata.artifact_id, ArtifactMetadata.key))
            for artifact_id, key in rows:
                keys.setdefault(artifact_id, []).append(key)
        return {ident: {"cascaded": {"artifact_metadata": found}} for ident, found in keys.items()}

    def objects_of_jobs(self, job_ids: Sequence[int]) -> dict[str, str]:
        """The stored objects of these jobs' artifacts, object key -> bucket (what a clean-up removes from the
        store once the rows are gone)."""
        if not job_ids:
            return {}
        rows = self.session.execute(select(Artifact.object_key, Artifact.bucket)
                                    .where(Artifact.job_id.in_(list(job_ids))))
        return {key: bucket for key, bucket in rows}

    def for_job(self, job_id: int) -> list[Artifact]:
        """Every artifact of a job, oldest first."""
        return list(self.iterate({"job_id": job_id}))

    def by_checksum(self, job_id: int, sha256: str, *, bucket: str | None = None) -> Artifact | None:
        """The job's artifact with this content (in ``bucket`` when given), if it already has one (for
        de-duplication)."""
        filters: dict[str, Any] = {"job_id": job_id, "sha256": sha256.lower()}
        if bucket is not None:
            filters["bucket"] = bucket
        found = self.list(filters, limit=1)
        return found[0] if found else None

    def set_metadata(self, artifact_id: int, values: Mapping[str, Any]) -> None:
        """Set many metadata keys at once (insert or replace); other keys are left alone."""
        check_metadata(values)
        self.get(artifact_id)
        rows = [{"artifact_id": artifact_id, "key": key, "value": value} for key, value in values.items()]
        MetadataRepository(self.uow).upsert_many(rows, conflict=("artifact_id", "key"), update_fields=("value",))

    def metadata(self, artifact_id: int) -> dict[str, Any]:
        """An artifact's metadata as a dict."""
        rows = self.session.execute(select(ArtifactMetadata.key, ArtifactMetadata.value)
                                    .where(ArtifactMetadata.artifact_id == artifact_id)
                                    .order_by(ArtifactMetadata.key))
        return {key: value for key, value in rows.all()}

    def delete_metadata(self, artifact_id: int, keys: Iterable[str]) -> int:
        """Remove these keys from an artifact; returns how many existed."""
        wanted = list(keys)
        if not wanted:
            return 0
        return MetadataRepository(self.uow).delete_where({"artifact_id": artifact_id, "key__in": wanted})

    def find_by_metadata(self, key: str, value: Any, *, limit: int = 100) -> list[Artifact]:
        """Artifacts whose metadata ``key`` equals ``value`` (compared as JSON values)."""
        check_metadata({key: value})
        self._check_limit(limit)
        as_json = bindparam("metadata_value", value, type_=ArtifactMetadata.__table__.c.value.type)
        matching = select(ArtifactMetadata.artifact_id).where(ArtifactMetadata.key == key,
                                                             ArtifactMetadata.value == as_json)
        query = select(Artifact).where(Artifact.id.in_(matching)).order_by(Artifact.id).limit(limit)
        return list(self.session.scalars(query))


__all__ = ["ArtifactRepository", "MetadataRepository", "check_metadata"]
