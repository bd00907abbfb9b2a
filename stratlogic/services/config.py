"""Configuration: list, read, set and unset the declared keys (``stratlogic config …``, ``wb.config``).

Every change goes through here, so one place sees it and the audit row names the given actor. The keys,
their types and the checks live in ``repositories/config.py`` (``DECLARED``); this module adds none.
"""

from __future__ import annotations

from typing import Any

from stratlogic.db import Database
from stratlogic.db.actor import Actor
from stratlogic.repositories.config import ConfigEntry, ConfigRepository, parse_text
from stratlogic.services._base import entry, unit


@entry("config.list", writes=False)
def list_entries(database: Database, *, actor: Actor) -> list[ConfigEntry]:
    """Every declared key, set or not, in key order, secret values masked (what ``config list`` shows)."""
    with unit(database, actor, readonly=True) as uow:
        return ConfigRepository(uow).entries()


@entry("config.get", writes=False)
def get(database: Database, key: str, *, actor: Actor) -> ConfigEntry:
    """One declared key as listed (its default when unset; masked when secret)."""
    with unit(database, actor, readonly=True) as uow:
        return ConfigRepository(uow).entry(key)


@entry("config.set", writes=True)
def set(database: Database, key: str, value: Any, *, actor: Actor, as_text: bool = False) -> ConfigEntry:
    """Set ``key`` after checking ``value`` against its declared type; the audit row names ``actor``.

    ``as_text``: ``value`` is what a person typed (a CLI argument): JSON when it parses (``10``, ``true``,
    ``["a"]``), else the text; a text key keeps exactly what was typed.
    """
    checked = parse_text(key, str(value)) if as_text else value
    with unit(database, actor) as uow:
        return ConfigRepository(uow).set(key, checked)


@entry("config.unset", writes=True)
def unset(database: Database, key: str, *, actor: Actor) -> bool:
    """Return ``key`` to its default; False when it was not set (then nothing is recorded)."""
    with unit(database, actor) as uow:
        return ConfigRepository(uow).unset(key)


__all__ = ["ConfigEntry", "get", "list_entries", "set", "unset"]
