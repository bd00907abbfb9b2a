"""The package's exceptions: one root, a few meaningful branches.

Every message names the bad value and, where it helps, what would have been accepted. Details stay on
the exception as attributes so callers (CLI, notebooks, tests) never parse the text.
"""

from __future__ import annotations

from collections.abc import Iterable


class StratLogicError(Exception):
    """Root of every error the package raises on purpose."""


class ConfigError(StratLogicError, ValueError):
    """A setting has a bad value; the message names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable, self.problem = variable, problem
        super().__init__(f"{variable}: {problem}")


class DatabaseError(StratLogicError):
    """Something went wrong talking to the database."""


class DatabaseUnavailableError(DatabaseError):
    """The database cannot be reached (refused, silent, or dropped the connection)."""


class NotMigratedError(DatabaseError):
    """A table the package needs is missing: the database was never migrated, or is not a StratLogic one."""


class DatabaseBusyError(DatabaseError):
    """A lock or statement timeout ran out: another writer held what this one needed for too long."""


class PoolExhaustedError(DatabaseError):
    """Every pooled connection is in use and none came free in time."""

    def __init__(self, pool_size: int, max_overflow: int, timeout: float) -> None:
        self.pool_size, self.max_overflow, self.timeout = pool_size, max_overflow, timeout
        super().__init__(
            f"connection pool exhausted: all {pool_size + max_overflow} connections "
            f"(pool_size={pool_size}, max_overflow={max_overflow}) stayed busy for {timeout:g}s; "
            "close sessions you no longer need or raise STRATLOGIC_POOL_SIZE"
        )


class MigrationError(StratLogicError):
    """A migration command was refused or failed."""


class SchemaDriftError(MigrationError):
    """The models and the migrations disagree, or the migrations have several heads."""

    def __init__(self, differences: list[str]) -> None:
        self.differences = differences
        listed = "\n  ".join(differences)
        super().__init__(f"{len(differences)} difference(s) between models and migrations:\n  {listed}")


class NotFoundError(StratLogicError, LookupError):
    """A row that was asked for by key does not exist."""


class ConflictError(StratLogicError):
    """A write would break a unique or foreign-key rule; ``field``/``value`` name the clash when known."""

    def __init__(self, message: str, *, field: str | None = None, value: str | None = None) -> None:
        self.field, self.value = field, value
        super().__init__(message)


class InvalidTransitionError(StratLogicError):
    """A job was asked to move between statuses the state machine does not allow; nothing changed."""

    def __init__(self, job_id: int, current: str, target: str, allowed: Iterable[str],
                 reason: str | None = None) -> None:
        self.job_id, self.current, self.target = job_id, current, target
        self.allowed = sorted(allowed)
        why = reason or f"allowed from {current}: {', '.join(self.allowed) or 'none (final status)'}"
        super().__init__(f"job {job_id}: cannot go {current} -> {target}; {why}")


class ConcurrentUpdateError(StratLogicError):
    """Another writer changed the row first (optimistic locking); re-read it and decide again."""


class ValidationError(StratLogicError, ValueError):
    """A value given to the package is not acceptable."""


class ArtifactRejectedError(ValidationError):
    """An artifact failed validation before anything was stored; ``reason`` says which rule refused it.

    Reasons: ``empty``, ``too_large``, ``content_type`` (not allowed), ``type_mismatch`` (the content is not
    what was declared), ``filename``, ``metadata``.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class InvalidKeyError(ValidationError):
    """An object key that could escape the store's root or is otherwise not acceptable."""

    def __init__(self, key: str, problem: str) -> None:
        self.key, self.problem = key, problem
        super().__init__(f"object key {key!r} refused: {problem}")


class StorageError(StratLogicError):
    """The artifact store refused or failed an operation; the message names the bucket and key."""


class StorageUnavailableError(StorageError):
    """The artifact store cannot be reached (refused, silent, or dropped the connection)."""


class StorageAuthError(StorageError):
    """The artifact store refused the credentials or the access (credentials are never shown)."""


class ObjectNotFoundError(StorageError, NotFoundError):
    """The object asked for by key does not exist in the store."""


class ChecksumMismatchError(StorageError):
    """An object's content does not match the size and sha256 recorded for its artifact."""

    def __init__(self, artifact_id: int, key: str, expected: str, actual: str) -> None:
        self.artifact_id, self.key, self.expected, self.actual = artifact_id, key, expected, actual
        super().__init__(f"artifact {artifact_id} ({key!r}) is corrupt: recorded {expected}, read {actual}")


class InvalidFilterError(ValidationError):
    """An unknown filter/sort field or operator, or a value of the wrong type."""

    def __init__(self, message: str, *, field: str, allowed: Iterable[str]) -> None:
        self.field = field
        self.allowed = sorted(allowed)
        super().__init__(f"{message}; allowed: {', '.join(self.allowed)}")


__all__ = [
    "ArtifactRejectedError",
    "ChecksumMismatchError",
    "ConcurrentUpdateError",
    "ConfigError",
    "ConflictError",
    "DatabaseBusyError",
    "DatabaseError",
    "DatabaseUnavailableError",
    "InvalidFilterError",
    "InvalidKeyError",
    "InvalidTransitionError",
    "MigrationError",
    "NotFoundError",
    "NotMigratedError",
    "ObjectNotFoundError",
    "PoolExhaustedError",
    "SchemaDriftError",
    "StorageAuthError",
    "StorageError",
    "StorageUnavailableError",
    "StratLogicError",
    "ValidationError",
]
