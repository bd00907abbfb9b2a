"""Backup and restore on real databases: all four directions, the same content hash on both engines, refused
corrupt and altered backups, refused targets, PostgreSQL's limits checked before writing, a failed load
leaving the target as it was, the store identity, --upgrade and --objects."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Table, insert, select, text, update

from stratlogic.audit.verify import verify
from stratlogic.config import Settings
from stratlogic.db import Database, migrate
from stratlogic.db.actor import Actor, Origin
from stratlogic.errors import ConflictError, DatabaseError, StorageError, ValidationError
from stratlogic.models import AuditLog, Base, ScrapingJob, User
from stratlogic.repositories import tables
from stratlogic.seed import DemoOptions, seed_defaults, seed_demo
from stratlogic.services._backup_rows import ContentHash
from stratlogic.services.backup import backup, restore, verify_backup
from stratlogic.storage.identity import installation_id
from tests.conftest import make_settings

ACTOR = Actor(origin=Origin("test", "tester", "host"))
SMALL = DemoOptions(users=5, jobs=40, days=3, seed=3, until=date(2026, 12, 1), objects=False)
OPTIONS = {"b": [1, 2.5, {"z": None, "a": "é ☃"}], "a": True, "n": 9007199254740993}


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite),
                        pytest.param("postgres", marks=pytest.mark.postgres)])
def target_backend(request: pytest.FixtureRequest) -> str:
    """The engine restored into (the source is ``backend``)."""
    return str(request.param)


def empty_target(kind: str, tmp_path: Path, request: pytest.FixtureRequest, name: str = "target") -> Database:
    """An empty database (no tables) of ``kind``."""
    url = f"sqlite:///{tmp_path / f'{name}.db'}" if kind == "sqlite" else request.getfixturevalue("pg_database")()
    return Database.from_settings(make_settings(url, tmp_path / name))


@pytest.fixture
def target(target_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty database on the target engine."""
    database = empty_target(target_backend, tmp_path, request)
    yield database
    database.dispose()


def seeded(db: Database) -> Database:
    """A small demo with planted values: non-ASCII text, a formula-like name, nested JSON with a float,
    an integer beyond 2^53, keys out of order."""
    seed_demo(db, SMALL)
    with db.unit_of_work() as uow:
        uow.session.execute(update(ScrapingJob).where(ScrapingJob.id == 1)
                            .values(name="Zürich ☃ =1+1\ttab", options=OPTIONS, error_message=""))
    return db


def dump(db: Database, table: str, *, below: int | None = None) -> list[tuple[Any, ...]]:
    """Every row of a table, typed by the models, in key order."""
    model_table: Table = Base.metadata.tables[table]
    query = select(model_table).order_by(*model_table.primary_key.columns)
    if below is not None:
        query = query.where(model_table.c.id <= below)
    with db.unit_of_work(readonly=True) as uow:
        return [tuple(row) for row in uow.connection.execute(query)]


def manifest(where: Path) -> dict[str, Any]:
    """The manifest of a local backup."""
    return dict(json.loads((where / "manifest.json").read_text()))


def reopen(db: Database) -> Database:
    """A new handle on the same database (a restore replaces a SQLite file under the old one)."""
    db.dispose()
    return Database.from_settings(db.settings)


# --- the four directions -----------------------------------------------------------------------------------

