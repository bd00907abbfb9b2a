"""``stratlogic seed``: the base seed (no default password) and the demo generator, on both engines."""

from __future__ import annotations

import json
import os
import pty
import shutil
import stat
import statistics
import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from stratlogic.audit import verify
from stratlogic.config import Settings, load_settings
from stratlogic.db import Database, migrate
from stratlogic.errors import ValidationError
from stratlogic.models import Artifact, ArtifactMetadata, AuditLog, ScrapingJob, SystemConfig, User
from stratlogic.repositories import ConfigRepository, UserRepository
from stratlogic.repositories.config import DECLARED
from stratlogic.seed import DemoOptions, demo, has_demo_data, seed_defaults, seed_demo
from stratlogic.seed.base import ADMIN_USERNAME, password_file
from stratlogic.storage import reconcile, store_from_settings
from tests.cli_helpers import BIN, run_cli
from tests.conftest import make_settings

TABLES = (User, SystemConfig, ScrapingJob, Artifact, ArtifactMetadata, AuditLog)
UNTIL = date.today() - timedelta(days=2)
SMALL = DemoOptions(users=15, jobs=400, days=10, seed=7, until=UNTIL, objects=False)
STRONG = "Correct-Horse-Battery-Staple-42"


def counts(db: Database) -> dict[str, int]:
    with db.unit_of_work(readonly=True) as uow:
        return {m.__tablename__: uow.session.scalar(select(func.count()).select_from(m)) or 0 for m in TABLES}


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order; password hashes left out (they are salted)."""
    found = {}
    with db.unit_of_work(readonly=True) as uow:
        for model in TABLES:
            table = model.__table__
            columns = [c for c in table.columns if c.name != "password_hash"]
            order = list(table.primary_key.columns)
            found[table.name] = [tuple(r) for r in uow.session.execute(select(*columns).order_by(*order))]
    return found


# ----- the base seed -------------------------------------------------------------------------------
def test_base_seed_twice_changes_nothing_and_hashes_with_argon2id(db: Database, settings: Settings) -> None:
    first = seed_defaults(db)
    before = counts(db)
    second = seed_defaults(db)
    assert first.admin_created and sorted(first.config_keys) == sorted(DECLARED)
    assert second.nothing_to_do and counts(db) == before
    assert before["users"] == 1 and before["system_config"] == len(DECLARED)
    with db.unit_of_work(readonly=True) as uow:
        admin = UserRepository(uow).by_username(ADMIN_USERNAME)
        assert admin.role.value == "admin" and admin.password_hash and admin.password_hash.startswith("$argon2id$")
    assert verify(db).ok


def test_base_seed_records_no_change_for_configuration_at_its_defaults(db: Database) -> None:
    seed_defaults(db)
    with db.unit_of_work(readonly=True) as uow:
        actions = [row.action for row in uow.session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["user.created"]  # the config rows hold the defaults: nothing changed, nothing audited


def test_generated_password_goes_to_a_0600_file_when_nobody_watches(db: Database, settings: Settings) -> None:
    result = seed_defaults(db, interactive=False)
    path = password_file(settings)
    assert path.parent == settings.home / "var" and path.name.startswith("admin-password-")  # not the default db
    assert result.generated and result.password is None and result.password_file == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    with db.unit_of_work() as uow:
        assert UserRepository(uow).authenticate(ADMIN_USERNAME, password) is not None


def test_interactive_seed_returns_the_password_to_show_and_writes_no_file(db: Database, settings: Settings) -> None:
    result = seed_defaults(db, interactive=True)
    assert result.password is not None and result.password_file is None
    assert not list((settings.home / "var").glob("admin-password*"))
    assert result.password.get_secret_value() not in repr(result)
    with db.unit_of_work() as uow:
        assert UserRepository(uow).authenticate(ADMIN_USERNAME, result.password.get_secret_value()) is not None


def test_the_environment_password_is_used_and_a_weak_one_refused(migrated_url: str, tmp_path: Path) -> None:
    weak = Database.from_settings(make_settings(migrated_url, tmp_path, admin_password="password1"))
    with pytest.raises(ValidationError, match="STRATLOGIC_ADMIN_PASSWORD refused: it is shorter") as caught:
        seed_defaults(weak)
    assert "password1" not in str(caught.value)
    assert counts(weak)["users"] == 0 and counts(weak)["audit_logs"] == 0
    weak.dispose()
    strong = Database.from_settings(make_settings(migrated_url, tmp_path, admin_password=STRONG))
    result = seed_defaults(strong)
    assert result.admin_created and result.generated is False and result.password_file is None
    with strong.unit_of_work() as uow:
        assert UserRepository(uow).authenticate(ADMIN_USERNAME, STRONG) is not None
    strong.dispose()


def test_base_rows_are_audited_as_the_repositories_record_them(db: Database) -> None:
    seed_defaults(db)
    with db.unit_of_work() as uow:
        UserRepository(uow).create("ada", "ada@example.com", role="admin", password=STRONG, full_name="Ada L")
        ConfigRepository(uow).unset("scraper.proxy_url")
        ConfigRepository(uow).set("scraper.proxy_url", "")
    with db.unit_of_work(readonly=True) as uow:
        rows = uow.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        users = [r.details for r in rows if r.action == "user.created"]
        proxies = [r.details for r in rows if r.action == "config.set" and r.resource_id == "scraper.proxy_url"]
    seeded, made = users
    assert seeded["values"].keys() == made["values"].keys() and seeded["values"]["password_hash"] == "***"
    assert proxies[0] == proxies[-1] == {"old": "***", "new": "***"}


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite database for the command's tests (the library's tests cover both engines)."""
    target = tmp_path / "cli.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.mark.sqlite
