"""The six-table model against real databases: every test runs on SQLite and on PostgreSQL.

Covered here: the unique, CHECK and foreign-key constraints (each failure is an IntegrityError naming
the constraint as precisely as the engine reports it, and leaves no row behind); the ON DELETE rules
(RESTRICT for job owners and audit actors, CASCADE from jobs to artifacts to their metadata, SET NULL
for ``system_config.updated_by_id``); timezone handling of ``UTCDateTime`` (aware UTC values back,
naive values refused); the append-only triggers on ``audit_logs``; the ``back_populates``
relationships; and the optimistic ``version`` counter of ``ScrapingJob``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from stratlogic.db import Database
from stratlogic.models import (
    Artifact,
    ArtifactMetadata,
    AuditLog,
    JobStatus,
    ScrapingJob,
    SystemConfig,
    User,
)

SHA = "ab" * 32
PLUS_FIVE = timezone(timedelta(hours=5))


# --- helpers ------------------------------------------------------------------------------------


def make_user(session: Session, name: str, *, email: str | None = None) -> User:
    """Add and flush a user; the email defaults to ``<name in lower case>@example.com``."""
    user = User(username=name, email=email if email is not None else f"{name.lower()}@example.com")
    session.add(user)
    session.flush()
    return user


def make_job(session: Session, owner: User, **fields: Any) -> ScrapingJob:
    """Add and flush a scraping job owned by ``owner``; ``fields`` override column values."""
    job = ScrapingJob(owner=owner, name=fields.pop("name", "job"), target_url="https://example.com/", **fields)
    session.add(job)
    session.flush()
    return job


def make_artifact(session: Session, job: ScrapingJob, object_key: str = "pages/1.html", **fields: Any) -> Artifact:
    """Add and flush an artifact of ``job`` in bucket ``raw`` (unless ``fields`` say otherwise)."""
    values: dict[str, Any] = {"bucket": "raw", "filename": "1.html", "content_type": "text/html",
                              "size_bytes": 10, "sha256": SHA} | fields
    artifact = Artifact(job=job, object_key=object_key, **values)
    session.add(artifact)
    session.flush()
    return artifact


def make_entry(session: Session, artifact: Artifact, key: str, value: Any = "v") -> ArtifactMetadata:
    """Add and flush one metadata entry of ``artifact``."""
    entry = ArtifactMetadata(artifact=artifact, key=key, value=value)
    session.add(entry)
    session.flush()
    return entry


def make_audit(session: Session, actor: User | None, action: str = "user.create") -> AuditLog:
    """Add and flush an audit row with well-formed (64-character) hashes."""
    row = AuditLog(actor=actor, action=action, resource_type="user", resource_id="1",
                   details={"why": "test"}, prev_hash="0" * 64, hash="f" * 64)
    session.add(row)
    session.flush()
    return row


def count_rows(db: Database, table: str) -> int:
    """Rows in ``table``, counted in a new unit of work."""
    with db.unit_of_work(readonly=True) as uow:
        return int(uow.session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def table_rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` ordered by its first column, read in a new unit of work."""
    with db.unit_of_work(readonly=True) as uow:
        return [tuple(row) for row in uow.session.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]


# What each engine says about a violated constraint. PostgreSQL names every constraint (and reports it
# in diag.constraint_name); SQLite names CHECK constraints, lists the columns of a UNIQUE one, and
# names no foreign key. The SQLite extended error code tells the kinds apart precisely: a row pointing
# at a missing parent is SQLITE_CONSTRAINT_FOREIGNKEY, while ON DELETE RESTRICT (which SQLite runs as
# an internal trigger) is SQLITE_CONSTRAINT_TRIGGER. Kinds: check, unique, fk (insert), restrict (delete).
_SQLITE_CODES = {"check": "SQLITE_CONSTRAINT_CHECK", "unique": "SQLITE_CONSTRAINT_UNIQUE",
                 "fk": "SQLITE_CONSTRAINT_FOREIGNKEY", "restrict": "SQLITE_CONSTRAINT_TRIGGER"}


