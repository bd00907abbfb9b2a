"""PostgreSQL backends terminated for real (``pg_terminate_backend``) while idle in the pool, during a read and
during a write.

- idle: every pooled connection killed at once (as by a server restart) is replaced at checkout, for units
  of work, repository writes, the worker claim's driver path and the health check alike;
- a write: the unit raises ``DatabaseUnavailableError`` naming the database and what the server said, and
  leaves nothing behind (neither the rows nor their audit rows), and the next write chains onto the true tail;
- a read: ``unit_of_work(readonly=True)`` raises the same (its caller's block already ran), while
  ``Database.read`` runs the read once more on a new connection, and only then (not nested in a caller's
  unit, not for a server that cannot be reached, not more than once).

The kill is timed by the server, not by sleeping: a thread waits until the victim's backend is running a
``pg_sleep`` and then terminates it. (The worker claim killed mid-statement is in test_claim_statement.py.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select, text

from stratlogic.audit import verify
from stratlogic.db import Database, UnitOfWork
from stratlogic.db.actor import Actor
from stratlogic.errors import DatabaseUnavailableError
from stratlogic.jobs import claim
from stratlogic.models import AuditLog, JobStatus, ScrapingJob, User
from stratlogic.repositories import UserRepository
from stratlogic.repositories.jobs import JobRepository
from stratlogic.services import health
from tests.conftest import PG_ADMIN, kill_backend, make_settings

pytestmark = pytest.mark.postgres
SLEEP = "SELECT pg_sleep(30)"  # never runs out: the kill ends it


@pytest.fixture
def pg(pg_database: Callable[..., str], pg_template: str, tmp_path: Path) -> Iterator[Database]:
    database = Database.from_settings(make_settings(pg_database(pg_template), tmp_path, pool_size=3, max_overflow=0))
    yield database
    database.dispose()


def backend_pid(uow: UnitOfWork) -> int:
    return int(uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def kill_when_sleeping(pid: int) -> threading.Thread:
    """Terminate backend ``pid`` as soon as it runs ``pg_sleep`` (the statement the victim is blocked in)."""
    def killer() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            deadline = time.monotonic() + 60
            while not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active' "
                                   "AND query LIKE 'SELECT pg_sleep%%'", (pid,)).fetchone():
                assert time.monotonic() < deadline, f"backend {pid} never started sleeping"
                time.sleep(0.02)
        kill_backend(pid)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    return thread


def rows(db: Database) -> tuple[list[str], int, int]:
    with db.unit_of_work(readonly=True) as uow:
        names = list(uow.session.scalars(select(User.username).order_by(User.username)))
        jobs = uow.session.scalar(select(func.count()).select_from(ScrapingJob)) or 0
        audit = uow.session.scalar(select(func.count()).select_from(AuditLog)) or 0
    return names, jobs, audit


def pooled_pids(db: Database, count: int) -> list[int]:
    """Open ``count`` units at once so the pool holds that many connections; their backends' pids."""
    from contextlib import ExitStack

    with ExitStack() as stack:  # separate threads' units would each be outermost; here: distinct sessions
        sessions = [stack.enter_context(db.session_factory()) for _ in range(count)]
        return [int(s.execute(text("SELECT pg_backend_pid()")).scalar_one()) for s in sessions]


# --- idle in the pool -----------------------------------------------------------------------------------

def test_every_idle_connection_killed_is_replaced_for_reads_writes_claims_and_health(pg: Database) -> None:
    with pg.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com").id
        JobRepository(uow).create(owner, "job", "https://example.com/")
    pids = pooled_pids(pg, 3)
    assert len(set(pids)) == 3
    for pid in pids:  # the server restarted, as far as the pool can tell
        kill_backend(pid)
    assert health.check(pg, actor=Actor()).status == "ok"
    [job] = claim(pg, "worker-1")  # the claim's driver path, on a raw pooled connection
    with pg.unit_of_work() as uow:
        JobRepository(uow).complete(job.id, "worker-1")
        assert backend_pid(uow) not in pids
    assert rows(pg) == (["owner"], 1, 5)  # user; job created and queued; claimed; completed
    assert verify(pg).ok


# --- during a write -------------------------------------------------------------------------------------

def test_a_write_killed_mid_transaction_raises_typed_and_leaves_no_row_and_no_audit_row(pg: Database) -> None:
    with pg.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com").id
    before = rows(pg)
    with pytest.raises(DatabaseUnavailableError) as caught, pg.unit_of_work() as uow:
        UserRepository(uow).create("lost", "lost@example.com")
        JobRepository(uow).create(owner, "lost job", "https://example.com/")
        uow.session.flush()  # both rows and their audit rows are on the server, uncommitted
        killer = kill_when_sleeping(backend_pid(uow))
        uow.session.execute(text(SLEEP))
    killer.join()
    message = str(caught.value)
    assert message.startswith(f"cannot reach the database at {pg.settings.safe_url}: ")
    assert "terminating connection due to administrator command" in message
    assert rows(pg) == before == (["owner"], 0, 1)
    with pg.unit_of_work() as uow:  # the next writer chains onto the true tail
        JobRepository(uow).create(owner, "kept", "https://example.com/")
    assert rows(pg) == (["owner"], 1, 3)  # + job created and queued
    assert verify(pg).ok


