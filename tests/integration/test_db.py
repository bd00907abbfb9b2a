"""The database layer on real backends: units of work, pools, unreachable and dropped servers, health."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from stratlogic.db import Database, migrate
from stratlogic.db import health as db_health
from stratlogic.db.engine import make_engine
from stratlogic.errors import DatabaseBusyError, DatabaseUnavailableError, PoolExhaustedError
from stratlogic.models import User, UserRole
from tests.conftest import kill_backend, make_settings


def add_user(db: Database, name: str) -> None:
    with db.unit_of_work() as uow:
        uow.session.add(User(username=name, email=f"{name}@example.com", role=UserRole.ANALYST))


def usernames(db: Database) -> list[str]:
    with db.unit_of_work(readonly=True) as uow:
        return list(uow.session.scalars(select(User.username).order_by(User.username)))


def test_unit_of_work_commits_on_success(db: Database) -> None:
    add_user(db, "ada")
    assert usernames(db) == ["ada"]


def test_unit_of_work_rolls_back_on_any_exception(db: Database) -> None:
    with pytest.raises(RuntimeError, match="stop"), db.unit_of_work() as uow:
        uow.session.add(User(username="bob", email="bob@example.com"))
        uow.session.flush()
        raise RuntimeError("stop")
    assert usernames(db) == []


def test_nested_unit_is_a_savepoint(db: Database) -> None:
    with db.unit_of_work() as outer:
        outer.session.add(User(username="kept", email="kept@example.com"))
        with pytest.raises(RuntimeError), db.unit_of_work() as inner:
            assert inner is outer
            inner.session.add(User(username="dropped", email="dropped@example.com"))
            inner.session.flush()
            raise RuntimeError("inner fails")
        with db.unit_of_work() as inner_ok:
            inner_ok.session.add(User(username="also", email="also@example.com"))
    assert usernames(db) == ["also", "kept"]


def test_outer_failure_undoes_committed_savepoints(db: Database) -> None:
    with pytest.raises(RuntimeError), db.unit_of_work():
        with db.unit_of_work() as inner:
            inner.session.add(User(username="inner", email="inner@example.com"))
        raise RuntimeError("outer fails")
    assert usernames(db) == []


@pytest.mark.sqlite
def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, sqlite_busy_timeout_ms=1234)
    engine = make_engine(settings)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 1234
    engine.dispose()


@pytest.mark.sqlite
def test_sqlite_writer_takes_the_lock_up_front_and_reader_does_not(tmp_path: Path) -> None:
    """A writer unit holds the write lock from BEGIN; a readonly unit can still read alongside it."""
    settings = make_settings(f"sqlite:///{tmp_path / 'l.db'}", tmp_path, sqlite_busy_timeout_ms=100)
    db = Database.from_settings(settings)
    other = Database.from_settings(settings)
    with db.unit_of_work() as uow:
        uow.session.execute(text("CREATE TABLE t (x INTEGER)"))
    with db.unit_of_work() as holder:
        holder.session.execute(text("SELECT count(*) FROM t"))  # a mere read still takes the write lock
        with other.unit_of_work(readonly=True) as reader:
            assert reader.session.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
        with pytest.raises(DatabaseBusyError, match="BUSY_TIMEOUT_MS"), other.unit_of_work() as writer:
            writer.session.execute(text("INSERT INTO t VALUES (1)"))
    db.dispose()
    other.dispose()


@pytest.mark.postgres
def test_exhausted_pool_names_its_size_and_timeout(pg_database, pg_template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(pg_database(pg_template), tmp_path, pool_size=1, max_overflow=0, pool_timeout=0.5)
    db = Database.from_settings(settings)
    with db.unit_of_work() as holding:
        holding.session.execute(text("SELECT 1"))
        started = time.monotonic()
        with pytest.raises(PoolExhaustedError) as caught:
            threading_result: list[BaseException] = []

            def grab() -> None:
                try:
                    with db.unit_of_work() as uow:
                        uow.session.execute(text("SELECT 1"))
                except BaseException as exc:  # handed back to the test thread
                    threading_result.append(exc)

            worker = threading.Thread(target=grab)
            worker.start()
            worker.join()
            raise threading_result[0]
    assert time.monotonic() - started < 5
    assert caught.value.pool_size == 1 and caught.value.timeout == 0.5
    assert "pool_size=1" in str(caught.value) and "0.5s" in str(caught.value)
    db.dispose()


@pytest.mark.parametrize("target", ["refused", "silent"])
def test_unreachable_postgres_fails_clearly_within_seconds(target: str, silent_port: int, tmp_path: Path) -> None:
    port = 1 if target == "refused" else silent_port
    settings = make_settings(f"postgresql://postgres@127.0.0.1:{port}/none", tmp_path, connect_timeout=2)
    db = Database.from_settings(settings)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError) as caught, db.unit_of_work() as uow:
        uow.session.execute(text("SELECT 1"))
    assert time.monotonic() - started < 8
    assert f"127.0.0.1:{port}/none" in str(caught.value)
    report = db_health.check(db.engine)
    assert not report.ok and not report.reachable and "cannot reach" in report.message
    db.dispose()


def backend_pid(db: Database) -> int:
    with db.unit_of_work() as uow:
        return int(uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.postgres
@pytest.mark.parametrize("ping_after", [0, 3600], ids=["pinged-when-idle", "noticed-by-its-socket"])
def test_a_killed_connection_is_replaced_transparently(pg_database, pg_template, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       ping_after: float) -> None:
    """0: every checkout pings; 3600: no checkout here is old enough to, so the socket check must catch it."""
    db = Database.from_settings(make_settings(pg_database(pg_template), tmp_path, pool_size=1, max_overflow=0,
                                              pool_ping_after=ping_after))
    before = backend_pid(db)
    kill_backend(before)
    add_user(db, "after")
    assert usernames(db) == ["after"]
    assert backend_pid(db) != before
    db.dispose()


@pytest.mark.postgres
def test_a_connection_in_steady_use_is_not_pinged_and_an_idle_one_is(pg_database, pg_template, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The checkout check costs a round trip only after ``pool_ping_after`` seconds idle (the real ping
    runs; the wrapper only counts it)."""
    db = Database.from_settings(make_settings(pg_database(pg_template), tmp_path, pool_size=1, max_overflow=0,
                                              pool_ping_after=1))
    pings = []
    real_ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda conn: pings.append(1) or real_ping(conn))
    usernames(db)  # a new connection: nothing to check
    usernames(db)  # back from the pool a moment ago: polled, not pinged
    assert pings == []
    time.sleep(1.1)
    usernames(db)  # idle past the window: pinged
    assert pings == [1]
    db.dispose()