def expected_message(dialect: str, kind: str, constraint: str, *, table: str = "", columns: str = "") -> str:
    """The text the engine puts in its error for a violation of ``constraint`` (``table`` is the one written)."""
    if dialect == "sqlite":
        return {"check": f"CHECK constraint failed: {constraint}",
                "unique": f"UNIQUE constraint failed: {columns}",
                "fk": "FOREIGN KEY constraint failed",
                "restrict": "FOREIGN KEY constraint failed"}[kind]
    return {"check": f'new row for relation "{table}" violates check constraint "{constraint}"',
            "unique": f'duplicate key value violates unique constraint "{constraint}"',
            "fk": f'insert or update on table "{table}" violates foreign key constraint "{constraint}"',
            "restrict": f'update or delete on table "{table}" violates foreign key constraint "{constraint}"'}[kind]


def assert_violation(db: Database, error: IntegrityError, kind: str, constraint: str, *,
                     table: str = "", columns: str = "") -> None:
    """Assert ``error`` reports a violation of ``constraint`` exactly as the engine under test does."""
    message = str(error.orig)
    assert expected_message(db.dialect, kind, constraint, table=table, columns=columns) in message
    if db.dialect == "sqlite":
        assert error.orig.sqlite_errorname == _SQLITE_CODES[kind]  # type: ignore[union-attr]
        if kind in ("fk", "restrict"):
            assert message == "FOREIGN KEY constraint failed"
    else:
        assert error.orig.diag.constraint_name == constraint  # type: ignore[union-attr]


@dataclass(frozen=True)
class Seed:
    """Ids of a committed user, a job of theirs, and an artifact of that job."""

    owner_id: int
    job_id: int
    artifact_id: int


@pytest.fixture
def seed(db: Database) -> Seed:
    """One committed user (``owner``) with one job, one artifact and one metadata entry (``lang``)."""
    with db.unit_of_work() as uow:
        owner = make_user(uow.session, "owner")
        job = make_job(uow.session, owner)
        artifact = make_artifact(uow.session, job)
        make_entry(uow.session, artifact, "lang", "en")
    return Seed(owner.id, job.id, artifact.id)


BadWrite = Callable[[Session, Seed], object]


def _owner(session: Session, seed: Seed) -> User:
    return session.get_one(User, seed.owner_id)


def _job(session: Session, seed: Seed) -> ScrapingJob:
    return session.get_one(ScrapingJob, seed.job_id)


# --- unique constraints ---------------------------------------------------------------------------

UNIQUE_CASES = [
    pytest.param(lambda s, seed: make_user(s, "owner", email="other@example.com"),
                 "users", "uq_users_username", "users.username", id="duplicate-username"),
    pytest.param(lambda s, seed: make_user(s, "other", email="owner@example.com"),
                 "users", "uq_users_email", "users.email", id="duplicate-email"),
    pytest.param(lambda s, seed: make_artifact(s, make_job(s, _owner(s, seed)), "pages/1.html"),
                 "artifacts", "uq_artifacts_bucket_object_key", "artifacts.bucket, artifacts.object_key",
                 id="duplicate-bucket-object-key"),
    pytest.param(lambda s, seed: make_entry(s, s.get_one(Artifact, seed.artifact_id), "lang", "fr"),
                 "artifact_metadata", "uq_artifact_metadata_artifact_id_key",
                 "artifact_metadata.artifact_id, artifact_metadata.key", id="duplicate-artifact-metadata-key"),
]


@pytest.mark.parametrize(("write", "table", "constraint", "columns"), UNIQUE_CASES)
def test_unique_constraint_rejects_duplicate(db: Database, seed: Seed, write: BadWrite, table: str,
                                             constraint: str, columns: str) -> None:
    before = table_rows(db, table)
    with pytest.raises(IntegrityError) as info, db.unit_of_work() as uow:
        write(uow.session, seed)
    assert_violation(db, info.value, "unique", constraint, columns=columns)
    assert table_rows(db, table) == before
    assert count_rows(db, "scraping_jobs") == 1  # the extra job of the artifact case was rolled back too


def test_composite_unique_constraints_allow_partial_overlap(db: Database, seed: Seed) -> None:
    """The same object key in another bucket, and the same metadata key on another artifact, are fine."""
    with db.unit_of_work() as uow:
        other = make_artifact(uow.session, _job(uow.session, seed), "pages/1.html", bucket="archive")
        make_entry(uow.session, other, "lang", "de")
    assert count_rows(db, "artifacts") == 2
    assert count_rows(db, "artifact_metadata") == 2


