"""Tables, constraints, enumerations and state-machine rules: the bottom layer above ``db``."""

from stratlogic.models.artifact import Artifact, ArtifactMetadata
from stratlogic.models.audit import AuditLog, AuditPruneWindow
from stratlogic.models.base import NAMING_CONVENTION, Base, UTCDateTime, utcnow
from stratlogic.models.config import SystemConfig
from stratlogic.models.enums import JobStatus, UserRole
from stratlogic.models.job import TRANSITIONS, ScrapingJob
from stratlogic.models.user import User

__all__ = [
    "NAMING_CONVENTION",
    "TRANSITIONS",
    "Artifact",
    "ArtifactMetadata",
    "AuditLog",
    "AuditPruneWindow",
    "Base",
    "JobStatus",
    "ScrapingJob",
    "SystemConfig",
    "UTCDateTime",
    "User",
    "UserRole",
    "utcnow",
]