def test_a_backup_restores_unchanged_in_every_direction(db: Database, target: Database, tmp_path: Path) -> None:
    source = seeded(db)
    result = backup(source, str(tmp_path / "bk"), actor=ACTOR)
    written = manifest(tmp_path / "bk")

    # backup.started is in the backup (before the snapshot), backup.completed after it with the manifest's sha256
    with source.unit_of_work(readonly=True) as uow:
        rows = uow.session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(2)).all()
    completed, started = rows
    assert (started.action, completed.action) == ("backup.started", "backup.completed")
    assert written["audit_tail"] == {"id": started.id, "hash": started.hash}
    digest = hashlib.sha256((tmp_path / "bk" / "manifest.json").read_bytes()).hexdigest()
    assert completed.details["manifest_sha256"] == digest == result.manifest_sha256
    assert started.details["test"] == {"os_user": "tester", "host": "host"}  # the actor's origin

    restored = restore(str(tmp_path / "bk"), target, actor=ACTOR)
    assert restored.rows == result.rows and restored.revision == migrate.heads()[0]
    into = reopen(target)
    try:
        for table in ("users", "system_config", "scraping_jobs", "artifacts", "artifact_metadata"):
            assert dump(into, table) == dump(source, table), table
        tail = written["audit_tail"]["id"]
        assert dump(into, "audit_logs", below=tail) == dump(source, "audit_logs", below=tail)
        job = dump(into, "scraping_jobs")[0]
        assert job[2] == "Zürich ☃ =1+1\ttab" and job[8] == OPTIONS

        # the restore's own row is chained to the restored tail, and the whole chain verifies
        with into.unit_of_work(readonly=True) as uow:
            last = uow.session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(1)).one()
        assert last.action == "backup.restored" and last.prev_hash == written["audit_tail"]["hash"]
        assert last.id == tail + 1 and last.details["manifest_sha256"] == digest
        report = verify(into)
        assert report.ok, report.message

        # identity sequences moved past the restored ids: a new row gets the next id
        with into.unit_of_work() as uow:
            new_id = uow.connection.execute(insert(User).values(
                username="after-restore", email="after@example.org", role="viewer",
                password_hash="x" * 20, is_active=True, is_verified=False).returning(User.id)).scalar_one()
        assert new_id == max(r[0] for r in dump(source, "users")) + 1
    finally:
        into.dispose()


def test_the_content_hash_is_the_same_on_both_engines(db: Database, target: Database, tmp_path: Path) -> None:
    source = seeded(db)
    backup(source, str(tmp_path / "a"), actor=ACTOR)
    restore(str(tmp_path / "a"), target, actor=ACTOR)
    into = reopen(target)
    try:
        backup(into, str(tmp_path / "b"), actor=ACTOR)
    finally:
        into.dispose()
    first, second = manifest(tmp_path / "a"), manifest(tmp_path / "b")
    hashes = [{t["name"]: t["content_hash"] for t in m["tables"]} for m in (first, second)]
    for name in ("users", "system_config", "scraping_jobs", "artifacts", "artifact_metadata"):
        assert hashes[0][name] == hashes[1][name], name
    assert hashes[0]["audit_logs"] != hashes[1]["audit_logs"]  # the second holds the restore's and its own rows


def test_verify_reads_a_good_backup_and_names_what_it_holds(db: Database, tmp_path: Path) -> None:
    seeded(db)
    made = backup(db, str(tmp_path / "bk"), actor=ACTOR)
    checked = verify_backup(str(tmp_path / "bk"), actor=ACTOR)
    assert checked.rows == made.rows and checked.manifest_sha256 == made.manifest_sha256
    assert checked.rows["scraping_jobs"] == 40
    assert sorted(p.name for p in (tmp_path / "bk" / "tables").iterdir()) == sorted(
        f"{name}.parquet" for name in made.rows)


# --- refused backups ---------------------------------------------------------------------------------------

