"""The config service on real SQLite and PostgreSQL: each entry point directly, with an explicit actor.

A change names the given actor in its audit row (user id and the CLI's origin), typed text is parsed as the
CLI's ``config set`` parses it, bad values are refused naming key and value with nothing written, and secret
values never come back unmasked.
"""

from __future__ import annotations

import pytest

from stratlogic.db import Database
from stratlogic.db.actor import Actor, Origin
from stratlogic.errors import ValidationError
from stratlogic.repositories import AuditRepository, UserRepository
from stratlogic.services import config
from stratlogic.services._base import ENTRIES

ORIGIN = Origin("cli", "ada", "ws-12")


def _user(db: Database, name: str) -> int:
    with db.unit_of_work() as uow:
        return UserRepository(uow).create(name, f"{name}@example.com").id


def _config_rows(db: Database) -> list[tuple[str | None, str, int | None, dict[str, object]]]:
    with db.unit_of_work(readonly=True) as uow:
        rows = AuditRepository(uow).list({"resource_type": "config"}, limit=100)
        return [(row.resource_id, row.action, row.actor_id, row.details) for row in rows]


def test_set_records_the_given_actor_and_unset_returns_the_default(db: Database) -> None:
    ada = _user(db, "ada")
    entry = config.set(db, "jobs.lease_seconds", 600, actor=Actor(ada, origin=ORIGIN))
    assert (entry.value, entry.is_default, entry.updated_by_id) == (600, False, ada)
    assert config.get(db, "jobs.lease_seconds", actor=Actor()).value == 600
    assert config.unset(db, "jobs.lease_seconds", actor=Actor(None, origin=ORIGIN)) is True
    assert config.unset(db, "jobs.lease_seconds", actor=Actor()) is False  # already at its default: no row
    assert config.get(db, "jobs.lease_seconds", actor=Actor()).is_default
    (key, action, actor_id, details), (_, unset_action, unset_actor, _unset_details) = _config_rows(db)
    assert (key, action, actor_id) == ("jobs.lease_seconds", "config.set", ada)
    assert details == {"cli": {"os_user": "ada", "host": "ws-12"}, "old": 300, "new": 600}
    assert (unset_action, unset_actor) == ("config.unset", None)


def test_typed_text_is_parsed_as_the_cli_does_and_a_bad_value_writes_nothing(db: Database) -> None:
    assert config.set(db, "jobs.lease_seconds", "120", actor=Actor(), as_text=True).value == 120
    assert config.set(db, "scraper.user_agent", "123", actor=Actor(), as_text=True).value == "123"  # text stays text
    with pytest.raises(ValidationError, match=r"config 'jobs.lease_seconds' expects int, got 'ten'"):
        config.set(db, "jobs.lease_seconds", "ten", actor=Actor(), as_text=True)
    with pytest.raises(ValidationError, match=r"unknown config key 'jobs.lease'; declared keys: "):
        config.set(db, "jobs.lease", 5, actor=Actor())
    assert config.get(db, "jobs.lease_seconds", actor=Actor()).value == 120
    assert len(_config_rows(db)) == 2  # the two accepted changes only


def test_list_masks_secrets_and_covers_every_declared_key(db: Database) -> None:
    config.set(db, "scraper.proxy_url", "http://u:pw-77@proxy:3128", actor=Actor())
    entries = {entry.key: entry for entry in config.list_entries(db, actor=Actor())}
    assert entries["scraper.proxy_url"].value == "***" and entries["scraper.proxy_url"].is_secret
    assert config.get(db, "scraper.proxy_url", actor=Actor()).value == "***"
    assert entries["jobs.lease_seconds"].is_default and entries["jobs.lease_seconds"].value == 300
    assert "pw-77" not in repr(_config_rows(db))


def test_the_entry_points_are_registered_with_their_kind() -> None:
    kinds = {name: ENTRIES[name].writes for name in ("config.list", "config.get", "config.set", "config.unset")}
    assert kinds == {"config.list": False, "config.get": False, "config.set": True, "config.unset": True}
    assert ENTRIES["config.set"].function is config.set