# --- check constraints ----------------------------------------------------------------------------

STARTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

CHECK_CASES = [
    pytest.param(lambda s, seed: make_user(s, "Alice", email="alice@example.com"),
                 "users", "ck_users_username_lowercase", id="username-not-lowercase"),
    pytest.param(lambda s, seed: make_user(s, "carol", email="Carol@Example.com"),
                 "users", "ck_users_email_lowercase", id="email-not-lowercase"),
    pytest.param(lambda s, seed: make_user(s, "ab"), "users", "ck_users_username_length", id="username-too-short"),
    pytest.param(lambda s, seed: s.execute(text("UPDATE users SET role = 'root' WHERE id = :id"),
                                           {"id": seed.owner_id}),
                 "users", "ck_users_role", id="role-not-in-enum-raw-sql"),
    pytest.param(lambda s, seed: make_job(s, _owner(s, seed), priority=1001),
                 "scraping_jobs", "ck_scraping_jobs_priority_range", id="priority-above-1000"),
    pytest.param(lambda s, seed: make_job(s, _owner(s, seed), priority=-1001),
                 "scraping_jobs", "ck_scraping_jobs_priority_range", id="priority-below-minus-1000"),
    pytest.param(lambda s, seed: make_job(s, _owner(s, seed), pages_done=5, pages_total=4),
                 "scraping_jobs", "ck_scraping_jobs_pages_within_total", id="pages-done-above-total"),
    pytest.param(lambda s, seed: make_job(s, _owner(s, seed), pages_total=-1),
                 "scraping_jobs", "ck_scraping_jobs_pages_within_total", id="pages-total-negative"),
    pytest.param(lambda s, seed: make_job(s, _owner(s, seed), pages_done=-1),
                 "scraping_jobs", "ck_scraping_jobs_counters_non_negative", id="pages-done-negative"),
    pytest.param(lambda s, seed: make_job(s, _owner(s, seed), items_scraped=-1),
                 "scraping_jobs", "ck_scraping_jobs_counters_non_negative", id="items-scraped-negative"),
    pytest.param(lambda s, seed: make_job(s, _owner(s, seed), bytes_downloaded=-1),
                 "scraping_jobs", "ck_scraping_jobs_counters_non_negative", id="bytes-downloaded-negative"),
    pytest.param(lambda s, seed: make_job(s, _owner(s, seed), attempt=-1),
                 "scraping_jobs", "ck_scraping_jobs_attempts_non_negative", id="attempt-negative"),
    pytest.param(lambda s, seed: make_job(s, _owner(s, seed), max_retries=-1),
                 "scraping_jobs", "ck_scraping_jobs_attempts_non_negative", id="max-retries-negative"),
    pytest.param(lambda s, seed: make_job(s, _owner(s, seed), status=JobStatus.COMPLETED, started_at=STARTED,
                                          finished_at=STARTED - timedelta(seconds=1)),
                 "scraping_jobs", "ck_scraping_jobs_finished_after_started", id="finished-before-started"),
    pytest.param(lambda s, seed: s.execute(text("UPDATE scraping_jobs SET status = 'bogus' WHERE id = :id"),
                                           {"id": seed.job_id}),
                 "scraping_jobs", "ck_scraping_jobs_status", id="status-not-in-enum-raw-sql"),
    pytest.param(lambda s, seed: make_artifact(s, _job(s, seed), "pages/2.html", size_bytes=-1),
                 "artifacts", "ck_artifacts_size_non_negative", id="artifact-size-negative"),
    pytest.param(lambda s, seed: make_artifact(s, _job(s, seed), "pages/2.html", sha256="a" * 63),
                 "artifacts", "ck_artifacts_sha256_length", id="sha256-too-short"),
    pytest.param(lambda s, seed: make_artifact(s, _job(s, seed), "pages/2.html", sha256=""),
                 "artifacts", "ck_artifacts_sha256_length", id="sha256-empty"),
]


@pytest.mark.parametrize(("write", "table", "constraint"), CHECK_CASES)
def test_check_constraint_rejects_bad_row(db: Database, seed: Seed, write: BadWrite, table: str,
                                          constraint: str) -> None:
    before = table_rows(db, table)
    with pytest.raises(IntegrityError) as info, db.unit_of_work() as uow:
        write(uow.session, seed)
    assert_violation(db, info.value, "check", constraint, table=table)
    assert table_rows(db, table) == before


