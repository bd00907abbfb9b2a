"""The audit trail against real databases (SQLite and PostgreSQL): recording, the chain, tampering, pruning.

Recording: every write kind of the user, config and artifact repositories appends exactly one row with
the right action, resource and details (password hashes and secret config values masked); bulk writes
record one row per row touched; the audit row lives and dies with its change (same transaction, same
savepoint); the acting user, ip address and user agent from ``acting_as`` are carried on each row.

The chain: rows link (first to the genesis value), ``verify`` agrees, and every stored hash is recomputed
here independently from the documented canonical form with nothing but ``json`` and ``hashlib``.

Tampering (guard triggers dropped first): an edited, deleted, forged or swapped row is found and named;
rows cut off the end or a fully recomputed chain are caught by a checkpoint; with an audit key, a plain
sha256 recompute is caught. Without dropping them, the guards refuse UPDATE and DELETE.

Pruning a prefix keeps the rest verifiable (anchored), also against an older checkpoint. Concurrent
writers in separate processes build one chain without a fork. No secret ever reaches the details, and
corrupt checkpoint files are refused naming the file.

Several tests began as strict xfails documenting real defects (bulk inserts unrecorded, 1 == True hiding
changes, ...); they now guard the fixes.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import multiprocessing
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from stratlogic.audit import acting_as, prune_before, verify
from stratlogic.audit import checkpoint as checkpoints
from stratlogic.db import Database
from stratlogic.errors import ConflictError, StratLogicError, ValidationError
from stratlogic.models import Artifact, AuditLog, ScrapingJob, SystemConfig, User, utcnow
from stratlogic.repositories import ArtifactRepository, ConfigRepository, MetadataRepository, UserRepository
from tests.conftest import make_settings

PASSWORD = "Quartz-Violin-Harbor-57"
OTHER_PASSWORD = "Maple-Sunrise-Kettle-91"
SECRET_PROXY = "http://scraper:Hidden-Proxy-Pass-42@proxy.internal:3128"
SECRET_KEY = "scraper.proxy_url"
GENESIS_HASH = "0" * 64
AUDIT_KEY = "k" * 32
GUARD_DROPS = {
    "postgresql": ("DROP TRIGGER audit_logs_no_update_delete ON audit_logs",
                   "DROP TRIGGER audit_logs_prefix_only ON audit_logs"),
    "sqlite": ("DROP TRIGGER audit_logs_no_update", "DROP TRIGGER audit_logs_no_delete"),
}

# --- helpers ------------------------------------------------------------------------------------


def trail(db: Database, after: int = 0) -> list[AuditLog]:
    """The audit rows with ``id > after``, oldest first, read in a fresh session."""
    with db.unit_of_work(readonly=True) as uow:
        return list(uow.session.scalars(select(AuditLog).where(AuditLog.id > after).order_by(AuditLog.id)))


def tail_id(db: Database) -> int:
    """The newest audit row's id (0 when the trail is empty)."""
    with db.unit_of_work(readonly=True) as uow:
        return int(uow.session.scalar(select(func.max(AuditLog.id))) or 0)


def actions(rows: list[AuditLog]) -> list[str]:
    """The actions of these rows, in order."""
    return [row.action for row in rows]


def canonical_bytes(occurred_at: datetime, actor_id: int | None, action: str, resource_type: str,
                    resource_id: str | None, ip_address: str | None, user_agent: str | None,
                    details: Any) -> bytes:
    """The documented canonical form, built here with ``json`` only (not the package's functions)."""
    when = occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = ["v1", when, actor_id, action, resource_type, resource_id, ip_address, user_agent, details]
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def row_bytes(row: AuditLog) -> bytes:
    """The canonical form of a stored row."""
    return canonical_bytes(row.occurred_at, row.actor_id, row.action, row.resource_type, row.resource_id,
                           row.ip_address, row.user_agent, row.details)


def plain_hash(prev_hash: str, body: bytes) -> str:
    """``sha256(prev_hash || "\\n" || canonical)`` as hex: what an attacker without the key can compute."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + body).hexdigest()


def raw_sql(db: Database, sql: str, **params: Any) -> None:
    """Run one raw statement in its own unit of work."""
    with db.unit_of_work() as uow:
        uow.session.execute(text(sql), params)


def json_slot(db: Database, name: str) -> str:
    """A bind parameter carrying JSON text into the details column (JSONB needs a cast)."""
    return f"CAST(:{name} AS JSONB)" if db.dialect == "postgresql" else f":{name}"


def stored_time(db: Database, moment: datetime) -> datetime | str:
    """A timestamp as a raw statement must bind it (SQLite keeps naive UTC text)."""
    if db.dialect == "postgresql":
        return moment
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def drop_guards(db: Database) -> None:
    """Drop the append-only triggers (what an attacker with DDL rights would do first)."""
    with db.unit_of_work() as uow:
        for statement in GUARD_DROPS[db.dialect]:
            uow.session.execute(text(statement))


def recompute_chain(db: Database) -> None:
    """Rewrite every prev_hash and hash with plain sha256 over the rows as they now are."""
    prev = GENESIS_HASH
    rows = trail(db)
    with db.unit_of_work() as uow:
        for row in rows:
            current = plain_hash(prev, row_bytes(row))
            uow.session.execute(text("UPDATE audit_logs SET prev_hash = :prev, hash = :hash WHERE id = :id"),
                                {"prev": prev, "hash": current, "id": row.id})
            prev = current


def make_users(db: Database, count: int, prefix: str = "user") -> list[int]:
    """Create ``count`` users, each in its own unit of work; their ids."""
    ids = []
    for i in range(count):
        with db.unit_of_work() as uow:
            ids.append(UserRepository(uow).create(f"{prefix}{i:03d}", f"{prefix}{i}@example.com").id)
    return ids


def make_artifact(db: Database, key: str = "pages/1.html") -> int:
    """A committed artifact (of a job of a fresh owner); its id."""
    with db.unit_of_work() as uow:
        name = "owner." + key.replace("/", ".")
        owner = UserRepository(uow).create(name, f"{name}@example.com")
        job = ScrapingJob(owner_id=owner.id, name="job", target_url="https://example.com/")
        uow.session.add(job)
        uow.session.flush()
        artifact = Artifact(job_id=job.id, bucket="raw", object_key=key, filename="1.html",
                            content_type="text/html", size_bytes=10, sha256="ab" * 32)
        return ArtifactRepository(uow).add(artifact).id


def metadata_ids(db: Database, artifact_id: int) -> dict[str, int]:
    """The metadata row id of each key of an artifact."""
    with db.unit_of_work(readonly=True) as uow:
        rows = uow.session.execute(text("SELECT key, id FROM artifact_metadata WHERE artifact_id = :a"),
                                   {"a": artifact_id})
        return {key: int(ident) for key, ident in rows}


def details_texts(db: Database) -> list[str]:
    """Every audit row's details as the database stores them (JSON text)."""
    column = "details::text" if db.dialect == "postgresql" else "details"
    with db.unit_of_work(readonly=True) as uow:
        return [str(value) for value in uow.session.scalars(text(f"SELECT {column} FROM audit_logs ORDER BY id"))]