@pytest.mark.postgres
def test_connection_killed_mid_transaction_loses_nothing_committed(pg_database, pg_template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database.from_settings(make_settings(pg_database(pg_template), tmp_path))
    admin = Database.from_settings(make_settings(pg_database(), tmp_path))
    add_user(db, "before")
    with pytest.raises(DatabaseUnavailableError, match="cannot reach"), db.unit_of_work() as uow:
        uow.session.add(User(username="lost", email="lost@example.com"))
        uow.session.flush()
        pid = uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with admin.unit_of_work() as other:
            other.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        uow.session.execute(text("SELECT 1"))
    assert usernames(db) == ["before"]
    db.dispose()
    admin.dispose()


def test_health_reports_latency_and_revision(db: Database) -> None:
    report = db_health.check(db.engine)
    assert report.ok and report.reachable
    assert report.current_revision == report.head_revision == migrate.heads()[0]
    assert report.latency_ms is not None and report.latency_ms >= 0
    assert report.server_version


def test_health_flags_an_unmigrated_database(empty_url: str, tmp_path: Path) -> None:
    db = Database.from_settings(make_settings(empty_url, tmp_path))
    report = db_health.check(db.engine)
    assert report.reachable and not report.ok
    assert report.current_revision is None
    assert "stratlogic db upgrade" in report.message
    db.dispose()


def test_readonly_unit_reads_committed_rows(db: Database) -> None:
    add_user(db, "reader")
    with db.unit_of_work(readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.postgres
def test_statement_timeout_is_reported_as_busy(pg_database, pg_template, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database.from_settings(make_settings(pg_database(pg_template), tmp_path, statement_timeout_ms=200))
    with pytest.raises(DatabaseBusyError, match="STATEMENT_TIMEOUT_MS"), db.unit_of_work() as uow:
        uow.session.execute(text("SELECT pg_sleep(2)"))
    db.dispose()