@pytest.mark.sqlite
def test_a_truncated_or_altered_file_is_refused_naming_it_and_nothing_is_written(tmp_path: Path,
                                                                                 sqlite_template: Path) -> None:
    source = migrated_sqlite(tmp_path, sqlite_template, "src")
    seeded(source)
    backup(source, str(tmp_path / "bk"), actor=ACTOR)
    jobs = tmp_path / "bk" / "tables" / "scraping_jobs.parquet"
    whole = jobs.read_bytes()

    jobs.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValidationError, match=r"scraping_jobs\.parquet is \d+ bytes, the manifest says \d+ "
                                              r"\(truncated or altered\)"):
        verify_backup(str(tmp_path / "bk"), actor=ACTOR)
    into = Database.from_settings(make_settings(f"sqlite:///{tmp_path / 'into.db'}", tmp_path / "into"))
    with pytest.raises(ValidationError, match=r"scraping_jobs\.parquet is \d+ bytes"):
        restore(str(tmp_path / "bk"), into, actor=ACTOR)
    assert not (tmp_path / "into.db").exists() or tables.target_state(into).tables == frozenset()

    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0xFF
    jobs.write_bytes(bytes(flipped))
    with pytest.raises(ValidationError, match=r"scraping_jobs\.parquet has sha256 [0-9a-f]{64}, the manifest says"):
        verify_backup(str(tmp_path / "bk"), actor=ACTOR)
    jobs.unlink()
    with pytest.raises(ValidationError, match=r"scraping_jobs\.parquet is missing from the backup"):
        verify_backup(str(tmp_path / "bk"), actor=ACTOR)
    into.dispose()


@pytest.mark.sqlite
def test_an_altered_manifest_is_refused(tmp_path: Path, sqlite_template: Path) -> None:
    source = migrated_sqlite(tmp_path, sqlite_template, "src")
    seeded(source)
    backup(source, str(tmp_path / "bk"), actor=ACTOR)
    path = tmp_path / "bk" / "manifest.json"
    original = json.loads(path.read_text())

    changed = json.loads(path.read_text())
    next(t for t in changed["tables"] if t["name"] == "users")["rows"] += 1
    path.write_text(json.dumps(changed))
    with pytest.raises(ValidationError, match=r"users\.parquet: 6 rows, the manifest says 7"):
        verify_backup(str(tmp_path / "bk"), actor=ACTOR)

    changed = json.loads(json.dumps(original))
    next(t for t in changed["tables"] if t["name"] == "users")["content_hash"] = "0" * 64
    path.write_text(json.dumps(changed))
    with pytest.raises(ValidationError, match=r"users\.parquet: content hash [0-9a-f]{64} is not the manifest's 0{64}"):
        verify_backup(str(tmp_path / "bk"), actor=ACTOR)

    path.write_text("{not json")
    with pytest.raises(ValidationError, match=r"manifest\.json is not a stratlogic backup manifest"):
        verify_backup(str(tmp_path / "bk"), actor=ACTOR)
    path.unlink()
    with pytest.raises(ValidationError, match=r"is not a complete backup: manifest\.json is missing"):
        verify_backup(str(tmp_path / "bk"), actor=ACTOR)


def migrated_sqlite(tmp_path: Path, template: Path, name: str) -> Database:
    """A migrated SQLite database file of its own."""
    shutil.copyfile(template, tmp_path / f"{name}.db")
    return Database.from_settings(make_settings(f"sqlite:///{tmp_path / f'{name}.db'}", tmp_path / name))


# --- refused targets ---------------------------------------------------------------------------------------

def test_a_non_empty_target_is_refused_unless_forced(db: Database, other_db: Database, tmp_path: Path) -> None:
    seeded(db)
    backup(db, str(tmp_path / "bk"), actor=ACTOR)
    seed_defaults(other_db)
    before = dump(other_db, "users")
    with pytest.raises(ConflictError, match=r"is not empty \(users 1, audit_logs \d+, system_config \d+\): restore "
                                            r"into an empty database, or add --force"):
        restore(str(tmp_path / "bk"), other_db, actor=ACTOR)
    assert dump(other_db, "users") == before

    restore(str(tmp_path / "bk"), other_db, actor=ACTOR, force=True)
    into = reopen(other_db)
    try:
        assert dump(into, "scraping_jobs") == dump(db, "scraping_jobs")
        assert verify(into).ok
    finally:
        into.dispose()