def test_a_claim_killed_while_it_waits_for_the_write_lock_claims_nothing(pg: Database) -> None:
    with pg.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com").id
        job_id = JobRepository(uow).create(owner, "job", "https://example.com/").id
    with pg.unit_of_work(readonly=True) as uow:
        before = list(uow.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    outcome: dict[str, object] = {}
    with pg.unit_of_work() as holder:  # holds the write lock: the claim below waits for it
        UserRepository(holder).create("holder", "holder@example.com")
        holder.session.flush()

        def run() -> None:
            try:
                outcome["claimed"] = claim(pg, "worker-1")
            except DatabaseUnavailableError as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            deadline, pid = time.monotonic() + 60, None
            while pid is None:
                assert time.monotonic() < deadline, "the claim never waited for the lock"
                found = admin.execute("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND datname = %s", (pg.engine.url.database,)).fetchone()
                pid = found[0] if found else None
                time.sleep(0.02)
        kill_backend(pid)
        worker.join()
    assert "terminating connection" in str(outcome.get("error")), outcome
    with pg.unit_of_work(readonly=True) as uow:
        assert uow.session.get(ScrapingJob, job_id).status is JobStatus.QUEUED  # type: ignore[union-attr]
        actions = list(uow.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions == [*before, "user.created"]  # the holder's row, and none of the claim's
    assert [job.id for job in claim(pg, "worker-2")] == [job_id]
    assert verify(pg).ok


def test_a_connection_used_outside_a_unit_raises_typed_on_the_statement_and_not_on_the_rollback(
        pg: Database) -> None:
    """An export's snapshot or a tool's ``engine.connect()``: no ``translated`` around it, and leaving the
    block rolls back on the dead connection; both used to raise SQLAlchemy's OperationalError."""
    with pytest.raises(DatabaseUnavailableError, match="terminating connection") as caught, \
            pg.engine.connect() as connection, connection.begin():
        killer = kill_when_sleeping(int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one()))
        connection.execute(text(SLEEP))
    killer.join()
    assert str(caught.value).startswith(f"cannot reach the database at {pg.settings.safe_url}: ")
    assert rows(pg) == ([], 0, 0)  # the pool dropped the dead connection


# --- during a read --------------------------------------------------------------------------------------

def test_a_read_unit_killed_mid_statement_raises_typed(pg: Database) -> None:
    with pytest.raises(DatabaseUnavailableError, match="terminating connection"), \
            pg.unit_of_work(readonly=True) as uow:
        killer = kill_when_sleeping(backend_pid(uow))
        uow.session.execute(text(SLEEP))
    killer.join()
    assert rows(pg) == ([], 0, 0)  # the pool dropped the dead connection; the next unit works


def test_database_read_runs_a_killed_read_once_more_on_a_new_connection(pg: Database) -> None:
    with pg.unit_of_work() as uow:
        UserRepository(uow).create("ada", "ada@example.com")
    seen: list[int] = []

    def work(uow: UnitOfWork) -> list[str]:
        seen.append(backend_pid(uow))
        if len(seen) == 1:
            killer = kill_when_sleeping(seen[0])
            try:
                uow.session.execute(text(SLEEP))
            finally:
                killer.join()
        return list(uow.session.scalars(select(User.username)))

    assert pg.read(work) == ["ada"]
    assert len(seen) == 2 and seen[0] != seen[1]


def test_database_read_retries_once_only_and_never_inside_a_callers_unit(pg: Database) -> None:
    calls: list[int] = []

    def always_killed(uow: UnitOfWork) -> None:
        calls.append(1)
        killer = kill_when_sleeping(backend_pid(uow))
        try:
            uow.session.execute(text(SLEEP))
        finally:
            killer.join()

    with pytest.raises(DatabaseUnavailableError, match="terminating connection"):
        pg.read(always_killed)
    assert len(calls) == 2  # the first run and one more
    calls.clear()
    with pytest.raises(DatabaseUnavailableError), pg.unit_of_work(readonly=True):
        pg.read(always_killed)  # nested: the caller's transaction died with it; the caller decides
    assert len(calls) == 1


def test_database_read_does_not_retry_a_server_it_cannot_reach(tmp_path: Path) -> None:
    db = Database.from_settings(make_settings("postgresql+psycopg://postgres@127.0.0.1:1/none", tmp_path))
    calls: list[int] = []

    def work(uow: UnitOfWork) -> int:
        calls.append(1)
        return int(uow.session.execute(text("SELECT 1")).scalar_one())

    with pytest.raises(DatabaseUnavailableError, match=r"127\.0\.0\.1:1/none"):
        db.read(work)
    assert calls == [1]
    db.dispose()
