"""Who is acting: a context variable, so the CLI, notebooks and workers record the actor of every change
without passing a user through every call.

    with acting_as(admin):            # or a user id; ip and user agent when known
        users.deactivate(42)          # the audit row names admin as the actor
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from stratlogic.errors import ValidationError


class HasId(Protocol):
    """Anything with an integer id (a User row)."""

    id: int


@dataclass(frozen=True)
class Actor:
    """The acting user (None: the system itself) and, when known, where the request came from."""

    user_id: int | None = None
    ip_address: str | None = None
    user_agent: str | None = None


SYSTEM = Actor()
_current: ContextVar[Actor] = ContextVar("stratlogic_actor", default=SYSTEM)


def current_actor() -> Actor:
    """The actor of the current context (the system when nobody was named)."""
    return _current.get()


@contextmanager
def acting_as(user: HasId | int | None, *, ip_address: str | None = None,
              user_agent: str | None = None) -> Iterator[Actor]:
    """Record ``user`` as the actor of every change made inside the block (nested blocks override).

    The ip address is checked and written in its standard form, and the user agent cut to its column's
    500 characters, before any row is hashed: the audit hash covers exactly what the database stores (a
    PostgreSQL VARCHAR silently drops trailing spaces beyond its length, which would fail verification).

    Raises:
        ValidationError: ``ip_address`` is not an IPv4/IPv6 address, or ``user_agent`` holds NUL.
    """
    user_id = user if isinstance(user, int) or user is None else user.id
    if user_agent is not None and "\x00" in user_agent:
        raise ValidationError(f"user_agent {user_agent[:80]!r} holds a NUL character")
    token = _current.set(Actor(user_id, _address(ip_address), user_agent[:500] if user_agent else None))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def _address(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        normal = str(ipaddress.ip_address(value))
    except ValueError:
        normal = ""
    if not normal or len(normal) > 45:
        raise ValidationError(f"ip_address {value[:80]!r} is not an IPv4 or IPv6 address")
    return normal


__all__ = ["SYSTEM", "Actor", "acting_as", "current_actor"]