def test_a_target_at_another_revision_holding_data_is_refused(db: Database, target: Database, tmp_path: Path) -> None:
    seeded(db)
    backup(db, str(tmp_path / "bk"), actor=ACTOR)
    migrate.upgrade(target.settings, "0007")
    seed_defaults_at_0007(target)
    with pytest.raises(ConflictError, match=r"is at revision 0007, not the backup's 0008, and holds data"):
        restore(str(tmp_path / "bk"), target, actor=ACTOR)
    assert migrate.current(target.settings) == "0007"


def seed_defaults_at_0007(database: Database) -> None:
    """A user row written by hand (the models are at head, the schema is not)."""
    with database.engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username, email, role, password_hash, is_active, is_verified, "
                          "created_at, updated_at) VALUES ('old', 'old@example.org', 'viewer', 'xxxxxxxxxxxx', "
                          "true, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))


# --- PostgreSQL's limits, checked before anything is written ----------------------------------------------

@pytest.mark.sqlite
@pytest.mark.postgres
@pytest.mark.parametrize(("column", "value", "problem"), [
    ("name", "x" * 201, r"column name: longer than 200 characters \(VARCHAR\(200\)\)"),
    ("error_message", "before\x00after", "column error_message: holds a NUL character"),
    ("options", {"k": "nul\x00here"}, r"column options: holds a NUL character \(\\u0000\) in a JSON document"),
])
def test_rows_postgresql_refuses_are_named_before_writing(tmp_path: Path, sqlite_template: Path,
                                                          pg_database: Callable[..., str], column: str, value: Any,
                                                          problem: str) -> None:
    source = migrated_sqlite(tmp_path, sqlite_template, "src")
    seeded(source)
    with source.unit_of_work() as uow:  # SQLite stores what PostgreSQL refuses
        uow.session.execute(update(ScrapingJob).where(ScrapingJob.id == 7).values({column: value}))
    backup(source, str(tmp_path / "bk"), actor=ACTOR)
    into = Database.from_settings(make_settings(pg_database(), tmp_path / "pg"))
    try:
        with pytest.raises(ValidationError, match=rf"table scraping_jobs, row 7, {problem}; PostgreSQL refuses it"):
            restore(str(tmp_path / "bk"), into, actor=ACTOR)
        assert tables.target_state(into).tables == frozenset()  # nothing written, not even the schema
    finally:
        into.dispose()
    # SQLite takes it as it is
    copy = Database.from_settings(make_settings(f"sqlite:///{tmp_path / 'copy.db'}", tmp_path / "copy"))
    restore(str(tmp_path / "bk"), copy, actor=ACTOR)
    copy = reopen(copy)
    assert dump(copy, "scraping_jobs") == dump(source, "scraping_jobs")
    copy.dispose()


# --- a load that fails mid-way -----------------------------------------------------------------------------

def test_a_load_failing_mid_way_leaves_the_target_as_it_was(db: Database, target: Database, tmp_path: Path) -> None:
    """A well-formed backup whose rows break a rule (a duplicate key, as a faulty tool might write): the load
    fails inside its transaction; an empty target stays empty, a forced SQLite target keeps its rows."""
    seeded(db)
    backup(db, str(tmp_path / "bk"), actor=ACTOR)
    duplicate_a_user(tmp_path / "bk")
    verify_backup(str(tmp_path / "bk"), actor=ACTOR)  # consistent with its manifest

    if target.dialect == "sqlite":
        seed_defaults(target_migrated(target))
        before = dump(target, "users")
    with pytest.raises(DatabaseError, match=r"the database refused the backup's rows: (UNIQUE constraint failed: "
                                            r"users\.id|could not create unique index \"pk_users\" \(Key \(id\)="
                                            r"\(\d+\) is duplicated\.\)); the load was rolled back"):
        restore(str(tmp_path / "bk"), target, actor=ACTOR, force=True)
    if target.dialect == "sqlite":
        assert dump(reopen(target), "users") == before
        assert not list(tmp_path.glob(".target.db.restore-*"))
    else:
        assert tables.target_state(target).tables == frozenset()