@pytest.fixture
def keyed_db(migrated_url: str, tmp_path: Path) -> Iterator[Database]:
    """A Database on a fresh migrated database whose trail is keyed (HMAC-SHA256)."""
    database = Database.from_settings(make_settings(migrated_url, tmp_path, audit_key=AUDIT_KEY))
    yield database
    database.dispose()


# --- 1. recording: users --------------------------------------------------------------------------


def test_user_created_records_values_with_the_hash_masked(db: Database) -> None:
    with db.unit_of_work() as uow:
        user = UserRepository(uow).create("ada", "ada@example.com", password=PASSWORD, full_name="Ada L.")
    rows = trail(db)
    assert actions(rows) == ["user.created"]
    row = rows[0]
    assert (row.resource_type, row.resource_id) == ("user", str(user.id))
    values = row.details["values"]
    assert values["password_hash"] == "***"
    assert (values["username"], values["email"], values["full_name"]) == ("ada", "ada@example.com", "Ada L.")
    assert values["role"] == "viewer"


def test_user_created_without_password_records_no_hash_field(db: Database) -> None:
    with db.unit_of_work() as uow:
        UserRepository(uow).create("grace", "grace@example.com")
    (row,) = trail(db)
    assert row.action == "user.created"
    assert "password_hash" not in row.details["values"]


def test_user_update_records_old_and_new(db: Database) -> None:
    (ident,) = make_users(db, 1)
    start = tail_id(db)
    with db.unit_of_work() as uow:
        UserRepository(uow).update(ident, full_name="Ada Lovelace", email="ADA@Example.com")
    (row,) = trail(db, start)
    assert (row.action, row.resource_type, row.resource_id) == ("user.updated", "user", str(ident))
    assert row.details["changes"] == {"full_name": {"old": None, "new": "Ada Lovelace"},
                                      "email": {"old": "user0@example.com", "new": "ada@example.com"}}


def test_update_that_changes_nothing_records_nothing(db: Database) -> None:
    (ident,) = make_users(db, 1)
    start = tail_id(db)
    with db.unit_of_work() as uow:
        UserRepository(uow).update(ident, email="user0@example.com")
    assert trail(db, start) == []


def test_role_change_is_its_own_action(db: Database) -> None:
    (ident,) = make_users(db, 1)
    start = tail_id(db)
    with db.unit_of_work() as uow:
        UserRepository(uow).update(ident, role="admin")
    (row,) = trail(db, start)
    assert (row.action, row.resource_id) == ("user.role_changed", str(ident))
    assert row.details["changes"] == {"role": {"old": "viewer", "new": "admin"}}


@pytest.mark.parametrize(("method", "action", "field", "old", "new"), [
    ("deactivate", "user.deactivated", "is_active", True, False),
    ("mark_verified", "user.verified", "is_verified", False, True),
])
def test_activation_and_verification_are_recorded(db: Database, method: str, action: str, field: str,
                                                   old: bool, new: bool) -> None:
    (ident,) = make_users(db, 1)
    start = tail_id(db)
    with db.unit_of_work() as uow:
        getattr(UserRepository(uow), method)(ident)
        getattr(UserRepository(uow), method)(ident)  # the second call changes nothing: no second row
    (row,) = trail(db, start)
    assert (row.action, row.resource_type, row.resource_id) == (action, "user", str(ident))
    assert row.details["changes"] == {field: {"old": old, "new": new}}


def test_reactivation_is_recorded(db: Database) -> None:
    (ident,) = make_users(db, 1)
    with db.unit_of_work() as uow:
        UserRepository(uow).deactivate(ident)
    start = tail_id(db)
    with db.unit_of_work() as uow:
        UserRepository(uow).activate(ident)
    (row,) = trail(db, start)
    assert (row.action, row.resource_id) == ("user.activated", str(ident))
    assert row.details["changes"] == {"is_active": {"old": False, "new": True}}


