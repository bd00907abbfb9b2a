"""The workbench's thin facades: ``wb.jobs``, ``wb.artifacts``, ``wb.audit``, ``wb.users``, ``wb.config``.

Each method opens its own unit of work and closes it before returning, so nothing holds a transaction
open between notebook cells: reads open read-only units, writes open a writing unit *and* name the
workbench's actor inside the same call (a ContextVar set in one cell is not reliably visible in the next
under ipykernel, issues #1457 and #749). Rows come back detached, their columns loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
from sqlalchemy import select

from stratlogic.db.actor import acting_as
from stratlogic.db.session import UnitOfWork
from stratlogic.errors import StratLogicError
from stratlogic.models import AuditLog
from stratlogic.repositories import ArtifactRepository, ConfigEntry, ConfigRepository, UserRepository
from stratlogic.repositories.audit import AuditRepository
from stratlogic.repositories.base import Repository
from stratlogic.repositories.jobs import JobRepository

if TYPE_CHECKING:
    from stratlogic.workbench import Workbench


class ReadOnlyWorkbenchError(StratLogicError):
    """A write was asked of a workbench opened with ``readonly=True``."""


class _Facade:
    """Shared reads over one repository: ``get``, ``list``, ``count``, ``frame``."""

    repository: ClassVar[type[Repository[Any]]]

    def __init__(self, workbench: Workbench) -> None:
        self._wb = workbench

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._wb.db.unit_of_work(readonly=True) as uow:
            yield self.repository(uow)

    @contextmanager
    def _write(self, what: str) -> Iterator[Any]:
        with self._writing(what) as uow:
            yield self.repository(uow)

    def _writable(self, what: str) -> None:
        if self._wb.readonly:
            raise ReadOnlyWorkbenchError(f"{what} refused: this workbench was opened read-only "
                                         "(stratlogic.open(readonly=False) to change data)")

    @contextmanager
    def _writing(self, what: str) -> Iterator[UnitOfWork]:
        self._writable(what)
        with acting_as(self._wb.actor, origin=self._wb.origin), self._wb.db.unit_of_work() as uow:
            yield uow

    def get(self, ident: Any) -> Any:
        """One row by id; NotFoundError naming it when there is none. Example: ``wb.jobs.get(42).status``"""
        with self._read() as repo:
            return repo.get(ident)

    def list(self, filters: Mapping[str, Any] | None = None, *, sort: Any = None, limit: int = 50) -> Any:
        """Rows matching ``filters``, at most ``limit``. Example: ``wb.jobs.list({"status": "failed"}, limit=5)``"""
        with self._read() as repo:
            return repo.list(filters, sort=sort, limit=limit)

    def count(self, filters: Mapping[str, Any] | None = None) -> int:
        """How many rows match ``filters``. Example: ``wb.users.count({"role": "analyst"})``"""
        with self._read() as repo:
            return int(repo.count(filters))

    def frame(self, filters: Mapping[str, Any] | None = None, *, sort: Any = None, limit: int = 1000) -> pd.DataFrame:
        """Matching rows as a DataFrame (at most ``limit``: use ``wb.stats`` for aggregates).

        Example: ``wb.audit.frame({"action": "config.set"}, sort="-id", limit=20)``
        """
        with self._read() as repo:
            return repo.frame(filters, sort=sort, limit=limit)


class Jobs(_Facade):
    """Scraping jobs. Example: ``wb.jobs.frame({"status": "failed"}, limit=20)``; ``wb.jobs.cancel(42)``."""

    repository = JobRepository

    def create(self, owner_id: int, name: str, target_url: str, **options: Any) -> Any:
        """Create a job (queued unless ``queue=False``); options as ``JobRepository.create``.

        Example: ``wb.jobs.create(owner_id=3, name="front page", target_url="https://example.com/")``
        """
        with self._write("jobs.create") as repo:
            return repo.create(owner_id, name, target_url, **options)

    def cancel(self, job_id: int) -> Any:
        """Cancel a pending, queued or running job."""
        with self._write("jobs.cancel") as repo:
            return repo.cancel(job_id)

    def retry(self, filters: Mapping[str, Any] | None = None, *, extra_attempts: int = 1) -> list[int]:
        """Re-queue failed jobs matching ``filters``; returns their ids. Example: ``wb.jobs.retry({"id": 7})``"""
        with self._write("jobs.retry") as repo:
            return list(repo.retry(filters, extra_attempts=extra_attempts))


class Artifacts(_Facade):
    """Stored artifacts. Example: ``wb.artifacts.metadata(7)``; ``wb.artifacts.download(7, "out/")``."""

    repository = ArtifactRepository

    def metadata(self, artifact_id: int) -> dict[str, Any]:
        """An artifact's metadata as a dict."""
        with self._read() as repo:
            return dict(repo.metadata(artifact_id))

    def find_by_metadata(self, key: str, value: Any, *, limit: int = 100) -> Any:
        """Artifacts whose metadata ``key`` equals ``value``."""
        with self._read() as repo:
            return repo.find_by_metadata(key, value, limit=limit)

    def store(self, job_id: int, source: Any, filename: str, **options: Any) -> Any:
        """Validate, upload and record an artifact of ``job_id`` (path, bytes or stream) in ``wb``'s store."""
        from stratlogic.storage import store_artifact

        self._writable("artifacts.store")
        with acting_as(self._wb.actor, origin=self._wb.origin):
            return store_artifact(self._wb.db, self._wb.store, job_id, source, filename, **options)

    def download(self, artifact_id: int, target: str | Path) -> Path:
        """Download an artifact to ``target`` (a file, or a folder: an existing one, or a name ending in ``/``,
        made if missing), checking its size and sha256; returns the file written.

        Example: ``wb.artifacts.download(7, "out/")`` writes ``out/<its filename>``.
        """
        from stratlogic.storage import download_artifact

        folder = Path(target)
        if isinstance(target, str) and target.endswith(("/", os.sep)):  # Path() drops the slash that says "folder"
            folder.mkdir(parents=True, exist_ok=True)
        return download_artifact(self._wb.db, self._wb.store, artifact_id, folder)

    def set_metadata(self, artifact_id: int, values: Mapping[str, Any]) -> None:
        """Set metadata keys on an artifact (audited)."""
        with self._write("artifacts.set_metadata") as repo:
            repo.set_metadata(artifact_id, values)


