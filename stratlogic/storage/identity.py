"""Which database a store belongs to: the database's installation id, and a marker object in the store.

Two databases writing to one store overwrite each other's objects (the demo seed's keys are reproducible),
and each one's ``reconcile --fix`` would delete the other's objects as orphans. So every database has an
installation id, a uuid kept in ``system_config`` under ``system.installation_id`` (made at first need and
audited; a backup of the table carries it to wherever it is restored), and a store records, in the object
``PREFIX stratlogic-store.json``, the id and masked URL of the database that first wrote to it. Every
write and every ``reconcile --fix`` goes through ``claim_store``, which refuses a store of another
database naming both. The key is not a declared configuration key, so ``config set`` cannot change it.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass

from stratlogic.db import Database, UnitOfWork, writelock
from stratlogic.errors import ObjectNotFoundError, StorageError
from stratlogic.models import SystemConfig
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories.config import ConfigRepository
from stratlogic.repositories.tables import INSTALLATION_KEY
from stratlogic.repositories.trail import AuditTrail
from stratlogic.storage.base import ArtifactStore

MARKER = "stratlogic-store.json"
INSTALLATION_DESCRIPTION = "Which database this is (set once, at first need); artifact stores record it."
_ID_CACHE = "storage:installation_id"


@dataclass(frozen=True)
class StoreOwner:
    """The database a store belongs to, as its marker records it."""

    installation_id: str
    database: str  # masked URL, for messages

    def describe(self) -> str:
        """``URL (installation ID)``."""
        return f"{self.database} (installation {self.installation_id})"


def installation_id(db: Database, *, create: bool = True) -> str | None:
    """This database's installation id; made (and audited) when missing and ``create``, else None."""
    found = db.cache.get(_ID_CACHE)
    if found is None:
        with db.unit_of_work(readonly=True) as uow:
            found = read_installation_id(uow)
    if found is None and create:
        found = _create(db)
    if found is not None:
        db.cache[_ID_CACHE] = found
    return found


def read_installation_id(uow: UnitOfWork) -> str | None:
    """The id stored in ``system_config``, or None."""
    row = ConfigRepository(uow).get_or_none(INSTALLATION_KEY)
    return str(row.value) if row is not None and row.value else None


def _create(db: Database, proposed: str | None = None) -> str:
    """Write a new id (or ``proposed``) under the write lock; a rival that made one first wins, its id returned."""
    with db.unit_of_work() as uow:
        writelock.take(uow.session)
        found = read_installation_id(uow)
        if found is not None:
            return found
        new = proposed or new_installation_id()
        record_installation_id(uow, new)
        db.cache[_ID_CACHE] = new
        return new


def new_installation_id() -> str:
    """A fresh id (a uuid4 as text)."""
    return str(uuid.uuid4())


def record_installation_id(uow: UnitOfWork, installation: str) -> None:
    """Write ``installation`` as this database's id, audited, in the caller's transaction (under the lock)."""
    uow.session.add(SystemConfig(key=INSTALLATION_KEY, value=installation, description=INSTALLATION_DESCRIPTION,
                                 is_secret=False, updated_by_id=None))
    uow.session.flush()
    AuditTrail(uow).record(AuditAction.CONFIG_SET, "config", INSTALLATION_KEY, {"old": None, "new": installation})


def marker_key(store: ArtifactStore) -> str:
    """Where the store's marker is: ``PREFIX stratlogic-store.json`` (not under ``jobs/``, so never an orphan)."""
    return f"{store.prefix}{MARKER}"


def store_owner(store: ArtifactStore) -> StoreOwner | None:
    """The database the store's marker names, or None when the store has no marker yet."""
    key = marker_key(store)
    try:
        with store.open(key) as body:
            data = json.loads(body.read())
        return StoreOwner(str(data["installation_id"]), str(data["database"]))
    except ObjectNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"{key!r} in {store.describe()} is not a store marker ({exc}); move it away") from None


def claim_store(db: Database, store: ArtifactStore) -> StoreOwner:
    """Before a write: refuse a store of another database; mark an unmarked store as this database's.

    A database with no id yet adopts the id of a marker naming its own URL (``adoptable_id``).
    """
    ours = installation_id(db, create=False)
    if ours is None:
        ours = _create(db, adoptable_id(db, store))
    mine = StoreOwner(ours, db.settings.safe_url)
    claim_store_as(db, store, mine.installation_id)
    return mine


def adoptable_id(db: Database, store: ArtifactStore) -> str | None:
    """The id of a marker naming this database's URL, for a database that has no id yet.

    That marker was written for this database by a seed killed before it committed the id, or by an earlier
    database at the same path (a SQLite file replaced by hand): either way the store is this URL's.
    """
    _ensure_bucket(store)
    found = store_owner(store)
    return found.installation_id if found is not None and found.database == db.settings.safe_url else None


def _ensure_bucket(store: ArtifactStore) -> None:
    ensure_bucket = getattr(store, "ensure_bucket", None)  # S3: a new bucket has no marker (nor anything else)
    if ensure_bucket is not None:
        ensure_bucket()


def claim_store_as(db: Database, store: ArtifactStore, installation: str) -> bool:
    """``claim_store`` for an id the caller is about to commit (the demo seed writes it with its rows).

    Returns True when the marker was written now: a caller whose transaction then fails removes it again
    (``release_marker``).
    """
    mine = StoreOwner(installation, db.settings.safe_url)
    cached = f"storage:owner:{store.describe()}"
    if db.cache.get(cached) == mine.installation_id:
        return False
    _ensure_bucket(store)
    found = store_owner(store)
    wrote = found is None
    if found is None:
        body = json.dumps({"installation_id": mine.installation_id, "database": mine.database}).encode()
        store.put(io.BytesIO(body), marker_key(store), "application/json", length=len(body))
        found = store_owner(store)  # two databases claiming at once: the marker read back is the one that holds
    _refuse_other(store, found, mine)
    db.cache[cached] = mine.installation_id
    return wrote


def release_marker(db: Database, store: ArtifactStore) -> None:
    """Remove a marker written by ``claim_store_as`` for an id that was never committed."""
    db.cache.pop(f"storage:owner:{store.describe()}", None)
    store.delete(marker_key(store))


def check_store(db: Database, store: ArtifactStore) -> StoreOwner | None:
    """Without writing anything: refuse a store whose marker names another database; None when unmarked."""
    found = store_owner(store)
    if found is not None:
        ours = installation_id(db, create=False)
        if ours is None and found.database == db.settings.safe_url:
            return found  # this URL's store, whose id the database will adopt at its first write
        _refuse_other(store, found, StoreOwner(ours or "none yet", db.settings.safe_url))
    return found


def _refuse_other(store: ArtifactStore, found: StoreOwner | None, mine: StoreOwner) -> None:
    if found is not None and found.installation_id != mine.installation_id:
        fix = ("it was an earlier database at this URL: move the store away, or on the embedded SQLite file run "
               "`stratlogic seed --reset`" if found.database == mine.database else
               "give this database a store of its own (STRATLOGIC_ARTIFACT_STORE)")
        raise StorageError(f"artifact store {store.describe()} belongs to database {found.describe()}, not to "
                           f"{mine.describe()}: {fix}")


__all__ = ["INSTALLATION_DESCRIPTION", "INSTALLATION_KEY", "MARKER", "StoreOwner", "adoptable_id", "check_store",
           "claim_store", "claim_store_as", "installation_id", "marker_key", "new_installation_id",
           "read_installation_id", "record_installation_id", "release_marker", "store_owner"]