def test_login_is_recorded_once_and_a_failed_login_not_at_all(db: Database) -> None:
    with db.unit_of_work() as uow:
        ident = UserRepository(uow).create("ada", "ada@example.com", password=PASSWORD).id
    start = tail_id(db)
    with db.unit_of_work() as uow:
        assert UserRepository(uow).authenticate("ada", OTHER_PASSWORD) is None
    assert trail(db, start) == []
    with db.unit_of_work() as uow:
        assert UserRepository(uow).authenticate("ADA", PASSWORD) is not None
    (row,) = trail(db, start)
    assert (row.action, row.resource_type, row.resource_id) == ("user.logged_in", "user", str(ident))
    assert row.details == {"rehashed": False}


def test_password_change_is_recorded_without_any_hash(db: Database) -> None:
    with db.unit_of_work() as uow:
        ident = UserRepository(uow).create("ada", "ada@example.com", password=PASSWORD).id
    start = tail_id(db)
    with db.unit_of_work() as uow:
        UserRepository(uow).set_password(ident, OTHER_PASSWORD)
        stored_hash = UserRepository(uow).get(ident).password_hash
    (row,) = trail(db, start)
    assert (row.action, row.resource_id) == ("user.password_changed", str(ident))
    assert row.details == {"password": "set"}
    assert stored_hash is not None
    dumped = json.dumps(row.details)
    assert stored_hash not in dumped and "$argon2" not in dumped and OTHER_PASSWORD not in dumped


# --- 1. recording: config -------------------------------------------------------------------------


def test_config_set_and_unset_record_old_and_new(db: Database) -> None:
    with db.unit_of_work() as uow:
        ConfigRepository(uow).set("jobs.lease_seconds", 120)
        ConfigRepository(uow).set("jobs.lease_seconds", 120)  # same value: nothing to record
        ConfigRepository(uow).set("jobs.lease_seconds", 90)
        assert ConfigRepository(uow).unset("jobs.lease_seconds") is True
        assert ConfigRepository(uow).unset("jobs.lease_seconds") is False  # not set: nothing to record
    rows = trail(db)
    assert actions(rows) == ["config.set", "config.set", "config.unset"]
    assert {(row.resource_type, row.resource_id) for row in rows} == {("config", "jobs.lease_seconds")}
    assert [row.details for row in rows] == [{"old": 300, "new": 120}, {"old": 120, "new": 90},
                                             {"old": 90, "new": 300}]


def test_secret_config_is_masked_in_the_trail_but_stored(db: Database) -> None:
    with db.unit_of_work() as uow:
        ConfigRepository(uow).set(SECRET_KEY, SECRET_PROXY)
    with db.unit_of_work() as uow:
        assert ConfigRepository(uow).value(SECRET_KEY) == SECRET_PROXY
        assert uow.session.get(SystemConfig, SECRET_KEY).value == SECRET_PROXY  # type: ignore[union-attr]
        ConfigRepository(uow).unset(SECRET_KEY)
    rows = trail(db)
    assert actions(rows) == ["config.set", "config.unset"]
    assert [row.resource_id for row in rows] == [SECRET_KEY, SECRET_KEY]
    assert [row.details for row in rows] == [{"old": "***", "new": "***"}, {"old": "***", "new": "***"}]


def test_config_set_by_another_user_is_recorded(db: Database) -> None:
    first, second = make_users(db, 2)
    with acting_as(first), db.unit_of_work() as uow:
        ConfigRepository(uow).set("jobs.lease_seconds", 120)
    start = tail_id(db)
    with acting_as(second), db.unit_of_work() as uow:
        ConfigRepository(uow).set("jobs.lease_seconds", 120)
    with db.unit_of_work(readonly=True) as uow:
        assert ConfigRepository(uow).entry("jobs.lease_seconds").updated_by_id == second  # the row did change
    rows = trail(db, start)
    assert [(row.action, row.actor_id) for row in rows] == [("config.set", second)]


def test_config_generic_delete_is_recorded_and_masked(db: Database) -> None:
    with db.unit_of_work() as uow:
        ConfigRepository(uow).set(SECRET_KEY, SECRET_PROXY)
    start = tail_id(db)
    with db.unit_of_work() as uow:
        ConfigRepository(uow).delete(SECRET_KEY)
    rows = trail(db, start)
    assert [(row.resource_type, row.resource_id) for row in rows] == [("config", SECRET_KEY)]
    assert SECRET_PROXY not in json.dumps(rows[0].details)


# --- 1. recording: artifacts and metadata ---------------------------------------------------------


def test_artifact_created_updated_and_deleted_with_cascaded_keys(db: Database) -> None:
    start = tail_id(db)
    artifact_id = make_artifact(db)
    created = [row for row in trail(db, start) if row.resource_type == "artifact"]
    assert [(row.action, row.resource_id) for row in created] == [("artifact.created", str(artifact_id))]
    assert created[0].details["values"]["object_key"] == "pages/1.html"
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).set_metadata(artifact_id, {"title": "Home", "lang": "en"})
    start = tail_id(db)
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).update(artifact_id, filename="index.html")
    (updated,) = trail(db, start)
    assert (updated.action, updated.resource_type, updated.resource_id) == \
        ("artifact.updated", "artifact", str(artifact_id))
    assert updated.details["changes"] == {"filename": {"old": "1.html", "new": "index.html"}}
    start = tail_id(db)
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).delete(artifact_id)
    (deleted,) = trail(db, start)  # one row: the cascaded metadata is listed on it, not recorded apart
    assert (deleted.action, deleted.resource_id) == ("artifact.deleted", str(artifact_id))
    assert deleted.details["cascaded"] == {"artifact_metadata": ["lang", "title"]}
    assert deleted.details["values"]["filename"] == "index.html"
    assert metadata_ids(db, artifact_id) == {}


