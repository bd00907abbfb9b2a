"""The base seed: the first admin and the default system configuration, and nothing with a default password.

The admin's password comes from ``STRATLOGIC_ADMIN_PASSWORD`` (checked like any password) or is generated
with ``secrets``. A generated password is handed back to be shown once when a person is at a terminal;
otherwise (a notebook, papermill, CI) it goes to a file with mode 0600 and only the path is reported, so it
never lands in a saved notebook or an HTML report: ``var/admin-password.txt`` for the default SQLite file,
``var/admin-password-SLUG.txt`` for any other database, and never over an existing file.

Rows are written with the bulk writer at a given moment, so the demo seed can date them at the start of
its window; the admin is audited exactly as ``UserRepository.create`` records it. The configuration rows
hold the declared defaults, which changes no value, so they get no audit row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from stratlogic.config import DEFAULT_SQLITE_FILE, Settings, database_slug
from stratlogic.db import Database, UnitOfWork
from stratlogic.db.actor import current_actor
from stratlogic.errors import ConflictError, ValidationError
from stratlogic.models import AuditLog, SystemConfig, User, UserRole, utcnow
from stratlogic.models.audit_rules import MASK, AuditAction
from stratlogic.repositories import AuditTrail, ConfigRepository, UserRepository
from stratlogic.repositories.bulk import BulkWriter
from stratlogic.repositories.config import DECLARED
from stratlogic.security import WeakPasswordError, check_password_strength, generate_password, hash_password
from stratlogic.seed._rows import AUDIT_COLUMNS, MILLISECOND, Chain, jsonb, micros, stamp

ADMIN_USERNAME = "admin"
ADMIN_EMAIL = "admin@localhost.localdomain"
PASSWORD_FILE = Path("var") / "admin-password.txt"
USER_COLUMNS = ("id", "username", "email", "full_name", "role", "password_hash", "is_active", "is_verified",
                "created_at", "updated_at")
CONFIG_COLUMNS = ("key", "value", "description", "is_secret", "updated_by_id", "created_at", "updated_at")


@dataclass(frozen=True)
class BaseSeedResult:
    """What the base seed did. ``password`` is set only for a generated password to show once, now."""

    admin_id: int | None
    admin_created: bool
    config_keys: list[str]
    #: True: generated (shown once or filed); False: from STRATLOGIC_ADMIN_PASSWORD; None: no admin created.
    generated: bool | None = None
    password_file: Path | None = None
    password: SecretStr | None = field(default=None, repr=False)

    @property
    def nothing_to_do(self) -> bool:
        """True when the admin and every configuration key were already there."""
        return not self.admin_created and not self.config_keys


@dataclass(frozen=True)
class _Admin:
    password_hash: str
    generated: str | None


def seed_defaults(database: Database, *, interactive: bool = False) -> BaseSeedResult:
    """Create the first admin and the default configuration, if missing; dated now.

    Args:
        interactive: a person is at a terminal: a generated password is returned to be shown once.
            Otherwise it is written to this database's file (``password_file``, mode 0600) and only the
            path returned.

    Raises:
        ValidationError: ``STRATLOGIC_ADMIN_PASSWORD`` is too weak (the reasons are listed, never the value).
        ConflictError: a user named ``admin`` exists without the admin role.
    """
    result: BaseSeedResult | None = None
    try:
        with database.unit_of_work() as uow:
            trail = AuditTrail(uow)
            trail.lock()  # before the writer lifts the statement timeout: a lock wait stays bounded
            with BulkWriter(uow) as writer:
                chain = Chain(writer.reserve(AuditLog, 0), trail.tail_hash(), trail.key())
                result = write_defaults(uow, writer, chain, micros(utcnow()), interactive=interactive)
            writer.finish()
    except BaseException:
        discard_password_file(result)
        raise
    return result


def write_defaults(uow: UnitOfWork, writer: BulkWriter, chain: Chain, at: int, *,
                   interactive: bool) -> BaseSeedResult:
    """Queue the missing base rows, dated ``at`` (microseconds), in the caller's transaction.

    When the caller's transaction fails, it passes the result to ``discard_password_file``.
    """
    settings = uow.database.settings
    admin_id = _existing_admin(UserRepository(uow))
    keys = _missing_keys(ConfigRepository(uow))  # both read before anything is queued for the writer
    admin = None if admin_id is not None else _admin_password(settings)
    audit: list[tuple[Any, ...]] = []
    if admin is not None:
        admin_id = writer.reserve(User)
        row = _admin_row(admin_id, admin.password_hash, at)
        writer.write(User, USER_COLUMNS, [row])
        details = dict(current_actor().details(created_details(row)))  # + who ran it (the CLI's OS user and host)
        audit.append(chain.entry(at, None, AuditAction.USER_CREATED.value, "user", str(admin_id), details))
    moments = [at + (i + 1) * MILLISECOND for i in range(len(keys))]
    rows = [_config_row(key, t) for key, t in zip(keys, moments, strict=True)]
    writer.write(SystemConfig, CONFIG_COLUMNS, rows)  # each at its default: no change, so no audit row
    writer.write(AuditLog, AUDIT_COLUMNS, audit)
    generated = admin.generated if admin is not None else None
    path = write_password_file(settings, generated) if generated is not None and not interactive else None
    return BaseSeedResult(admin_id, admin is not None, keys, None if admin is None else generated is not None, path,
                          SecretStr(generated) if generated is not None and interactive else None)


def discard_password_file(result: BaseSeedResult | None) -> None:
    """Remove a password file written for an admin whose transaction did not commit."""
    if result is not None and result.password_file is not None:
        result.password_file.unlink(missing_ok=True)


def _existing_admin(users: UserRepository) -> int | None:
    found = users.list({"role": UserRole.ADMIN}, sort="id", limit=1)
    if found:
        return found[0].id
    if users.exists({"username": ADMIN_USERNAME}):
        raise ConflictError(f"user {ADMIN_USERNAME!r} exists without the admin role; give it the role or rename it",
                            field="username", value=repr(ADMIN_USERNAME))
    return None


def check_admin_password(settings: Settings) -> None:
    """Refuse a weak ``STRATLOGIC_ADMIN_PASSWORD`` before anything changes (``seed --reset`` asks first)."""
    if settings.admin_password is not None:
        try:
            check_password_strength(settings.admin_password.get_secret_value(), username=ADMIN_USERNAME,
                                    email=ADMIN_EMAIL)
        except WeakPasswordError as exc:
            raise ValidationError(f"STRATLOGIC_ADMIN_PASSWORD refused: it {'; it '.join(exc.reasons)}") from None


def _admin_password(settings: Settings) -> _Admin:
    """The admin's password hash: from STRATLOGIC_ADMIN_PASSWORD (checked), else a generated password."""
    if settings.admin_password is not None:
        check_admin_password(settings)
        hashed = hash_password(settings.admin_password.get_secret_value(), username=ADMIN_USERNAME, email=ADMIN_EMAIL)
        return _Admin(hashed, None)
    password = generate_password()
    return _Admin(hash_password(password, username=ADMIN_USERNAME, email=ADMIN_EMAIL), password)


