"""``stratlogic.services.users`` on real SQLite and PostgreSQL: the actor a caller names is the actor of the
audit row of each change (with its origin), reads refuse bad filters naming the caller's flag, and the rules
of the repository (canonical names, roles, passwords) hold through the service."""

from __future__ import annotations

from typing import Any

import pytest

from stratlogic.db import Database
from stratlogic.db.actor import SYSTEM, Actor, Origin
from stratlogic.errors import ConflictError, NotFoundError, ValidationError
from stratlogic.repositories import AuditRepository
from stratlogic.services import _base
from stratlogic.services import users as service

ORIGIN = Origin("cli", "ada-os", "ws-12")


def _trail(db: Database, user_id: int) -> list[tuple[str, int | None, dict[str, Any]]]:
    with db.unit_of_work(readonly=True) as uow:
        return [(row.action, row.actor_id, dict(row.details)) for row in AuditRepository(uow).trail("user", user_id)]


def test_every_change_records_the_actor_the_caller_names(db: Database) -> None:
    admin = service.create(db, "admin", "admin@example.com", role="admin", actor=SYSTEM)
    acting = Actor(admin.id, origin=ORIGIN)
    bob = service.create(db, " Bob ", "BOB@example.com", full_name="Bob", actor=acting)
    assert (bob.username, bob.email, bob.role) == ("bob", "bob@example.com", "viewer")
    service.update(db, bob.id, role="analyst", actor=acting)
    service.deactivate(db, bob.id, actor=SYSTEM)
    service.activate(db, bob.id, actor=acting)
    trail = _trail(db, bob.id)
    assert [(action, actor_id) for action, actor_id, _ in trail] == [
        ("user.created", admin.id), ("user.role_changed", admin.id), ("user.deactivated", None),
        ("user.activated", admin.id)]
    assert trail[0][2]["cli"] == {"os_user": "ada-os", "host": "ws-12"}
    assert "cli" not in trail[2][2]  # the system actor was named without an origin


def test_reads_find_what_was_written_and_name_the_callers_flag_on_a_bad_filter(db: Database) -> None:
    for name, role in (("ada", "analyst"), ("bea", "viewer"), ("cyd", "analyst")):
        service.create(db, name, f"{name}@example.com", role=role, actor=SYSTEM)
    assert service.by_username(db, "ADA", actor=SYSTEM).username == "ada"
    assert [u.username for u in service.list_users(db, {"role": "analyst"}, actor=SYSTEM)] == ["ada", "cyd"]
    assert service.count(db, {"role": "analyst"}, actor=SYSTEM) == 2
    assert service.frame(db, sort="-username", actor=SYSTEM)["username"].tolist() == ["cyd", "bea", "ada"]
    assert "password_hash" not in service.frame(db, actor=SYSTEM).columns
    assert [u.username for u in service.search(db, "BE", actor=SYSTEM)] == ["bea"]
    with pytest.raises(ValidationError, match=r"^--role: 'boss' is not a valid role"):
        service.list_users(db, {"role__in": ["boss"]}, labels={"role__in": "--role"}, actor=SYSTEM)
    with pytest.raises(ValidationError, match=r"^--role: 'boss' is not a valid role"):
        service.count(db, {"role": "boss"}, labels={"role": "--role"}, actor=SYSTEM)
    with pytest.raises(NotFoundError, match="user 9999 not found"):
        service.get(db, 9999, actor=SYSTEM)
    with pytest.raises(NotFoundError, match="user 'nobody' not found"):
        service.by_username(db, "nobody", actor=SYSTEM)


def test_the_repository_rules_hold_through_the_service_and_a_refused_change_writes_nothing(db: Database) -> None:
    ada = service.create(db, "ada", "ada@example.com", actor=SYSTEM)
    with pytest.raises(ConflictError):
        service.create(db, "ADA", "other@example.com", actor=SYSTEM)
    with pytest.raises(ValidationError, match="role 'boss' is not valid"):
        service.update(db, ada.id, role="boss", actor=SYSTEM)
    with pytest.raises(ValidationError, match="password"):
        service.set_password(db, ada.id, "short", actor=SYSTEM)
    service.set_password(db, ada.id, "A-Long-Enough-Passphrase-4471", actor=SYSTEM)
    assert [action for action, _, _ in _trail(db, ada.id)] == ["user.created", "user.password_changed"]
    assert service.count(db, actor=SYSTEM) == 1


def test_each_entry_point_is_registered_with_whether_it_writes() -> None:
    names = {name: item.writes for name, item in _base.ENTRIES.items() if name.startswith("users.")}
    assert names == {"users.get": False, "users.by_username": False, "users.list": False, "users.count": False,
                     "users.frame": False, "users.search": False, "users.create": True, "users.update": True,
                     "users.set_password": True, "users.activate": True, "users.deactivate": True}
