"""Each statistic against the single hand-written SQL statement that answers the same question.

Runs on a seeded PostgreSQL database (``stratlogic seed --demo --jobs 1000000``: 1M jobs over 365 days,
~5.5M audit rows), read only. For every statistic it prints the median time of the analytics function
(SQL built by SQLAlchemy, rows turned into a typed DataFrame) beside psycopg running the hand-written
statement and fetching its rows, and the ratio (goal: <= 1.3). Then the pandas way analysts write today
(``read_sql`` of the rows + ``groupby``) for the headline statistics, the target_domain column against
parsing the host out of the URL in SQL, and the total time of everything the three report notebooks
(03 jobs, 04 artifacts, 05 audit) show, chain status included (goal: < 60 s).

    STRATLOGIC_BENCH_STATS_URL=postgresql://postgres@127.0.0.1:5432/bench_1m \\
        PYTHONPATH=. .venv/bin/python -m benchmarks.stats [DAYS] [REPEAT]

``STRATLOGIC_BENCH_STATS_SQLITE=PATH`` adds SQLite day buckets (UTC and a DST zone) on a seeded SQLite file.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg

from benchmarks._common import median_seconds
from stratlogic import analytics as an
from stratlogic.config import load_settings
from stratlogic.db import Database

URL = os.environ.get("STRATLOGIC_BENCH_STATS_URL", "postgresql://postgres@127.0.0.1:5432/bench_1m")
DAYS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
REPEAT = int(sys.argv[2]) if len(sys.argv) > 2 else 3
W = "created_at >= %(s)s AND created_at < %(u)s"
AW = "occurred_at >= %(s)s AND occurred_at < %(u)s"
SIZE_CASE = ("CASE " + " ".join(f"WHEN size_bytes < {1024 * 4**k} THEN {k + 1}" for k in range(11))
             + " WHEN size_bytes >= 0 THEN 11 END")
SECURITY = ("action IN ('user.created','user.deleted','user.role_changed','user.activated','user.deactivated',"
            "'user.password_changed','audit.pruned','backup.restored') OR (action = 'user.updated' AND "
            "(details::text LIKE '%%\"is_active\"%%' OR details::text LIKE '%%\"role\"%%')) OR (action IN "
            "('config.set','config.unset') AND resource_id IN ('audit.retention_days',"
            "'artifacts.allowed_content_types','artifacts.max_size_bytes','scraper.proxy_url'))")

#: statistic -> (keyword arguments, the hand-written statement answering the same question)
HAND: dict[str, tuple[dict[str, Any], str]] = {
    "job_volume": ({"by": "day"}, f"SELECT date_trunc('day', created_at AT TIME ZONE 'UTC'), status, count(*) "
                                  f"FROM scraping_jobs WHERE {W} GROUP BY 1, 2 ORDER BY 1, 2"),
    "job_summary": ({}, "SELECT count(*), " + ", ".join(
        f"count(*) FILTER (WHERE status = '{s}')" for s in ("completed", "failed", "cancelled", "pending",
                                                              "queued", "running"))
        + f", sum(pages_done), sum(items_scraped), sum(bytes_downloaded) FROM scraping_jobs WHERE {W}"),
    "job_durations": ({}, "SELECT count(*) FILTER (WHERE status IN ('completed','failed') AND started_at IS NOT "
                          "NULL), percentile_cont(ARRAY[0.5,0.9,0.95,0.99]) WITHIN GROUP (ORDER BY CASE WHEN "
                          "status IN ('completed','failed') THEN extract(epoch FROM finished_at - started_at) END), "
                          "count(started_at), percentile_cont(ARRAY[0.5,0.9,0.95,0.99]) WITHIN GROUP (ORDER BY "
                          f"extract(epoch FROM started_at - created_at)) FROM scraping_jobs WHERE {W}"),
    "job_attempts": ({}, f"SELECT attempt, count(*) FROM scraping_jobs WHERE {W} GROUP BY 1 ORDER BY 1"),
    "job_errors": ({"limit": 10}, "SELECT e.error_type, e.n, j.error_message FROM (SELECT error_type, count(*) n, "
                                  f"max(id) m FROM scraping_jobs WHERE {W} AND error_type IS NOT NULL GROUP BY 1 "
                                  "ORDER BY 2 DESC, 3 DESC LIMIT 10) e JOIN scraping_jobs j ON j.id = e.m "
                                  "ORDER BY e.n DESC, e.m DESC"),
    "job_breakdown": ({"field": "owner"}, "SELECT u.username, count(*), count(*) FILTER (WHERE j.status = "
                                          "'completed'), count(*) FILTER (WHERE j.status = 'failed'), "
                                          "sum(j.pages_done), sum(j.items_scraped), sum(j.bytes_downloaded) FROM "
                                          "scraping_jobs j JOIN users u ON u.id = j.owner_id WHERE j.created_at >= "
                                          "%(s)s AND j.created_at < %(u)s GROUP BY u.username, j.owner_id"),
    "job_throughput": ({"by": "day"}, "SELECT date_trunc('day', finished_at AT TIME ZONE 'UTC'), sum(pages_done), "
                                      "sum(items_scraped), sum(bytes_downloaded), count(*) FROM scraping_jobs "
                                      "WHERE finished_at >= %(s)s AND finished_at < %(u)s GROUP BY 1 ORDER BY 1"),
    "stuck_jobs": ({}, "SELECT id, name, claimed_by, lease_expires_at FROM scraping_jobs WHERE status = 'running' "
                       "AND lease_expires_at < %(u)s ORDER BY lease_expires_at, id"),
    "queue_health": ({}, "SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = "
                         "'queued' AND (next_retry_at IS NULL OR next_retry_at <= %(u)s)), min(created_at) FILTER "
                         "(WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running' AND lease_expires_at "
                         "< %(u)s) FROM scraping_jobs WHERE status IN ('queued', 'running')"),
    "artifact_summary": ({}, f"SELECT content_type, count(*), sum(size_bytes) FROM artifacts WHERE {W} GROUP BY 1"),
    "artifact_sizes": ({}, f"SELECT {SIZE_CASE}, count(*) FROM artifacts WHERE {W} GROUP BY 1"),
    "artifact_size_percentiles": ({}, "SELECT count(*), percentile_cont(ARRAY[0.5,0.9,0.95,0.99]) WITHIN GROUP "
                                      f"(ORDER BY size_bytes), max(size_bytes) FROM artifacts WHERE {W}"),
    "artifacts_per_job": ({}, "SELECT n, count(*) FROM (SELECT j.id, count(a.id) n FROM scraping_jobs j LEFT JOIN "
                              "artifacts a ON a.job_id = j.id WHERE j.created_at >= %(s)s AND j.created_at < %(u)s "
                              "GROUP BY j.id) t GROUP BY n ORDER BY n"),
    "metadata_coverage": ({}, "SELECT m.key, count(*), (SELECT count(*) FROM artifacts WHERE " + W + ") FROM "
                              "artifact_metadata m JOIN artifacts a ON a.id = m.artifact_id WHERE a.created_at >= "
                              "%(s)s AND a.created_at < %(u)s GROUP BY m.key"),
    "metadata_top_values": ({"key": "language", "limit": 10},
                            "SELECT m.value, count(*) FROM artifact_metadata m JOIN artifacts a ON a.id = "
                            "m.artifact_id WHERE m.key = 'language' AND a.created_at >= %(s)s AND a.created_at < "
                            "%(u)s GROUP BY m.value ORDER BY 2 DESC, min(m.id) LIMIT 10"),
    "duplicate_artifacts": ({"limit": 100}, "SELECT sha256, count(*), sum(size_bytes), string_agg(id::text, ',') "
                                            f"FROM artifacts WHERE {W} GROUP BY sha256 HAVING count(*) > 1 "
                                            "ORDER BY 2 DESC, 3 DESC, min(id) LIMIT 100"),
    "audit_volume": ({"by": "day", "group": "action"},
                     f"SELECT date_trunc('day', occurred_at AT TIME ZONE 'UTC'), action, count(*) FROM audit_logs "
                     f"WHERE {AW} GROUP BY 1, 2 ORDER BY 1, 2"),
    "top_actors": ({"limit": 10}, "SELECT t.actor_id, coalesce(u.username, '(system)'), t.n FROM (SELECT actor_id, "
                                  f"count(*) n FROM audit_logs WHERE {AW} GROUP BY 1 ORDER BY 2 DESC, 1 NULLS LAST "
                                  "LIMIT 10) t LEFT JOIN users u ON u.id = t.actor_id ORDER BY t.n DESC"),
    "top_resources": ({"limit": 10}, f"SELECT resource_type, resource_id, count(*) FROM audit_logs WHERE {AW} AND "
                                     "resource_id IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, max(id) DESC LIMIT 10"),
    "security_changes": ({}, "SELECT l.id, l.occurred_at, coalesce(u.username, '(system)'), l.action, "
                             "l.resource_type, l.resource_id, l.details FROM audit_logs l LEFT JOIN users u ON u.id "
                             f"= l.actor_id WHERE l.{AW.replace('AND ', 'AND l.')} AND ({SECURITY}) "
                             "ORDER BY l.occurred_at, l.id LIMIT 10000"),
    "after_hours": ({}, "SELECT l.id, l.occurred_at, coalesce(u.username, '(system)'), l.action, l.resource_type, "
                        "l.resource_id FROM audit_logs l LEFT JOIN users u ON u.id = l.actor_id WHERE "
                        f"l.{AW.replace('AND ', 'AND l.')} AND (to_char(l.occurred_at AT TIME ZONE 'UTC', "
                        "'HH24:MI:SS') < '08:00:00' OR to_char(l.occurred_at AT TIME ZONE 'UTC', 'HH24:MI:SS') >= "
                        "'18:00:00' OR extract(isodow FROM l.occurred_at AT TIME ZONE 'UTC') >= 6) "
                        "ORDER BY l.occurred_at, l.id LIMIT 10000"),
}
#: What the three report notebooks call (03, 04, 05), with the notebooks' defaults.
NOTEBOOKS: list[tuple[str, dict[str, Any]]] = [
    ("job_summary", {}), ("job_volume", {"by": "day"}), ("job_durations", {}), ("job_attempts", {}),
    ("job_errors", {"limit": 10}), ("job_breakdown", {"field": "owner"}), ("job_breakdown", {"field": "domain"}),
    ("job_throughput", {"by": "day"}), ("stuck_jobs", {}), ("queue_health", {}),
    ("artifact_summary", {"field": "content_type"}), ("artifact_sizes", {}), ("artifact_size_percentiles", {}),
    ("artifacts_per_job", {}), ("metadata_coverage", {}), ("metadata_top_values", {"key": "language", "limit": 10}),
    ("duplicate_artifacts", {}), ("audit_volume", {"by": "day", "group": "action"}), ("top_actors", {"limit": 10}),
    ("top_resources", {"limit": 10}), ("security_changes", {}), ("after_hours", {}), ("chain_status", {}),
]
UNWINDOWED = {"stuck_jobs", "queue_health", "chain_status"}


def call(db: Database, name: str, kwargs: dict[str, Any], since: datetime, until: datetime) -> pd.DataFrame:
    """One statistic on the window (``now`` = until for the two that read the live queue)."""
    kwargs = dict(kwargs)
    key = kwargs.pop("key", None)
    args = (key,) if key else ()
    if name in ("stuck_jobs", "queue_health"):
        return getattr(an, name)(db, now=until, **kwargs)
    if name in UNWINDOWED:
        return getattr(an, name)(db, **kwargs)
    return getattr(an, name)(db, *args, since=since, until=until, **kwargs)


def hand(conn: psycopg.Connection[Any], sql: str, since: datetime, until: datetime) -> int:
    """Run the hand-written statement and fetch every row (what the function's caller gets, minus the frame)."""
    return len(conn.execute(sql, {"s": since, "u": until}).fetchall())


def side_by_side(db: Database, conn: psycopg.Connection[Any], since: datetime, until: datetime) -> None:
    print(f"{'statistic':28s} {'analytics':>10s} {'hand SQL':>10s} {'ratio':>6s}  rows")
    ratios = []
    for name, (kwargs, sql) in HAND.items():
        rows = len(call(db, name, kwargs, since, until))  # warm both plans and caches once
        hand(conn, sql, since, until)
        ours = median_seconds(partial(call, db, name, kwargs, since, until), REPEAT)
        theirs = median_seconds(partial(hand, conn, sql, since, until), REPEAT)
        ratios.append(ours / theirs)
        print(f"{name:28s} {ours:9.3f}s {theirs:9.3f}s {ours / theirs:5.2f}x  {rows}", flush=True)
    print(f"{'median ratio':28s} {'':10s} {'':10s} {sorted(ratios)[len(ratios) // 2]:5.2f}x\n")


def pandas_way(db: Database, since: datetime, until: datetime) -> None:
    """What analysts write today: every row into pandas, then groupby / quantile."""
    params = {"s": since, "u": until}
    ways: list[tuple[str, Callable[[], object], str, Callable[[pd.DataFrame], object]]] = [
        ("job_volume", lambda: an.job_volume(db, since=since, until=until),
         f"SELECT created_at, status FROM scraping_jobs WHERE {W}",
         lambda f: f.groupby([f["created_at"].dt.floor("D"), "status"]).size()),
        ("job_durations", lambda: an.job_durations(db, since=since, until=until),
         f"SELECT status, created_at, started_at, finished_at FROM scraping_jobs WHERE {W}",
         lambda f: ((f["finished_at"] - f["started_at"]).dt.total_seconds().quantile([.5, .9, .95, .99]),
                    (f["started_at"] - f["created_at"]).dt.total_seconds().quantile([.5, .9, .95, .99]))),
        ("audit_volume", lambda: an.audit_volume(db, since=since, until=until),
         f"SELECT occurred_at, action FROM audit_logs WHERE {AW}",
         lambda f: f.groupby([f["occurred_at"].dt.floor("D"), "action"]).size()),
    ]
    print(f"{'headline statistic':28s} {'analytics':>10s} {'pandas':>10s} {'ratio':>6s}  rows read by pandas")
    for name, ours_fn, sql, reduce in ways:
        ours = median_seconds(ours_fn, REPEAT)
        read: list[int] = []

        def theirs(sql: str = sql, reduce: Callable[[pd.DataFrame], object] = reduce, read: list[int] = read) -> None:
            with psycopg.connect(URL) as conn, warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # pandas wants a SQLAlchemy connectable
                frame = pd.read_sql(sql, conn, params=params)
            read[:] = [len(frame)]
            reduce(frame)
        pandas = median_seconds(theirs, REPEAT)
        print(f"{name:28s} {ours:9.3f}s {pandas:9.3f}s {pandas / ours:5.1f}x  {read[0]}", flush=True)
    print()


def domains(db: Database, conn: psycopg.Connection[Any], since: datetime, until: datetime) -> None:
    """The stored target_domain against parsing the host out of target_url in SQL, grouped and filtered."""
    parse = "lower(substring(target_url from '://(?:[^/?#@]*@)?([^/?#:]*)'))"
    top = conn.execute("SELECT target_domain FROM scraping_jobs GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()
    domain = top[0] if top else "example.com"
    cases = [("group by domain", f"SELECT target_domain, count(*) FROM scraping_jobs WHERE {W} GROUP BY 1",
              f"SELECT {parse}, count(*) FROM scraping_jobs WHERE {W} GROUP BY 1"),
             ("filter one domain", f"SELECT count(*) FROM scraping_jobs WHERE {W} AND target_domain = %(d)s",
              f"SELECT count(*) FROM scraping_jobs WHERE {W} AND {parse} = %(d)s")]
    print(f"{'target_domain vs URL parsing':28s} {'column':>10s} {'regexp':>10s} {'ratio':>6s}")
    params = {"s": since, "u": until, "d": domain}
    for label, column, regexp in cases:
        stored = median_seconds(partial(_rows, conn, column, params), REPEAT)
        parsed = median_seconds(partial(_rows, conn, regexp, params), REPEAT)
        print(f"{label:28s} {stored:9.3f}s {parsed:9.3f}s {parsed / stored:5.1f}x", flush=True)
    ours = median_seconds(lambda: an.job_summary(db, since=since, until=until, domain=domain), REPEAT)
    print(f"{'job_summary(domain=...)':28s} {ours:9.3f}s\n")


def _rows(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any]) -> int:
    return len(conn.execute(sql, params).fetchall())


def notebooks(db: Database, since: datetime, until: datetime) -> None:
    """Everything the three report notebooks show, once each, in order; the total against the 60 s goal."""
    total, slowest = 0.0, []
    for name, kwargs in NOTEBOOKS:
        started = time.perf_counter()
        call(db, name, kwargs, since, until)
        seconds = time.perf_counter() - started
        total += seconds
        slowest.append((seconds, name))
    worst = ", ".join(f"{n} {s:.1f}s" for s, n in sorted(slowest, reverse=True)[:3])
    print(f"three report notebooks' statistics: {total:.1f}s in all (goal < 60 s); slowest: {worst}")
    chain = dict((n, s) for s, n in slowest)["chain_status"]
    started = time.perf_counter()
    recent = an.chain_status(db, since=since)
    windowed = time.perf_counter() - started
    print(f"  with chain_status(since=window) instead of the whole chain ({int(recent['rows_checked'].item()):,} "
          f"rows, {windowed:.1f}s): {total - chain + windowed:.1f}s")


def _sqlite_rows(conn: Any, sql: str, bounds: tuple[str, str]) -> int:
    return len(conn.execute(sql, bounds).fetchall())


def sqlite_buckets(path: str) -> None:
    """SQLite has no time zones: day buckets in UTC and in Europe/Paris (a CASE on the window's DST offsets)
    beside hand-written ``date()`` groupings (the Paris one with a fixed offset, wrong across a DST change)."""
    import sqlite3

    settings = load_settings(home=Path.cwd(), database_url=f"sqlite:///{path}", log_level="WARNING")
    db = Database.from_settings(settings)
    with sqlite3.connect(path) as conn:
        until = datetime.fromisoformat(conn.execute("SELECT max(created_at) FROM scraping_jobs").fetchone()[0])
        until = until.replace(tzinfo=UTC) + timedelta(seconds=1)
        since = until - timedelta(days=90)
        bounds = (f"{since:%Y-%m-%d %H:%M:%S}", f"{until:%Y-%m-%d %H:%M:%S}")
        where = "created_at >= ? AND created_at < ?"
        print(f"SQLite {path}: job_volume by day over 90 days")
        for tz, modifier in (("UTC", ""), ("Europe/Paris", ", '+1 hours'")):
            sql = f"SELECT date(created_at{modifier}), status, count(*) FROM scraping_jobs WHERE {where} GROUP BY 1, 2"
            ours = median_seconds(partial(an.job_volume, db, since=since, until=until, tz=tz), REPEAT)
            theirs = median_seconds(partial(_sqlite_rows, conn, sql, bounds), REPEAT)
            print(f"  {tz:14s} analytics {ours:7.3f}s  hand SQL {theirs:7.3f}s  {ours / theirs:5.2f}x")
    db.dispose()


def main() -> None:
    settings = load_settings(home=Path.cwd(), database_url=URL, log_level="WARNING")
    db = Database.from_settings(settings)
    until = datetime.now(UTC).replace(microsecond=0)
    since = until - timedelta(days=DAYS)
    with psycopg.connect(URL) as conn:
        jobs, audit = (conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("scraping_jobs", "audit_logs"))
        print(f"{jobs[0] if jobs else 0:,} jobs, {audit[0] if audit else 0:,} audit rows; window {DAYS} days "
              f"({since:%Y-%m-%d} .. {until:%Y-%m-%d}), median of {REPEAT}\n")
        side_by_side(db, conn, since, until)
        domains(db, conn, since, until)
    pandas_way(db, since, until)
    notebooks(db, since, until)
    db.dispose()
    if os.environ.get("STRATLOGIC_BENCH_STATS_SQLITE"):
        print()
        sqlite_buckets(os.environ["STRATLOGIC_BENCH_STATS_SQLITE"])


if __name__ == "__main__":
    main()
