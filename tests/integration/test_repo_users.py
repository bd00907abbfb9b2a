"""The user repository against real databases (SQLite and PostgreSQL).

Creation with each role, case-insensitive unique usernames and emails stored in canonical form, refusal of
bad usernames, emails, roles and weak passwords (nothing written, the password never echoed), argon2id
hashes, login (including the upgrade of hashes made with weaker parameters), lookups, search,
(de)activation and the statistics; no password or hash ever shows in a repr, an error or a DataFrame; the
generic bulk writes keep the same rules.

Every test runs once per engine through the ``db`` fixture. Several began as strict xfails that showed
real defects (ASCII-only lower(), parameters in tracebacks); they now guard the fixes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import argon2
import pytest
from sqlalchemy import func, select, text

from stratlogic import security
from stratlogic.analytics import user_summary, users_by_role
from stratlogic.db import Database
from stratlogic.db.session import UnitOfWork
from stratlogic.errors import ConflictError, NotFoundError, StratLogicError, ValidationError
from stratlogic.models import User, UserRole, utcnow
from stratlogic.repositories import UserRepository
from stratlogic.security import WeakPasswordError, needs_rehash
from tests.integration.repo_helpers import texts_of

PASSWORD = "Quartz-Violin-Harbor-57"
OTHER_PASSWORD = "Maple-Sunrise-Kettle-91"
ALL_ROLES = [role.value for role in UserRole]


def user_count(uow: UnitOfWork) -> int:
    """How many rows the users table holds, counted in SQL."""
    return int(uow.session.scalar(select(func.count()).select_from(User)) or 0)


# --- users: creation and canonical form ------------------------------------------------------


@pytest.mark.parametrize("role", [*list(UserRole), *ALL_ROLES])
def test_create_user_with_each_role(db: Database, role: UserRole | str) -> None:
    with db.unit_of_work() as uow:
        created = UserRepository(uow).create("ada", "ada@example.com", role=role)
    with db.unit_of_work() as uow:
        stored = UserRepository(uow).get(created.id)
        assert stored.role == UserRole(role)
        assert (stored.is_active, stored.is_verified, stored.password_hash) == (True, False, None)


def test_create_defaults_to_viewer(db: Database) -> None:
    with db.unit_of_work() as uow:
        assert UserRepository(uow).create("ada", "ada@example.com").role is UserRole.VIEWER


def test_username_and_email_are_stored_lower_case_and_trimmed(db: Database) -> None:
    with db.unit_of_work() as uow:
        UserRepository(uow).create("  Ada.Lovelace_1  ", "  ADA@Example.COM\t", full_name="Ada Lovelace")
    with db.unit_of_work() as uow:
        row = uow.session.execute(text("SELECT username, email, full_name FROM users")).one()
    assert tuple(row) == ("ada.lovelace_1", "ada@example.com", "Ada Lovelace")


@pytest.mark.parametrize(("first", "second", "field", "value"), [
    (("Ada", "ada@example.com"), ("ada", "other@example.com"), "username", "ada"),
    (("ada", "ada@example.com"), ("  ADA ", "other@example.com"), "username", "ada"),
    (("ada", "ada@example.com"), ("grace", "ADA@Example.com"), "email", "ada@example.com"),
    (("ada", "Ada@Example.com"), ("grace", " ada@example.COM "), "email", "ada@example.com"),
])
def test_username_and_email_are_unique_in_any_case(db: Database, first: tuple[str, str], second: tuple[str, str],
                                                  field: str, value: str) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        users.create(*first)
        with pytest.raises(ConflictError) as caught:
            users.create(*second)
        assert caught.value.field == field
        assert field in str(caught.value)
        assert value in str(caught.value)
        assert user_count(uow) == 1  # the refused insert left nothing, and the transaction is still usable
        users.create("third", "third@example.com")
    with db.unit_of_work() as uow:
        assert user_count(uow) == 2


def test_update_to_a_taken_email_in_other_case_conflicts(db: Database) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        users.create("ada", "ada@example.com")
        grace = users.create("grace", "grace@example.com")
        with pytest.raises(ConflictError, match="email") as caught:
            users.update(grace.id, email="ADA@EXAMPLE.COM")
        assert "ada@example.com" in str(caught.value)
    with db.unit_of_work() as uow:
        assert UserRepository(uow).by_username("grace").email == "grace@example.com"


@pytest.mark.parametrize("username", [
    "ab", "a", "", "   ", "ada lovelace", "Äda", "adä", "name; DROP TABLE users", "ada'--", "_ada", ".ada", "-ada",
    "a" * 65, "ada@home", "ada\x00",
])
def test_invalid_usernames_are_refused_naming_the_value(db: Database, username: str) -> None:
    with db.unit_of_work() as uow:
        with pytest.raises(ValidationError) as caught:
            UserRepository(uow).create(username, "ada@example.com")
        assert repr(username) in str(caught.value)
        assert user_count(uow) == 0


def test_longest_username_is_accepted(db: Database) -> None:
    with db.unit_of_work() as uow:
        assert UserRepository(uow).create("a" * 64, "ada@example.com").username == "a" * 64


@pytest.mark.parametrize("email", [
    "not-an-email", "ada@", "@example.com", "ada@example", "ada lovelace@example.com", "ada@@example.com",
    "ada@example.c", "", "x" * 65 + "@example.com",
])
def test_invalid_emails_are_refused_naming_the_value(db: Database, email: str) -> None:
    with db.unit_of_work() as uow:
        with pytest.raises(ValidationError) as caught:
            UserRepository(uow).create("ada", email)
        assert repr(email) in str(caught.value)
        assert user_count(uow) == 0


@pytest.mark.parametrize("role", ["superuser", "Admin", "", "root"])
def test_invalid_role_is_refused_listing_allowed_roles(db: Database, role: str) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        with pytest.raises(ValidationError) as caught:
            users.create("ada", "ada@example.com", role=role)
        message = str(caught.value)
        assert repr(role) in message
        assert all(allowed in message for allowed in ALL_ROLES)
        ada = users.create("ada", "ada@example.com")
        with pytest.raises(ValidationError, match="allowed: admin, operator, analyst, viewer"):
            users.update(ada.id, role=role)
        assert users.get(ada.id).role is UserRole.VIEWER


# --- users: passwords --------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "reason"), [
    ("Sh0rt!x", "shorter than 12"),
    ("password123!", "common password"),
    ("Letmein2024!!", "common password"),
    ("my-ada-Secret-2024", "contains the username"),
    ("lovelace-Secret-2024", "local part of the email"),
    ("abababababababab", "fewer than 5 distinct"),
    ("Ω" * 1025, "longer than 1024"),
])
def test_weak_passwords_are_refused_with_reasons_and_nothing_written(db: Database, password: str,
                                                                    reason: str) -> None:
    with db.unit_of_work() as uow:
        with pytest.raises(WeakPasswordError) as caught:
            UserRepository(uow).create("ada", "lovelace@example.com", password=password)
        assert any(reason in listed for listed in caught.value.reasons)
        assert reason in str(caught.value)
        assert password not in str(caught.value)
        assert all(password not in listed for listed in caught.value.reasons)
        assert user_count(uow) == 0
    with db.unit_of_work() as uow:
        assert user_count(uow) == 0


def test_weak_password_error_lists_every_broken_rule(db: Database) -> None:
    with db.unit_of_work() as uow, pytest.raises(WeakPasswordError) as caught:
        UserRepository(uow).create("aaa", "aaa@example.com", password="aaa")
    assert len(caught.value.reasons) >= 3  # short, contains the username, too few distinct characters
    assert "aaa" not in str(caught.value)


def test_stored_hash_is_argon2id_and_not_the_password(db: Database) -> None:
    with db.unit_of_work() as uow:
        UserRepository(uow).create("ada", "ada@example.com", password=PASSWORD)
    with db.unit_of_work() as uow:
        stored = uow.session.scalar(text("SELECT password_hash FROM users WHERE username = 'ada'"))
    assert isinstance(stored, str)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert not needs_rehash(stored)


def test_authenticate_with_right_password_records_login(db: Database) -> None:
    with db.unit_of_work() as uow:
        UserRepository(uow).create("ada", "ada@example.com", password=PASSWORD)
    before = utcnow()
    with db.unit_of_work() as uow:
        found = UserRepository(uow).authenticate("  ADA ", PASSWORD)
        assert found is not None
        assert found.username == "ada"
    with db.unit_of_work() as uow:
        last = UserRepository(uow).by_username("ada").last_login_at
    assert last is not None
    assert before - timedelta(seconds=1) <= last <= utcnow() + timedelta(seconds=1)


@pytest.mark.parametrize("case", ["wrong password", "inactive", "no password", "unknown user", "empty password",
                                  "password of another user"])
def test_authenticate_fails_without_saying_why(db: Database, case: str) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        ada = users.create("ada", "ada@example.com", password=None if case == "no password" else PASSWORD)
        if case == "inactive":
            users.deactivate(ada.id)
        if case == "password of another user":
            users.create("grace", "grace@example.com", password=OTHER_PASSWORD)
    username, password = {
        "wrong password": ("ada", OTHER_PASSWORD),
        "unknown user": ("nobody", PASSWORD),
        "empty password": ("ada", ""),
        "password of another user": ("ada", OTHER_PASSWORD),
    }.get(case, ("ada", PASSWORD))
    with db.unit_of_work() as uow:
        assert UserRepository(uow).authenticate(username, password) is None
    with db.unit_of_work() as uow:
        assert UserRepository(uow).by_username("ada").last_login_at is None


class CountingHasher:
    """The real argon2 hasher, counting how often ``verify`` runs."""

    def __init__(self, real: argon2.PasswordHasher) -> None:
        self.real, self.verified = real, 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return self.real.verify(password_hash, password)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.parametrize("case", ["unknown user", "inactive", "no password", "wrong password"])
def test_failed_login_always_runs_argon2(db: Database, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """Every failed login costs one argon2 check, so its duration does not reveal which users exist."""
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        ada = users.create("ada", "ada@example.com", password=None if case == "no password" else PASSWORD)
        if case == "inactive":
            users.deactivate(ada.id)
    hasher = CountingHasher(security._HASHER)
    monkeypatch.setattr(security, "_HASHER", hasher)
    username, password = {"unknown user": ("nobody", PASSWORD), "wrong password": ("ada", OTHER_PASSWORD)}.get(
        case, ("ada", PASSWORD))
    with db.unit_of_work() as uow:
        assert UserRepository(uow).authenticate(username, password) is None
    assert hasher.verified == 1


def test_weaker_hash_is_upgraded_on_successful_login(db: Database) -> None:
    old_hash = argon2.PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    assert needs_rehash(old_hash)
    with db.unit_of_work() as uow:
        ada = UserRepository(uow).create("ada", "ada@example.com")
        ada.password_hash = old_hash
        uow.session.flush()
    with db.unit_of_work() as uow:
        assert UserRepository(uow).authenticate("ada", OTHER_PASSWORD) is None
    with db.unit_of_work() as uow:  # a failed login leaves the old hash alone
        assert UserRepository(uow).by_username("ada").password_hash == old_hash
    with db.unit_of_work() as uow:
        assert UserRepository(uow).authenticate("ada", PASSWORD) is not None
    with db.unit_of_work() as uow:
        new_hash = uow.session.scalar(text("SELECT password_hash FROM users WHERE username = 'ada'"))
    assert isinstance(new_hash, str)
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$")
    assert "m=65536,t=3,p=4" in new_hash
    assert not needs_rehash(new_hash)
    with db.unit_of_work() as uow:  # and the new hash still accepts the password
        assert UserRepository(uow).authenticate("ada", PASSWORD) is not None


def test_login_with_outdated_hash_of_a_now_weak_password_does_not_raise(db: Database) -> None:
    legacy = "hunter2"  # accepted by an older policy, refused by today's rules
    with db.unit_of_work() as uow:
        ada = UserRepository(uow).create("ada", "ada@example.com")
        ada.password_hash = argon2.PasswordHasher(time_cost=1, memory_cost=8192).hash(legacy)
    with db.unit_of_work() as uow:
        found = UserRepository(uow).authenticate("ada", legacy)
        assert found is not None
        assert found.username == "ada"


def test_set_password_none_removes_login(db: Database) -> None:
    with db.unit_of_work() as uow:
        ada = UserRepository(uow).create("ada", "ada@example.com", password=PASSWORD)
    with db.unit_of_work() as uow:
        UserRepository(uow).set_password(ada.id, None)
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        assert users.get(ada.id).password_hash is None
        assert users.authenticate("ada", PASSWORD) is None


def test_set_password_replaces_the_old_one(db: Database) -> None:
    with db.unit_of_work() as uow:
        ada = UserRepository(uow).create("ada", "ada@example.com")
        assert UserRepository(uow).authenticate("ada", PASSWORD) is None
        UserRepository(uow).set_password(ada.id, PASSWORD)
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        assert users.authenticate("ada", PASSWORD) is not None
        users.set_password(ada.id, OTHER_PASSWORD)
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        assert users.authenticate("ada", PASSWORD) is None
        assert users.authenticate("ada", OTHER_PASSWORD) is not None


def test_weak_set_password_keeps_the_old_one(db: Database) -> None:
    with db.unit_of_work() as uow:
        ada = UserRepository(uow).create("ada", "ada@example.com", password=PASSWORD)
        old_hash = ada.password_hash
    with db.unit_of_work() as uow:
        with pytest.raises(WeakPasswordError) as caught:
            UserRepository(uow).set_password(ada.id, "ada-ada-ada-ada")
        assert "ada-ada-ada-ada" not in str(caught.value)
    with db.unit_of_work() as uow:
        assert UserRepository(uow).get(ada.id).password_hash == old_hash
        assert UserRepository(uow).authenticate("ada", PASSWORD) is not None


def test_set_password_for_unknown_user_is_not_found(db: Database) -> None:
    with db.unit_of_work() as uow, pytest.raises(NotFoundError, match="12345"):
        UserRepository(uow).set_password(12345, PASSWORD)


# --- users: secrets never leak -----------------------------------------------------------------


def test_password_and_hash_never_in_repr_frame_or_errors(db: Database) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        ada = users.create("ada", "ada@example.com", password=PASSWORD, full_name="Ada Lovelace")
        stored_hash = ada.password_hash
        assert stored_hash is not None
        assert PASSWORD not in repr(ada)
        assert stored_hash not in repr(ada)
        assert "argon2" not in repr(ada)

        errors: list[StratLogicError] = []
        for attempt in (
            lambda: users.create("ADA", "other@example.com", password=PASSWORD),
            lambda: users.create("grace", "ADA@example.com", password=OTHER_PASSWORD),
            lambda: users.create("bad name", "x@example.com", password=PASSWORD),
            lambda: users.create("grace", "grace@example.com", password="grace" + PASSWORD),
            lambda: users.set_password(ada.id, "Password1!"),
            lambda: users.set_password(ada.id, "ada" + OTHER_PASSWORD),
            lambda: users.update(ada.id, password_hash="x"),
        ):
            with pytest.raises(StratLogicError) as caught:
                attempt()
            errors.append(caught.value)
        assert len(errors) == 7
        for error in errors:
            for secret in (PASSWORD, OTHER_PASSWORD, "Password1!", stored_hash, "$argon2"):
                assert secret not in str(error)
        assert users.get(ada.id).password_hash == stored_hash

        frame = users.frame()
        assert "password_hash" not in frame.columns
        assert list(frame["username"]) == ["ada"]
        cells = [str(cell) for cell in frame.to_numpy().ravel()]
        assert not any("argon2" in cell or PASSWORD in cell for cell in cells)


def test_password_hash_absent_from_chained_conflict_errors(db: Database) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        users.create("ada", "ada@example.com")
        with pytest.raises(ConflictError) as caught:
            users.create("ADA", "other@example.com", password=PASSWORD)
        assert not any("$argon2" in message for message in texts_of(caught.value))


# --- users: lookups, search, state changes, statistics -------------------------------------------


@pytest.mark.parametrize("username", ["ada", "ADA", " Ada ", "aDa"])
def test_by_username_in_any_case(db: Database, username: str) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        ada = users.create("ada", "ada@example.com")
        assert users.by_username(username).id == ada.id


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@EXAMPLE.COM", " Ada@Example.com "])
def test_by_email_in_any_case(db: Database, email: str) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        ada = users.create("ada", "ada@example.com")
        assert users.by_email(email).id == ada.id


@pytest.mark.parametrize(("method", "value"), [
    ("by_username", "grace"), ("by_username", "Ädä"), ("by_email", "grace@example.com"),
    ("by_email", "name'; DROP TABLE users; --"),
])
def test_lookup_of_missing_user_names_the_value(db: Database, method: str, value: str) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        users.create("ada", "ada@example.com")
        with pytest.raises(NotFoundError) as caught:
            getattr(users, method)(value)
        assert repr(value) in str(caught.value)
        assert user_count(uow) == 1


@pytest.fixture
def people(db: Database) -> Iterator[UnitOfWork]:
    """A unit of work holding ada (admin), grace (operator, inactive) and alan (analyst)."""
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        users.create("ada", "ada@example.com", role="admin", full_name="Ada Lovelace")
        grace = users.create("grace", "grace@navy.mil", role=UserRole.OPERATOR, full_name="Grace Hopper")
        users.create("alan", "alan@bletchley.uk", role="analyst", full_name="Alan Turing")
        users.deactivate(grace.id)
        yield uow


@pytest.mark.parametrize(("query", "kwargs", "expected"), [
    ("ADA", {}, ["ada"]),
    ("lovelace", {}, ["ada"]),
    ("NAVY.MIL", {}, ["grace"]),
    ("Turing", {}, ["alan"]),
    ("a", {}, ["ada", "alan", "grace"]),
    ("a", {"role": "admin"}, ["ada"]),
    ("a", {"role": UserRole.ANALYST}, ["alan"]),
    ("a", {"active": False}, ["grace"]),
    ("a", {"active": True}, ["ada", "alan"]),
    (None, {"role": "operator"}, ["grace"]),
    (None, {"active": True}, ["ada", "alan"]),
    (None, {}, ["ada", "alan", "grace"]),
    ("%", {}, []),
    ("_", {}, []),
    ("zzz", {}, []),
    ("a", {"limit": 2}, ["ada", "alan"]),
])
def test_search(people: UnitOfWork, query: str | None, kwargs: dict[str, Any], expected: list[str]) -> None:
    assert [user.username for user in UserRepository(people).search(query, **kwargs)] == expected


def test_search_is_case_insensitive_for_non_ascii_names(db: Database, request: pytest.FixtureRequest) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        users.create("emile", "emile@example.com", full_name="Émile Zola")
        assert [u.username for u in users.search("ÉMILE")] == ["emile"]
        assert [u.username for u in users.search("émile")] == ["emile"]


def test_search_with_unknown_role_is_refused(people: UnitOfWork) -> None:
    with pytest.raises(ValidationError, match="role"):
        UserRepository(people).search("a", role="superuser")


def test_activate_deactivate_verify_and_record_login(db: Database) -> None:
    when = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        ada = users.create("ada", "ada@example.com", password=PASSWORD)
        assert users.deactivate(ada.id).is_active is False
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        assert users.get(ada.id).is_active is False
        assert users.authenticate("ada", PASSWORD) is None
        assert users.activate(ada.id).is_active is True
        assert users.mark_verified(ada.id).is_verified is True
        assert users.record_login(ada.id, when=when).last_login_at == when
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        stored = users.get(ada.id)
        assert (stored.is_active, stored.is_verified, stored.last_login_at) == (True, True, when)
        assert users.authenticate("ada", PASSWORD) is not None
        latest = users.record_login(ada.id).last_login_at  # without ``when``: now
        assert latest is not None and latest > when


@pytest.mark.parametrize("method", ["activate", "deactivate", "mark_verified", "record_login"])
def test_state_changes_on_unknown_user_are_not_found(db: Database, method: str) -> None:
    with db.unit_of_work() as uow, pytest.raises(NotFoundError, match="987"):
        getattr(UserRepository(uow), method)(987)


def test_user_statistics_count_what_was_inserted(db: Database) -> None:  # statistics live in analytics
    now = utcnow()
    empty = user_summary(db).iloc[0].to_dict()
    assert empty == {"users": 0, "active": 0, "inactive": 0, "verified": 0, "recently_active": 0}
    assert dict(users_by_role(db).itertuples(index=False, name=None)) == dict.fromkeys(ALL_ROLES, 0)
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        ada = users.create("ada", "ada@example.com", role="admin", is_verified=True)
        op1 = users.create("op1", "op1@example.com", role="operator")
        op2 = users.create("op2", "op2@example.com", role="operator")
        viewer = users.create("view", "view@example.com")
        users.mark_verified(op1.id)
        users.deactivate(op2.id)
        users.deactivate(viewer.id)
        users.record_login(ada.id, when=now - timedelta(days=1))
        users.record_login(op1.id, when=now - timedelta(days=29))
        users.record_login(op2.id, when=now - timedelta(days=60))
    stats = user_summary(db).iloc[0].to_dict()
    assert stats == {"users": 4, "active": 2, "inactive": 2, "verified": 2, "recently_active": 2}
    assert dict(users_by_role(db).itertuples(index=False, name=None)) == \
        {"admin": 1, "operator": 2, "analyst": 0, "viewer": 1}
    assert user_summary(db, since="-90d")["recently_active"].item() == 3
    assert user_summary(db, since="-1h")["recently_active"].item() == 0
    operators = user_summary(db, role="operator").iloc[0]
    assert (operators["users"], operators["active"], operators["verified"]) == (2, 1, 1)
    assert user_summary(db, active=False)["users"].item() == 2
    assert dict(users_by_role(db, role="operator").itertuples(index=False, name=None)) == \
        {"admin": 0, "operator": 2, "analyst": 0, "viewer": 0}


# --- users: errors and bulk writes ------------------------------------------------------------


def test_conflict_error_hides_the_driver_traceback(db: Database) -> None:
    """A notebook shows one clear error, not a driver traceback; the cause stays on ``driver_error``."""
    import traceback

    from sqlalchemy.exc import IntegrityError

    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        users.create("ada", "ada@example.com")
        with pytest.raises(ConflictError) as caught:
            users.create("ADA", "other@example.com")
    shown = "".join(traceback.format_exception(caught.value))
    assert "IntegrityError" not in shown and "psycopg" not in shown and "sqlite3" not in shown
    assert isinstance(caught.value.driver_error, IntegrityError)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("write", "bad"), [
    ("add_many", {"username": "ada ", "email": "ada2@example.com"}),
    ("add_many", {"username": "böb", "email": "bob@example.com"}),
    ("add_many", {"username": "carol", "email": "not-an-email"}),
    ("upsert_many", {"username": "dave", "email": "ADA@example.com "}),
    ("update_where", {"email": "not-an-email"}),
    ("update_where", {"role": "emperor"}),
])
def test_bulk_writes_keep_the_user_rules(db: Database, write: str, bad: dict[str, Any]) -> None:
    """The generic bulk methods must not store what create/update refuse ('ada ' beside 'ada', a non-address)."""
    with db.unit_of_work() as uow:
        UserRepository(uow).create("ada", "ada@example.com")
    with db.unit_of_work(readonly=True) as uow:
        before = [(u.username, u.email, u.role) for u in UserRepository(uow).list()]
    with pytest.raises((ValidationError, ConflictError), match=r"not (a )?valid|already exists"), \
            db.unit_of_work() as uow:
        users = UserRepository(uow)
        if write == "add_many":
            users.add_many([bad])
        elif write == "upsert_many":
            users.upsert_many([bad], conflict=["username"])
        else:
            users.update_where({"username": "ada"}, **bad)
    with db.unit_of_work(readonly=True) as uow:
        assert [(u.username, u.email, u.role) for u in UserRepository(uow).list()] == before


def test_bulk_writes_store_names_and_emails_canonically(db: Database) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        users.add_many([{"username": " Erin ", "email": " Erin@Example.COM"}])
        users.update_where({"username": "erin"}, email="ERIN2@example.com")
        assert [(u.username, u.email) for u in users.list()] == [("erin", "erin2@example.com")]
