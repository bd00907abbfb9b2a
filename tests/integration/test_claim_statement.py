"""The worker's claim (``stratlogic.jobs.claim``) and the one-statement PostgreSQL claim behind it.

On PostgreSQL the claim statement hashes its own audit rows with the server's ``sha256()`` around text
pieces cut from ``audit_rules.canonical``; these tests hold those rows to the Python definition: the
chain verifies, each row's hash is the Python ``digest`` of the Python ``canonical`` form, with and
without an HMAC key, with an actor's address and agent, and with worker names that need JSON escaping.
They also pin the snapshot rule: the tail is read after the write lock, even when the statement had to
wait for it while another writer appended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from stratlogic.audit import verify
from stratlogic.db import Database, writelock
from stratlogic.db.actor import Actor, acting_as
from stratlogic.errors import DatabaseUnavailableError
from stratlogic.jobs import claim
from stratlogic.models import AuditLog, JobStatus, ScrapingJob, utcnow
from stratlogic.models.audit_rules import canonical, digest
from stratlogic.repositories import UserRepository, _claim, _trail
from stratlogic.repositories._claim import JOB_COLUMNS
from stratlogic.repositories.jobs import JobRepository
from tests.conftest import kill_backend, make_settings, pg_admin

ODD_WORKERS = ['w "quoted" \\ back', "wörker-ü-日本", "tab\tand\nnewline", "x" * 200]
KEY = "claim-test-key-with-enough-entropy-0123456789"


def queue_jobs(db: Database, count: int, *, priorities: list[int] | None = None) -> tuple[int, list[int]]:
    """An owner and ``count`` queued jobs; returns (owner id, job ids)."""
    with db.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com").id
        jobs = JobRepository(uow)
        ids = [jobs.create(owner, f"job {i}", f"https://example.com/{i}",
                           priority=(priorities or [0] * count)[i]).id for i in range(count)]
    return owner, ids


def claim_rows(db: Database) -> list[AuditLog]:
    """The audit rows of claims (queued -> running), oldest first."""
    with db.unit_of_work(readonly=True) as uow:
        rows = uow.session.scalars(select(AuditLog).where(AuditLog.action == "job.status_changed")
                                   .order_by(AuditLog.id)).all()
    return [row for row in rows if row.details.get("to") == "running"]


def assert_rows_are_python_hashes(db: Database, rows: list[AuditLog], key: bytes | None) -> None:
    """Each row's hash is what ``audit_rules`` computes from its parsed values and its predecessor's hash."""
    for row in rows:
        body = canonical(row.occurred_at, row.actor_id, row.action, row.resource_type, row.resource_id,
                         row.ip_address, row.user_agent, row.details)
        assert row.hash == digest(row.prev_hash, body, key), f"row {row.id} was not hashed as documented"
    report = verify(db)
    assert report.ok, report.message


@pytest.mark.parametrize("worker", ODD_WORKERS)
def test_claim_audit_rows_are_the_documented_hashes_for_any_worker_name(db: Database, worker: str) -> None:
    queue_jobs(db, 3)
    claimed = claim(db, worker, n=2)
    assert [job.claimed_by for job in claimed] == [worker, worker]
    rows = claim_rows(db)
    assert [row.details for row in rows] == [{"from": "queued", "to": "running", "attempt": 1, "worker": worker}] * 2
    assert [row.resource_id for row in rows] == [str(job.id) for job in claimed]
    assert_rows_are_python_hashes(db, rows, None)


def test_claim_with_an_audit_key_and_an_actor_hashes_as_documented(migrated_url: str, tmp_path: Path) -> None:
    db = Database.from_settings(make_settings(migrated_url, tmp_path, audit_key=KEY))
    try:
        owner, _ = queue_jobs(db, 4)
        with acting_as(owner, ip_address="203.0.113.9", user_agent='agent "7" \\ ünï'):
            first = claim(db, "w1", n=3)
            with db.unit_of_work() as uow:
                second = JobRepository(uow).claim("w2")
        rows = claim_rows(db)
        assert len(rows) == len(first) + len(second) == 4
        assert {(row.actor_id, row.ip_address, row.user_agent) for row in rows} == {
            (owner, "203.0.113.9", 'agent "7" \\ ünï')}
        assert_rows_are_python_hashes(db, rows, KEY.encode())
        with db.unit_of_work(readonly=True) as uow:  # the key matters: without it the rows do not verify
            unkeyed = digest(rows[0].prev_hash, canonical(
                rows[0].occurred_at, rows[0].actor_id, rows[0].action, rows[0].resource_type, rows[0].resource_id,
                rows[0].ip_address, rows[0].user_agent, rows[0].details))
            assert _trail.audit_key(uow) == KEY.encode()
        assert unkeyed != rows[0].hash
    finally:
        db.dispose()


def test_worker_claim_takes_priority_then_age_and_returns_detached_jobs(db: Database) -> None:
    _, ids = queue_jobs(db, 4, priorities=[0, 5, 0, 5])
    with db.unit_of_work(readonly=True) as uow:
        version_before = uow.session.scalar(select(ScrapingJob.version).where(ScrapingJob.id == ids[1]))
    claimed = claim(db, "w", n=3)
    assert [job.id for job in claimed] == [ids[1], ids[3], ids[0]]
    job = claimed[0]
    assert (job.status, job.attempt, job.claimed_by, job.version) == (JobStatus.RUNNING, 1, "w", version_before + 1)
    assert job.lease_expires_at is not None and job.started_at is not None
    assert job.lease_expires_at - job.started_at == timedelta(seconds=300)  # the configured default
    assert job.started_at.utcoffset() == timedelta(0)  # aware UTC, as the model gives everywhere
    state = inspect(job)
    assert state.detached and not state.modified and state.identity == (job.id,)
    with db.unit_of_work(readonly=True) as uow:  # every column as a session would load it
        loaded = uow.session.get(ScrapingJob, job.id)
        assert {name: getattr(job, name) for name in JOB_COLUMNS} == {name: getattr(loaded, name)
                                                                      for name in JOB_COLUMNS}
    with db.unit_of_work() as uow:  # a detached job can be handed back to a session
        merged = uow.session.merge(job)
        JobRepository(uow).complete(merged.id, "w")
    assert [j.id for j in claim(db, "w", n=5)] == [ids[2]]
    assert claim(db, "w") == []
    assert verify(db).ok


def test_worker_claim_refuses_bad_arguments_and_claims_nothing(db: Database) -> None:
    queue_jobs(db, 1)
    for worker, n, message in (("w", 0, "n must be between 1 and 1000, got 0"),
                               ("", 1, "worker_id '' must be 1-200 characters")):
        with pytest.raises(ValueError, match=message):
            claim(db, worker, n=n)
    with db.unit_of_work(readonly=True) as uow:
        assert uow.session.scalar(select(ScrapingJob.status)) is JobStatus.QUEUED


def test_the_claim_template_rebuilds_canonical_for_every_actor_shape() -> None:
    now = utcnow()
    for actor in (Actor(), Actor(7, "::1", None), Actor(None, None, 'a"b\\c\u2028')):
        for worker in ODD_WORKERS:
            values = _claim.params(worker, 1, None, now, now, actor, None)
            built = f"{values['head']}4242{values['middle']}3{values['tail']}".encode()
            expected = b"\n" + canonical(now, actor.user_id, "job.status_changed", "job", "4242", actor.ip_address,
                                         actor.user_agent, {"from": "queued", "to": "running", "attempt": 3,
                                                            "worker": worker})
            assert built == expected


@pytest.fixture
def two_databases(pg_database: Callable[..., str], pg_template: str,
                  tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    """Two handles (two pools) on one fresh PostgreSQL database: one holds the write lock, the other claims."""
    settings = make_settings(pg_database(pg_template), tmp_path)
    db, other = Database.from_settings(settings), Database.from_settings(settings)
    yield db, other
    db.dispose()
    other.dispose()


def claim_in_thread(database: Database, worker_id: str, outcome: dict[str, object]) -> threading.Thread:
    """Start ``claim(database, worker_id)`` on a thread; its jobs or its error land in ``outcome``."""
    JobRepository.recovery_due(database, utcnow())  # no lease recovery first: it would queue for the lock itself

    def run() -> None:
        try:
            outcome["jobs"] = claim(database, worker_id)
        except Exception as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until_waiting(database: Database) -> bool:
    """Whether some session of ``database`` waits for the write lock (polled for up to 20 s)."""
    deadline = time.monotonic() + 20
    while not _waiting(database) and time.monotonic() < deadline:
        time.sleep(0.02)
    return _waiting(database)


@pytest.mark.postgres
def test_a_claim_that_waited_for_the_lock_chains_onto_rows_appended_meanwhile(
        two_databases: tuple[Database, Database]) -> None:
    """The claim statement's snapshot is older than the rows appended while it waited; the tail must not be."""
    db, other = two_databases
    queue_jobs(db, 1)
    outcome: dict[str, object] = {}
    with db.unit_of_work() as uow:
        _trail.lock(uow)  # hold the write lock, append, and only then let the claim in
        racer = claim_in_thread(other, "late", outcome)
        assert wait_until_waiting(db), "the claim did not wait for the write lock"
        with acting_as(None):
            UserRepository(uow).create("meanwhile", "meanwhile@example.com")  # appends audit rows
    racer.join(timeout=30)
    assert "error" not in outcome, outcome
    assert len(outcome["jobs"]) == 1  # type: ignore[arg-type]
    report = verify(db)
    assert report.ok, report.message  # a stale tail would fork the chain right here