def target_migrated(database: Database) -> Database:
    """The database migrated to head."""
    migrate.upgrade(database.settings, "head")
    return database


def duplicate_a_user(where: Path) -> None:
    """Rewrite users.parquet with its first row twice, and the manifest to match (size, sha256, rows, hash)."""
    path = where / "tables" / "users.parquet"
    table = pq.read_table(path)
    doubled = pa.concat_tables([table.slice(0, 1), table])
    pq.write_table(doubled, path)
    document = manifest(where)
    entry = next(t for t in document["tables"] if t["name"] == "users")
    spec = tables.spec_of(Base.metadata.tables["users"])
    hasher = ContentHash(spec)
    for batch in doubled.to_batches():
        hasher.update(batch)
    data = path.read_bytes()
    entry.update(rows=doubled.num_rows, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                 content_hash=hasher.hexdigest())
    (where / "manifest.json").write_text(json.dumps(document, indent=2))


# --- identity, upgrade, objects, failed backups -------------------------------------------------------------

def test_the_store_identity_travels_unless_a_new_one_is_asked_for(db: Database, target: Database,
                                                                  tmp_path: Path) -> None:
    seeded(db)
    source_id = installation_id(db)
    backup(db, str(tmp_path / "bk"), actor=ACTOR)
    moved = restore(str(tmp_path / "bk"), target, actor=ACTOR)
    assert moved.installation_id == source_id and "stop the old database writing to that store" in moved.notes[0]
    copy = Database.from_settings(make_settings(f"sqlite:///{tmp_path / 'copy.db'}", tmp_path / "copy"))
    independent = restore(str(tmp_path / "bk"), copy, actor=ACTOR, new_identity=True)
    copy = reopen(copy)
    try:
        assert independent.installation_id != source_id
        assert installation_id(copy, create=False) == independent.installation_id
        with copy.unit_of_work(readonly=True) as uow:
            last_two = uow.session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(2)).all()
        assert [r.action for r in last_two] == ["backup.restored", "config.set"]
        assert last_two[1].details["new"] == independent.installation_id
        assert verify(copy).ok
    finally:
        copy.dispose()


def test_an_older_revision_is_restored_as_it_was_then_upgraded(backend: str, empty_url: str, target: Database,
                                                               tmp_path: Path) -> None:
    settings: Settings = make_settings(empty_url, tmp_path / "old")
    migrate.upgrade(settings, "0007")
    old = Database.from_settings(settings)
    seed_defaults_at_0007(old)
    try:
        made = backup(old, str(tmp_path / "bk"), actor=ACTOR)
    finally:
        old.dispose()
    assert made.revision == "0007"
    assert "target_domain" not in {c["name"] for c in manifest(tmp_path / "bk")["tables"][2]["columns"]}
    result = restore(str(tmp_path / "bk"), target, actor=ACTOR, upgrade=True)
    assert result.upgraded_to == migrate.heads()[0] == migrate.current(target.settings)
    into = reopen(target)
    try:
        assert [r[1] for r in dump(into, "users")] == ["old"]
        assert verify(into).ok
    finally:
        into.dispose()


