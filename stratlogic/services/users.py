"""Users: reads, creation, profile changes and (de)activation, each one entry point with an explicit actor.

The rules (canonical usernames and emails, password strength, roles) live in ``UserRepository``; this module
is where a face (the workbench's ``wb.users``, a future ``stratlogic users`` command) starts a user change, so
the actor of every change is the one the caller names. Rows come back detached with their columns loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stratlogic.db import Database
from stratlogic.db.actor import Actor
from stratlogic.models import User, UserRole
from stratlogic.repositories import UserRepository
from stratlogic.services._base import entry, unit

if TYPE_CHECKING:
    import pandas as pd

Filters = Mapping[str, Any] | None


@entry("users.get", writes=False)
def get(database: Database, ident: Any, *, actor: Actor) -> User:
    """The user with this id; NotFoundError naming it when there is none."""
    with unit(database, actor, readonly=True) as uow:
        return UserRepository(uow).get(ident)


@entry("users.by_username", writes=False)
def by_username(database: Database, username: str, *, actor: Actor) -> User:
    """The user with this username, in any letter case; NotFoundError naming it when there is none."""
    with unit(database, actor, readonly=True) as uow:
        return UserRepository(uow).by_username(username)


@entry("users.list", writes=False)
def list_users(database: Database, filters: Filters = None, *, actor: Actor, sort: Any = None, limit: int = 50,
               labels: Mapping[str, str] | None = None) -> list[User]:
    """Users matching ``filters`` (``{"role": "analyst"}``), at most ``limit``; bad filters are named as the
    caller spells them (``labels``: filter name -> the caller's flag)."""
    UserRepository.check_filters(filters, labels=labels)
    with unit(database, actor, readonly=True) as uow:
        return UserRepository(uow).list(filters, sort=sort, limit=limit)


@entry("users.count", writes=False)
def count(database: Database, filters: Filters = None, *, actor: Actor,
          labels: Mapping[str, str] | None = None) -> int:
    """How many users match ``filters``."""
    UserRepository.check_filters(filters, labels=labels)
    with unit(database, actor, readonly=True) as uow:
        return UserRepository(uow).count(filters)


@entry("users.frame", writes=False)
def frame(database: Database, filters: Filters = None, *, actor: Actor, sort: Any = None,
          limit: int | None = None, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Matching users as a DataFrame (never their password hashes); at most ``limit`` (default 1000)."""
    UserRepository.check_filters(filters, labels=labels)
    with unit(database, actor, readonly=True) as uow:
        return UserRepository(uow).frame(filters, sort=sort, limit=limit)


@entry("users.search", writes=False)
def search(database: Database, text: str | None = None, *, actor: Actor, role: UserRole | str | None = None,
           active: bool | None = None, limit: int = 50) -> list[User]:
    """Users whose username, email or name contains ``text`` (any case), optionally by role and activity."""
    with unit(database, actor, readonly=True) as uow:
        return UserRepository(uow).search(text, role=role, active=active, limit=limit)


@entry("users.create", writes=True)
def create(database: Database, username: str, email: str, *, actor: Actor, role: UserRole | str = UserRole.VIEWER,
           password: str | None = None, full_name: str | None = None, is_verified: bool = False) -> User:
    """Create a user (no password: cannot log in); a weak password is refused with the reasons.

    Raises:
        ValidationError: bad username, email or role, or a weak password.
        ConflictError: the username or email is taken (in any letter case).
    """
    with unit(database, actor) as uow:
        return UserRepository(uow).create(username, email, role=role, password=password, full_name=full_name,
                                          is_verified=is_verified)


@entry("users.update", writes=True)
def update(database: Database, ident: Any, *, actor: Actor, **changes: Any) -> User:
    """Change profile fields (``full_name``, ``email``, ``role``, ``is_verified``); a role change is audited as one."""
    with unit(database, actor) as uow:
        return UserRepository(uow).update(ident, **changes)


@entry("users.set_password", writes=True)
def set_password(database: Database, ident: Any, password: str | None, *, actor: Actor) -> None:
    """Set a user's password after checking its strength (None removes it: the user cannot log in)."""
    with unit(database, actor) as uow:
        UserRepository(uow).set_password(ident, password)


@entry("users.activate", writes=True)
def activate(database: Database, ident: Any, *, actor: Actor) -> User:
    """Let the user log in again."""
    with unit(database, actor) as uow:
        return UserRepository(uow).activate(ident)


@entry("users.deactivate", writes=True)
def deactivate(database: Database, ident: Any, *, actor: Actor) -> User:
    """Stop the user from logging in (users are never deleted once they acted: the trail names them)."""
    with unit(database, actor) as uow:
        return UserRepository(uow).deactivate(ident)


__all__ = ["activate", "by_username", "count", "create", "deactivate", "frame", "get", "list_users", "search",
           "set_password", "update"]