def test_cli_seed_without_a_terminal_prints_only_the_path(sqlite_url: str, tmp_path: Path) -> None:
    env = {"STRATLOGIC_DATABASE_URL": sqlite_url, "STRATLOGIC_HOME": str(tmp_path),
           "STRATLOGIC_ARTIFACT_STORE": f"file:{tmp_path / 'art'}"}
    first = run_cli("seed", env=env)
    assert first.returncode == 0, first.stderr
    path = password_file(load_settings(home=tmp_path, database_url=sqlite_url))
    password = path.read_text().strip()
    assert password and password not in first.stdout + first.stderr
    assert str(path) in first.stderr
    again = run_cli("seed", env=env)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    weak = run_cli("seed", env={**env, "STRATLOGIC_ADMIN_PASSWORD": "hunter2hunter2"})
    assert weak.returncode == 0  # the admin exists: the variable is not used, nothing to do


@pytest.mark.sqlite
def test_cli_seed_on_a_terminal_shows_the_password_once(sqlite_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATLOGIC_")}
    env.update(STRATLOGIC_DATABASE_URL=sqlite_url, STRATLOGIC_HOME=str(tmp_path))
    leader, follower = pty.openpty()
    with subprocess.Popen([str(BIN), "seed"], stdout=follower, stderr=subprocess.PIPE, env=env) as process:
        os.close(follower)
        shown = _read_all(leader)
        process.wait(timeout=60)
    assert process.returncode == 0
    assert "shown this once only" in shown and not list((tmp_path / "var").glob("admin-password*"))
    password = shown.split("now:", 1)[1].split()[0]
    db = Database.from_settings(make_settings(sqlite_url, tmp_path))
    with db.unit_of_work() as uow:
        assert UserRepository(uow).authenticate(ADMIN_USERNAME, password) is not None
    db.dispose()


def _read_all(descriptor: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(descriptor, 4096)
        except OSError:  # the terminal closed when the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(descriptor)
    return b"".join(chunks).decode()


# ----- the demo ------------------------------------------------------------------------------------
def test_demo_rows_keep_every_rule_and_the_trail_verifies(db: Database, settings: Settings) -> None:
    result = seed_demo(db, SMALL)
    assert result.created and result.rows["scraping_jobs"] == 400 and result.rows["users"] == 16
    assert verify(db).ok
    assert migrate.check(settings) == []
    with db.unit_of_work(readonly=True) as uow:
        s = uow.session
        times = s.scalars(select(AuditLog.occurred_at).order_by(AuditLog.id)).all()
        assert times == sorted(times), "audit ids must rise with time"
        assert times[0] == datetime.combine(UNTIL - timedelta(days=10), datetime.min.time(), UTC)
        assert s.scalar(select(func.max(AuditLog.occurred_at))) < datetime.combine(UNTIL, datetime.min.time(), UTC)
        assert has_demo_data(uow)
        demo_users = s.scalars(select(User).where(User.username != ADMIN_USERNAME)).all()
        assert all(u.password_hash is None for u in demo_users)
        assert {u.role.value for u in demo_users} == {"admin", "operator", "analyst", "viewer"}
        _check_histories(s)


def _check_histories(session: Any) -> None:
    """Each job's final row is what its audited moves leave: status, attempts, and artifacts only when done."""
    last_move = dict(session.execute(text(
        "SELECT resource_id, details FROM audit_logs WHERE id IN (SELECT max(id) FROM audit_logs "
        "WHERE action = 'job.status_changed' GROUP BY resource_id)")).all())
    claims = Counter(rid for (rid,) in session.execute(text(
        "SELECT resource_id FROM audit_logs WHERE action = 'job.status_changed' AND details LIKE '%\"to\":\"running\"%'"
        if session.bind.dialect.name == "sqlite" else
        "SELECT resource_id FROM audit_logs WHERE action = 'job.status_changed' AND details->>'to' = 'running'")))
    with_files = set(session.scalars(select(Artifact.job_id).distinct()))
    for job in session.scalars(select(ScrapingJob)):
        moved = last_move.get(str(job.id))
        details = json.loads(moved) if isinstance(moved, str) else moved
        assert (details["to"] if details else "pending") == job.status.value, job.id
        assert claims[str(job.id)] == job.attempt, job.id
        assert (job.id in with_files) == (job.status.value == "completed"), job.id


def test_same_seed_gives_the_same_rows(db: Database, other_db: Database) -> None:
    seed_demo(db, SMALL)
    seed_demo(other_db, SMALL)
    first, second = dump(db), dump(other_db)
    assert first == second
    assert len(first["audit_logs"]) > 4 * 400


def test_the_large_run_path_gives_the_same_rows_and_restores_the_schema(
        db: Database, other_db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexes and keys rebuilt after the load (PostgreSQL), days from a producer process: nothing else changes."""
    seed_demo(db, SMALL)
    monkeypatch.setattr(demo, "DEFER_INDEXES_FROM", 1)
    monkeypatch.setattr(demo, "PRODUCER_FROM", 1)
    seed_demo(other_db, SMALL)
    assert dump(db) == dump(other_db)
    assert migrate.check(other_db.settings) == [], "every index and key is back, as the migrations made it"
    assert verify(other_db).ok


def test_another_seed_gives_other_rows(db: Database, other_db: Database) -> None:
    seed_demo(db, SMALL)
    seed_demo(other_db, DemoOptions(users=15, jobs=400, days=10, seed=8, until=UNTIL, objects=False))
    assert dump(db)["scraping_jobs"] != dump(other_db)["scraping_jobs"]


def test_a_second_demo_adds_nothing(db: Database) -> None:
    seed_demo(db, SMALL)
    before = counts(db)
    again = seed_demo(db, DemoOptions(users=5, jobs=50, days=3, seed=99, until=UNTIL, objects=False))
    assert not again.created and counts(db) == before


def test_demo_after_the_base_seed_keeps_its_admin_and_config(db: Database) -> None:
    base = seed_defaults(db)
    result = seed_demo(db, SMALL)
    assert result.base is not None and result.base.nothing_to_do and result.base.admin_id == base.admin_id
    assert "system_config" not in result.rows and verify(db).ok


def test_demo_objects_are_real_and_reconcile_finds_nothing(db: Database, settings: Settings) -> None:
    result = seed_demo(db, DemoOptions(users=6, jobs=60, days=3, seed=3, until=UNTIL, objects=True))
    store = store_from_settings(settings)
    report = reconcile(db, store)
    assert result.objects == result.rows["artifacts"] == report.rows_checked == report.objects_checked > 0
    assert report.ok and report.findings == []


def test_failed_demo_changes_nothing_and_removes_its_objects(db: Database, settings: Settings) -> None:
    store = store_from_settings(settings)

    def boom(done: int) -> None:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        seed_demo(db, DemoOptions(users=4, jobs=40, days=2, seed=3, until=UNTIL, objects=True), progress=boom)
    assert sum(counts(db).values()) == 0  # the installation id drawn for the store included
    assert list(store.iter_keys(store.prefix)) == []  # objects, the run file, and the marker naming that id
    assert not password_file(settings).exists()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("users", 0, "--users 0 is out of range 1..100000"),
    ("days", 0, "--days 0 is out of range 1..3650"),
    ("until", date.today() + timedelta(days=5), "is in the future"),
])
def test_demo_options_are_checked(db: Database, field: str, value: object, message: str) -> None:
    options = DemoOptions(**{**SMALL.__dict__, field: value})
    with pytest.raises(ValidationError, match=message):
        seed_demo(db, options)


# ----- realism: the statistics the reports will show ----------------------------------------------
@pytest.mark.sqlite
def test_demo_statistics_fall_in_the_intended_ranges(tmp_path: Path, sqlite_template: Path) -> None:
    target = tmp_path / "stats.db"
    shutil.copyfile(sqlite_template, target)
    db = Database.from_settings(make_settings(f"sqlite:///{target}", tmp_path))
    seed_demo(db, DemoOptions(users=40, jobs=4000, days=28, seed=11, until=UNTIL, objects=False))
    with db.unit_of_work(readonly=True) as uow:
        jobs = uow.session.scalars(select(ScrapingJob)).all()
        artifacts = uow.session.scalars(select(Artifact)).all()
        keys = Counter(uow.session.scalars(select(ArtifactMetadata.key)))
    db.dispose()
    share = {status: n / len(jobs) for status, n in Counter(j.status.value for j in jobs).items()}
    assert 0.80 <= share["completed"] <= 0.95 and 0.03 <= share["failed"] <= 0.12
    assert 0.01 <= share["cancelled"] <= 0.06
    _check_durations([j for j in jobs if j.status.value == "completed"])
    retried = sum(j.attempt >= 2 for j in jobs) / len(jobs)
    assert 0.03 <= retried <= 0.25
    assert {j.error_type for j in jobs if j.status.value == "failed"} >= {"Timeout", "HTTPError"}
    weekday = Counter(j.created_at.weekday() < 5 for j in jobs)
    assert weekday[True] / 5 > 1.8 * weekday[False] / 2, "weekdays are busier than weekends"
    per_done = len(artifacts) / sum(j.status.value == "completed" for j in jobs)
    assert 1.0 <= per_done <= 2.0
    assert {a.content_type for a in artifacts} == {"text/html", "application/json", "text/csv", "application/pdf",
                                                   "image/png"}
    assert {"http_status", "language", "page_title", "crawl_depth"} <= set(keys)


def _check_durations(done: list[ScrapingJob]) -> None:
    """Running times are long-tailed: crawls take minutes, scrapes under a minute, and a few take very long."""
    seconds: dict[str, list[float]] = {}
    for job in done:
        assert job.started_at and job.finished_at
        seconds.setdefault(job.kind, []).append((job.finished_at - job.started_at).total_seconds())
    scrape, crawl = statistics.median(seconds["scrape"]), statistics.median(seconds["crawl"])
    assert 20 <= scrape <= 80 and 200 <= crawl <= 900
    everything = sorted(s for values in seconds.values() for s in values)
    assert everything[int(len(everything) * 0.99)] > 10 * statistics.median(everything)


# ----- the command -----------------------------------------------------------------------------------
@pytest.fixture
def pg_env(pg_database: Callable[..., str], pg_template: str, tmp_path: Path) -> dict[str, str]:
    return {"STRATLOGIC_DATABASE_URL": pg_database(pg_template), "STRATLOGIC_HOME": str(tmp_path),
            "STRATLOGIC_ARTIFACT_STORE": f"file:{tmp_path / 'art'}", "STRATLOGIC_ADMIN_PASSWORD": STRONG}


@pytest.mark.postgres
def test_cli_demo_twice_then_verify(pg_env: dict[str, str]) -> None:
    args = ("seed", "--demo", "--users", "8", "--jobs", "120", "--days", "5", "--seed", "2", "--until",
            UNTIL.isoformat(), "--no-objects")
    first = run_cli(*args, env=pg_env)
    assert first.returncode == 0, first.stderr
    assert "scraping_jobs" in first.stderr and "rows/s" in first.stderr
    second = run_cli(*args, env=pg_env)
    assert second.returncode == 0 and "already holds demo data" in second.stderr
    assert run_cli("audit", "verify", env=pg_env).returncode == 0
    refused = run_cli("seed", "--reset", env=pg_env)
    assert refused.returncode == 1 and "--reset only empties the embedded SQLite database" in refused.stderr


def test_cli_refuses_demo_flags_without_demo(tmp_path: Path) -> None:
    result = run_cli("seed", "--jobs", "5", "--no-objects", env={"STRATLOGIC_HOME": str(tmp_path)})
    assert result.returncode == 1 and "--jobs, --no-objects only apply with --demo" in result.stderr


@pytest.mark.sqlite
def test_reset_starts_the_embedded_database_from_empty(tmp_path: Path) -> None:
    env = {"STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_ADMIN_PASSWORD": STRONG}  # the embedded default
    args = ("seed", "--demo", "--users", "5", "--jobs", "40", "--days", "3", "--until", UNTIL.isoformat())
    assert run_cli("db", "upgrade", env=env).returncode == 0
    assert run_cli(*args, "--seed", "1", env=env).returncode == 0
    reset = run_cli(*args, "--seed", "2", "--reset", env=env)
    assert reset.returncode == 0, reset.stderr
    settings = load_settings(home=tmp_path, database_url="sqlite:///var/stratlogic.db",
                             artifact_store="file:var/artifacts")
    db = Database.from_settings(settings)
    assert counts(db)["scraping_jobs"] == 40 and verify(db).ok
    assert reconcile(db, store_from_settings(settings)).findings == []  # the first run's objects are gone
    db.dispose()


@pytest.mark.sqlite
@pytest.mark.parametrize(("flags", "refusal"), [
    (("--until", "garbage"), "--until 'garbage' is not a date"),
    (("--jobs", "-5"), "--jobs -5 is out of range"),
    (("--until", "2999-01-01"), "--until 2999-01-01 is in the future"),
])
def test_reset_refuses_a_bad_value_before_emptying_anything(tmp_path: Path, flags: tuple[str, ...],
                                                            refusal: str) -> None:
    """A bad demo value with --reset is refused first: the database, its objects and its password file stay."""
    env = {"STRATLOGIC_HOME": str(tmp_path)}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    seeded = run_cli("seed", "--demo", "--users", "3", "--jobs", "10", "--days", "2", "--until", UNTIL.isoformat(),
                     env=env)
    assert seeded.returncode == 0, seeded.stderr
    objects = sorted((tmp_path / "var" / "artifacts" / "jobs").rglob("*"))
    result = run_cli("seed", "--demo", "--reset", *flags, env=env)
    assert result.returncode == 1 and refusal in result.stderr and "emptied" not in result.stderr
    assert (tmp_path / "var" / "admin-password.txt").exists()
    assert sorted((tmp_path / "var" / "artifacts" / "jobs").rglob("*")) == objects != []
    settings = load_settings(home=tmp_path, database_url="sqlite:///var/stratlogic.db")
    db = Database.from_settings(settings)
    assert counts(db)["scraping_jobs"] == 10
    db.dispose()


@pytest.mark.sqlite
def test_reset_refuses_a_weak_admin_password_before_emptying_anything(tmp_path: Path) -> None:
    env = {"STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_ADMIN_PASSWORD": STRONG}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    assert run_cli("seed", env=env).returncode == 0
    result = run_cli("seed", "--reset", env={**env, "STRATLOGIC_ADMIN_PASSWORD": "password"})
    assert result.returncode == 1 and "STRATLOGIC_ADMIN_PASSWORD refused" in result.stderr
    assert "emptied" not in result.stderr
    db = Database.from_settings(load_settings(home=tmp_path, database_url="sqlite:///var/stratlogic.db"))
    assert counts(db)["users"] == 1
    db.dispose()
