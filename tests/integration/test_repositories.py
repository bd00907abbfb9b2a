"""The user, configuration and artifact repositories against real databases (SQLite and PostgreSQL).

Users: creation with each role, case-insensitive unique usernames and emails stored in canonical form,
refusal of bad usernames, emails, roles and weak passwords (nothing written, the password never
echoed), argon2id hashes, login (including the upgrade of hashes made with weaker parameters),
lookups, search, (de)activation and the statistics; no password or hash ever shows in a repr, an
error or a DataFrame.

Configuration: declared defaults, typed round trips, refusal of wrong types and unknown keys, unset,
listing with secrets masked, who changed a value, and the parsing of text typed at a CLI prompt.

Artifacts: metadata set (insert or replace), read back with its JSON types, deleted, refused when the
key or value cannot be stored, searched by JSON value (a number must never match its text), counted per
key; de-duplication by checksum within a job.

Every test runs once per engine through the ``db`` fixture. Several began as strict xfails that showed
real defects (JSON affinity on SQLite, JSONB comparisons, ASCII-only lower(), parameters in tracebacks);
they now guard the fixes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import argon2
import pytest
from sqlalchemy import func, select, text

from stratlogic import security
from stratlogic.analytics import metadata_coverage, user_summary, users_by_role
from stratlogic.db import Database
from stratlogic.db.session import UnitOfWork
from stratlogic.errors import ConflictError, NotFoundError, StratLogicError, ValidationError
from stratlogic.jobs import claim
from stratlogic.models import Artifact, ScrapingJob, SystemConfig, User, UserRole, utcnow
from stratlogic.models.job import MAX_LEASE_SECONDS
from stratlogic.repositories import ArtifactRepository, ConfigRepository, UserRepository
from stratlogic.repositories.config import DECLARED, MASK, ConfigKey, parse_text
from stratlogic.repositories.jobs import JobRepository
from stratlogic.security import WeakPasswordError, needs_rehash

PASSWORD = "Quartz-Violin-Harbor-57"
OTHER_PASSWORD = "Maple-Sunrise-Kettle-91"
ALL_ROLES = [role.value for role in UserRole]
SHA_A = "ab" * 32
SHA_B = "cd" * 32

# --- helpers ------------------------------------------------------------------------------------


def texts_of(exc: BaseException) -> list[str]:
    """The message of an exception and of every exception chained to it (what a traceback shows)."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        current = current.__cause__ or current.__context__
    return texts


def user_count(uow: UnitOfWork) -> int:
    """How many rows the users table holds, counted in SQL."""
    return int(uow.session.scalar(select(func.count()).select_from(User)) or 0)


def make_job(uow: UnitOfWork, owner_id: int, name: str = "job") -> ScrapingJob:
    """Add and flush a scraping job owned by ``owner_id``."""
    job = ScrapingJob(owner_id=owner_id, name=name, target_url="https://example.com/")
    uow.session.add(job)
    uow.session.flush()
    return job


def add_artifact(uow: UnitOfWork, job_id: int, key: str, sha256: str = SHA_A) -> int:
    """Add an artifact of ``job_id`` in bucket ``raw`` under object key ``key`` through the repository.

    Returns its id (an int outlives the unit of work; ``set_metadata`` expires the ORM objects).
    """
    artifact = Artifact(job_id=job_id, bucket="raw", object_key=key, filename=f"{key}.html",
                        content_type="text/html", size_bytes=10, sha256=sha256)
    return ArtifactRepository(uow).add(artifact).id


@pytest.fixture
def job_id(db: Database) -> int:
    """The id of a committed job (and of its owner, a user without password)."""
    with db.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com")
        return make_job(uow, owner.id).id


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
        assert users.record_login(ada.id).last_login_at > when  # without ``when``: now


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


# --- configuration -------------------------------------------------------------------------------