@pytest.mark.sqlite
def test_objects_are_copied_checked_and_a_failed_backup_leaves_nothing(tmp_path: Path, sqlite_template: Path) -> None:
    source = migrated_sqlite(tmp_path, sqlite_template, "src")
    seed_demo(source, DemoOptions(users=3, jobs=12, days=2, seed=5, until=date(2026, 12, 1), objects=True))
    made = backup(source, str(tmp_path / "bk"), actor=ACTOR, objects=True)
    assert made.objects and made.objects == len(dump(source, "artifacts"))
    assert verify_backup(str(tmp_path / "bk"), actor=ACTOR).objects == made.objects

    one = next(p for p in (tmp_path / "bk" / "objects").rglob("*") if p.is_file())
    one.write_bytes(one.read_bytes() + b"!")
    with pytest.raises(ValidationError, match=rf"{one.name} \(artifact \d+\) is \d+ bytes sha256 [0-9a-f]{{64}}, the "
                                              r"backup's row records"):
        verify_backup(str(tmp_path / "bk"), actor=ACTOR)

    # an object missing from the store: the backup fails, and nothing that looks like a backup stays
    store_root = source.settings.artifact_path
    assert store_root is not None
    victim = next(p for p in store_root.rglob("*") if p.is_file() and p.name != "stratlogic-store.json")
    victim.unlink()
    with pytest.raises(StorageError):
        backup(source, str(tmp_path / "second"), actor=ACTOR, objects=True)
    assert not (tmp_path / "second").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".second")]


@pytest.mark.sqlite
def test_a_backup_goes_only_into_a_new_or_empty_place(tmp_path: Path, sqlite_template: Path) -> None:
    source = migrated_sqlite(tmp_path, sqlite_template, "src")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ValidationError, match=r"backup location .*full is not empty: give a new folder or prefix"):
        backup(source, str(tmp_path / "full"), actor=ACTOR)
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    backup(source, str(tmp_path / "empty"), actor=ACTOR)
    assert (tmp_path / "empty" / "manifest.json").is_file()


# --- one snapshot while writers go on ----------------------------------------------------------------------

def test_the_backup_reads_one_snapshot_while_a_writer_commits(db: Database) -> None:
    """A job and its audit row committed by another connection after the snapshot opened are in no table read
    from it, and every table's rows match the counts taken in the snapshot (so the chain and the rows agree)."""
    import threading

    from stratlogic.services._backup_read import snapshot
    from tests.integration.storage_helpers import new_job

    seeded(db)
    with snapshot(db) as snap:
        writer = threading.Thread(target=new_job, args=(db, "written during the backup"))
        writer.start()
        writer.join()  # committed before any table is read
        read = {spec.name: sum(b.num_rows for b in snap.batches(spec)) for spec in snap.facts.specs}
        names = [name for spec in snap.facts.specs if spec.name == "scraping_jobs"
                 for batch in snap.batches(spec) for name in batch.column("name").to_pylist()]
    assert read == snap.facts.counts
    assert "written during the backup" not in names
    assert len(dump(db, "scraping_jobs")) == read["scraping_jobs"] + 1
    assert len(dump(db, "audit_logs")) > read["audit_logs"]


def test_a_table_stored_out_of_key_order_is_read_again_in_key_order(db: Database, tmp_path: Path) -> None:
    """The restore's read-back scans in storage order and checks each id rises; an updated row (on PostgreSQL
    its new version is stored at the end) breaks the order, and the table is then read in key order."""
    from stratlogic.services import _backup_files
    from stratlogic.services._backup_read import snapshot
    from stratlogic.services.backup import _hashed

    seeded(db)  # job 1 updated after the seed
    backup(db, str(tmp_path / "bk"), actor=ACTOR)
    written, _ = _backup_files.read_manifest(_backup_files.location(str(tmp_path / "bk"), db.settings))
    entry = written.table("scraping_jobs")
    with snapshot(db) as snap:
        spec = next(s for s in snap.facts.specs if s.name == "scraping_jobs")
        stored = _hashed(snap, spec, entry, storage_order=True)
        ordered = _hashed(snap, spec, entry, storage_order=False)
    assert ordered is not None and ordered.hexdigest() == entry.content_hash
    if db.dialect == "postgresql":
        assert stored is None  # out of order: the caller reads again in key order
    else:
        assert stored is not None and stored.hexdigest() == entry.content_hash  # SQLite always reads in key order