def test_set_metadata_records_one_row_per_created_or_changed_key(db: Database) -> None:
    artifact_id = make_artifact(db)
    start = tail_id(db)
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).set_metadata(artifact_id, {"title": "Home", "lang": "en", "size": 3})
    first = trail(db, start)
    ids = metadata_ids(db, artifact_id)
    assert actions(first) == ["artifact.metadata_set"] * 3
    assert {row.resource_type for row in first} == {"artifact_metadata"}
    assert {row.resource_id: row.details["values"]["key"] for row in first} == \
        {str(ident): key for key, ident in ids.items()}
    start = tail_id(db)
    with db.unit_of_work() as uow:  # title unchanged, lang changed, tags new
        ArtifactRepository(uow).set_metadata(artifact_id, {"title": "Home", "lang": "fr", "tags": ["a", "b"]})
    second = trail(db, start)
    ids = metadata_ids(db, artifact_id)
    assert actions(second) == ["artifact.metadata_set"] * 2
    by_resource = {row.resource_id: row.details for row in second}
    assert set(by_resource) == {str(ids["lang"]), str(ids["tags"])}
    assert by_resource[str(ids["lang"])] == {"changes": {"value": {"old": "en", "new": "fr"}}}
    assert by_resource[str(ids["tags"])]["values"]["value"] == ["a", "b"]


def test_set_metadata_records_a_change_of_json_type(db: Database) -> None:
    artifact_id = make_artifact(db)
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).set_metadata(artifact_id, {"flag": 1})
    start = tail_id(db)
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).set_metadata(artifact_id, {"flag": True})
    with db.unit_of_work(readonly=True) as uow:
        assert ArtifactRepository(uow).metadata(artifact_id)["flag"] is True  # the value did change
    rows = trail(db, start)
    assert actions(rows) == ["artifact.metadata_set"]


def test_delete_metadata_records_one_row_per_deleted_key(db: Database) -> None:
    artifact_id = make_artifact(db)
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).set_metadata(artifact_id, {"a": 1, "b": 2, "c": 3})
    ids = metadata_ids(db, artifact_id)
    start = tail_id(db)
    with db.unit_of_work() as uow:
        assert ArtifactRepository(uow).delete_metadata(artifact_id, ["a", "c", "missing"]) == 2
    rows = trail(db, start)
    assert actions(rows) == ["artifact.metadata_deleted"] * 2
    assert {row.resource_id for row in rows} == {str(ids["a"]), str(ids["c"])}
    assert sorted(row.details["values"]["key"] for row in rows) == ["a", "c"]


# --- 2. bulk writes -------------------------------------------------------------------------------


def test_update_where_records_each_user(db: Database) -> None:
    ids = make_users(db, 5, "bulk")
    make_users(db, 2, "other")
    start = tail_id(db)
    with db.unit_of_work() as uow:
        assert UserRepository(uow).update_where({"username__startswith": "bulk"}, full_name="Team") == 5
    rows = trail(db, start)
    assert actions(rows) == ["user.updated"] * 5
    assert [row.resource_id for row in rows] == [str(ident) for ident in ids]
    assert all(row.details == {"changes": {"full_name": {"old": None, "new": "Team"}}} for row in rows)


def test_delete_where_on_metadata_records_each_row(db: Database) -> None:
    artifact_id = make_artifact(db)
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).set_metadata(artifact_id, {"a": 1, "b": 2, "c": 3, "d": 4})
    ids = metadata_ids(db, artifact_id)
    start = tail_id(db)
    with db.unit_of_work() as uow:
        assert MetadataRepository(uow).delete_where({"artifact_id": artifact_id}) == 4
    rows = trail(db, start)
    assert actions(rows) == ["artifact.metadata_deleted"] * 4
    assert sorted(int(row.resource_id or 0) for row in rows) == sorted(ids.values())


def test_add_many_records_each_row(db: Database) -> None:
    start = tail_id(db)
    with db.unit_of_work() as uow:
        ids = UserRepository(uow).add_many([{"username": f"many{i}", "email": f"many{i}@example.com"}
                                            for i in range(7)])
    assert len(ids) == 7
    rows = trail(db, start)
    assert actions(rows) == ["user.created"] * 7
    assert [row.resource_id for row in rows] == [str(ident) for ident in ids]


def test_upsert_many_records_created_and_changed_rows_only(db: Database) -> None:
    artifact_id = make_artifact(db)
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).set_metadata(artifact_id, {"a": 1, "b": 2, "c": 3})
    start = tail_id(db)
    rows = [{"artifact_id": artifact_id, "key": key, "value": value}
            for key, value in {"a": 1, "b": 20, "c": 3, "d": 4, "e": 5}.items()]
    with db.unit_of_work() as uow:
        MetadataRepository(uow).upsert_many(rows, conflict=("artifact_id", "key"), update_fields=("value",))
    recorded = trail(db, start)
    ids = metadata_ids(db, artifact_id)
    assert actions(recorded) == ["artifact.metadata_set"] * 3
    assert {row.resource_id for row in recorded} == {str(ids["b"]), str(ids["d"]), str(ids["e"])}
    changed = next(row for row in recorded if row.resource_id == str(ids["b"]))
    assert changed.details == {"changes": {"value": {"old": 2, "new": 20}}}


# --- 3. same transaction --------------------------------------------------------------------------