def test_unset_keys_read_as_declared_defaults(db: Database) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        for key, spec in DECLARED.items():
            assert config.value(key) == spec.default
        assert config.value("jobs.lease_seconds") == 300
        assert config.value("scraper.user_agent") == "StratLogicBot/1.0"


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("jobs.lease_seconds", 600, int),
    ("artifacts.max_size_bytes", 5 * 1024**4, int),
    ("jobs.default_max_retries", 0, int),
    ("jobs.backoff_base_seconds", 12.5, float),
    pytest.param("jobs.backoff_max_seconds", 7200.0, float, id="integral-float"),
    ("scraper.user_agent", "Bot/2.0 (+https://example.com)", str),
    ("scraper.user_agent", "42", str),
    ("scraper.proxy_url", "", str),  # no proxy (a blank user agent is refused: issue 13 item 16)
    ("artifacts.allowed_content_types", ["text/html", "application/json"], list),
    ("artifacts.allowed_content_types", [], list),
])
def test_set_then_value_round_trips(db: Database, key: str, value: Any, kind: type,
                                    request: pytest.FixtureRequest) -> None:
    with db.unit_of_work() as uow:
        entry = ConfigRepository(uow).set(key, value)
        assert entry.value == value
        assert entry.is_default is False
    with db.unit_of_work() as uow:
        stored = ConfigRepository(uow).value(key)
    assert stored == value
    assert type(stored) is kind


def test_int_for_a_float_key_reads_back_as_float(db: Database, request: pytest.FixtureRequest) -> None:
    with db.unit_of_work() as uow:
        assert ConfigRepository(uow).set("jobs.backoff_base_seconds", 5).value == 5.0
    with db.unit_of_work() as uow:
        stored = ConfigRepository(uow).value("jobs.backoff_base_seconds")
    assert stored == 5.0
    assert type(stored) is float


def test_set_twice_overwrites(db: Database) -> None:
    with db.unit_of_work() as uow:
        ConfigRepository(uow).set("jobs.lease_seconds", 10)
    with db.unit_of_work() as uow:
        ConfigRepository(uow).set("jobs.lease_seconds", 20)
    with db.unit_of_work() as uow:
        assert ConfigRepository(uow).value("jobs.lease_seconds") == 20
        assert ConfigRepository(uow).count() == 1


@pytest.mark.parametrize(("key", "value", "expected_type"), [
    ("jobs.lease_seconds", "5", "int"),
    ("jobs.lease_seconds", True, "int"),
    ("jobs.lease_seconds", 5.0, "int"),
    ("jobs.lease_seconds", 0, "int"),
    ("jobs.lease_seconds", -3, "int"),
    ("jobs.lease_seconds", None, "int"),
    ("jobs.default_max_retries", 101, "int"),
    ("jobs.default_max_retries", -1, "int"),
    ("scraper.user_agent", ["Bot"], "str"),
    ("scraper.user_agent", 42, "str"),
    ("scraper.user_agent", "", "str"),
    ("scraper.user_agent", " \t", "str"),
    ("jobs.backoff_base_seconds", "1.5", "float"),
    ("jobs.backoff_base_seconds", 0.0, "float"),
    ("jobs.backoff_base_seconds", math.nan, "float"),
    ("jobs.backoff_base_seconds", False, "float"),
    ("artifacts.allowed_content_types", "text/html", "list[str]"),
    ("artifacts.allowed_content_types", ["text/html", 3], "list[str]"),
    ("artifacts.allowed_content_types", ("text/html",), "list[str]"),
])
def test_wrong_types_are_refused_naming_key_and_type(db: Database, key: str, value: Any,
                                                      expected_type: str) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        with pytest.raises(ValidationError) as caught:
            config.set(key, value)
        message = str(caught.value)
        assert repr(key) in message
        assert f"expects {expected_type}" in message
        assert config.value(key) == DECLARED[key].default
        assert config.count() == 0


@pytest.mark.parametrize("value", [math.inf])
def test_infinite_float_is_refused_naming_the_key(db: Database, value: float) -> None:
    with db.unit_of_work() as uow, pytest.raises(ValidationError, match=r"jobs\.backoff_max_seconds"):
        ConfigRepository(uow).set("jobs.backoff_max_seconds", value)