def test_check_constraints_accept_boundary_values(db: Database, seed: Seed) -> None:
    """The limits themselves are allowed, so the CHECKs are not stricter than documented."""
    with db.unit_of_work() as uow:
        owner = _owner(uow.session, seed)
        make_user(uow.session, "abc")
        make_job(uow.session, owner, priority=1000, pages_done=4, pages_total=4)
        make_job(uow.session, owner, priority=-1000, status=JobStatus.COMPLETED, started_at=STARTED,
                 finished_at=STARTED)
        make_artifact(uow.session, _job(uow.session, seed), "pages/empty.html", size_bytes=0)
    assert count_rows(db, "users") == 2
    assert count_rows(db, "scraping_jobs") == 3
    assert count_rows(db, "artifacts") == 2


# --- foreign keys ---------------------------------------------------------------------------------


def test_job_with_missing_owner_is_rejected(db: Database, seed: Seed) -> None:
    with pytest.raises(IntegrityError) as info, db.unit_of_work() as uow:
        uow.session.add(ScrapingJob(owner_id=seed.owner_id + 1000, name="orphan", target_url="https://x.test/"))
        uow.session.flush()
    assert_violation(db, info.value, "fk", "fk_scraping_jobs_owner_id_users", table="scraping_jobs")
    assert count_rows(db, "scraping_jobs") == 1


def test_deleting_a_user_who_owns_jobs_is_refused(db: Database, seed: Seed) -> None:
    with pytest.raises(IntegrityError) as info, db.unit_of_work() as uow:
        owner = _owner(uow.session, seed)
        assert len(owner.jobs) == 1  # loaded, so the ORM would null owner_id if it were allowed to
        uow.session.delete(owner)
        uow.session.flush()
    assert_violation(db, info.value, "restrict", "fk_scraping_jobs_owner_id_users", table="users")
    assert count_rows(db, "users") == 1
    with db.unit_of_work(readonly=True) as uow:
        assert _job(uow.session, seed).owner_id == seed.owner_id


def test_deleting_an_audit_actor_is_refused(db: Database) -> None:
    with db.unit_of_work() as uow:
        actor = make_user(uow.session, "auditor")
        make_audit(uow.session, actor)
    with pytest.raises(IntegrityError) as info, db.unit_of_work() as uow:
        loaded = uow.session.get_one(User, actor.id)
        assert len(loaded.audit_logs) == 1
        uow.session.delete(loaded)
        uow.session.flush()
    assert_violation(db, info.value, "restrict", "fk_audit_logs_actor_id_users", table="users")
    assert count_rows(db, "users") == 1
    with db.unit_of_work(readonly=True) as uow:
        assert uow.session.scalars(select(AuditLog.actor_id)).all() == [actor.id]


def test_deleting_a_job_cascades_to_artifacts_and_metadata_in_the_database(db: Database, seed: Seed) -> None:
    with db.unit_of_work() as uow:
        job = _job(uow.session, seed)
        second = make_artifact(uow.session, job, "pages/2.html")
        make_entry(uow.session, second, "lang", "en")
        make_entry(uow.session, second, "status", 200)
        other_job = make_job(uow.session, _owner(uow.session, seed), name="kept")
        kept = make_artifact(uow.session, other_job, "pages/kept.html")
        make_entry(uow.session, kept, "lang", "it")
    assert (count_rows(db, "artifacts"), count_rows(db, "artifact_metadata")) == (3, 4)

    with db.unit_of_work() as uow:
        deleted = uow.session.execute(text("DELETE FROM scraping_jobs WHERE id = :id"), {"id": seed.job_id})
        assert deleted.rowcount == 1  # type: ignore[attr-defined]

    with db.unit_of_work(readonly=True) as uow:
        assert uow.session.scalars(select(Artifact.id)).all() == [kept.id]
        assert uow.session.execute(select(ArtifactMetadata.artifact_id, ArtifactMetadata.key)).all() == [
            (kept.id, "lang")]


