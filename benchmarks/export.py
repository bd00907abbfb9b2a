"""Exports against the raw baselines, in one run: Parquet and CSV vs COPY, XLSX vs bare xlsxwriter, SQLite.

Runs on a seeded PostgreSQL database (``stratlogic seed --demo --jobs 1000000``: ~5.5M audit rows), read
only. Every measured command runs in its own process under ``/usr/bin/time`` (peak RSS), alternating
with its baseline so both see the same load on this shared machine; the medians and ratios are printed.

- audit -> Parquet (``stratlogic export audit``) vs a binary ``COPY (SELECT * ...) TO STDOUT`` read by
  psycopg, for each row count asked (goal <= 1.2x, peak RSS <= 300 MB, no higher at the larger count), with
  ``pandas.read_sql`` of the same rows beside it (time, peak RSS; ``--no-pandas`` skips it);
- audit -> CSV vs ``COPY ... TO STDOUT (FORMAT csv)`` written to a file (goal <= 1.5x);
- audit -> XLSX vs xlsxwriter ``constant_memory`` writing the same rows from Python lists (goal >= 0.8x rate);
- SQLite -> Parquet vs a bare ``sqlite3`` cursor reading the same rows (goal <= 1.5x), on a scratch SQLite
  database seeded here.

    PYTHONPATH=. .venv/bin/python -m benchmarks.export [ROWS,ROWS|all] [REPEAT] [--no-pandas]
        [--only=parquet,csv,xlsx,sqlite]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import psycopg

URL = os.environ.get("STRATLOGIC_BENCH_EXPORT_URL", "postgresql://postgres@127.0.0.1:5432/bench_1m")
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
COUNTS = (ARGS[0] if ARGS else "2000000,all").split(",")
REPEAT = int(ARGS[1]) if len(ARGS) > 1 else 2
PANDAS = "--no-pandas" not in sys.argv
ONLY = next((a.removeprefix("--only=").split(",") for a in sys.argv if a.startswith("--only=")),
            ["parquet", "csv", "xlsx", "sqlite"])
PY = sys.executable
CLI = str(Path(PY).parent / "stratlogic")
CSV_ROWS, XLSX_ROWS, SQLITE_JOBS = 1_000_000, 100_000, 40_000

COPY = """
import sys, time, psycopg
url, query, fmt, out = sys.argv[1:5]
with psycopg.connect(url) as c, c.cursor() as cur, open(out, "wb") as sink:
    t = time.perf_counter()
    with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT {fmt})") as cp:
        for block in cp:
            if fmt == "csv":
                sink.write(block)
    print(time.perf_counter() - t)
"""
PANDAS_READ = """
import sys, time, warnings, pandas as pd, psycopg
warnings.simplefilter("ignore")
url, query = sys.argv[1:3]
with psycopg.connect(url) as c:
    t = time.perf_counter()
    frame = pd.read_sql(query, c)
    print(time.perf_counter() - t, len(frame))
"""
XLSX_LISTS = """
import sys, time, psycopg, xlsxwriter
url, query, out = sys.argv[1:4]
with psycopg.connect(url) as c:
    rows = [list(r) for r in c.execute(query)]
t = time.perf_counter()
book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                 "remove_timezone": True, "default_date_format": "yyyy-mm-dd hh:mm:ss.000"})
sheet = book.add_worksheet("audit")
for i, row in enumerate(rows, start=1):
    sheet.write_row(i, 0, row)
book.close()
print(time.perf_counter() - t, len(rows))
"""
SQLITE_READ = """
import sqlite3, sys, time
path, since, until = sys.argv[1:4]
conn = sqlite3.connect(path)
t = time.perf_counter()
cur = conn.execute("SELECT * FROM audit_logs WHERE occurred_at >= ? AND occurred_at < ?", (since, until))
n = 0
while rows := cur.fetchmany(50000):
    n += len(rows)