def test_failed_unit_of_work_leaves_neither_change_nor_audit_row(db: Database) -> None:
    make_users(db, 1)
    start = tail_id(db)
    with pytest.raises(RuntimeError, match="boom"), db.unit_of_work() as uow:
        UserRepository(uow).create("ghost", "ghost@example.com")
        assert uow.session.scalar(select(func.count()).select_from(AuditLog)) == start + 1  # visible inside
        raise RuntimeError("boom")
    assert trail(db, start) == []
    with db.unit_of_work(readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).where(User.username == "ghost")) == 0
    assert verify(db).ok


def test_refused_write_in_savepoint_leaves_no_audit_row(db: Database) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        first = users.create("ada", "ada@example.com")
        with pytest.raises(ConflictError), db.unit_of_work():  # a nested unit: a savepoint
            users.create("ADA", "other@example.com")
        with pytest.raises(ConflictError):  # refused inside the write's own savepoint
            users.create("grace", "ADA@example.com")
        second = users.create("grace", "grace@example.com")
    rows = trail(db)
    assert [(row.action, row.resource_id) for row in rows] == [("user.created", str(first.id)),
                                                              ("user.created", str(second.id))]
    assert rows[1].prev_hash == rows[0].hash  # the rolled-back row left no dangling link
    assert verify(db).ok


# --- 4. actor context -----------------------------------------------------------------------------


def test_rows_carry_the_actor_inside_acting_as_and_none_outside(db: Database) -> None:
    admin, target = make_users(db, 2)
    start = tail_id(db)
    with acting_as(admin, ip_address="10.0.0.1", user_agent="pytest"), db.unit_of_work() as uow:
        UserRepository(uow).update(target, full_name="Inside")
        ConfigRepository(uow).set("jobs.lease_seconds", 60)
    with db.unit_of_work() as uow:
        UserRepository(uow).update(target, full_name="Outside")
    rows = trail(db, start)
    assert [(row.actor_id, row.ip_address, row.user_agent) for row in rows] == [
        (admin, "10.0.0.1", "pytest"), (admin, "10.0.0.1", "pytest"), (None, None, None)]
    with db.unit_of_work(readonly=True) as uow:
        assert ConfigRepository(uow).entry("jobs.lease_seconds").updated_by_id == admin
    assert verify(db).ok  # actor, ip and user agent are hashed like the rest


@pytest.mark.parametrize("address", ["203.0.113.9" + " " * 40, "not an address", "1" * 50, "10.0.0.1\x00"])
def test_an_actor_address_that_is_not_an_ip_is_refused_before_anything_is_written(db: Database,
                                                                                  address: str) -> None:
    """PostgreSQL would cut trailing spaces off the stored value and the row would no longer verify."""
    start = tail_id(db)
    with pytest.raises(ValidationError, match="is not an IPv4 or IPv6 address"), acting_as(None, ip_address=address):
        make_users(db, 1)
    assert trail(db, start) == []


def test_an_actor_address_is_stored_in_its_standard_form_and_verifies(db: Database) -> None:
    start = tail_id(db)
    agent = "x" * 495 + " " * 10  # cut to its column's 500 characters before it is hashed
    with acting_as(None, ip_address="2001:0DB8:0000:0000:0000:0000:0000:0001", user_agent=agent):
        make_users(db, 1)
    assert {(row.ip_address, row.user_agent) for row in trail(db, start)} == {("2001:db8::1", agent[:500])}
    assert verify(db).ok


# --- 5. the chain ---------------------------------------------------------------------------------


@pytest.fixture
def busy_trail(db: Database) -> int:
    """Many writes of every kind (non-ASCII text included); how many audit rows they made."""
    ids = make_users(db, 6)
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        users.create("zoe", "zoe@example.com", full_name="Zoë Ångström 東京 \"quoted\" \\ back", password=PASSWORD)
        users.update(ids[0], full_name="Ünïcödé ✓")
        users.update(ids[1], role="operator")
        users.deactivate(ids[2])
        users.mark_verified(ids[3])
        users.authenticate("zoe", PASSWORD)
        users.update_where({"id__in": ids[3:]}, full_name="Team")
    with acting_as(ids[0], ip_address="2001:db8::1", user_agent="Mozilla/5.0 (ü)"), db.unit_of_work() as uow:
        ConfigRepository(uow).set("jobs.backoff_base_seconds", 12.5)
        ConfigRepository(uow).set("artifacts.allowed_content_types", ["text/html", "text/csv"])
        ConfigRepository(uow).set(SECRET_KEY, SECRET_PROXY)
    artifact_id = make_artifact(db)
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).set_metadata(artifact_id, {"title": "Ça va", "n": 2**60, "ratio": 0.1,
                                                           "nested": {"b": [1, None, True], "a": "x", "Z": 0, "é": -1},
                                                           "ctl": "tab\t nl\n \x01 \x1f \x7f \u2028 😀 / \\"})
        ArtifactRepository(uow).delete_metadata(artifact_id, ["ratio"])
        ArtifactRepository(uow).update(artifact_id, filename="naïve.html")
    return tail_id(db)