def test_deleting_a_user_sets_system_config_updated_by_to_null(db: Database) -> None:
    with db.unit_of_work() as uow:
        editor = make_user(uow.session, "editor")
        uow.session.add(SystemConfig(key="scrape.delay", value=1.5, updated_by=editor))
    with db.unit_of_work() as uow:
        assert uow.session.get_one(SystemConfig, "scrape.delay").updated_by_id == editor.id
        uow.session.delete(uow.session.get_one(User, editor.id))
    with db.unit_of_work(readonly=True) as uow:
        config = uow.session.get_one(SystemConfig, "scrape.delay")
        assert config.updated_by_id is None
        assert config.value == 1.5
    assert count_rows(db, "users") == 0


# --- timestamps -----------------------------------------------------------------------------------


def test_timestamps_come_back_aware_in_utc(db: Database, seed: Seed) -> None:
    local = datetime(2026, 3, 1, 12, 30, 15, 250_000, tzinfo=PLUS_FIVE)
    with db.unit_of_work() as uow:
        job = make_job(uow.session, _owner(uow.session, seed), started_at=local)
    with db.unit_of_work(readonly=True) as uow:
        if db.dialect == "postgresql":  # the server would hand back +09:00 values; they must be converted
            uow.session.execute(text("SET LOCAL TIME ZONE 'Asia/Tokyo'"))
        loaded = uow.session.get_one(ScrapingJob, job.id)
        started, created = loaded.started_at, loaded.created_at
        stored = uow.session.execute(text("SELECT CAST(started_at AS TEXT) FROM scraping_jobs WHERE id = :id"),
                                     {"id": job.id}).scalar_one()
    assert started == local
    assert started is not None and started.tzinfo is UTC
    assert started.replace(tzinfo=None) == datetime(2026, 3, 1, 7, 30, 15, 250_000)
    assert created.tzinfo is UTC
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    # Stored as the UTC instant, so comparisons in SQL (the finished_after_started CHECK) are correct.
    assert stored == {"sqlite": "2026-03-01 07:30:15.250000",
                      "postgresql": "2026-03-01 16:30:15.25+09"}[db.dialect]


def test_server_default_timestamps_come_back_aware_in_utc(db: Database, seed: Seed) -> None:
    """A row inserted with raw SQL gets created_at from the server default; it reads back as aware UTC."""
    with db.unit_of_work() as uow:
        uow.session.execute(text("INSERT INTO scraping_jobs (owner_id, name, target_url, options) "
                                 "VALUES (:owner, 'raw', 'https://x.test/', '{}')"), {"owner": seed.owner_id})
    with db.unit_of_work(readonly=True) as uow:
        raw = uow.session.scalars(select(ScrapingJob).where(ScrapingJob.name == "raw")).one()
    assert raw.created_at.tzinfo is UTC and raw.updated_at.tzinfo is UTC
    assert abs(datetime.now(UTC) - raw.created_at) < timedelta(minutes=1)
    assert (raw.status, raw.version, raw.priority) == (JobStatus.PENDING, 1, 0)


def test_naive_datetime_is_refused(db: Database, seed: Seed) -> None:
    with pytest.raises(StatementError) as info, db.unit_of_work() as uow:
        make_job(uow.session, _owner(uow.session, seed), started_at=datetime(2026, 3, 1, 12, 0))
    assert not isinstance(info.value, DBAPIError)  # refused before reaching the database
    assert isinstance(info.value.orig, ValueError)
    assert "naive" in str(info.value.orig)
    assert "naive" in str(info.value)
    assert count_rows(db, "scraping_jobs") == 1


# --- audit trail ----------------------------------------------------------------------------------

AUDIT_WRITES = [
    pytest.param("UPDATE audit_logs SET action = 'tampered' WHERE id = :id", "UPDATE", id="update"),
    pytest.param("DELETE FROM audit_logs WHERE id = :id", "DELETE", id="delete-one"),
    pytest.param("DELETE FROM audit_logs WHERE id >= :id", "DELETE", id="delete-all"),
]


