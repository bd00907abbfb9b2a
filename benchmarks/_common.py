"""Shared by the benchmark scripts: a scratch PostgreSQL database and a median timer."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from stratlogic.config import Settings, load_settings
from stratlogic.db import migrate

ADMIN = os.environ.get("STRATLOGIC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def median_seconds(action: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``repeat`` runs of ``action``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def scratch_database(name: str) -> Iterator[tuple[Settings, str]]:
    """A freshly migrated PostgreSQL database (dropped afterwards): its settings and libpq URL."""
    base = ADMIN.rsplit("/", 1)[0]
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    settings = load_settings(home=Path.cwd(), database_url=f"{base}/{name}", log_level="WARNING")
    try:
        migrate.upgrade(settings, "head")
        yield settings, f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
