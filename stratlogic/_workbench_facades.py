"""The workbench's thin facades: ``wb.jobs``, ``wb.artifacts``, ``wb.audit``, ``wb.users``, ``wb.config``.

Each method calls one service entry point (``stratlogic.services``) with the workbench's database and its
actor named in the call itself: a ContextVar set in one cell is not reliably visible in the next under
ipykernel (issues #1457 and #749). Each service opens its own unit of work and closes it before returning,
so nothing holds a transaction open between notebook cells; rows come back detached, their columns loaded.
A read-only workbench refuses writes here, before any service runs (and its connections refuse them too).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from stratlogic.errors import StratLogicError

if TYPE_CHECKING:
    import pandas as pd

    from stratlogic.services.config import ConfigEntry
    from stratlogic.workbench import Workbench


class ReadOnlyWorkbenchError(StratLogicError):
    """A write was asked of a workbench opened with ``readonly=True``."""


class _Facade:
    """Shared reads of one table: ``get``, ``list``, ``count``, ``frame`` (``services.analytics`` row reads,
    unless the table's own service offers them)."""

    table: ClassVar[str]

    def __init__(self, workbench: Workbench) -> None:
        self._wb = workbench

    def _writable(self, what: str) -> None:
        if self._wb.readonly:
            raise ReadOnlyWorkbenchError(f"{what} refused: this workbench was opened read-only "
                                         "(stratlogic.open(readonly=False) to change data)")

    def get(self, ident: Any) -> Any:
        """One row by id; NotFoundError naming it when there is none. Example: ``wb.jobs.get(42).status``"""
        from stratlogic.services import analytics

        return analytics.row(self._wb.db, self.table, ident, actor=self._wb.acting)

    def list(self, filters: Mapping[str, Any] | None = None, *, sort: Any = None, limit: int = 50) -> Any:
        """Rows matching ``filters``, at most ``limit``. Example: ``wb.jobs.list({"status": "failed"}, limit=5)``"""
        from stratlogic.services import analytics

        return analytics.rows(self._wb.db, self.table, filters, sort=sort, limit=limit, actor=self._wb.acting)

    def count(self, filters: Mapping[str, Any] | None = None) -> int:
        """How many rows match ``filters``. Example: ``wb.users.count({"role": "analyst"})``"""
        from stratlogic.services import analytics

        return analytics.row_count(self._wb.db, self.table, filters, actor=self._wb.acting)

    def frame(self, filters: Mapping[str, Any] | None = None, *, sort: Any = None, limit: int = 1000) -> pd.DataFrame:
        """Matching rows as a DataFrame (at most ``limit``: use ``wb.stats`` for aggregates).

        Example: ``wb.audit.frame({"action": "config.set"}, sort="-id", limit=20)``
        """
        from stratlogic.services import analytics

        return analytics.row_frame(self._wb.db, self.table, filters, sort=sort, limit=limit, actor=self._wb.acting)


class Jobs(_Facade):
    """Scraping jobs. Example: ``wb.jobs.frame({"status": "failed"}, limit=20)``; ``wb.jobs.cancel(42)``."""

    table = "jobs"

    def get(self, ident: Any) -> Any:
        """One job by id; NotFoundError naming it when there is none. Example: ``wb.jobs.get(42).status``"""
        from stratlogic.services import jobs

        return jobs.get(self._wb.db, ident, actor=self._wb.acting)

    def list(self, filters: Mapping[str, Any] | None = None, *, sort: Any = None, limit: int = 50) -> Any:
        """Jobs matching ``filters``, at most ``limit``. Example: ``wb.jobs.list({"status": "failed"}, limit=5)``"""
        from stratlogic.services import jobs

        return jobs.find(self._wb.db, filters, sort=sort, limit=limit, actor=self._wb.acting)

    def count(self, filters: Mapping[str, Any] | None = None) -> int:
        """How many jobs match ``filters``. Example: ``wb.jobs.count({"status": "queued"})``"""
        from stratlogic.services import jobs

        return jobs.count(self._wb.db, filters, actor=self._wb.acting)

    def frame(self, filters: Mapping[str, Any] | None = None, *, sort: Any = None, limit: int = 1000) -> pd.DataFrame:
        """Matching jobs as a DataFrame (at most ``limit``). Example: ``wb.jobs.frame({"status": "failed"})``"""
        from stratlogic.services import jobs

        return jobs.frame(self._wb.db, filters, sort=sort, limit=limit, actor=self._wb.acting)

    def create(self, owner_id: int, name: str, target_url: str, **options: Any) -> Any:
        """Create a job (queued unless ``queue=False``); options as ``JobRepository.create``.

        Example: ``wb.jobs.create(owner_id=3, name="front page", target_url="https://example.com/")``
        """
        from stratlogic.services import jobs

        self._writable("jobs.create")
        return jobs.create(self._wb.db, owner_id, name, target_url, actor=self._wb.acting, **options)

    def cancel(self, job_id: int) -> Any:
        """Cancel a pending, queued or running job."""
        from stratlogic.services import jobs

        self._writable("jobs.cancel")
        return jobs.cancel(self._wb.db, job_id, actor=self._wb.acting)

    def retry(self, filters: Mapping[str, Any] | None = None, *, all_failed: bool = False,
              extra_attempts: int = 1) -> builtins.list[int]:
        """Re-queue failed jobs matching ``filters`` (``all_failed=True``: every failed job); returns their ids.

        Example: ``wb.jobs.retry({"id": 7})``; a retry naming no jobs is refused, as ``stratlogic jobs retry`` is.
        """
        from stratlogic.services import jobs

        self._writable("jobs.retry")
        return jobs.retry(self._wb.db, filters, all_failed=all_failed, extra_attempts=extra_attempts,
                          actor=self._wb.acting)


class Artifacts(_Facade):
    """Stored artifacts. Example: ``wb.artifacts.metadata(7)``; ``wb.artifacts.download(7, "out/")``."""

    table = "artifacts"

    def get(self, ident: Any) -> Any:
        """One artifact's row by id; NotFoundError naming it when there is none."""
        from stratlogic.services import artifacts

        return artifacts.get(self._wb.db, ident, actor=self._wb.acting)

    def list(self, filters: Mapping[str, Any] | None = None, *, sort: Any = None, limit: int = 50) -> Any:
        """Artifacts matching ``filters``, at most ``limit``. Example: ``wb.artifacts.list({"job_id": 3})``"""
        from stratlogic.services import artifacts

        return artifacts.find(self._wb.db, filters, sort=sort, limit=limit, actor=self._wb.acting)

    def count(self, filters: Mapping[str, Any] | None = None) -> int:
        """How many artifacts match ``filters``."""
        from stratlogic.services import artifacts

        return artifacts.count(self._wb.db, filters, actor=self._wb.acting)

    def frame(self, filters: Mapping[str, Any] | None = None, *, sort: Any = None, limit: int = 1000) -> pd.DataFrame:
        """Matching artifacts as a DataFrame (at most ``limit``)."""
        from stratlogic.services import artifacts

        return artifacts.frame(self._wb.db, filters, sort=sort, limit=limit, actor=self._wb.acting)

    def metadata(self, artifact_id: int) -> dict[str, Any]:
        """An artifact's metadata as a dict."""
        from stratlogic.services import artifacts

        return artifacts.metadata(self._wb.db, artifact_id, actor=self._wb.acting)

    def find_by_metadata(self, key: str, value: Any, *, limit: int = 100) -> Any:
        """Artifacts whose metadata ``key`` equals ``value``."""
        from stratlogic.services import artifacts

        return artifacts.find_by_metadata(self._wb.db, key, value, limit=limit, actor=self._wb.acting)

    def store(self, job_id: int, source: Any, filename: str, **options: Any) -> Any:
        """Validate, upload and record an artifact of ``job_id`` (path, bytes or stream) in ``wb``'s store;
        ``content_type=``, ``metadata=``."""
        from stratlogic.services import artifacts

        self._writable("artifacts.store")
        return artifacts.put(self._wb.db, job_id, source, filename, actor=self._wb.acting, store=self._wb.chosen_store,
                             **options)

    def download(self, artifact_id: int, target: str | Path) -> Path:
        """Download an artifact to ``target`` (a file, or a folder: an existing one, or a name ending in ``/``,
        made if missing), checking its size and sha256; returns the file written.

        Example: ``wb.artifacts.download(7, "out/")`` writes ``out/<its filename>``.
        """
        from stratlogic.services import artifacts

        return artifacts.download(self._wb.db, artifact_id, target, actor=self._wb.acting,
                                  store=self._wb.chosen_store)

    def set_metadata(self, artifact_id: int, values: Mapping[str, Any]) -> None:
        """Set metadata keys on an artifact (audited)."""
        from stratlogic.services import artifacts

        self._writable("artifacts.set_metadata")
        artifacts.set_metadata(self._wb.db, artifact_id, values, actor=self._wb.acting)


class Audit(_Facade):
    """The audit trail (read-only here). Example: ``wb.audit.trail("job", 42)``; ``wb.audit.verify().ok``."""

    table = "audit"

    def trail(self, resource_type: str, resource_id: object, *, limit: int = 100) -> Any:
        """Everything recorded about one resource, oldest first. Example: ``wb.audit.trail("user", 3)``"""
        from stratlogic.services import audit

        return audit.trail(self._wb.db, resource_type, resource_id, limit=limit, actor=self._wb.acting)

    def tail(self) -> dict[str, Any] | None:
        """The newest row's id and hash (None for an empty trail)."""
        from stratlogic.services import analytics

        return analytics.audit_tail(self._wb.db, actor=self._wb.acting)

    def verify(self, **options: Any) -> Any:
        """Verify the whole chain (``VerifyReport``; ``checkpoint=``, ``workers=``); never forks a notebook kernel."""
        from stratlogic.services import audit

        return audit.verify(self._wb.db, actor=self._wb.acting, **options)


class Users(_Facade):
    """Users. Example: ``wb.users.by_username("ada")``; ``wb.users.deactivate(3)``."""

    table = "users"

    def get(self, ident: Any) -> Any:
        """One user by id; NotFoundError naming it when there is none."""
        from stratlogic.services import users

        return users.get(self._wb.db, ident, actor=self._wb.acting)

    def list(self, filters: Mapping[str, Any] | None = None, *, sort: Any = None, limit: int = 50) -> Any:
        """Users matching ``filters``, at most ``limit``. Example: ``wb.users.list({"role": "analyst"})``"""
        from stratlogic.services import users

        return users.list_users(self._wb.db, filters, sort=sort, limit=limit, actor=self._wb.acting)

    def count(self, filters: Mapping[str, Any] | None = None) -> int:
        """How many users match ``filters``. Example: ``wb.users.count({"role": "analyst"})``"""
        from stratlogic.services import users

        return users.count(self._wb.db, filters, actor=self._wb.acting)

    def frame(self, filters: Mapping[str, Any] | None = None, *, sort: Any = None, limit: int = 1000) -> pd.DataFrame:
        """Matching users as a DataFrame (never their password hashes), at most ``limit``."""
        from stratlogic.services import users

        return users.frame(self._wb.db, filters, sort=sort, limit=limit, actor=self._wb.acting)

    def by_username(self, username: str) -> Any:
        """The user with this username (case-insensitive)."""
        from stratlogic.services import users

        return users.by_username(self._wb.db, username, actor=self._wb.acting)

    def search(self, text: str | None = None, **filters: Any) -> Any:
        """Users whose name or email contains ``text``; ``role=``, ``active=``, ``limit=``."""
        from stratlogic.services import users

        return users.search(self._wb.db, text, actor=self._wb.acting, **filters)

    def create(self, username: str, email: str, **options: Any) -> Any:
        """Create a user (``role=``, ``password=``, ...; a weak password is refused with the reasons)."""
        from stratlogic.services import users

        self._writable("users.create")
        return users.create(self._wb.db, username, email, actor=self._wb.acting, **options)

    def update(self, ident: Any, **changes: Any) -> Any:
        """Change profile fields: ``full_name``, ``email``, ``role``, ``is_verified``. Example:
        ``wb.users.update(3, role="analyst")``"""
        from stratlogic.services import users

        self._writable("users.update")
        return users.update(self._wb.db, ident, actor=self._wb.acting, **changes)

    def activate(self, ident: Any) -> Any:
        """Activate a user."""
        from stratlogic.services import users

        self._writable("users.activate")
        return users.activate(self._wb.db, ident, actor=self._wb.acting)

    def deactivate(self, ident: Any) -> Any:
        """Deactivate a user (users are never deleted once they acted)."""
        from stratlogic.services import users

        self._writable("users.deactivate")
        return users.deactivate(self._wb.db, ident, actor=self._wb.acting)


class Config(_Facade):
    """System configuration. Example: ``wb.config.value("jobs.lease_seconds")``; ``wb.config.frame()``."""

    table = "config"

    def value(self, key: str) -> Any:
        """A key's current value (its default when unset; a secret key's masked, as ``config get`` shows it)."""
        from stratlogic.services import config

        return config.get(self._wb.db, key, actor=self._wb.acting).value

    def entries(self) -> Sequence[ConfigEntry]:
        """Every declared key with its value, default, type and description (secrets masked)."""
        from stratlogic.services import config

        return config.list_entries(self._wb.db, actor=self._wb.acting)

    def set(self, key: str, value: Any) -> ConfigEntry:
        """Set a key (validated against its declared type; audited, secret values masked).

        Example: ``wb.config.set("jobs.lease_seconds", 120)``
        """
        from stratlogic.services import config

        self._writable("config.set")
        return config.set(self._wb.db, key, value, actor=self._wb.acting)

    def unset(self, key: str) -> bool:
        """Return a key to its default."""
        from stratlogic.services import config

        self._writable("config.unset")
        return config.unset(self._wb.db, key, actor=self._wb.acting)


__all__ = ["Artifacts", "Audit", "Config", "Jobs", "ReadOnlyWorkbenchError", "Users"]