def test_verify_counts_every_row_and_rows_link(db: Database, busy_trail: int) -> None:
    rows = trail(db)
    assert len(rows) == busy_trail >= 25
    report = verify(db)
    assert report.ok, report.message
    assert (report.rows, report.last_id, report.last_hash) == (len(rows), rows[-1].id, rows[-1].hash)
    assert (report.bad_id, report.problem, report.anchored) == (None, None, False)
    assert rows[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash, f"row {after.id} does not link to row {before.id}"
    assert len({row.hash for row in rows}) == len(rows)


def test_every_hash_recomputes_independently(db: Database, busy_trail: int) -> None:
    rows = trail(db)
    assert len(rows) == busy_trail
    for row in rows:
        assert plain_hash(row.prev_hash, row_bytes(row)) == row.hash, f"row {row.id} ({row.action})"


def test_keyed_trail_is_hmac_and_verifies_only_with_the_key(keyed_db: Database, migrated_url: str,
                                                           tmp_path: Path) -> None:
    make_users(keyed_db, 3)
    rows = trail(keyed_db)
    assert verify(keyed_db).ok
    assert all(plain_hash(row.prev_hash, row_bytes(row)) != row.hash for row in rows)
    unkeyed = Database.from_settings(make_settings(migrated_url, tmp_path / "nokey"))
    try:
        report = verify(unkeyed)
    finally:
        unkeyed.dispose()
    assert (report.ok, report.problem, report.bad_id) == (False, "content", rows[0].id)


# --- 6. tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "value"), [
    ("resource_id", "999"),
    ("action", "user.deleted"),
    ("ip_address", "6.6.6.6"),
    ("details", json.dumps({"values": {"username": "mallory"}})),
    ("details", '{"n": 123456789012345678901234567890}'),  # no recorded row holds these numbers: named, no crash
    ("details", '{"n": 1e400}'),
])
def test_edited_middle_row_is_named(db: Database, column: str, value: str) -> None:
    make_users(db, 7)
    ids = [row.id for row in trail(db)]
    middle = ids[3]
    drop_guards(db)
    slot = json_slot(db, "value") if column == "details" else ":value"
    raw_sql(db, f"UPDATE audit_logs SET {column} = {slot} WHERE id = :id", value=value, id=middle)
    report = verify(db)
    assert (report.ok, report.problem, report.bad_id) == (False, "content", middle)
    assert str(middle) in report.message


@pytest.mark.parametrize("position", [0, 3])
def test_deleted_row_breaks_the_link_of_the_next(db: Database, position: int) -> None:
    make_users(db, 7)
    ids = [row.id for row in trail(db)]
    drop_guards(db)
    raw_sql(db, "DELETE FROM audit_logs WHERE id = :id", id=ids[position])
    report = verify(db)
    assert (report.ok, report.problem, report.bad_id) == (False, "link", ids[position + 1])


def test_forged_row_with_a_correct_hash_is_caught_at_the_next_link(db: Database) -> None:
    make_users(db, 7)
    rows = trail(db)
    gap = rows[3].id
    drop_guards(db)
    raw_sql(db, "DELETE FROM audit_logs WHERE id = :id", id=gap)
    moment = utcnow()
    details = {"values": {"username": "mallory", "role": "admin"}}
    forged = plain_hash(rows[2].hash, canonical_bytes(moment, None, "user.created", "user", "999", None, None,
                                                      details))
    raw_sql(db, "INSERT INTO audit_logs (id, occurred_at, actor_id, action, resource_type, resource_id, "
                f"ip_address, user_agent, details, prev_hash, hash) VALUES (:id, :at, NULL, 'user.created', "
                f"'user', '999', NULL, NULL, {json_slot(db, 'details')}, :prev, :hash)",
            id=gap, at=stored_time(db, moment), details=json.dumps(details), prev=rows[2].hash, hash=forged)
    stored = next(row for row in trail(db) if row.id == gap)
    assert plain_hash(stored.prev_hash, row_bytes(stored)) == stored.hash  # the forgery itself is consistent
    report = verify(db)
    assert (report.ok, report.problem, report.bad_id) == (False, "link", rows[4].id)


