"""``stratlogic reports run`` of the three report notebooks against bare ``papermill`` runs of the same
notebooks with the same parameters, on the embedded default; then the three reports on PostgreSQL ``bench_1m``.

Part 1 (SQLite in a temporary folder, seeded with the demo defaults): ``stratlogic reports run --out DIR``
(parameter checks, one kernel per report, HTML, manifest, audit row) against ``papermill IN OUT -p ...`` for
each notebook, with every resolved parameter given to both, alternating, REPEAT times each; medians. Goal:
reports run <= 1.3x the papermill runs.

Part 2 (PostgreSQL, read-only: the database is not changed): each report through ``run_report`` (the run
minus the one-row audit append, which would write) on ``STRATLOGIC_BENCH_1M`` (default ``bench_1m``: 1M jobs,
~5M audit rows); total wall time and the kernels' peak RSS (children's ``ru_maxrss``). Goals: < 2 minutes
together, < 1 GB. Skipped when the database is absent.

    PYTHONPATH=. .venv/bin/python -m benchmarks.reports [REPEAT]      # default 2
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from stratlogic.config import load_settings
from stratlogic.db import Database, migrate
from stratlogic.reports.params import load_spec, resolve
from stratlogic.reports.run import default_reports, kernel_env, plan, run_report
from stratlogic.seed import DemoOptions, seed_demo

REPEAT = int(sys.argv[1]) if len(sys.argv) > 1 else 2
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BIN = Path(sys.executable).parent
BENCH_1M = os.environ.get("STRATLOGIC_BENCH_1M", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_1m")
PASSWORD = "Benchmark-Only-Passphrase-5170"


def environment(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATLOGIC_")}
    env.update(STRATLOGIC_DATABASE_URL=url, STRATLOGIC_HOME=str(home), STRATLOGIC_ARTIFACT_STORE=f"file:{home}/art",
               STRATLOGIC_ADMIN_PASSWORD=PASSWORD, STRATLOGIC_NOTEBOOKS=str(NOTEBOOKS), STRATLOGIC_LOG_LEVEL="WARNING")
    return env


def embedded(home: Path) -> dict[str, str]:
    """The embedded default in ``home``: migrated and seeded with the demo defaults."""
    url = f"sqlite:///{home / 'var' / 'stratlogic.db'}"
    (home / "var").mkdir(parents=True)
    settings = load_settings(home=home, database_url=url, artifact_store=f"file:{home}/art", admin_password=PASSWORD)
    migrate.upgrade(settings, "head")
    database = Database.from_settings(settings)
    try:
        seed_demo(database, DemoOptions())
    finally:
        database.dispose()
    return environment(home, url)


def ours(env: dict[str, str], out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / "stratlogic"), "reports", "run", "--out", str(out)], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - started


def bare(env: dict[str, str], out: Path) -> float:
    """papermill's own command per notebook, with every parameter ``reports run`` would give it."""
    started = time.perf_counter()
    for name in default_reports(NOTEBOOKS):
        folder = out / name
        folder.mkdir(parents=True)
        values = resolve(load_spec(name, NOTEBOOKS), {}).as_dict()
        if "output_dir" in values:
            values["output_dir"] = str(folder)
        args = [arg for key, value in values.items() for arg in ("-y", f"{key}: {value!r}")]
        subprocess.run([str(BIN / "papermill"), str(NOTEBOOKS / f"{name}.ipynb"), str(folder / f"{name}.ipynb"),
                        "-k", "python3", "--cwd", str(folder), "--no-progress-bar", *args],
                       env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def part_one() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = embedded(Path(tmp) / "home")
        ours_times, bare_times = [], []
        for attempt in range(REPEAT):
            bare_times.append(bare(env, Path(tmp) / f"bare{attempt}"))
            ours_times.append(ours(env, Path(tmp) / f"ours{attempt}"))
        mine, theirs = statistics.median(ours_times), statistics.median(bare_times)
        print(f"embedded default, {len(default_reports(NOTEBOOKS))} reports, median of {REPEAT}:")
        print(f"  papermill (bare)      {theirs:7.1f} s   {[round(t, 1) for t in bare_times]}")
        print(f"  stratlogic reports run {mine:6.1f} s   {[round(t, 1) for t in ours_times]}")
        print(f"  ratio                 {mine / theirs:7.2f}x   (goal <= 1.3x)")


def bench_1m_present() -> bool:
    libpq = BENCH_1M.replace("+psycopg", "")
    try:
        with psycopg.connect(libpq, connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM scraping_jobs").fetchone()
    except psycopg.Error:
        return False
    print(f"bench_1m: {row[0] if row else 0:,} jobs")
    return True


def part_two() -> None:
    if not bench_1m_present():
        print("bench_1m: not available, PostgreSQL part skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=Path(tmp), database_url=BENCH_1M, log_level="WARNING")
        database = Database.from_settings(settings)
        try:
            env = kernel_env(database, NOTEBOOKS)
            started = time.perf_counter()
            outcomes = [run_report(item, Path(tmp), env, None) for item in plan(NOTEBOOKS, [], {})]
            seconds = time.perf_counter() - started
        finally:
            database.dispose()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for outcome in outcomes:
        print(f"  {outcome.name:22} {outcome.status:8} {outcome.duration_seconds:7.1f} s"
              + (f"  {outcome.error['line']}" if outcome.error else ""))
    print(f"  three reports         {seconds:7.1f} s   (goal < 120 s)")
    print(f"  kernel peak RSS       {peak:7.0f} MB  (goal < 1024 MB)")


if __name__ == "__main__":
    part_two()  # first: the children's peak RSS must be the PostgreSQL kernels', not part one's
    part_one()
