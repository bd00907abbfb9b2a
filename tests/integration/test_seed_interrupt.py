"""An interrupted ``seed --demo`` leaves nothing behind; what a killed one leaves, ``reconcile --fix`` removes;
large seeds say how much they will write and report progress without a terminal."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from stratlogic.cli.seed import ProgressLines
from stratlogic.config import load_settings
from stratlogic.db import Database
from stratlogic.repositories.jobs import JobRepository
from stratlogic.seed import DemoOptions
from stratlogic.seed.estimate import estimate
from stratlogic.storage import LocalStore, reconcile
from stratlogic.storage.runs import RUN_METADATA, begin_run, end_run
from tests.cli_helpers import BIN, run_cli
from tests.integration.storage_helpers import new_job

DEMO = ("seed", "--demo", "--users", "5", "--jobs", "4000", "--days", "20", "--seed", "1")


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def started_seed(home: Path) -> subprocess.Popen[str]:
    """``seed --demo`` on the default SQLite database under ``home``, once it has written an object."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATLOGIC_")} | {"STRATLOGIC_HOME": str(home)}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    process = subprocess.Popen([str(BIN), *DEMO], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180  # a bound on a hang, not a timing assertion
    while not files_under(home / "var" / "artifacts" / "jobs"):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the seed wrote no object in 180 s"
        time.sleep(0.05)
    return process


def demo_rows(home: Path) -> int:
    db = Database.from_settings(load_settings(home=home))
    try:
        with db.unit_of_work(readonly=True) as uow:
            return JobRepository(uow).count()
    finally:
        db.dispose()


@pytest.mark.sqlite
@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_seed_removes_its_objects(tmp_path: Path, sent: signal.Signals) -> None:
    process = started_seed(tmp_path)
    process.send_signal(sent)
    _, said = process.communicate(timeout=180)
    assert process.returncode == 128 + sent.value, said
    assert f"interrupted ({sent.name}): nothing was committed" in said
    store = tmp_path / "var" / "artifacts"
    assert files_under(store) == []  # objects, sidecars, the run file, the marker naming an uncommitted id
    assert demo_rows(tmp_path) == 0


@pytest.mark.sqlite
def test_reconcile_fix_removes_what_a_killed_seed_left(tmp_path: Path) -> None:
    process = started_seed(tmp_path)
    process.kill()  # SIGKILL: no clean-up runs
    process.communicate(timeout=60)
    store = tmp_path / "var" / "artifacts"
    left = files_under(store / "jobs")
    assert left and files_under(store / "runs")
    settings = load_settings(home=tmp_path)
    db = Database.from_settings(settings)
    report = reconcile(db, LocalStore(store), fix=True)  # default grace: an hour; these are seconds old
    db.dispose()
    assert report.findings and all(f.fixed and "which ended" in f.action for f in report.findings)
    assert files_under(store / "jobs") == [] and files_under(store / "runs") == []


def test_orphans_of_a_live_run_wait_for_the_grace_period(db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "live")
    new_job(db)
    reconcile(db, store, fix=True)  # claims the empty store for this database
    run = begin_run(store, "a test")  # this process: alive
    key = "jobs/1/token/page.html"
    store.put(io.BytesIO(b"<html></html>"), key, "text/html", {RUN_METADATA: run})
    waiting = reconcile(db, store, fix=True)
    assert [f.fixed for f in waiting.findings] == [False] and "grace period" in waiting.findings[0].action
    end_run(store, run)
    done = reconcile(db, store, fix=True)
    assert [f.fixed for f in done.findings] == [True] and not store.exists(key)


@pytest.mark.sqlite
def test_the_seed_says_what_it_will_write_before_it_starts(tmp_path: Path) -> None:
    env = {"STRATLOGIC_HOME": str(tmp_path)}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    result = run_cli("seed", "--demo", "--users", "3", "--jobs", "20", "--days", "2", "--no-objects", env=env)
    assert result.returncode == 0, result.stderr
    expected = estimate(DemoOptions(users=3, jobs=20, days=2, objects=False), folder_store=True)
    assert result.stderr.startswith(f"about {expected.rows:,} rows (~")
    assert "no objects (--no-objects)" in result.stderr.splitlines()[0]


def test_the_estimate_scales_with_the_options() -> None:
    small = estimate(DemoOptions(jobs=1_000), folder_store=True)
    large = estimate(DemoOptions(jobs=1_000_000), folder_store=True)
    remote = estimate(DemoOptions(jobs=1_000_000), folder_store=False)
    assert large.rows > 900 * small.rows and large.objects == 1_000 * small.objects
    assert remote.store_bytes < large.store_bytes  # a folder store pays blocks, sidecars and folders
    assert "1,250,000 objects (~27.5 GB in file:x)" in large.describe("file:x")


def test_progress_lines_come_every_few_seconds_and_at_the_end() -> None:
    now = [0.0]
    said: list[str] = []
    lines = ProgressLines(1_000, said.append, every=5.0, clock=lambda: now[0])
    for done, at in ((100, 1.0), (200, 4.9), (300, 5.0), (400, 6.0), (1_000, 7.0)):
        now[0] = at
        lines(done)
    assert said == ["seeding: 300 of 1,000 jobs (30%) after 5 s, about 12 s left",
                    "seeding: 1,000 of 1,000 jobs (100%) after 7 s"]