print(time.perf_counter() - t, n)
"""


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[str, float, int]:
    """Run a command under /usr/bin/time: its stdout, wall seconds, peak RSS in MB."""
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", *command], capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command[:4])} ...\n{done.stderr[-2000:]}")
    wall, rss = done.stderr.strip().splitlines()[-1].split()
    return done.stdout, float(wall), int(rss) // 1024


def export_cli(since: str, until: str, out: Path, fmt: str, url: str) -> tuple[float, float, int, int]:
    """Our export as an analyst runs it: seconds inside, process wall seconds, peak RSS MB, rows."""
    env = {"STRATLOGIC_DATABASE_URL": url.replace("postgresql://", "postgresql+psycopg://")
           if url.startswith("postgresql://") else url, "STRATLOGIC_LOG_LEVEL": "WARNING"}
    stdout, wall, rss = timed([CLI, "export", "audit", "--since", since, "--until", until, "--format", fmt,
                               "--out", str(out), "--force", "--json"], env)
    result = json.loads(stdout)
    return result["seconds"], wall, rss, result["rows"]


def window(count: str) -> tuple[str, str, int]:
    """since/until holding the newest ``count`` audit rows (``all``: every row), and the exact count."""
    with psycopg.connect(URL) as conn:
        last = conn.execute("SELECT max(occurred_at) FROM audit_logs").fetchone()
        assert last and last[0], "no audit rows: seed the database first"
        until = (last[0] + timedelta(microseconds=1)).isoformat()
        since = "2000-01-01T00:00:00+00:00"
        if count != "all":
            first = conn.execute("SELECT occurred_at FROM audit_logs ORDER BY occurred_at DESC OFFSET %s LIMIT 1",
                                 (int(count) - 1,)).fetchone()
            assert first, f"fewer than {count} rows"
            since = first[0].isoformat()
        rows = conn.execute("SELECT count(*) FROM audit_logs WHERE occurred_at >= %s AND occurred_at < %s",
                            (since, until)).fetchone()
        return since, until, int(rows[0]) if rows else 0


def where(since: str, until: str) -> str:
    return f"SELECT * FROM audit_logs WHERE occurred_at >= '{since}' AND occurred_at < '{until}'"


def median(values: list[float]) -> float:
    return statistics.median(values)


def parquet_vs_copy(tmp: Path, count: str) -> None:
    since, until, rows = window(count)
    ours, walls, rss_ours, copies, rss_copy = [], [], [], [], []
    for _ in range(REPEAT):
        out, _, rss = timed([PY, "-c", COPY, URL, where(since, until), "binary", os.devnull])
        copies.append(float(out))
        rss_copy.append(rss)
        inside, wall, rss, exported = export_cli(since, until, tmp / "audit.parquet", "parquet", URL)
        assert exported == rows, (exported, rows)
        ours.append(inside)
        walls.append(wall)
        rss_ours.append(rss)
    base = median(copies)
    print(f"audit -> parquet, {rows:,} rows: export {median(ours):.2f}s (process {median(walls):.2f}s, peak "
          f"{max(rss_ours)} MB) | binary COPY {base:.2f}s (peak {max(rss_copy)} MB) | ratio "
          f"{median(ours) / base:.2f}x (process {median(walls) / base:.2f}x)", flush=True)
    if PANDAS and count != "all":
        out, _, rss = timed([PY, "-c", PANDAS_READ, URL, where(since, until)])
        seconds = float(out.split()[0])
        print(f"  pandas.read_sql of the same rows: {seconds:.2f}s, peak {rss} MB "
              f"({seconds / median(ours):.1f}x the export's time)", flush=True)


def csv_vs_copy(tmp: Path) -> None:
    since, until, rows = window(str(CSV_ROWS))
    ours, copies = [], []
    for _ in range(REPEAT):
        out, _, _ = timed([PY, "-c", COPY, URL, where(since, until), "csv", str(tmp / "copy.csv")])
        copies.append(float(out))
        inside, _, _, exported = export_cli(since, until, tmp / "audit.csv", "csv", URL)
        assert exported == rows
        ours.append(inside)
    print(f"audit -> csv, {rows:,} rows: export {median(ours):.2f}s | COPY (FORMAT csv) to a file "
          f"{median(copies):.2f}s | ratio {median(ours) / median(copies):.2f}x", flush=True)


def xlsx_vs_lists(tmp: Path) -> None:
    since, until, rows = window(str(XLSX_ROWS))
    query = (f"SELECT id, occurred_at, actor_id, action, resource_type, resource_id, ip_address, user_agent, "
             f"details::text, prev_hash, hash FROM audit_logs WHERE occurred_at >= '{since}' "
             f"AND occurred_at < '{until}'")
    ours, plain = [], []
    for _ in range(REPEAT):
        out, _, _ = timed([PY, "-c", XLSX_LISTS, URL, query, str(tmp / "lists.xlsx")])
        plain.append(float(out.split()[0]))
        inside, _, _, exported = export_cli(since, until, tmp / "audit.xlsx", "xlsx", URL)
        assert exported == rows
        ours.append(inside)
    rate_ours, rate_plain = rows / median(ours), rows / median(plain)
    print(f"audit -> xlsx, {rows:,} rows: export {rate_ours:,.0f} rows/s (reading included) | xlsxwriter "
          f"constant_memory from lists {rate_plain:,.0f} rows/s | rate ratio {rate_ours / rate_plain:.2f}x",
          flush=True)


def sqlite_vs_cursor(tmp: Path) -> None:
    path = tmp / "bench.db"
    url = f"sqlite:///{path}"
    env = {"STRATLOGIC_DATABASE_URL": url, "STRATLOGIC_ARTIFACT_STORE": f"file:{tmp / 'art'}",
           "STRATLOGIC_ADMIN_PASSWORD": "Bench-Only-Passphrase-4821", "STRATLOGIC_LOG_LEVEL": "WARNING"}
    timed([CLI, "db", "upgrade"], env)
    timed([CLI, "seed", "--demo", "--users", "50", "--jobs", str(SQLITE_JOBS), "--days", "60", "--no-objects"], env)
    since, until = "2000-01-01", "2090-01-01"
    ours, plain, rows = [], [], 0
    for _ in range(REPEAT):
        out, _, _ = timed([PY, "-c", SQLITE_READ, str(path), "2000-01-01 00:00:00", "2090-01-01 00:00:00"])
        plain.append(float(out.split()[0]))
        rows = int(out.split()[1])
        inside, _, _, exported = export_cli(since, until, tmp / "sqlite.parquet", "parquet", url)
        assert exported == rows
        ours.append(inside)
    print(f"sqlite -> parquet, {rows:,} rows: export {median(ours):.2f}s | bare sqlite3 cursor {median(plain):.2f}s "
          f"| ratio {median(ours) / median(plain):.2f}x", flush=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        tmp = Path(folder)
        for count in COUNTS if "parquet" in ONLY else []:
            parquet_vs_copy(tmp, count)
        parts = {"csv": csv_vs_copy, "xlsx": xlsx_vs_lists, "sqlite": sqlite_vs_cursor}
        for name in [n for n in parts if n in ONLY]:
            parts[name](tmp)


if __name__ == "__main__":
    main()
