"""Health of the database: reachable, how fast, whether it is migrated to head, and its pool's figures.

``stratlogic.services.health`` composes these with the store, the audit chain, the queue and the disk.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool, QueuePool

from stratlogic.config import Settings, display_url
from stratlogic.db.errors import describe_unavailable, pool_timeouts
from stratlogic.errors import DatabaseUnavailableError


@dataclass(frozen=True)
class HealthReport:
    """What ``stratlogic health`` prints; ``ok`` is False when unreachable or not at head."""

    ok: bool
    backend: str
    url: str
    reachable: bool
    latency_ms: float | None
    server_version: str | None
    current_revision: str | None
    head_revision: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def check(engine: Engine) -> HealthReport:
    """Connect once, time a round trip, and compare the schema revision with the migrations' head.

    Never raises for an unreachable database: it reports it. The engine's connect timeout bounds
    the wait on a silent server.
    """
    from stratlogic.db.migrate import heads

    url = display_url(engine.url)
    head_list = heads()
    head = head_list[0] if len(head_list) == 1 else None
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()
            latency = (time.perf_counter() - started) * 1000
            version = _server_version(connection.dialect.name, connection)
            current = MigrationContext.configure(connection).get_current_revision()
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, DatabaseUnavailableError) as exc:
        reason = str(exc if isinstance(exc, DatabaseUnavailableError) else describe_unavailable(engine, exc))
        return HealthReport(False, engine.dialect.name, url, False, None, None, None, head, reason)
    if current != head:
        message = (f"database is at {current or 'no revision'}, migrations are at {head}: "
                   "run `stratlogic db upgrade`")
        return HealthReport(False, engine.dialect.name, url, True, latency, version, current, head, message)
    return HealthReport(True, engine.dialect.name, url, True, latency, version, current, head,
                        f"database reachable in {latency:.1f} ms, schema at head {head}")


def probe(settings: Settings, connect_timeout: float) -> HealthReport:
    """``check`` on a connection of its own, given up after ``connect_timeout`` seconds (a silent server).

    For a caller whose pool was made with a longer connect timeout (``stratlogic health --timeout``); the
    engine is disposed before returning, so nothing stays open.
    """
    seconds = max(1, round(connect_timeout))  # libpq's connect_timeout counts whole seconds
    engine = _probe_engine(settings.model_copy(update={"connect_timeout": seconds}))
    try:
        return check(engine)
    finally:
        engine.dispose()


def _probe_engine(settings: Settings) -> Engine:
    from stratlogic.db.engine import make_engine

    return make_engine(settings, poolclass=NullPool)


@dataclass(frozen=True)
class PoolStats:
    """The connection pool as it stands: ``kind`` (``QueuePool``, ``NullPool``…), its size and overflow
    limit (None for pools without them), connections lent out, overflow connections open, and how many
    checkouts gave up waiting since the pool was made (``timeout_seconds`` each)."""

    kind: str
    size: int | None
    max_overflow: int | None
    checked_out: int
    overflow: int
    timeouts: int
    timeout_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def pool_stats(engine: Engine) -> PoolStats:
    """Read the pool's counters; opens no connection (works with the database down)."""
    pool = engine.pool
    timeouts = pool_timeouts(engine)
    if isinstance(pool, QueuePool):
        return PoolStats("QueuePool", pool.size(), pool._max_overflow, pool.checkedout(),
                         max(0, pool.overflow()), timeouts, pool.timeout())
    return PoolStats(type(pool).__name__, None, None, 0, 0, timeouts, None)


def _server_version(dialect: str, connection: Any) -> str:
    query = "SELECT sqlite_version()" if dialect == "sqlite" else "SHOW server_version"
    return str(connection.exec_driver_sql(query).scalar_one())


__all__ = ["HealthReport", "PoolStats", "check", "pool_stats", "probe"]
