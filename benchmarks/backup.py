"""Backup and restore against ``pg_dump -Fc`` / ``pg_restore`` of the same PostgreSQL database, in one run.

For each size asked, a scratch database is seeded (``stratlogic seed --demo --users 200 --days 365
--no-objects``; 1M jobs make ~5M audit rows) unless ``--url`` names one already seeded (read only). Then, each
command in its own process under ``/usr/bin/time`` (peak RSS), alternating with its baseline:

- ``backup --out DIR`` vs ``pg_dump -Fc -f FILE`` (goal <= 1.5x; sizes on disk printed);
- ``restore DIR --into`` an empty database vs ``pg_restore -d`` into another empty one (goal <= 1.5x);
- the restore's rows/s from a SQLite backup into PostgreSQL (the move off the embedded default): the backup is
  restored into a SQLite file, backed up from there, and that backup restored into an empty PostgreSQL database.

Peak RSS goal <= 500 MB and flat in rows: give two sizes (``--jobs 100000,1000000``) and compare.

    PYTHONPATH=. .venv/bin/python -m benchmarks.backup [--jobs N[,N...]] [--url URL] [--no-sqlite]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ADMIN = os.environ.get("STRATLOGIC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BASE = ADMIN.rsplit("/", 1)[0]
PY = sys.executable
CLI = str(Path(PY).parent / "stratlogic")
ARGS = {a.removeprefix("--").partition("=")[0]: a.partition("=")[2] or "1" for a in sys.argv[1:]}

RUN = """
import json, sys, time
from stratlogic.config import load_settings
from stratlogic.db import Database
from stratlogic.db.actor import Actor, Origin
from stratlogic.services import backup as service
action, url, where = sys.argv[1:4]
database = Database.from_settings(load_settings(database_url=url, log_level="WARNING"))
actor = Actor(origin=Origin.of_this_process("benchmark"))
started = time.perf_counter()
if action == "backup":
    result = service.backup(database, where, actor=actor)
else:
    result = service.restore(where, database, actor=actor)
print(json.dumps({"seconds": time.perf_counter() - started, "rows": sum(result.rows.values())}))
database.dispose()
"""


def admin(sql: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql.encode())


def fresh(name: str) -> str:
    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin(f"CREATE DATABASE {name}")
    return f"{BASE}/{name}"


def drop(name: str) -> None:
    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MB) and stdout of one process."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:3])}... failed:\n{done.stderr[-2000:]}")
    rss = int(done.stderr.strip().splitlines()[-1]) // 1024
    return seconds, rss, done.stdout


def size_of(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def seed(jobs: int) -> tuple[str, str]:
    name = f"tmp_hbackup_bench_{jobs}"
    url = fresh(name)
    env = {"STRATLOGIC_DATABASE_URL": url, "STRATLOGIC_LOG_LEVEL": "WARNING"}
    subprocess.run([CLI, "db", "upgrade"], check=True, env={**os.environ, **env}, capture_output=True)
    started = time.perf_counter()
    subprocess.run([CLI, "seed", "--demo", "--users", "200", "--jobs", str(jobs), "--days", "365", "--no-objects"],
                   check=True, env={**os.environ, **env}, capture_output=True)
    print(f"seeded {jobs} jobs in {time.perf_counter() - started:.0f} s")
    return name, url


def rows_of(url: str) -> dict[str, int]:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        names = ["users", "scraping_jobs", "artifacts", "artifact_metadata", "audit_logs", "system_config"]
        return {n: int(conn.execute(f"SELECT count(*) FROM {n}").fetchone()[0]) for n in names}  # type: ignore[index]


def service(action: str, url: str, where: str) -> tuple[float, int, dict[str, float]]:
    seconds, rss, out = timed([PY, "-c", RUN, action, url, where])
    return seconds, rss, json.loads(out.strip().splitlines()[-1])


def one_size(url: str, label: str, folder: Path, sqlite: bool) -> None:
    libpq = url.replace("+psycopg", "")
    rows = rows_of(url)
    print(f"\n== {label}: {rows['scraping_jobs']} jobs, {rows['audit_logs']} audit rows, {sum(rows.values())} rows")

    dump = folder / "dump.pgc"
    dump_s, dump_rss, _ = timed(["pg_dump", "-Fc", "-f", str(dump), libpq])
    out = folder / "backup"
    back_s, back_rss, _ = service("backup", url, str(out))
    print(f"backup   {back_s:7.1f} s  peak {back_rss:4d} MB  {size_of(out) / 2**20:7.1f} MB on disk | "
          f"pg_dump -Fc {dump_s:7.1f} s  peak {dump_rss:4d} MB  {size_of(dump) / 2**20:7.1f} MB | "
          f"ratio {back_s / dump_s:.2f}x")

    restore_url = fresh("tmp_hbackup_bench_restore")
    pg_url = fresh("tmp_hbackup_bench_pgrestore")
    try:
        pgr_s, pgr_rss, _ = timed(["pg_restore", "-d", pg_url.replace("+psycopg", ""), "--no-owner", str(dump)])
        res_s, res_rss, done = service("restore", restore_url.replace("postgresql://", "postgresql+psycopg://"),
                                       str(out))
        print(f"restore  {res_s:7.1f} s  peak {res_rss:4d} MB  ({done['rows'] / res_s:,.0f} rows/s) | "
              f"pg_restore {pgr_s:7.1f} s  peak {pgr_rss:4d} MB | ratio {res_s / pgr_s:.2f}x")
    finally:
        drop("tmp_hbackup_bench_pgrestore")
        drop("tmp_hbackup_bench_restore")
    if not sqlite:
        return
    lite = folder / "lite.db"
    to_lite_s, to_lite_rss, _ = service("restore", f"sqlite:///{lite}", str(out))
    lite_out = folder / "lite-backup"
    lite_back_s, lite_back_rss, _ = service("backup", f"sqlite:///{lite}", str(lite_out))
    moved_url = fresh("tmp_hbackup_bench_moved")
    try:
        moved_s, moved_rss, done = service("restore", moved_url.replace("postgresql://", "postgresql+psycopg://"),
                                           str(lite_out))
    finally:
        drop("tmp_hbackup_bench_moved")
    print(f"PostgreSQL -> SQLite restore {to_lite_s:.1f} s (peak {to_lite_rss} MB); SQLite backup "
          f"{lite_back_s:.1f} s (peak {lite_back_rss} MB)")
    print(f"SQLite -> PostgreSQL restore {moved_s:.1f} s  peak {moved_rss} MB  {done['rows'] / moved_s:,.0f} rows/s")


def main() -> None:
    sqlite = "no-sqlite" not in ARGS
    if "url" in ARGS:
        url = ARGS["url"].replace("postgresql://", "postgresql+psycopg://")
        with tempfile.TemporaryDirectory(prefix="bench-backup-", dir=ARGS.get("tmp")) as folder:
            one_size(url, url.rsplit("/", 1)[1], Path(folder), sqlite)
        return
    for jobs in (int(j) for j in ARGS.get("jobs", "20000").split(",")):
        name, url = seed(jobs)
        try:
            with tempfile.TemporaryDirectory(prefix="bench-backup-", dir=ARGS.get("tmp")) as folder:
                one_size(url.replace("postgresql://", "postgresql+psycopg://"), f"{jobs} jobs", Path(folder), sqlite)
        finally:
            drop(name)
            shutil.rmtree(Path.cwd() / "var" / f"artifacts-{name}", ignore_errors=True)


if __name__ == "__main__":
    main()