@pytest.mark.parametrize(("key", "value"), [
    ("jobs.lease_seconds", 99999999999999999999999),
    ("jobs.lease_seconds", MAX_LEASE_SECONDS + 1),
    ("jobs.backoff_base_seconds", 1e300),
    ("jobs.backoff_max_seconds", 1e300),
    ("jobs.backoff_max_seconds", 86_400.5),
    ("audit.retention_days", 36_501),
])
def test_values_beyond_their_bound_are_refused_naming_key_and_value(db: Database, key: str, value: Any) -> None:
    """Unbounded, such a value was stored and then made every claim or retry overflow."""
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        with pytest.raises(ValidationError) as caught:
            config.set(key, value)
        assert repr(key) in str(caught.value) and repr(value) in str(caught.value)
        assert config.count() == 0


def test_largest_values_are_accepted_and_a_claim_still_works(db: Database) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        config.set("jobs.lease_seconds", MAX_LEASE_SECONDS)
        config.set("jobs.backoff_base_seconds", 86_400)
        config.set("jobs.backoff_max_seconds", 86_400.0)
        config.set("audit.retention_days", 36_500)
        owner = UserRepository(uow).create("owner", "owner@example.com")
        job_id = JobRepository(uow).create(owner.id, "job", "https://example.com/").id
    claimed = claim(db, "w1")
    assert [job.id for job in claimed] == [job_id]
    lease = claimed[0].lease_expires_at
    assert lease is not None and lease - utcnow() > timedelta(days=6)
    with db.unit_of_work() as uow:  # the longest backoff still fits a date
        retried = JobRepository(uow).fail(job_id, "Timeout", "slow", "w1")
        assert retried.next_retry_at is not None and retried.next_retry_at - utcnow() >= timedelta(hours=12)


@pytest.mark.parametrize("call", ["value", "set", "unset", "entry"])
def test_unknown_key_is_refused_listing_declared_keys(db: Database, call: str) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        args: tuple[Any, ...] = ("jobs.no_such_key", 1) if call == "set" else ("jobs.no_such_key",)
        with pytest.raises(ValidationError) as caught:
            getattr(config, call)(*args)
        message = str(caught.value)
        assert "'jobs.no_such_key'" in message
        assert all(key in message for key in DECLARED)
        assert config.count() == 0


def test_unset_returns_to_default(db: Database) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        assert config.unset("jobs.lease_seconds") is False
        config.set("jobs.lease_seconds", 42)
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        assert config.value("jobs.lease_seconds") == 42
        assert config.unset("jobs.lease_seconds") is True
        assert config.unset("jobs.lease_seconds") is False
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        assert config.value("jobs.lease_seconds") == 300
        assert config.entry("jobs.lease_seconds").is_default is True


def test_entries_list_every_key_and_mask_secrets(db: Database) -> None:
    proxy = "http://scraper:s3cret-Pa55@proxy.internal:3128"
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        unset_proxy = {e.key: e for e in config.entries()}["scraper.proxy_url"]
        assert (unset_proxy.value, unset_proxy.is_default, unset_proxy.is_secret) == ("", True, True)
        config.set("scraper.proxy_url", proxy)
        config.set("jobs.lease_seconds", 60)
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        entries = config.entries()
        assert [e.key for e in entries] == sorted(DECLARED)
        by_key = {e.key: e for e in entries}
        assert by_key["scraper.proxy_url"].value == MASK == "***"
        assert by_key["scraper.proxy_url"].is_default is False
        assert config.entry("scraper.proxy_url").value == MASK
        assert all(proxy not in repr(e) and "s3cret" not in repr(e) for e in entries)
        assert config.value("scraper.proxy_url") == proxy
        assert (by_key["jobs.lease_seconds"].value, by_key["jobs.lease_seconds"].is_default) == (60, False)
        assert by_key["jobs.lease_seconds"].type_name == "int"
        assert by_key["artifacts.allowed_content_types"].type_name == "list[str]"
        assert by_key["audit.retention_days"].is_default is True
        assert by_key["audit.retention_days"].value == 365
        assert sum(not e.is_default for e in entries) == 2