class Audit(_Facade):
    """The audit trail (read-only here). Example: ``wb.audit.trail("job", 42)``; ``wb.audit.verify().ok``."""

    repository = AuditRepository

    def trail(self, resource_type: str, resource_id: object, *, limit: int = 100) -> Any:
        """Everything recorded about one resource, oldest first. Example: ``wb.audit.trail("user", 3)``"""
        with self._read() as repo:
            return repo.trail(resource_type, resource_id, limit=limit)

    def tail(self) -> dict[str, Any] | None:
        """The newest row's id and hash (None for an empty trail)."""
        with self._wb.db.unit_of_work(readonly=True) as uow:
            row = uow.session.execute(select(AuditLog.id, AuditLog.hash).order_by(AuditLog.id.desc()).limit(1)).first()
        return None if row is None else {"id": int(row.id), "hash": str(row.hash)}

    def verify(self, **options: Any) -> Any:
        """Verify the whole chain (``VerifyReport``); never forks a notebook kernel."""
        from stratlogic.audit.verify import verify

        return verify(self._wb.db, **options)


class Users(_Facade):
    """Users. Example: ``wb.users.by_username("ada")``; ``wb.users.deactivate(3)``."""

    repository = UserRepository

    def by_username(self, username: str) -> Any:
        """The user with this username (case-insensitive)."""
        with self._read() as repo:
            return repo.by_username(username)

    def search(self, text: str | None = None, **filters: Any) -> Any:
        """Users whose name or email contains ``text``; ``role=``, ``active=`` as ``UserRepository.search``."""
        with self._read() as repo:
            return repo.search(text, **filters)

    def create(self, username: str, email: str, **options: Any) -> Any:
        """Create a user (``role=``, ``password=``, ...; a weak password is refused with the reasons)."""
        with self._write("users.create") as repo:
            return repo.create(username, email, **options)

    def activate(self, ident: Any) -> Any:
        """Activate a user."""
        with self._write("users.activate") as repo:
            return repo.activate(ident)

    def deactivate(self, ident: Any) -> Any:
        """Deactivate a user (users are never deleted once they acted)."""
        with self._write("users.deactivate") as repo:
            return repo.deactivate(ident)


class Config(_Facade):
    """System configuration. Example: ``wb.config.value("jobs.lease_seconds")``; ``wb.config.frame()``."""

    repository = ConfigRepository

    def value(self, key: str) -> Any:
        """A key's current value (its default when unset)."""
        with self._read() as repo:
            return repo.value(key)

    def entries(self) -> Sequence[ConfigEntry]:
        """Every declared key with its value, default, type and description (secrets masked)."""
        with self._read() as repo:
            return list(repo.entries())

    def set(self, key: str, value: Any) -> ConfigEntry:
        """Set a key (validated against its declared type; audited, secret values masked).

        Example: ``wb.config.set("jobs.lease_seconds", 120)``
        """
        with self._write("config.set") as repo:
            entry: ConfigEntry = repo.set(key, value, updated_by=self._wb.actor)
            return entry

    def unset(self, key: str) -> bool:
        """Return a key to its default."""
        with self._write("config.unset") as repo:
            return bool(repo.unset(key))


__all__ = ["Artifacts", "Audit", "Config", "Jobs", "ReadOnlyWorkbenchError", "Users"]
