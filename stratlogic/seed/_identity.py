"""The installation id a demo seed with objects needs before its first object, written with its own rows.

Claiming the store (``storage/identity.py``) needs the database's installation id. Made in a transaction of
its own, it would be dated now, ahead of the demo's rows dated at the window's start, and the trail would
no longer rise in time. So when the database has none yet, the seed draws one, marks the store with it, and
writes it in its own transaction at the window's start; if that transaction fails, the marker goes too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from stratlogic.db import Database, UnitOfWork
from stratlogic.errors import StorageError
from stratlogic.models import AuditLog, SystemConfig
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories.bulk import BulkWriter
from stratlogic.seed._rows import AUDIT_COLUMNS, Chain, jsonb
from stratlogic.seed.base import CONFIG_COLUMNS
from stratlogic.storage import ArtifactStore
from stratlogic.storage.identity import (
    INSTALLATION_DESCRIPTION,
    INSTALLATION_KEY,
    adoptable_id,
    claim_store,
    claim_store_as,
    installation_id,
    new_installation_id,
    read_installation_id,
    record_installation_id,
    release_marker,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedIdentity:
    """``new_id``: drawn by this seed (None: the database had one); ``marked``: the store's marker is new."""

    new_id: str | None = None
    marked: bool = False

    @classmethod
    def claim(cls, database: Database, store: ArtifactStore, objects: bool) -> SeedIdentity:
        """Refuse another database's store; mark an unmarked one, with a new id when there is none yet."""
        if not objects:
            return cls()
        if installation_id(database, create=False) is not None:
            claim_store(database, store)
            return cls()
        new = adoptable_id(database, store) or new_installation_id()  # a killed seed's marker: its id
        return cls(new, claim_store_as(database, store, new))

    def check(self, uow: UnitOfWork) -> None:
        """Under the write lock: refuse when another process gave the database an id meanwhile."""
        if self.new_id is not None and (found := read_installation_id(uow)) is not None:
            raise StorageError(f"the database got installation id {found} from another process while the seed "
                               "started: run the seed again")

    def record(self, uow: UnitOfWork) -> None:
        """Write the new id now, audited (when the seed has nothing else to write)."""
        if self.new_id is not None:
            record_installation_id(uow, self.new_id)

    def write(self, writer: BulkWriter, chain: Chain, at: int) -> None:
        """Queue the new id and its audit row, dated ``at`` (microseconds), before the base seed's rows."""
        if self.new_id is None:
            return
        writer.write(SystemConfig, CONFIG_COLUMNS,
                     [(INSTALLATION_KEY, jsonb(self.new_id), INSTALLATION_DESCRIPTION, False, None, at, at)])
        writer.write(AuditLog, AUDIT_COLUMNS, [chain.entry(at, None, AuditAction.CONFIG_SET.value, "config",
                                                           INSTALLATION_KEY, {"old": None, "new": self.new_id})])

    def undo(self, database: Database, store: ArtifactStore) -> None:
        """After a failed seed: remove the marker naming an id that was never committed."""
        if self.marked:
            try:
                release_marker(database, store)
            except StorageError as exc:
                log.warning("could not remove the store marker of the failed seed: %s", exc)


__all__ = ["SeedIdentity"]
