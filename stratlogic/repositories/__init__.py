"""Every read and write of rows: one repository per table, over a unit of work."""

from __future__ import annotations

from dataclasses import dataclass

from stratlogic.db.session import UnitOfWork
from stratlogic.repositories.artifacts import ArtifactRepository, KeyCoverage, MetadataRepository
from stratlogic.repositories.base import Page, Repository
from stratlogic.repositories.config import ConfigEntry, ConfigRepository
from stratlogic.repositories.users import UserRepository, UserStats


@dataclass(frozen=True)
class Repos:
    """The repositories of one unit of work, for notebooks: ``r = Repos.of(uow); r.users.create(...)``."""

    users: UserRepository
    config: ConfigRepository
    artifacts: ArtifactRepository

    @classmethod
    def of(cls, uow: UnitOfWork) -> Repos:
        """Build every repository over ``uow``."""
        return cls(UserRepository(uow), ConfigRepository(uow), ArtifactRepository(uow))


__all__ = ["ArtifactRepository", "ConfigEntry", "ConfigRepository", "KeyCoverage", "MetadataRepository", "Page",
           "Repos", "Repository", "UserRepository", "UserStats"]
