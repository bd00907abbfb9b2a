"""Artifact metadata for notebooks and services: typed values (JSON), bulk writes, look-ups by value.

Rows go through ``ArtifactRepository``/``MetadataRepository``, so every change is audited in the same
transaction. Values keep their JSON type: ``3`` comes back an int, ``True`` a bool, ``[..]`` a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, overload

from stratlogic.db import Database
from stratlogic.errors import NotFoundError, ValidationError
from stratlogic.repositories.artifacts import ArtifactRepository, MetadataRepository, check_metadata
from stratlogic.storage.artifacts import StoredArtifact

T = TypeVar("T")
_MISSING: Any = object()


class MetadataManager:
    """Get, set, delete and search artifact metadata; each call is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, artifact_id: int, key: str, value: Any) -> None:
        """Set one key (insert or replace)."""
        self.set_many(artifact_id, {key: value})

    def set_many(self, artifact_id: int, values: Mapping[str, Any]) -> None:
        """Set several keys of one artifact at once; keys not named are left alone."""
        with self.db.unit_of_work() as uow:
            ArtifactRepository(uow).set_metadata(artifact_id, values)

    def set_bulk(self, values: Mapping[int, Mapping[str, Any]]) -> int:
        """Set keys on many artifacts in one transaction (a batch of upserts); return how many keys were written.

        Every artifact must exist, or nothing is written (NotFoundError names the missing ids).
        """
        rows = []
        for artifact_id, entries in values.items():
            check_metadata(entries)
            rows += [{"artifact_id": artifact_id, "key": key, "value": value} for key, value in entries.items()]
        if not rows:
            return 0
        ids = sorted(values)
        with self.db.unit_of_work() as uow:
            artifacts, found = ArtifactRepository(uow), set[int]()
            step = artifacts.max_limit  # a listing returns at most this many rows (10,000)
            for start in range(0, len(ids), step):
                chunk = ids[start:start + step]
                found.update(a.id for a in artifacts.list({"id__in": chunk}, limit=len(chunk)))
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFoundError(f"artifact(s) {', '.join(map(str, missing[:20]))} not found; nothing was written")
            MetadataRepository(uow).upsert_many(rows, conflict=("artifact_id", "key"), update_fields=("value",))
        return len(rows)

    @overload
    def get(self, artifact_id: int, key: str, default: Any = ..., *, expect: None = None) -> Any: ...

    @overload
    def get(self, artifact_id: int, key: str, default: Any = ..., *, expect: type[T]) -> T: ...

    def get(self, artifact_id: int, key: str, default: Any = _MISSING, *, expect: type[Any] | None = None) -> Any:
        """One value; ``default`` when the key is unset (NotFoundError without one).

        ``expect`` checks the type strictly (``True`` is not an int, ``1`` is not a float).
        """
        values = self.all(artifact_id)
        if key not in values:
            if default is _MISSING:
                raise NotFoundError(f"artifact {artifact_id} has no metadata key {key!r}")
            return default
        value = values[key]
        if expect is not None and type(value) is not expect:
            raise ValidationError(f"metadata {key!r} of artifact {artifact_id} is {type(value).__name__} "
                                  f"{value!r}, expected {expect.__name__}")
        return value

    def all(self, artifact_id: int) -> dict[str, Any]:
        """Every key of one artifact (NotFoundError when the artifact does not exist)."""
        with self.db.unit_of_work(readonly=True) as uow:
            artifacts = ArtifactRepository(uow)
            artifacts.get(artifact_id)
            return artifacts.metadata(artifact_id)

    def delete(self, artifact_id: int, *keys: str) -> int:
        """Remove keys from one artifact; return how many existed."""
        with self.db.unit_of_work() as uow:
            return ArtifactRepository(uow).delete_metadata(artifact_id, keys)

    def find(self, key: str, value: Any, *, limit: int = 100) -> list[StoredArtifact]:
        """Artifacts whose ``key`` equals ``value`` as JSON (``3`` does not match ``"3"``), oldest first."""
        with self.db.unit_of_work(readonly=True) as uow:
            return [StoredArtifact.of(row, created=False)
                    for row in ArtifactRepository(uow).find_by_metadata(key, value, limit=limit)]


__all__ = ["MetadataManager"]