@pytest.mark.postgres
def test_appends_chain_onto_the_true_tail_when_the_server_defaults_to_repeatable_read(
        pg_database: Callable[..., str], pg_template: str, tmp_path: Path) -> None:
    """A server (or database) whose default isolation is REPEATABLE READ would give a writer that waited for
    the lock a snapshot older than the tail, and fork the chain: the package's connections are pinned to
    READ COMMITTED, for a worker's claim and for a unit of work that appends."""
    url = pg_database(pg_template)
    pg_admin(f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET default_transaction_isolation = 'repeatable read'")
    settings = make_settings(url, tmp_path)
    db, other = Database.from_settings(settings), Database.from_settings(settings)
    try:
        queue_jobs(db, 1)
        for writer in ("claim", "unit of work"):
            outcome: dict[str, object] = {}
            with db.unit_of_work() as uow:
                _trail.lock(uow)
                if writer == "claim":
                    racer = claim_in_thread(other, "late", outcome)
                else:
                    racer = threading.Thread(target=add_user, args=(other, "waiter", outcome))
                    racer.start()
                assert wait_until_waiting(db), f"the {writer} did not wait for the write lock"
                with acting_as(None):
                    UserRepository(uow).create(f"meanwhile{len(writer)}", f"m{len(writer)}@example.com")
            racer.join(timeout=30)
            assert "error" not in outcome, outcome
            report = verify(db)
            assert report.ok, f"after a {writer}: {report.message}"
    finally:
        db.dispose()
        other.dispose()


def add_user(database: Database, name: str, outcome: dict[str, object]) -> None:
    """Create a user (appending audit rows); its id or its error lands in ``outcome``."""
    try:
        with database.unit_of_work() as uow:
            outcome["user"] = UserRepository(uow).create(name, f"{name}@example.com").id
    except Exception as exc:  # handed to the test thread
        outcome["error"] = exc


def _waiting(database: Database) -> bool:
    with database.engine.connect() as conn:
        return bool(conn.scalar(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND l.locktype = 'advisory' AND a.datname = current_database()")))


def test_a_connection_used_by_a_worker_claim_still_rolls_back_a_failed_unit(db: Database) -> None:
    """The worker claim runs in autocommit; the pooled connection must come back transactional."""
    queue_jobs(db, 2)
    assert len(claim(db, "w")) == 1
    with pytest.raises(RuntimeError), db.unit_of_work() as uow:
        UserRepository(uow).create("ghost", "ghost@example.com")
        raise RuntimeError("abandon the unit")
    with db.unit_of_work(readonly=True) as uow:
        assert not UserRepository(uow).exists({"username": "ghost"})
    assert len(claim(db, "w")) == 1


def test_a_worker_claim_inside_an_open_unit_joins_it_instead_of_waiting_for_its_lock(db: Database) -> None:
    """Units nest (a savepoint of the outer one), so a service composes: ``claim`` inside a writing unit must
    not wait on a second connection for the write lock its own caller holds (it did, until the statement
    timeout), and it rolls back with that unit, as on SQLite."""
    queue_jobs(db, 2)
    with pytest.raises(RuntimeError), db.unit_of_work() as uow:
        UserRepository(uow).create("writer", "writer@example.com")  # the unit now holds the write lock
        started = time.monotonic()
        assert len(claim(db, "w")) == 1
        assert time.monotonic() - started < 2
        raise RuntimeError("abandon the unit")
    with db.unit_of_work(readonly=True) as uow:
        assert JobRepository(uow).count({"status": "running"}) == 0
    assert [job.claimed_by for job in claim(db, "w", n=2)] == ["w", "w"]
    assert verify(db).ok


@pytest.mark.postgres
def test_a_claim_whose_connection_dies_is_reported_unavailable_and_the_connection_dropped(
        two_databases: tuple[Database, Database], caplog: pytest.LogCaptureFixture) -> None:
    """A server that ends the claim's backend: DatabaseUnavailableError, and the dead connection is invalidated
    rather than handed back to the pool (whose reset on it fails with an error logged), so the next claim works."""
    db, other = two_databases
    queue_jobs(db, 2)
    outcome: dict[str, object] = {}
    with other.unit_of_work() as uow:
        _trail.lock(uow)
        racer = claim_in_thread(db, "doomed", outcome)
        assert wait_until_waiting(other), "the claim did not wait for the write lock"
        uow.connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"))
    racer.join(timeout=30)
    assert isinstance(outcome.get("error"), DatabaseUnavailableError), outcome
    assert not [r for r in caplog.records if r.levelname == "ERROR"], [r.getMessage() for r in caplog.records]
    assert [job.claimed_by for job in claim(db, "w")] == ["w"]
    assert verify(db).ok


@pytest.mark.postgres
def test_a_worker_claims_on_after_its_idle_connection_is_killed(pg_database: Callable[..., str], pg_template: str,
                                                               tmp_path: Path) -> None:
    """The claim's cursor lives with its pooled connection; when the server kills that connection between
    claims, the pool replaces it at checkout and the next claim runs on a new cursor of the new one."""
    db = Database.from_settings(make_settings(pg_database(pg_template), tmp_path, pool_size=1, max_overflow=0))
    try:
        queue_jobs(db, 2)
        assert len(claim(db, "w")) == 1
        with db.unit_of_work(readonly=True) as uow:
            before = uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        kill_backend(before)
        assert len(claim(db, "w")) == 1
        with db.unit_of_work(readonly=True) as uow:
            assert uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one() != before
        assert verify(db).ok
    finally:
        db.dispose()


def test_a_worker_id_with_nul_is_refused_by_name(db: Database) -> None:
    queue_jobs(db, 1)
    with pytest.raises(ValueError, match="without NUL"):
        claim(db, "bad\x00worker")
    with db.unit_of_work(readonly=True) as uow:
        assert uow.session.scalar(select(ScrapingJob.status)) is JobStatus.QUEUED


@pytest.mark.postgres
def test_an_idle_poll_neither_waits_for_a_writer_nor_keeps_the_lock(two_databases: tuple[Database, Database]) -> None:
    db, other = two_databases
    outcome: dict[str, object] = {}
    with db.unit_of_work() as uow:
        _trail.lock(uow)  # a writer holds the lock throughout
        poll = claim_in_thread(other, "idle", outcome)
        poll.join(timeout=10)
        assert not poll.is_alive(), "an empty poll waited for the write lock"
    assert outcome == {"jobs": []}
    with other.unit_of_work() as uow:
        assert JobRepository(uow).claim("idle") == []
        assert writelock._HELD not in uow.session.info  # nothing claimed: no lock noted as held
