"""Who is acting: a context variable, so the CLI, notebooks and workers record the actor of every change
without passing a user through every call.

    with acting_as(admin):            # or a user id; ip and user agent when known
        users.deactivate(42)          # the audit row names admin as the actor
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol


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
    """Record ``user`` as the actor of every change made inside the block (nested blocks override)."""
    user_id = user if isinstance(user, int) or user is None else user.id
    token = _current.set(Actor(user_id, ip_address, user_agent[:500] if user_agent else None))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


__all__ = ["SYSTEM", "Actor", "acting_as", "current_actor"]
