"""Who is acting: a context variable, so the CLI, notebooks and workers record the actor of every change
without passing a user through every call.

    with acting_as(admin):            # or a user id; ip and user agent when known
        users.deactivate(42)          # the audit row names admin as the actor

Until API tokens exist nothing authenticates a CLI user. The CLI records instead where a change was made
from, as far as the machine knows: ``Origin.of_this_process("cli")`` puts the operating-system user and
the host name in every audit row's details (``{"cli": {"os_user": "ada", "host": "ws-12"}}``). That is
a hint for people reading the trail, not an identity: anyone can set ``$USER`` or run as another account.
"""

from __future__ import annotations

import getpass
import ipaddress
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from stratlogic.errors import ValidationError


class HasId(Protocol):
    """Anything with an integer id (a User row)."""

    id: int


@dataclass(frozen=True)
class Origin:
    """Where changes come from, unauthenticated: the program (``cli``), the OS user and the host."""

    via: str
    os_user: str
    host: str

    @classmethod
    def of_this_process(cls, via: str) -> Origin:
        """This process's OS user and host name (``unknown`` where the system cannot say)."""
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no login name and no passwd entry (a bare container uid)
            user = "unknown"
        return cls(via, _plain(user, 64), _plain(socket.gethostname() or "unknown", 255))

    def as_details(self) -> dict[str, Any]:
        """What an audit row's details carry: ``{"cli": {"os_user": …, "host": …}}``."""
        return {self.via: {"os_user": self.os_user, "host": self.host}}


@dataclass(frozen=True)
class Actor:
    """The acting user (None: the system itself), where the request came from when known, and the
    unauthenticated origin of the process (its audit rows carry it in their details)."""

    user_id: int | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    origin: Origin | None = None

    def details(self, details: Mapping[str, Any]) -> Mapping[str, Any]:
        """An audit row's details with the origin added (the row's own keys win)."""
        return details if self.origin is None else {**self.origin.as_details(), **details}


SYSTEM = Actor()
_current: ContextVar[Actor] = ContextVar("stratlogic_actor", default=SYSTEM)


def current_actor() -> Actor:
    """The actor of the current context (the system when nobody was named)."""
    return _current.get()


@contextmanager
def acting_as(user: HasId | int | None, *, ip_address: str | None = None, user_agent: str | None = None,
              origin: Origin | None = None) -> Iterator[Actor]:
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
    origin = origin if origin is not None else _current.get().origin  # a nested block keeps the process's
    token = _current.set(Actor(user_id, _address(ip_address), user_agent[:500] if user_agent else None, origin))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


@contextmanager
def as_actor(actor: Actor) -> Iterator[Actor]:
    """Record exactly ``actor`` (already checked when it was made) as the actor of every change in the block.

    Services take their actor as an argument and enter it here for the length of one call, so nothing
    depends on a context variable surviving between notebook cells (ipykernel #1457, #749).
    """
    token = _current.set(actor)
    try:
        yield actor
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


def _plain(text: str, limit: int) -> str:
    """Printable text of at most ``limit`` characters (names come from the environment)."""
    return "".join(ch for ch in text if ch.isprintable())[:limit] or "unknown"


__all__ = ["SYSTEM", "Actor", "Origin", "acting_as", "as_actor", "current_actor"]