def password_file(settings: Settings) -> Path:
    """Where this database's generated admin password goes: ``var/admin-password.txt`` for the default SQLite
    file, ``var/admin-password-SLUG.txt`` for any other database (``database_slug``: name and URL hash)."""
    if settings.backend == "sqlite" and Path(str(settings.url.database)) == settings.home / DEFAULT_SQLITE_FILE:
        return settings.home / PASSWORD_FILE
    return settings.home / PASSWORD_FILE.with_name(f"admin-password-{database_slug(settings.url)}.txt")


def write_password_file(settings: Settings, password: str) -> Path:
    """Write the password to this database's file (``password_file``), readable by its owner only.

    An existing file is never overwritten (it may hold another admin's only copy): the next free name
    (``…-2.txt``, ``…-3.txt``) is taken instead, and returned, so the caller can say where it went.
    """
    first = password_file(settings)
    first.parent.mkdir(parents=True, exist_ok=True)
    for number in range(1, 1000):
        path = first if number == 1 else first.with_name(f"{first.stem}-{number}{first.suffix}")
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        try:
            os.fchmod(descriptor, 0o600)  # whatever the umask
            os.write(descriptor, f"{password}\n".encode())
        finally:
            os.close(descriptor)
        return path
    raise ConflictError(f"{first} and 998 numbered copies exist: remove the ones you have stored elsewhere",
                        field="password_file", value=str(first))


def _admin_row(admin_id: int, password_hash: str, at: int) -> tuple[Any, ...]:
    return (admin_id, ADMIN_USERNAME, ADMIN_EMAIL, "Administrator", UserRole.ADMIN.value, password_hash, True, True,
            at, at)


def created_details(row: tuple[Any, ...]) -> dict[str, Any]:
    """What ``Repository.add`` records for a new user: its set columns (times as text), the hash masked."""
    values = {name: value for name, value in zip(USER_COLUMNS, row, strict=True) if value is not None}
    values["created_at"] = values["updated_at"] = stamp(values["created_at"])
    if "password_hash" in values:
        values["password_hash"] = MASK
    return {"values": values}


def _missing_keys(config: ConfigRepository) -> list[str]:
    present = {entry.key for entry in config.list(limit=config.max_limit)}
    return [key for key in sorted(DECLARED) if key not in present]


def _config_row(key: str, at: int) -> tuple[Any, ...]:
    spec = DECLARED[key]
    return (key, jsonb(spec.default), spec.description, spec.secret, None, at, at)


__all__ = ["ADMIN_EMAIL", "ADMIN_USERNAME", "PASSWORD_FILE", "BaseSeedResult", "check_admin_password",
           "discard_password_file", "password_file",
           "seed_defaults", "write_defaults", "write_password_file"]
