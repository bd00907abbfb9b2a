"""Closed sets of values stored in the database (as strings with CHECK constraints)."""

from __future__ import annotations

import enum


class UserRole(enum.StrEnum):
    """What a user may do; later issues map each role to PostgreSQL privileges and permissions."""

    ADMIN = "admin"
    OPERATOR = "operator"
    ANALYST = "analyst"
    VIEWER = "viewer"


class JobStatus(enum.StrEnum):
    """Where a scraping job is in its life; the allowed moves live in ``models.job.TRANSITIONS``."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


__all__ = ["JobStatus", "UserRole"]
