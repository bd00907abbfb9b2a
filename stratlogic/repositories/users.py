"""Users: creation with a strong password or none, login, (de)activation, search and statistics.

Usernames and emails are canonicalised here (lower-cased, trimmed, usernames ASCII only) before they
reach the database: that, not SQLite's ASCII-only ``lower()``, is what makes them case-insensitive and
unique on both engines. Password hashes never leave this module in a repr, a log, an error or a frame.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import select

from stratlogic.errors import NotFoundError, ValidationError
from stratlogic.models import User, UserRole, utcnow
from stratlogic.models.audit_rules import AuditAction
from stratlogic.repositories.base import Filters, Repository
from stratlogic.security import hash_password, needs_rehash, rehash_verified, verify_password

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def canonical_username(username: str) -> str:
    """The stored form of a username; raises ValidationError naming the value when it is not acceptable."""
    canonical = username.strip().lower() if isinstance(username, str) else ""
    if not USERNAME.fullmatch(canonical):
        raise ValidationError(f"username {username!r} is not valid: use 3-64 of a-z, 0-9, '.', '_', '-', "
                              "starting with a letter or digit")
    return canonical


def canonical_email(email: str) -> str:
    """The stored form of an email address (trimmed, lower-cased)."""
    canonical = email.strip().lower() if isinstance(email, str) else ""
    if len(canonical) > 320 or not EMAIL.fullmatch(canonical):
        raise ValidationError(f"email {email!r} is not a valid address")
    return canonical


def _canonical_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of user values with its username, email and role as ``create`` would store them."""
    values = dict(row)
    if "username" in values:
        values["username"] = canonical_username(values["username"])
    if "email" in values:
        values["email"] = canonical_email(values["email"])
    if "role" in values:
        values["role"] = _role(values["role"])
    return values