@pytest.mark.parametrize("forged_id", [-1, 2**63 - 1], ids=["below-every-id", "the-highest-id"])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_row_slipped_in_at_an_id_the_sequence_never_gives_is_named(db: Database, forged_id: int, workers: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No guard needs dropping to INSERT; verify must read every id there is, in one segment or several."""
    verify_module = importlib.import_module("stratlogic.audit.verify")  # the package exports verify()
    monkeypatch.setattr(verify_module, "PARALLEL_FROM", 1)
    monkeypatch.setattr(verify_module, "MIN_SEGMENT", 1)
    make_users(db, 3)
    raw_sql(db, "INSERT INTO audit_logs (id, occurred_at, action, resource_type, resource_id, details, prev_hash, "
                f"hash) VALUES (:id, :at, 'user.deleted', 'user', '1', {json_slot(db, 'details')}, :junk, :junk)",
            id=forged_id, at=stored_time(db, utcnow()), details="{}", junk="0" * 63 + "1")
    report = verify(db, workers=workers)
    assert (report.ok, report.bad_id) == (False, forged_id), report.message


def test_swapped_rows_are_caught_naming_the_first(db: Database) -> None:
    make_users(db, 7)
    ids = [row.id for row in trail(db)]
    first, second = ids[2], ids[5]
    drop_guards(db)
    with db.unit_of_work() as uow:
        found = {ident: uow.session.execute(text("SELECT action, resource_id, details FROM audit_logs "
                                                 "WHERE id = :id"), {"id": ident}).one()
                 for ident in (first, second)}
        for target, source in ((first, second), (second, first)):
            action, resource_id, details = found[source]
            uow.session.execute(
                text(f"UPDATE audit_logs SET action = :action, resource_id = :rid, "
                     f"details = {json_slot(db, 'details')} WHERE id = :id"),
                {"action": action, "rid": resource_id, "id": target,
                 "details": details if isinstance(details, str) else json.dumps(details)})
    assert trail(db)[2].resource_id == found[second][1]  # the swap really happened
    report = verify(db)
    assert (report.ok, report.bad_id) == (False, first)
    assert report.problem == "content"


def test_rows_cut_off_the_end_are_caught_by_a_checkpoint(db: Database) -> None:
    make_users(db, 6)
    point = checkpoints.take(db)
    make_users(db, 2, "late")
    assert point.last_id == 6 and point.rows == 6
    drop_guards(db)
    raw_sql(db, "DELETE FROM audit_logs WHERE id >= :id", id=point.last_id - 1)
    assert verify(db).ok  # the chain alone cannot see a cut end...
    report = verify(db, checkpoint=point)  # ...a checkpoint kept elsewhere can
    assert (report.ok, report.problem, report.bad_id) == (False, "checkpoint", point.last_id)


def test_checkpoint_row_is_recorded_and_verifies(db: Database) -> None:
    make_users(db, 4)
    point = checkpoints.take(db)
    rows = trail(db)
    assert (rows[-1].action, rows[-1].resource_id) == ("audit.checkpoint", str(point.last_id))
    assert (point.last_hash, point.keyed) == (rows[-2].hash, False)
    report = verify(db, checkpoint=point)
    assert report.ok, report.message


def test_plain_recompute_is_caught_when_the_trail_is_keyed(keyed_db: Database) -> None:
    make_users(keyed_db, 6)
    ids = [row.id for row in trail(keyed_db)]
    drop_guards(keyed_db)
    raw_sql(keyed_db, "UPDATE audit_logs SET resource_id = '999' WHERE id = :id", id=ids[3])
    recompute_chain(keyed_db)
    rows = trail(keyed_db)
    assert all(plain_hash(row.prev_hash, row_bytes(row)) == row.hash for row in rows)  # a consistent forgery
    report = verify(keyed_db)
    assert (report.ok, report.problem) == (False, "content")


def test_full_plain_recompute_is_caught_by_an_earlier_checkpoint(db: Database) -> None:
    make_users(db, 6)
    point = checkpoints.take(db)
    make_users(db, 3, "late")
    drop_guards(db)
    raw_sql(db, "UPDATE audit_logs SET resource_id = '999' WHERE id = :id", id=2)
    recompute_chain(db)
    assert verify(db).ok  # without a key or checkpoint, a full recompute goes unnoticed
    report = verify(db, checkpoint=point)
    assert (report.ok, report.problem, report.bad_id) == (False, "checkpoint", point.last_id)


# --- 7. the guards --------------------------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "UPDATE audit_logs SET action = 'user.deleted' WHERE id = :id",
    "UPDATE audit_logs SET hash = prev_hash",
    "DELETE FROM audit_logs WHERE id = :id",
    "DELETE FROM audit_logs",
])
def test_guards_refuse_update_and_delete(db: Database, statement: str) -> None:
    make_users(db, 3)
    before = [(row.id, row.action, row.hash) for row in trail(db)]
    with pytest.raises((DBAPIError, StratLogicError), match="append-only"):
        raw_sql(db, statement, id=before[1][0])
    assert [(row.id, row.action, row.hash) for row in trail(db)] == before
    assert verify(db).ok


# --- 8. prune -------------------------------------------------------------------------------------


def test_prune_before_cuts_exactly_the_prefix_and_stays_verifiable(db: Database) -> None:
    make_users(db, 10)
    before = trail(db)
    with db.unit_of_work() as uow:
        result = prune_before(uow, before[5].id)
    assert (result.rows, result.first_id, result.last_id, result.anchor_hash) == \
        (5, before[0].id, before[4].id, before[4].hash)
    after = trail(db)
    assert [row.id for row in after[:-1]] == [row.id for row in before[5:]]
    pruned = after[-1]
    assert (pruned.action, pruned.resource_type) == ("audit.pruned", "audit")
    assert pruned.details == {"first_id": before[0].id, "last_id": before[4].id, "rows": 5,
                              "anchor_hash": before[4].hash}
    report = verify(db)
    assert report.ok, report.message
    assert (report.rows, report.anchored) == (6, True)
    with db.unit_of_work(readonly=True) as uow:  # the window closed with the transaction
        assert uow.session.scalar(text("SELECT count(*) FROM audit_prune_window")) == 0
    with pytest.raises((DBAPIError, StratLogicError), match="append-only"):
        raw_sql(db, "DELETE FROM audit_logs WHERE id = :id", id=after[0].id)


@pytest.mark.parametrize("cut", ["the middle", "the end"])
def test_a_prune_window_opened_by_hand_still_lets_only_the_oldest_rows_go(db: Database, cut: str) -> None:
    """Anyone who can write audit_prune_window can open a window; it must not let rows go from the
    middle or the end (which a chain without a checkpoint cannot see)."""
    make_users(db, 4)
    before = [(row.id, row.hash) for row in trail(db)]
    doomed = before[2][0] if cut == "the middle" else before[-1][0]
    with pytest.raises((DBAPIError, StratLogicError), match="append-only"), db.unit_of_work() as uow:
        uow.session.execute(text("INSERT INTO audit_prune_window (max_id) VALUES (9223372036854775807)"))
        uow.session.execute(text("DELETE FROM audit_logs WHERE id >= :id"), {"id": doomed})
    assert [(row.id, row.hash) for row in trail(db)] == before
    with db.unit_of_work() as uow:  # a real prefix still goes, window or prune_before alike
        assert prune_before(uow, before[2][0]).rows == 2
    assert verify(db).ok


def test_prune_with_nothing_before_changes_nothing(db: Database) -> None:
    make_users(db, 3)
    with db.unit_of_work() as uow:
        result = prune_before(uow, 1)
    assert (result.rows, result.first_id) == (0, None)
    assert len(trail(db)) == 3


def test_checkpoint_taken_before_a_prune_still_verifies(db: Database) -> None:
    make_users(db, 6)
    point = checkpoints.take(db)
    make_users(db, 2, "late")
    with db.unit_of_work() as uow:
        assert prune_before(uow, 4).rows == 3
    report = verify(db, checkpoint=point)
    assert report.ok, report.message
    assert report.anchored


# --- 9. concurrency -------------------------------------------------------------------------------


def create_users_worker(url: str, home: str, prefix: str, count: int, barrier: Any) -> None:
    """In a spawned process: build a Database, wait for the others, create ``count`` users one by one."""
    database = Database.from_settings(make_settings(url, Path(home)))
    try:
        barrier.wait(timeout=120)
        for i in range(count):
            with database.unit_of_work() as uow:
                UserRepository(uow).create(f"{prefix}-{i:03d}", f"{prefix}-{i}@example.com")
    finally:
        database.dispose()


def run_writers(url: str, tmp_path: Path, processes: int, per_process: int) -> None:
    """Start the writers together (spawned processes) and require every one to succeed."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    workers = [context.Process(target=create_users_worker,
                               args=(url, str(tmp_path / f"w{n}"), f"w{n}", per_process, barrier))
               for n in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
    assert [worker.exitcode for worker in workers] == [0] * processes


