"""Every read and write of rows: one repository per table, over a unit of work."""

from __future__ import annotations

from dataclasses import dataclass

from stratlogic.db.session import UnitOfWork
from stratlogic.repositories.artifacts import ArtifactRepository, MetadataRepository
from stratlogic.repositories.audit import AuditRepository
from stratlogic.repositories.base import Page, Repository, TruncatedFrameWarning
from stratlogic.repositories.config import ConfigEntry, ConfigRepository
from stratlogic.repositories.jobs import JobRepository
from stratlogic.repositories.trail import AuditEntry, AuditTrail, Pruned, TrailEnd
from stratlogic.repositories.users import UserRepository


@dataclass(frozen=True)
class Repos:
    """The repositories of one unit of work, for notebooks: ``r = Repos.of(uow); r.users.create(...)``."""

    users: UserRepository
    config: ConfigRepository
    artifacts: ArtifactRepository
    jobs: JobRepository
    audit: AuditRepository
    trail: AuditTrail

    @classmethod
    def of(cls, uow: UnitOfWork) -> Repos:
        """Build every repository over ``uow``."""
        return cls(UserRepository(uow), ConfigRepository(uow), ArtifactRepository(uow), JobRepository(uow),
                   AuditRepository(uow), AuditTrail(uow))


__all__ = ["ArtifactRepository", "AuditEntry", "AuditRepository", "AuditTrail", "ConfigEntry", "ConfigRepository",
           "JobRepository", "MetadataRepository", "Page", "Pruned", "Repos", "Repository", "TrailEnd",
           "TruncatedFrameWarning", "UserRepository"]
