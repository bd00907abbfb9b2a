"""A store belongs to one database: refused writes and fixes from another, a default store per database,
one admin-password file per database, and ``seed --reset`` with the store it owns."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from stratlogic.config import Settings, load_settings
from stratlogic.db import Database
from stratlogic.errors import StorageError
from stratlogic.jobs import cleanup
from stratlogic.models import AuditLog, JobStatus, ScrapingJob, utcnow
from stratlogic.repositories import UserRepository
from stratlogic.repositories.jobs import JobRepository
from stratlogic.seed import DemoOptions, reset, seed_defaults, seed_demo
from stratlogic.seed.base import ADMIN_USERNAME, password_file
from stratlogic.storage import (
    ArtifactStore,
    delete_artifact,
    open_artifact,
    reconcile,
    store_artifact,
    store_from_settings,
)
from stratlogic.storage.identity import INSTALLATION_KEY, MARKER, installation_id, store_owner
from stratlogic.storage.local import LocalStore
from tests.cli_helpers import run_cli
from tests.conftest import make_settings
from tests.integration.storage_helpers import new_job

HTML = b"<!doctype html><p>page</p>"


@pytest.fixture
def other(other_db: Database) -> Database:
    """A second installation on the same backend."""
    return other_db


def test_the_installation_id_is_made_once_audited_and_kept(db: Database) -> None:
    assert installation_id(db, create=False) is None
    made = installation_id(db)
    fresh = Database.from_settings(db.settings)  # no process cache: read from system_config
    assert installation_id(fresh, create=False) == made and installation_id(fresh) == made
    fresh.dispose()
    with db.unit_of_work(readonly=True) as uow:
        rows = uow.session.scalars(select(AuditLog).where(AuditLog.resource_id == INSTALLATION_KEY)).all()
    assert [(r.action, r.details["new"]) for r in rows] == [("config.set", made)]


def test_a_demo_seed_writes_the_installation_id_with_its_rows_in_time_order(db: Database,
                                                                           store: ArtifactStore) -> None:
    until = date.today() - timedelta(days=1)
    seed_demo(db, DemoOptions(users=3, jobs=20, days=2, seed=1, until=until), store=store)
    with db.unit_of_work(readonly=True) as uow:
        rows = uow.session.execute(select(AuditLog.resource_id, AuditLog.occurred_at).order_by(AuditLog.id)).all()
    assert rows[0].resource_id == INSTALLATION_KEY  # first, dated at the window's start like the base rows
    assert [r.occurred_at for r in rows] == sorted(r.occurred_at for r in rows)
    owner = store_owner(store)
    assert owner is not None and owner.installation_id == installation_id(db, create=False)


def test_a_store_of_another_database_is_refused_for_writes_and_fixes(db: Database, other: Database,
                                                                      store: ArtifactStore) -> None:
    mine = store_artifact(db, store, new_job(db), HTML, "a.html")
    owner = store_owner(store)
    assert owner is not None and owner.installation_id == installation_id(db)
    assert owner.database == db.settings.safe_url
    theirs = new_job(other)
    calls: dict[str, Callable[[], object]] = {
        "store_artifact": lambda: store_artifact(other, store, theirs, HTML, "b.html"),
        "reconcile --fix": lambda: reconcile(other, store, fix=True, grace=timedelta(0)),
        "reconcile": lambda: reconcile(other, store)}
    for name, call in calls.items():
        with pytest.raises(StorageError) as caught:
            call()
        message = str(caught.value)
        assert "\n" not in message, name
        assert f"belongs to database {db.settings.safe_url} (installation {installation_id(db)})" in message
        assert f"not to {other.settings.safe_url} (installation " in message
    assert store.exists(mine.object_key)  # the other database's fix deleted nothing
    assert reconcile(db, store, fix=True).findings == []
    delete_artifact(db, store, mine.id)  # the owner still writes
    assert not store.exists(mine.object_key)


def test_a_job_cleanup_through_another_database_s_store_deletes_nothing(db: Database, other: Database,
                                                                        store: ArtifactStore) -> None:
    store_artifact(db, store, new_job(db), HTML, "a.html")
    new_job(other)
    with other.unit_of_work() as uow:
        uow.session.execute(update(ScrapingJob).values(status=JobStatus.COMPLETED,
                                                      finished_at=utcnow() - timedelta(days=1)))
    with pytest.raises(StorageError, match="belongs to database"):
        cleanup(other, utcnow(), dry_run=False, store=store)
    with other.unit_of_work(readonly=True) as uow:
        assert JobRepository(uow).count() == 1


def test_a_marker_of_an_earlier_database_at_the_same_url_says_how_to_move_on(db: Database,
                                                                           store: ArtifactStore) -> None:
    installation_id(db)  # this database has its id; the store names another one at the same URL
    body = json.dumps({"installation_id": "earlier", "database": db.settings.safe_url}).encode()
    store.put(io.BytesIO(body), f"{store.prefix}{MARKER}", "application/json")
    with pytest.raises(StorageError, match="it was an earlier database at this URL: move the store away"):
        store_artifact(db, store, new_job(db), HTML, "a.html")


def test_default_store_is_per_database(tmp_path: Path) -> None:
    default = load_settings(home=tmp_path)
    assert default.artifact_store == "file:var/artifacts"
    pg = load_settings(home=tmp_path, database_url="postgresql://postgres@127.0.0.1:5432/stratlogic")
    other_pg = load_settings(home=tmp_path, database_url="postgresql://postgres@10.0.0.9:5432/stratlogic")
    other_file = load_settings(home=tmp_path, database_url="sqlite:///var/other.db")
    stores = {s.artifact_store for s in (default, pg, other_pg, other_file)}
    assert len(stores) == 4 and pg.artifact_store.startswith("file:var/artifacts-stratlogic-")
    assert other_file.artifact_store.startswith("file:var/artifacts-other-")
    chosen = load_settings(home=tmp_path, database_url="postgresql://postgres@h/x", artifact_store="file:/srv/a")
    assert chosen.artifact_store == "file:/srv/a"  # STRATLOGIC_ARTIFACT_STORE always wins


def test_each_database_keeps_its_own_password_file(migrated_url: str, tmp_path: Path,
                                                   other: Database) -> None:
    first = Database.from_settings(make_settings(migrated_url, tmp_path))
    one, two = seed_defaults(first), seed_defaults(other)
    assert one.password_file is not None and two.password_file is not None
    assert one.password_file != two.password_file
    assert one.password_file == password_file(first.settings)
    for database, result in ((first, one), (other, two)):
        with database.unit_of_work() as uow:
            assert result.password_file is not None
            secret = result.password_file.read_text().strip()
            assert UserRepository(uow).authenticate(ADMIN_USERNAME, secret) is not None
    first.dispose()


@pytest.mark.sqlite
def test_a_new_database_at_the_same_path_never_overwrites_the_password_file(tmp_path: Path,
                                                                             sqlite_template: Path) -> None:
    env = {"STRATLOGIC_HOME": str(tmp_path)}
    target = tmp_path / "var" / "stratlogic.db"  # the default database: var/admin-password.txt
    target.parent.mkdir()
    shutil.copyfile(sqlite_template, target)
    assert run_cli("seed", env=env).returncode == 0
    kept = (tmp_path / "var" / "admin-password.txt").read_text()
    shutil.copyfile(sqlite_template, target)  # the file replaced by hand: a new database, a new admin
    second = run_cli("seed", env=env)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "var" / "admin-password.txt").read_text() == kept
    assert str(tmp_path / "var" / "admin-password-2.txt") in second.stderr
    assert (tmp_path / "var" / "admin-password-2.txt").read_text() != kept


@pytest.mark.sqlite
def test_make_demo_twice_then_reset_on_two_databases(tmp_path: Path, pg_available: bool,
                                                      request: pytest.FixtureRequest) -> None:
    """The Makefile's ``demo`` steps on the default SQLite file, again, with --reset, and on a second
    database with nothing but its URL changed: each gets its own store and reconciles clean."""
    sqlite_env = {"STRATLOGIC_HOME": str(tmp_path)}
    envs = [sqlite_env]
    if pg_available:
        envs.append({**sqlite_env, "STRATLOGIC_DATABASE_URL": request.getfixturevalue("pg_database")()})
    demo = ("seed", "--demo", "--users", "4", "--jobs", "30", "--days", "2", "--seed", "1")
    for env in [*envs, sqlite_env]:  # the default database twice
        for step in (("db", "upgrade"), ("db", "check"), demo, ("seed",), ("health",)):
            result = run_cli(*step, env=env)
            assert result.returncode == 0, (step, result.stderr)
    reset = run_cli(*demo, "--reset", env=sqlite_env)
    assert reset.returncode == 0, reset.stderr
    assert "object(s) removed from" in reset.stderr and "and its marker with them" in reset.stderr
    markers = []
    for env in envs:
        settings = load_settings(home=tmp_path, **({"database_url": env["STRATLOGIC_DATABASE_URL"]}
                                                   if "STRATLOGIC_DATABASE_URL" in env else {}))
        db = Database.from_settings(settings)
        store = store_from_settings(settings)
        report = reconcile(db, store)
        assert report.findings == [] and report.rows_checked > 0
        markers.append(json.loads((Path(str(settings.artifact_path)) / MARKER).read_text())["installation_id"])
        assert markers[-1] == installation_id(db, create=False)
        db.dispose()
    assert len(set(markers)) == len(envs)


def test_reset_leaves_a_store_of_another_database_alone(tmp_path: Path, sqlite_template: Path,
                                                        settings: Settings, db: Database) -> None:
    store = store_from_settings(settings)
    kept = store_artifact(db, store, new_job(db), HTML, "a.html")
    target = tmp_path / "embedded.db"
    shutil.copyfile(sqlite_template, target)
    result = reset(make_settings(f"sqlite:///{target}", tmp_path / "e"), store)
    assert result.other_owner is not None and db.settings.safe_url in result.other_owner
    assert store.exists(kept.object_key) and store_owner(store) is not None


def test_reading_through_a_store_of_another_database_names_its_owner(db: Database, other: Database,
                                                                     tmp_path: Path) -> None:
    """A read whose object is missing from another database's store says whose store it is, not 'not found'."""
    store = LocalStore(tmp_path / "mine")  # both folder stores: one bucket name, so only the marker tells them apart
    store_artifact(db, store, new_job(db), HTML, "a.html")  # the store is now db's
    own = LocalStore(tmp_path / "others")
    theirs = store_artifact(other, own, new_job(other), b"<!doctype html><p>theirs</p>", "b.html")
    with pytest.raises(StorageError, match=r"belongs to database .*not to "):
        open_artifact(other, store, theirs.id)
