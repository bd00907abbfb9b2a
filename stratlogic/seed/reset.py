"""``seed --reset``: start the embedded SQLite database over, with the store and the password file it owns."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from stratlogic.config import Settings
from stratlogic.db import Database, migrate
from stratlogic.errors import ValidationError
from stratlogic.repositories import ArtifactRepository
from stratlogic.seed.base import password_file
from stratlogic.storage import ArtifactStore, store_from_settings
from stratlogic.storage.identity import installation_id, marker_key, store_owner


def reset(settings: Settings, store: ArtifactStore | None = None) -> ResetResult:
    """Start the embedded SQLite database from empty: delete it with its store's objects, migrate it again.

    The database's installation id goes with the file (the next write makes a new one). The store is
    emptied of the artifact service's objects (``PREFIX jobs/``) and its marker removed when the marker
    names this database, by id or by URL (an earlier database at this path); an unmarked store loses only
    the objects rows point at; a store of another database is left alone. The database's password file
    goes too: its admin is gone.

    Raises:
        ValidationError: the database is not SQLite (a server database is dropped by its administrator).
    """
    if settings.backend != "sqlite":
        raise ValidationError(f"--reset only empties the embedded SQLite database, not {settings.safe_url}; "
                              "drop and recreate a PostgreSQL database yourself")
    store = store or store_from_settings(settings)
    path = Path(str(settings.url.database))
    result = ResetResult(store.describe())
    if path.exists() and migrate.current(settings) is not None:
        database = Database.from_settings(settings)
        try:
            result = _empty_store(database, store)
        finally:
            database.dispose()
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    secret = password_file(settings)
    if secret.exists():
        secret.unlink()
        result = replace(result, password_file=secret)
    migrate.upgrade(settings, "head")
    return result


@dataclass(frozen=True)
class ResetResult:
    """What ``reset`` did to the store (``owned``: the marker named this database and was removed)."""

    store: str
    objects_removed: int = 0
    owned: bool = False
    other_owner: str | None = None
    password_file: Path | None = None


def _empty_store(database: Database, store: ArtifactStore) -> ResetResult:
    owner = store_owner(store)
    if owner is None:
        return ResetResult(store.describe(), _remove_objects_of_rows(database, store))
    ours = installation_id(database, create=False)
    if owner.installation_id != ours and owner.database != database.settings.safe_url:
        return ResetResult(store.describe(), other_owner=owner.describe())
    removed = 0
    for key in list(store.iter_keys(f"{store.prefix}jobs/")):
        store.delete(key)
        removed += 1
    store.delete(marker_key(store))
    return ResetResult(store.describe(), removed, owned=True)


def _remove_objects_of_rows(database: Database, store: ArtifactStore) -> int:
    """Delete the objects that artifact rows point at (objects no row names are left alone)."""
    keys = list(store.iter_keys(store.prefix))
    doomed: list[str] = []
    for first in range(0, len(keys), 500):
        batch = keys[first:first + 500]
        with database.unit_of_work(readonly=True) as uow:
            rows = ArtifactRepository(uow).list({"bucket": store.bucket, "object_key__in": batch}, limit=len(batch))
            doomed += [row.object_key for row in rows]
    for key in doomed:
        store.delete(key)
    return len(doomed)


__all__ = ["ResetResult", "reset"]