@pytest.mark.parametrize(("statement", "operation"), AUDIT_WRITES)
def test_audit_log_is_append_only(db: Database, statement: str, operation: str) -> None:
    with db.unit_of_work() as uow:
        row_id = make_audit(uow.session, make_user(uow.session, "auditor")).id
    before = table_rows(db, "audit_logs")
    assert len(before) == 1

    with pytest.raises(DBAPIError) as info, db.unit_of_work() as uow:
        uow.session.execute(text(statement), {"id": row_id})

    assert f"audit_logs is append-only: {operation} refused" in str(info.value.orig)
    if db.dialect == "sqlite":  # RAISE(ABORT) in a trigger surfaces as a constraint (integrity) error
        assert isinstance(info.value, IntegrityError)
        assert info.value.orig.sqlite_errorname == "SQLITE_CONSTRAINT_TRIGGER"  # type: ignore[union-attr]
    else:  # RAISE EXCEPTION ... USING ERRCODE = 'insufficient_privilege'
        assert isinstance(info.value, ProgrammingError)
        assert info.value.orig.sqlstate == "42501"  # type: ignore[union-attr]
    assert table_rows(db, "audit_logs") == before


# --- relationships --------------------------------------------------------------------------------


def test_relationships_populate_both_sides(db: Database) -> None:
    with db.unit_of_work() as uow:
        owner = User(username="dana", email="dana@example.com")
        job = ScrapingJob(name="crawl", target_url="https://example.com/")
        owner.jobs.append(job)
        artifact = Artifact(bucket="raw", object_key="k", filename="k", content_type="text/plain",
                            size_bytes=1, sha256=SHA)
        job.artifacts.append(artifact)
        entry = ArtifactMetadata(key="lang", value={"code": "en"})
        artifact.entries.append(entry)
        # back_populates works in memory, before anything is flushed
        assert (job.owner, artifact.job, entry.artifact) == (owner, job, artifact)
        uow.session.add(owner)  # save-update cascades from the user down to the metadata
        make_audit(uow.session, owner)

    with db.unit_of_work(readonly=True) as uow:
        loaded = uow.session.scalars(select(User).where(User.username == "dana")).one()
        [loaded_job] = loaded.jobs
        assert loaded_job.owner is loaded
        [loaded_artifact] = loaded_job.artifacts
        assert loaded_artifact.job is loaded_job
        [loaded_entry] = loaded_artifact.entries
        assert loaded_entry.artifact is loaded_artifact
        assert loaded_entry.value == {"code": "en"}
        [audit] = loaded.audit_logs
        assert audit.actor is loaded
        ids = (loaded.id, loaded_job.id, loaded_artifact.id)
    assert ids == (owner.id, job.id, artifact.id)


def test_removing_an_artifact_from_a_job_deletes_it_and_its_metadata(db: Database, seed: Seed) -> None:
    with db.unit_of_work() as uow:
        job = _job(uow.session, seed)
        job.artifacts.remove(job.artifacts[0])
    assert count_rows(db, "artifacts") == 0
    assert count_rows(db, "artifact_metadata") == 0


# --- optimistic locking ---------------------------------------------------------------------------


def test_version_counter_increments_on_update(db: Database, seed: Seed) -> None:
    with db.unit_of_work(readonly=True) as uow:
        assert _job(uow.session, seed).version == 1
    for expected, priority in ((2, 5), (3, 6)):
        with db.unit_of_work() as uow:
            job = _job(uow.session, seed)
            job.priority = priority
        assert job.version == expected
        with db.unit_of_work(readonly=True) as uow:
            stored = uow.session.execute(text("SELECT version FROM scraping_jobs WHERE id = :id"),
                                         {"id": seed.job_id}).scalar_one()
        assert stored == expected


def test_stale_update_raises_stale_data_error(db: Database, seed: Seed) -> None:
    """Two sessions load version 1; the first to write wins, the second's flush is refused.

    Each load commits straight away (expire_on_commit=False keeps the loaded state): SQLite writers
    take the database lock at BEGIN, so two open write transactions cannot overlap on that engine.
    """
    with db.session_factory() as first, db.session_factory() as second:
        mine = first.get_one(ScrapingJob, seed.job_id)
        first.commit()
        theirs = second.get_one(ScrapingJob, seed.job_id)
        second.commit()
        assert mine.version == theirs.version == 1

        mine.priority = 10
        first.commit()
        assert mine.version == 2

        theirs.priority = -10
        with pytest.raises(StaleDataError, match="expected to update 1 row"):
            second.flush()
        second.rollback()

    with db.unit_of_work(readonly=True) as uow:
        job = _job(uow.session, seed)
        assert (job.priority, job.version) == (10, 2)
