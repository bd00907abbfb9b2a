"""What every service entry point shares: the registry of entry points and the unit of work it runs in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from stratlogic.db import Database, UnitOfWork
from stratlogic.db.actor import Actor, as_actor

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Entry:
    """One public entry point: its dotted name (``jobs.retry``, the future permission), whether it writes."""

    name: str
    writes: bool
    function: Callable[..., object]


#: Every registered entry point by name, filled as service modules are imported.
ENTRIES: dict[str, Entry] = {}


def entry(name: str, *, writes: bool) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register a service function as the entry point ``name``.

    The access-control issue adds its permission check here, once, for every entry point: the function
    is returned unchanged today (no wrapper, so tracebacks and signatures stay plain).
    """

    def register(function: Callable[P, R]) -> Callable[P, R]:
        if name in ENTRIES and ENTRIES[name].function is not function:
            raise RuntimeError(f"service entry point {name!r} registered twice")
        ENTRIES[name] = Entry(name, writes, function)
        return function

    return register


@contextmanager
def unit(database: Database, actor: Actor, *, readonly: bool = False) -> Iterator[UnitOfWork]:
    """A unit of work of ``database`` with ``actor`` recorded on every change made in it.

    Inside a caller's unit (same thread) it is a savepoint of that unit, so services compose.
    """
    with as_actor(actor), database.unit_of_work(readonly=readonly) as uow:
        yield uow


def all_entries() -> dict[str, Entry]:
    """Every entry point of every service module (imports them all: for docs and tests, not for commands)."""
    import importlib
    import pkgutil

    import stratlogic.services as package

    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"stratlogic.services.{module.name}")
    return dict(ENTRIES)


__all__ = ["ENTRIES", "Entry", "all_entries", "entry", "unit"]