def check_one_chain(url: str, tmp_path: Path, expected: int) -> None:
    """``expected`` users and user.created rows, one chain without a fork, and verify ok."""
    database = Database.from_settings(make_settings(url, tmp_path / "check"))
    try:
        with database.unit_of_work(readonly=True) as uow:
            assert uow.session.scalar(select(func.count()).select_from(User)) == expected
        rows = trail(database)
        assert actions(rows) == ["user.created"] * expected
        assert len({row.prev_hash for row in rows}) == expected  # no two rows share a parent
        report = verify(database)
        assert report.ok, report.message
        assert report.rows == expected
    finally:
        database.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_concurrent_writers_on_postgres_build_one_chain(pg_database: Callable[..., str], pg_template: str,
                                                        tmp_path: Path) -> None:
    url = pg_database(pg_template)
    run_writers(url, tmp_path, 8, 25)
    check_one_chain(url, tmp_path, 200)


@pytest.mark.sqlite
@pytest.mark.slow
def test_concurrent_writers_on_sqlite_build_one_chain(sqlite_template: Path, tmp_path: Path) -> None:
    target = tmp_path / "shared.db"
    shutil.copyfile(sqlite_template, target)
    url = f"sqlite:///{target}"
    run_writers(url, tmp_path, 4, 25)
    check_one_chain(url, tmp_path, 100)


# --- 10. secrets ----------------------------------------------------------------------------------


def test_no_secret_ever_reaches_the_details(db: Database) -> None:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        ident = users.create("ada", "ada@example.com", password=PASSWORD).id
        users.set_password(ident, OTHER_PASSWORD)
        assert users.authenticate("ada", OTHER_PASSWORD) is not None
        users.set_password(ident, None)
        ConfigRepository(uow).set(SECRET_KEY, SECRET_PROXY)
        ConfigRepository(uow).set(SECRET_KEY, SECRET_PROXY + "/v2")
        ConfigRepository(uow).unset(SECRET_KEY)
    texts = details_texts(db)
    assert len(texts) == 7
    for found in texts:
        for secret in (PASSWORD, OTHER_PASSWORD, "$argon2", SECRET_PROXY, "Hidden-Proxy-Pass-42"):
            assert secret not in found, f"{secret!r} leaked into {found}"


# --- 11. checkpoint files -------------------------------------------------------------------------

VALID_POINT = {"format": "stratlogic-audit-checkpoint/1", "last_id": 7, "last_hash": "ab" * 32, "rows": 7,
               "taken_at": "2026-11-25T08:30:00.000000Z", "keyed": False}


def test_checkpoint_file_round_trips(tmp_path: Path) -> None:
    point = checkpoints.Checkpoint.from_json(json.dumps(VALID_POINT))
    path = checkpoints.save(point, tmp_path / "deep" / "audit.checkpoint.json")
    assert checkpoints.load(path) == point
    assert not path.with_suffix(".json.partial").exists()


@pytest.mark.parametrize("content", [
    pytest.param("this is not json {", id="garbage"),
    pytest.param("", id="empty"),
    pytest.param("[1, 2, 3]", id="list"),
    pytest.param(json.dumps({**VALID_POINT, "format": "something-else/1"}), id="wrong-format"),
    pytest.param(json.dumps({k: v for k, v in VALID_POINT.items() if k != "last_hash"}), id="missing-hash"),
    pytest.param(json.dumps({**VALID_POINT, "last_id": "seven"}), id="bad-id"),
    pytest.param(json.dumps({**VALID_POINT, "last_hash": "ab" * 31}), id="short-hash"),
    pytest.param(json.dumps({**VALID_POINT, "last_hash": "ab" * 33}), id="long-hash"),
    pytest.param("42", id="number"),
    pytest.param('"checkpoint"', id="string"),
])
def test_corrupt_checkpoint_file_is_refused_naming_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "corrupt.checkpoint.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        checkpoints.load(path)
    assert str(path) in str(caught.value)


def test_missing_checkpoint_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(ValidationError, match=re.escape(str(path))):
        checkpoints.load(path)