def test_frame_masks_secret_values(db: Database) -> None:
    proxy = "http://scraper:s3cret-Pa55@proxy.internal:3128"
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        config.set("scraper.proxy_url", proxy)
        config.set("jobs.lease_seconds", 60)
        frame = config.frame()
    values = dict(zip(frame["key"], frame["value"], strict=True))
    assert values == {"jobs.lease_seconds": "60", "scraper.proxy_url": f'"{MASK}"'}  # JSON text, masked
    assert not any("s3cret" in str(cell) for cell in frame.to_numpy().ravel())


@pytest.mark.parametrize("value", [b"http://scraper:s3cret-Pa55@proxy:3128", ["http://scraper:s3cret-Pa55@proxy"]])
def test_wrong_type_for_a_secret_key_does_not_repeat_the_value(db: Database, value: Any) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        with pytest.raises(ValidationError) as caught:
            config.set("scraper.proxy_url", value)
        assert "'scraper.proxy_url' expects str" in str(caught.value)
        assert not any("s3cret" in text for text in texts_of(caught.value))
        assert config.count() == 0


@pytest.mark.parametrize("call", ["add", "add_many", "upsert_many"])
def test_bulk_and_raw_writes_are_refused_pointing_to_set(db: Database, call: str) -> None:
    """They would store undeclared keys and wrongly typed values; ``set`` checks both."""
    rows = [{"key": "jobs.no_such_key", "value": "x"}, {"key": "jobs.lease_seconds", "value": "ten"}]
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        with pytest.raises(ValidationError, match=r"ConfigRepository\.set"):
            if call == "add":
                config.add(SystemConfig(key="jobs.no_such_key", value="x"))
            elif call == "add_many":
                config.add_many(rows)
            else:
                config.upsert_many(rows, conflict=["key"])
        assert config.count() == 0


def test_updated_by_is_stored(db: Database) -> None:
    with db.unit_of_work() as uow:
        admin = UserRepository(uow).create("admin", "admin@example.com", role="admin")
        entry = ConfigRepository(uow).set("audit.retention_days", 90, updated_by=admin.id)
        assert entry.updated_by_id == admin.id
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        stored = config.entry("audit.retention_days")
        assert stored.updated_by_id == admin.id
        assert stored.updated_at is not None
        assert uow.session.scalar(text("SELECT updated_by_id FROM system_config")) == admin.id
        config.set("audit.retention_days", 120)  # a change without an author clears the old one
    with db.unit_of_work() as uow:
        assert ConfigRepository(uow).entry("audit.retention_days").updated_by_id is None


@pytest.mark.parametrize(("key", "typed", "expected"), [
    ("jobs.lease_seconds", "10", 10),
    ("jobs.lease_seconds", " 10 ", 10),
    ("jobs.backoff_base_seconds", "1.5", 1.5),
    ("jobs.backoff_base_seconds", "10", 10.0),
    ("artifacts.allowed_content_types", '["text/html", "text/csv"]', ["text/html", "text/csv"]),
    ("scraper.user_agent", "12345", "12345"),
    ("scraper.user_agent", "1.5", "1.5"),
    ("scraper.user_agent", "true", "true"),
    ("scraper.user_agent", '["a"]', '["a"]'),
    ("scraper.user_agent", '{"a": 1}', '{"a": 1}'),
    ("scraper.user_agent", "Bot/1.0 (+https://example.com)", "Bot/1.0 (+https://example.com)"),
    pytest.param("scraper.user_agent", "null", "null"),
    pytest.param("scraper.user_agent", '"Bot"', '"Bot"'),
])
def test_parse_text_gives_typed_values(key: str, typed: str, expected: Any) -> None:
    parsed = parse_text(key, typed)
    assert parsed == expected
    assert type(parsed) is type(expected)


@pytest.mark.parametrize(("key", "typed"), [
    ("jobs.lease_seconds", "true"),
    ("jobs.lease_seconds", "ten"),
    ("jobs.lease_seconds", "1.5"),
    ("jobs.lease_seconds", "0"),
    ("jobs.lease_seconds", '"10"'),
    ("artifacts.allowed_content_types", "text/html"),
    ("no.such.key", "1"),
])
def test_parse_text_refuses_what_the_key_cannot_hold(key: str, typed: str) -> None:
    with pytest.raises(ValidationError, match=repr(key).replace(".", r"\.")):
        parse_text(key, typed)