class UserRepository(Repository[User]):
    """Users, with the rules for names, passwords and activation."""

    model = User
    resource = "user"
    filterable = ("id", "username", "email", "full_name", "role", "is_active", "is_verified", "last_login_at",
                  "created_at")
    sortable = ("id", "username", "email", "role", "created_at", "last_login_at")
    writable = ("full_name", "email", "role", "is_active", "is_verified")
    hidden: ClassVar[frozenset[str]] = frozenset({"password_hash"})
    default_sort = ("username",)
    actions: ClassVar[Mapping[str, AuditAction]] = {"created": AuditAction.USER_CREATED,
                                                     "updated": AuditAction.USER_UPDATED,
                                                     "deleted": AuditAction.USER_DELETED}

    def create(self, username: str, email: str, *, role: UserRole | str = UserRole.VIEWER,
               password: str | None = None, full_name: str | None = None, is_verified: bool = False) -> User:
        """Create a user; with ``password=None`` the user has no usable password and cannot log in.

        Raises:
            ValidationError: bad username/email/role, or a weak password (with the reasons).
            ConflictError: the username or email is taken (case-insensitively).
        """
        name, address = canonical_username(username), canonical_email(email)
        password_hash = None
        if password is not None:  # hash_password refuses a weak password, listing the reasons
            password_hash = hash_password(password, username=name, email=address)
        user = User(username=name, email=address, role=_role(role), full_name=full_name,
                    password_hash=password_hash, is_verified=is_verified)
        return self.add(user)

    def update(self, ident: Any, **changes: Any) -> User:
        """Change profile fields; emails and roles are validated like on create."""
        if "email" in changes:
            changes["email"] = canonical_email(changes["email"])
        if "role" in changes:
            changes["role"] = _role(changes["role"])
        self._check_columns(changes.keys(), set(self.writable))
        action = AuditAction.USER_ROLE_CHANGED if "role" in changes else AuditAction.USER_UPDATED
        return self._change(ident, changes, action)

    # The generic bulk writes go through the same rules as create/update: otherwise 'ada ' could sit next
    # to 'ada', and an email that is not one could be stored.
    def add_many(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert many users (names and emails checked and canonicalised as by ``create``)."""
        return super().add_many([_canonical_row(row) for row in rows])

    def upsert_many(self, rows: Sequence[Mapping[str, Any]], *, conflict: Sequence[str],
                    update_fields: Sequence[str] | None = None) -> list[int]:
        """Insert or update users (names and emails checked and canonicalised as by ``create``)."""
        return super().upsert_many([_canonical_row(row) for row in rows], conflict=conflict,
                                   update_fields=update_fields)

    def update_where(self, filters: Filters, **changes: Any) -> int:
        """Change writable fields of every matching user (emails and roles checked as by ``update``)."""
        self._check_columns(changes.keys(), set(self.writable))  # unwritable fields are named first
        return super().update_where(filters, **_canonical_row(changes))

    def by_username(self, username: str) -> User:
        """The user with this username, in any letter case."""
        found = self.session.scalar(select(User).where(User.username == username.strip().lower()))
        if found is None:
            raise NotFoundError(f"user {username!r} not found")
        return found

    def by_email(self, email: str) -> User:
        """The user with this email address, in any letter case."""
        found = self.session.scalar(select(User).where(User.email == email.strip().lower()))
        if found is None:
            raise NotFoundError(f"no user with email {email!r}")
        return found

    def search(self, text: str | None = None, *, role: UserRole | str | None = None,
               active: bool | None = None, limit: int = 50) -> list[User]:
        """Users whose username, email or name contains ``text`` (any case), optionally by role/activity."""
        filters: dict[str, Any] = {}
        if role is not None:
            filters["role"] = role
        if active is not None:
            filters["is_active"] = active
        if not text:
            return self.list(filters, limit=limit)
        seen: dict[int, User] = {}
        for name in ("username", "email", "full_name"):
            for user in self.list({**filters, f"{name}__contains": text}, limit=limit):
                seen.setdefault(user.id, user)
        return sorted(seen.values(), key=lambda u: u.username)[:limit]

    def set_password(self, ident: Any, password: str | None) -> None:
        """Set (or, with None, remove) a user's password after checking its strength."""
        user = self.get(ident)
        if password is None:
            user.password_hash = None
        else:
            user.password_hash = hash_password(password, username=user.username, email=user.email)
        self.session.flush()
        self._record(AuditAction.USER_PASSWORD_CHANGED,
                     [(user.id, {"password": "removed" if password is None else "set"})])

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user whose password matches, recording the login; None otherwise (never says why).

        The password is always run through argon2 (against a dummy hash for an unknown user or one without
        password) and activity is checked only afterwards, so the time taken does not reveal which users
        exist. A hash made with older argon2 parameters is replaced by one with the current parameters.
        """
        user = self.session.scalar(select(User).where(User.username == username.strip().lower()))
        matches = verify_password(user.password_hash if user is not None else None, password)
        if user is None or not matches or not user.is_active:
            return None
        rehashed = bool(user.password_hash and needs_rehash(user.password_hash))
        if rehashed:
            user.password_hash = rehash_verified(password)
        user.last_login_at = utcnow()
        self.session.flush()
        self._record(AuditAction.USER_LOGGED_IN, [(user.id, {"rehashed": rehashed})])
        return user

    def activate(self, ident: Any) -> User:
        """Let the user log in again."""
        return self._change(ident, {"is_active": True}, AuditAction.USER_ACTIVATED)

    def deactivate(self, ident: Any) -> User:
        """Stop the user from logging in (users who own jobs or appear in the audit trail are never deleted)."""
        return self._change(ident, {"is_active": False}, AuditAction.USER_DEACTIVATED)

    def mark_verified(self, ident: Any) -> User:
        """Record that the user's email address was verified."""
        return self._change(ident, {"is_verified": True}, AuditAction.USER_VERIFIED)

    def record_login(self, ident: Any, when: datetime | None = None) -> User:
        """Record a successful login."""
        return self._change(ident, {"last_login_at": when or utcnow()}, AuditAction.USER_LOGGED_IN)


def _role(role: UserRole | str) -> UserRole:
    try:
        return UserRole(role)
    except ValueError:
        allowed = ", ".join(r.value for r in UserRole)
        raise ValidationError(f"role {role!r} is not valid; allowed: {allowed}") from None


__all__ = ["UserRepository", "canonical_email", "canonical_username"]
