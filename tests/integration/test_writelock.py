"""The write lock (``db/writelock.py``) on PostgreSQL: taken before a transaction's first row lock.

The regression it guards: two transactions each changing jobs, in orders that cross, used to deadlock
(each held a row the other wanted while one also held the audit append lock). With the lock taken before
any row is touched, the second writer queues on the lock and both finish.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from stratlogic.audit import verify
from stratlogic.db import Database
from stratlogic.db.writelock import WRITE_LOCK
from stratlogic.repositories import ConfigRepository, UserRepository
from stratlogic.repositories.jobs import JobRepository
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_db(pg_database: Callable[..., str], pg_template: str, tmp_path: Path) -> Iterator[Database]:
    database = Database.from_settings(make_settings(pg_database(pg_template), tmp_path))
    yield database
    database.dispose()


def _held(database: Database) -> bool:
    """Whether some session of this database holds the write lock (seen from a separate connection)."""
    with database.engine.connect() as connection:
        return bool(connection.scalar(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((classid::bigint << 32) | objid::bigint) = :key"), {"key": WRITE_LOCK}))


def _two_jobs(database: Database) -> tuple[int, int]:
    with database.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com").id
        jobs = JobRepository(uow)
        return (jobs.create(owner, "first", "https://example.com/1").id,
                jobs.create(owner, "second", "https://example.com/2").id)


def test_crossing_writers_do_not_deadlock(pg_db: Database) -> None:
    first, second = _two_jobs(pg_db)
    other_started, errors = threading.Event(), []
    # The other writer read job 2 before queueing; the first writer changes it meanwhile, so the other
    # one's optimistic lock fails cleanly (it re-reads and retries) instead of both deadlocking.

    def cancel_second() -> None:
        try:
            other_started.set()
            with pg_db.unit_of_work() as uow:
                JobRepository(uow).update(second, priority=5)
        except Exception as exc:  # reported to the main thread
            errors.append(exc)

    with pg_db.unit_of_work() as uow:
        jobs = JobRepository(uow)
        jobs.update(first, priority=1)
        other = threading.Thread(target=cancel_second)
        other.start()
        other_started.wait(5)
        time.sleep(1.5)  # the other writer is now waiting (on the lock; before the fix, holding row 2)
        jobs.update(second, priority=2)  # before the fix: deadlock detected after deadlock_timeout (1 s)
    other.join(10)
    assert [type(e).__name__ for e in errors] == ["ConcurrentUpdateError"], errors
    assert f"job {second} was changed by another writer" in str(errors[0])
    with pg_db.unit_of_work() as uow:
        assert JobRepository(uow).get(second).priority == 2
        JobRepository(uow).update(second, priority=5)  # the retry after re-reading succeeds
    with pg_db.unit_of_work(readonly=True) as uow:
        assert JobRepository(uow).get(second).priority == 5


def test_lock_is_taken_on_first_write_and_released_at_commit(pg_db: Database) -> None:
    first, _ = _two_jobs(pg_db)
    with pg_db.unit_of_work() as uow:
        JobRepository(uow).get(first)
        assert not _held(pg_db)  # reads do not take it
        JobRepository(uow).update(first, priority=3)
        assert _held(pg_db)
    assert not _held(pg_db)
    with pg_db.unit_of_work() as uow:  # a new transaction on a fresh session takes it again
        JobRepository(uow).update(first, priority=4)
        assert _held(pg_db)


def test_readonly_units_never_take_it(pg_db: Database) -> None:
    first, _ = _two_jobs(pg_db)
    with pg_db.unit_of_work(readonly=True) as uow:
        JobRepository(uow).list()
        assert JobRepository(uow).get(first).status.value == "queued"
        assert not _held(pg_db)


def _held_here(uow: object) -> bool:
    """Whether this unit's own connection holds the write lock."""
    return bool(uow.connection.scalar(text(  # type: ignore[attr-defined]
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() "
        "AND ((classid::bigint << 32) | objid::bigint) = :key"), {"key": WRITE_LOCK}))


@pytest.mark.parametrize("first_write", ["claim", "create"])
def test_a_rolled_back_savepoint_gives_the_lock_back_and_the_next_write_takes_it_again(
        pg_db: Database, first_write: str) -> None:
    """Rolling back to a savepoint releases an advisory lock taken after it; a write that follows in the
    outer transaction must take the lock again (else it appends to the chain unserialised: a fork)."""
    _two_jobs(pg_db)
    with pg_db.unit_of_work() as uow:
        with pytest.raises(RuntimeError), pg_db.unit_of_work() as inner:
            if first_write == "claim":
                assert len(JobRepository(inner).claim("w")) == 1
            else:
                UserRepository(inner).create("refused", "refused@example.com")
            assert _held_here(inner)
            raise RuntimeError("the savepoint rolls back")
        assert not _held_here(uow)  # PostgreSQL gave it back with the savepoint
        UserRepository(uow).create("after", "after@example.com")
        assert _held_here(uow)


def test_a_write_inside_a_read_only_unit_still_takes_the_lock(pg_db: Database) -> None:
    """Read-only is a hint (SQLite begins it deferred), not a licence to append to the chain unlocked: a
    writing unit nested in a read-only one, and one after a nested unit that rolled back, take the lock."""
    with pg_db.unit_of_work(readonly=True):
        with pytest.raises(RuntimeError, match="undo"), pg_db.unit_of_work() as nested:
            ConfigRepository(nested).set("jobs.lease_seconds", 60)
            assert _held(pg_db)
            raise RuntimeError("undo")  # the savepoint rolls back, and with it the lock
        assert not _held(pg_db)
        with pg_db.unit_of_work() as nested:
            ConfigRepository(nested).set("jobs.lease_seconds", 90)
            assert _held(pg_db)
    assert verify(pg_db).ok