@pytest.fixture
def bool_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A bool key declared for the test only (``DECLARED`` has none), removed again afterwards."""
    assert all(spec.type is not bool for spec in DECLARED.values())
    monkeypatch.setitem(DECLARED, "test.enabled", ConfigKey("test.enabled", bool, False, "A test switch."))
    return "test.enabled"


@pytest.mark.parametrize(("typed", "expected"), [("true", True), ("false", False)])
def test_parse_text_bool(bool_key: str, typed: str, expected: bool) -> None:
    assert parse_text(bool_key, typed) is expected


@pytest.mark.parametrize("typed", ["1", "0", "yes", '"true"', "null"])
def test_parse_text_bool_refuses_other_text(bool_key: str, typed: str) -> None:
    with pytest.raises(ValidationError, match="expects bool"):
        parse_text(bool_key, typed)


def test_bool_value_round_trips(db: Database, bool_key: str) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        assert config.value(bool_key) is False
        config.set(bool_key, True)
        with pytest.raises(ValidationError, match="expects bool"):
            config.set(bool_key, 1)
    with db.unit_of_work() as uow:
        assert ConfigRepository(uow).value(bool_key) is True


def test_parsed_text_round_trips_through_set(db: Database) -> None:
    with db.unit_of_work() as uow:
        ConfigRepository(uow).set("jobs.lease_seconds", parse_text("jobs.lease_seconds", "77"))
        ConfigRepository(uow).set("scraper.user_agent", parse_text("scraper.user_agent", "2024"))
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        assert config.value("jobs.lease_seconds") == 77
        assert config.value("scraper.user_agent") == "2024"


# --- artifacts ----------------------------------------------------------------------------------


def test_set_metadata_many_keys_then_overwrite_some(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        one = add_artifact(uow, job_id, "one")
        other = add_artifact(uow, job_id, "other")
        artifacts.set_metadata(one, {"http_status": 200, "language": "en", "score": 0.5, "cached": False,
                                     "tags": ["a", "b"], "headers": {"server": "nginx", "age": 3}})
        artifacts.set_metadata(other, {"http_status": 404})
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).set_metadata(one, {"http_status": 301, "cached": True, "charset": "utf-8",
                                                   "empty": None})
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        stored = artifacts.metadata(one)
        assert stored == {
            "cached": True, "charset": "utf-8", "empty": None, "headers": {"server": "nginx", "age": 3},
            "http_status": 301, "language": "en", "score": 0.5, "tags": ["a", "b"],
        }
        assert list(stored) == sorted(stored)
        assert artifacts.metadata(other) == {"http_status": 404}
        assert artifacts.metadata(999_999) == {}


@pytest.mark.parametrize("value", [
    7, 0, -3, "7", "", 0.5, True, False, None, [1, "x", None, 1.5, False], [], {"nested": {"k": [1, 2]}, "n": None},
    {}, "Zoë — 日本", 2**62,
    pytest.param(2.0, id="integral-float"),
    pytest.param(10**20 + 1, id="int-beyond-64-bits"),
])
def test_metadata_value_keeps_its_type(db: Database, job_id: int, value: Any,
                                       request: pytest.FixtureRequest) -> None:
    with db.unit_of_work() as uow:
        artifact = add_artifact(uow, job_id, "typed")
        ArtifactRepository(uow).set_metadata(artifact, {"value": value})
    with db.unit_of_work() as uow:
        stored = ArtifactRepository(uow).metadata(artifact)["value"]
    assert stored == value
    assert type(stored) is type(value)


def test_objects_stay_readable_after_set_metadata(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        artifact = ArtifactRepository(uow).add(Artifact(job_id=job_id, bucket="raw", object_key="one",
                                                        filename="one.html", content_type="text/html",
                                                        size_bytes=10, sha256=SHA_A))
        ArtifactRepository(uow).set_metadata(artifact.id, {"a": 1})
    assert artifact.object_key == "one"


def test_delete_metadata(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        one = add_artifact(uow, job_id, "one")
        two = add_artifact(uow, job_id, "two")
        artifacts.set_metadata(one, {"a": 1, "b": 2, "c": 3})
        artifacts.set_metadata(two, {"a": 1})
        assert artifacts.delete_metadata(one, ["a", "c", "missing"]) == 2
        assert artifacts.delete_metadata(one, []) == 0
        assert artifacts.delete_metadata(one, ["a"]) == 0
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        assert artifacts.metadata(one) == {"b": 2}
        assert artifacts.metadata(two) == {"a": 1}


@pytest.mark.parametrize("key", ["Bad Key", "", "x" * 101, "1abc", "_abc", "Abc", "a b", "ключ", "a;drop"])
def test_invalid_metadata_keys_are_refused_naming_the_key(db: Database, job_id: int, key: str) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        artifact = add_artifact(uow, job_id, "one")
        with pytest.raises(ValidationError) as caught:
            artifacts.set_metadata(artifact, {"good": 1, key: "v"})
        assert repr(key) in str(caught.value)
        assert artifacts.metadata(artifact) == {}  # the valid key in the same call was not written either
        with pytest.raises(ValidationError):
            artifacts.find_by_metadata(key, "v")


def test_longest_metadata_key_is_accepted(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        artifact = add_artifact(uow, job_id, "one")
        ArtifactRepository(uow).set_metadata(artifact, {"k" * 100: 1, "a.b-c_d9": 2})
        assert ArtifactRepository(uow).metadata(artifact) == {"k" * 100: 1, "a.b-c_d9": 2}


@pytest.mark.parametrize("value", [
    {1, 2}, datetime(2024, 1, 1, tzinfo=UTC), math.nan, [1, math.nan], {"x": math.nan}, (1, 2), b"bytes",
    {1: "non-string key"}, object(),
], ids=["set", "datetime", "nan", "nan-in-list", "nan-in-dict", "tuple", "bytes", "int-dict-key", "object"])
def test_invalid_metadata_values_are_refused_naming_the_key(db: Database, job_id: int, value: Any) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        artifact = add_artifact(uow, job_id, "one")
        with pytest.raises(ValidationError) as caught:
            artifacts.set_metadata(artifact, {"language": "en", "payload": value})
        assert "'payload'" in str(caught.value)
        assert artifacts.metadata(artifact) == {}


@pytest.mark.parametrize("value", [math.inf, -math.inf, [math.inf]], ids=["inf", "-inf", "inf-in-list"])
def test_infinite_metadata_values_are_refused(db: Database, job_id: int, value: Any) -> None:
    with db.unit_of_work() as uow:
        artifact = add_artifact(uow, job_id, "one")
        with pytest.raises(ValidationError, match="'payload'"):
            ArtifactRepository(uow).set_metadata(artifact, {"payload": value})


def test_set_metadata_on_unknown_artifact_is_not_found(db: Database) -> None:
    with db.unit_of_work() as uow, pytest.raises(NotFoundError, match="4242"):
        ArtifactRepository(uow).set_metadata(4242, {"a": 1})


TAGGED: dict[str, dict[str, Any]] = {
    "ok_en": {"http_status": 200, "language": "en"},
    "text_200": {"http_status": "200", "language": "EN"},
    "missing_en": {"http_status": 404, "language": "en"},
    "bare": {},
    "ok_de": {"http_status": 200, "language": "de", "other": "en"},
    "flag_true": {"flag": True},
    "flag_one": {"flag": 1},
    "tags_ab": {"tags": ["a", "b"]},
    "tags_ba": {"tags": ["b", "a"]},
    "headers": {"headers": {"a": 1, "b": 2}},
    "noted": {"note": None},
}

# (key, value, the artifacts that must be found, in id order)
FIND_CASES: dict[str, tuple[str, Any, list[str]]] = {
    "int-200": ("http_status", 200, ["ok_en", "ok_de"]),
    "text-200": ("http_status", "200", ["text_200"]),
    "int-404": ("http_status", 404, ["missing_en"]),
    "int-500": ("http_status", 500, []),
    "text-en": ("language", "en", ["ok_en", "missing_en"]),
    "text-EN": ("language", "EN", ["text_200"]),
    "bool-true": ("flag", True, ["flag_true"]),
    "int-1": ("flag", 1, ["flag_one"]),
    "unknown-key": ("nobody_has_this", 200, []),
    "list": ("tags", ["a", "b"], ["tags_ab"]),
    "dict-same-order": ("headers", {"a": 1, "b": 2}, ["headers"]),
    "dict-other-order": ("headers", {"b": 2, "a": 1}, ["headers"]),
    "none": ("note", None, ["noted"]),
}

@pytest.fixture
def tagged(db: Database, job_id: int) -> dict[str, int]:
    """Committed artifacts carrying the metadata of ``TAGGED``, by name."""
    with db.unit_of_work() as uow:
        ids = {name: add_artifact(uow, job_id, name) for name in TAGGED}
        for name, values in TAGGED.items():
            if values:
                ArtifactRepository(uow).set_metadata(ids[name], values)
    return ids


@pytest.mark.parametrize("case", list(FIND_CASES))
def test_find_by_metadata_returns_exactly_the_matches(db: Database, tagged: dict[str, int], case: str,
                                                      request: pytest.FixtureRequest) -> None:
    key, value, expected = FIND_CASES[case]
    with db.unit_of_work() as uow:
        found = [artifact.id for artifact in ArtifactRepository(uow).find_by_metadata(key, value)]
    assert found == [tagged[name] for name in expected]


def test_find_by_metadata_limit(db: Database, tagged: dict[str, int], request: pytest.FixtureRequest) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        assert [a.id for a in artifacts.find_by_metadata("http_status", 200, limit=1)] == [tagged["ok_en"]]
        with pytest.raises(ValidationError, match="limit"):
            artifacts.find_by_metadata("http_status", 200, limit=0)


def test_metadata_coverage_counts_and_shares(db: Database, job_id: int) -> None:  # statistics live in analytics
    assert metadata_coverage(db).empty
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        made = [add_artifact(uow, job_id, f"a{n}") for n in range(3)]
        for artifact in made:
            artifacts.set_metadata(artifact, {"a": 1})
        artifacts.set_metadata(made[0], {"a": 2, "b": "x"})  # overwriting does not count twice
    coverage = metadata_coverage(db)
    assert list(zip(coverage["key"], coverage["artifacts"], strict=True)) == [("a", 3), ("b", 1)]
    assert coverage["coverage"][0] == 1.0
    assert coverage["coverage"][1] == pytest.approx(1 / 3)


def test_metadata_coverage_counts_artifacts_without_metadata(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        made = [add_artifact(uow, job_id, f"a{n}") for n in range(4)]
        artifacts.set_metadata(made[1], {"b": 1, "c": 1})
        artifacts.set_metadata(made[2], {"c": 1})
    coverage = metadata_coverage(db)
    assert list(coverage.itertuples(index=False, name=None)) == [("c", 2, 0.5), ("b", 1, 0.25)]


def test_by_checksum_stays_within_the_job(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        owner_id = uow.session.get_one(ScrapingJob, job_id).owner_id
        other_job = make_job(uow, owner_id, "other").id
        mine = add_artifact(uow, job_id, "mine", sha256=SHA_A)
        theirs = add_artifact(uow, other_job, "theirs", sha256=SHA_B)
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)

        def found(job: int, sha256: str) -> int | None:
            artifact = artifacts.by_checksum(job, sha256)
            return None if artifact is None else artifact.id

        assert found(job_id, SHA_A) == mine
        assert found(job_id, SHA_A.upper()) == mine
        assert found(job_id, SHA_B) is None
        assert found(other_job, SHA_A) is None
        assert found(other_job, SHA_B) == theirs


def test_for_job_returns_only_that_jobs_artifacts_oldest_first(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        owner_id = uow.session.get_one(ScrapingJob, job_id).owner_id
        other_job = make_job(uow, owner_id, "other").id
        mine = [add_artifact(uow, job_id, f"mine-{n}") for n in range(3)]
        add_artifact(uow, other_job, "theirs")
        empty_job = make_job(uow, owner_id, "empty").id
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        assert [a.id for a in artifacts.for_job(job_id)] == mine
        assert [a.object_key for a in artifacts.for_job(other_job)] == ["theirs"]
        assert artifacts.for_job(empty_job) == []


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
