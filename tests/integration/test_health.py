"""The whole-system health service and ``stratlogic health`` on real backends: a real database (SQLite and
PostgreSQL), a real folder or SeaweedFS store, real refused and silent ports.

Each part (database, pool, store, audit, queue, disk) says ok, warn or fail with a reason; the report keeps
the database's fields at the top level (what ``health --json`` always printed); the exit code is 0, 1, or 2
with ``--strict`` on warnings; a down database is reported within the connect timeout while the store is
still checked.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from stratlogic.config import load_settings
from stratlogic.db import Database, migrate
from stratlogic.db.actor import Actor
from stratlogic.errors import PoolExhaustedError, ValidationError
from stratlogic.jobs import claim
from stratlogic.models import utcnow
from stratlogic.services import health
from stratlogic.services._base import ENTRIES
from stratlogic.services._health_parts import PROBE_PREFIX, Thresholds, pool_part
from stratlogic.storage.local import LocalStore
from stratlogic.storage.testing import SeaweedServer
from tests.cli_helpers import invoke, run_cli
from tests.conftest import make_settings, pg_url
from tests.integration.storage_helpers import BUCKET, everything, new_job, s3_store

ACTOR = Actor()
PARTS = ["database", "pool", "store", "audit", "queue", "disk"]


def statuses(report: health.SystemHealth) -> dict[str, str]:
    return {part.name: part.status for part in report.parts}


def test_the_entry_point_is_registered_as_a_read() -> None:
    assert ENTRIES["health.check"].function is health.check and not ENTRIES["health.check"].writes


def test_a_healthy_system_is_ok_in_every_part(db: Database) -> None:
    new_job(db)  # an audit tail and a queued job, both a moment old
    report = health.check(db, actor=ACTOR)
    assert statuses(report) == dict.fromkeys(PARTS, "ok"), report.message
    assert report.ok and report.exit_code(strict=True) == 0
    assert report.reachable and report.current_revision == report.head_revision == migrate.heads()[0]
    queue, audit = report.part("queue").details, report.part("audit").details
    assert queue["queued"] == 1 and queue["expired_leases"] == 0 and queue["oldest_queued_age_seconds"] >= 0
    assert audit["tail_id"] >= 2 and "verified_rows" not in audit  # user + job rows; not deep
    data = json.loads(json.dumps(report.as_dict()))
    assert data["status"] == "ok" and list(data["parts"]) == PARTS and data["url"] == db.settings.safe_url


def test_deep_verifies_the_newest_audit_rows_and_leaves_no_probe_object(db: Database) -> None:
    for name in ("a", "b", "c"):
        new_job(db, name)
    report = health.check(db, actor=ACTOR, deep=True, audit_rows=2)
    assert report.part("audit").details["verified_rows"] == 2 and "the newest 2 rows verify" in \
        report.part("audit").reason
    assert "probe object was written, read back and deleted" in report.part("store").reason
    store = LocalStore(db.settings.artifact_path)  # type: ignore[arg-type]
    assert not [key for key in everything(store) if PROBE_PREFIX in key]
    everything_rows = health.check(db, actor=ACTOR, deep=True)  # more asked for than there are: all of them
    assert everything_rows.part("audit").details["verified_rows"] == everything_rows.part("audit").details["tail_id"]


_DROP_TRIGGERS = {"postgresql": ["DROP TRIGGER audit_logs_no_update_delete ON audit_logs"],
                  "sqlite": ["DROP TRIGGER audit_logs_no_update"]}


def test_deep_fails_on_an_edited_audit_row_naming_it(db: Database) -> None:
    new_job(db)
    with db.unit_of_work() as uow:
        for statement in _DROP_TRIGGERS[db.dialect]:
            uow.session.execute(text(statement))
        tail = uow.session.execute(text("SELECT max(id) FROM audit_logs")).scalar_one()
        uow.session.execute(text("UPDATE audit_logs SET resource_id = 'edited' WHERE id = :id"), {"id": tail})
    assert health.check(db, actor=ACTOR).ok  # not deep: the tail is only read
    report = health.check(db, actor=ACTOR, deep=True)
    audit = report.part("audit")
    assert audit.status == "fail" and f"row {tail}: content does not match its hash" in audit.reason
    assert report.exit_code() == 1


def test_queue_warns_on_an_old_queued_job_and_on_expired_leases(db: Database) -> None:
    new_job(db, "waiting")
    later = utcnow() + timedelta(hours=2)
    report = health.check(db, actor=ACTOR, now=later)
    queue = report.part("queue")
    assert queue.status == "warn" and "the oldest waiting 2.0h" in queue.reason and "over 1.0h" in queue.reason
    assert report.ok and report.exit_code() == 0 and report.exit_code(strict=True) == 2
    assert health.check(db, actor=ACTOR, now=later,
                        thresholds=Thresholds(queued_age=timedelta(hours=3))).part("queue").status == "ok"
    [running] = claim(db, "worker-1", lease_seconds=60)
    expired = health.check(db, actor=ACTOR, now=running.lease_expires_at + timedelta(seconds=1)).part("queue")
    assert expired.status == "warn" and "1 running past their lease" in expired.reason
    assert expired.details["expired_leases"] == 1 and expired.details["queued"] == 0


def test_audit_warns_on_a_stale_tail_and_on_one_from_the_future(db: Database) -> None:
    new_job(db)
    stale = health.check(db, actor=ACTOR, now=utcnow() + timedelta(days=8)).part("audit")
    assert stale.status == "warn" and "nothing recorded for over 7.0d" in stale.reason
    future = health.check(db, actor=ACTOR, now=utcnow() - timedelta(hours=1)).part("audit")
    assert future.status == "warn" and "in the future: is a clock wrong?" in future.reason


def test_an_empty_trail_and_queue_are_ok(db: Database) -> None:
    report = health.check(db, actor=ACTOR, deep=True)
    assert report.part("audit").reason == "the trail is empty"
    assert report.part("queue").reason == "0 queued, 0 running past their lease"


@pytest.mark.sqlite
def test_disk_warns_and_fails_by_its_thresholds(sqlite_template: Path, tmp_path: Path) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "h.db")
    db = Database.from_settings(make_settings(f"sqlite:///{tmp_path / 'h.db'}", tmp_path))
    free = shutil.disk_usage(tmp_path).free
    assert health.check(db, actor=ACTOR).part("disk").status == "ok"
    warned = health.check(db, actor=ACTOR, thresholds=Thresholds(disk_warn_bytes=free * 2)).part("disk")
    assert warned.status == "warn" and f"database and store {tmp_path}: " in warned.reason  # one file system
    assert "warn below 1.0 GiB" not in warned.reason and "warn below" in warned.reason
    failed = health.check(db, actor=ACTOR, thresholds=Thresholds(disk_fail_bytes=free * 2)).part("disk")
    assert failed.status == "fail" and failed.details["paths"][0]["free_bytes"] > 0
    db.dispose()


@pytest.mark.postgres
def test_the_pool_counts_checkouts_that_timed_out(pg_database: Callable[..., str], pg_template: str,
                                                  tmp_path: Path) -> None:
    """PostgreSQL: the SQLite engine keeps SQLAlchemy's default pool, sized by nothing in the settings."""
    settings = make_settings(pg_database(pg_template), tmp_path)
    db = Database.from_settings(settings.model_copy(update={"pool_size": 1, "max_overflow": 0,
                                                           "pool_timeout": 0.2}))
    assert health.check(db, actor=ACTOR).part("pool").details["timeouts"] == 0
    with db.engine.connect():  # the only connection, held
        with pytest.raises(PoolExhaustedError), db.unit_of_work() as uow:
            uow.session.execute(text("SELECT 1"))
        busy = pool_part(db)
        assert busy.status == "warn" and "1 checkout(s) gave up after 0.2 s" in busy.reason
        assert busy.details["checked_out"] == 1 and busy.details["size"] == 1
    db.dispose()  # a new pool: its count starts again
    assert health.check(db, actor=ACTOR).part("pool").details["timeouts"] == 0


# --- a database that is down, missing or not migrated ---------------------------------------------------

@pytest.mark.parametrize("target", ["refused", "silent"])
def test_a_down_database_is_reported_within_the_timeout_and_the_store_still_checked(
        target: str, silent_port: int, tmp_path: Path) -> None:
    port = 1 if target == "refused" else silent_port
    db = Database.from_settings(make_settings(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none", tmp_path))
    started = time.monotonic()
    report = health.check(db, actor=ACTOR, timeout=2)
    assert time.monotonic() - started < 2 + 3  # the timeout, plus time for a busy machine
    assert statuses(report) == {"database": "fail", "pool": "ok", "store": "ok", "audit": "fail",
                                "queue": "fail", "disk": "ok"}
    assert f"cannot reach the database at postgresql+psycopg://postgres@127.0.0.1:{port}/none" in \
        report.part("database").reason
    assert report.part("audit").reason == "not checked: the database is unreachable"
    assert not report.reachable and report.exit_code() == 1
    db.dispose()


@pytest.mark.postgres
def test_a_database_that_does_not_exist_fails_naming_it(pg_available: bool, tmp_path: Path) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL not reachable")
    db = Database.from_settings(make_settings(pg_url("tmp_hops_no_such_db"), tmp_path))
    report = health.check(db, actor=ACTOR, timeout=3)
    database = report.part("database")
    assert database.status == "fail" and 'database "tmp_hops_no_such_db" does not exist' in database.reason
    assert report.part("store").status == "ok" and report.part("queue").status == "fail"
    db.dispose()


def test_an_unmigrated_database_fails_and_says_what_to_run(empty_url: str, tmp_path: Path) -> None:
    """An empty database (on SQLite an empty file: a missing one has its own test)."""
    db = Database.from_settings(make_settings(empty_url, tmp_path))
    with db.unit_of_work() as uow:  # the SQLite file exists once something was run on it
        uow.session.execute(text("SELECT 1"))
    report = health.check(db, actor=ACTOR, deep=True)
    assert report.part("database").status == "fail" and "stratlogic db upgrade" in report.part("database").reason
    assert report.part("queue").reason == ("not checked: the database is not migrated "
                                           "(run `stratlogic db upgrade`)")
    db.dispose()


@pytest.mark.sqlite
def test_a_missing_sqlite_file_fails_and_is_not_made(tmp_path: Path) -> None:
    path = tmp_path / "nothing-here.db"
    db = Database.from_settings(make_settings(f"sqlite:///{path}", tmp_path))
    report = health.check(db, actor=ACTOR)
    assert report.part("database").reason == f"no database file at {path}: run `stratlogic db upgrade` to make one"
    assert report.part("audit").reason == "not checked: the database file does not exist"
    assert not path.exists() and report.exit_code() == 1 and not report.reachable
    db.dispose()


# --- the store -------------------------------------------------------------------------------------------

@pytest.mark.sqlite
def test_a_store_folder_that_is_a_file_fails(sqlite_template: Path, tmp_path: Path) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "h.db")
    (tmp_path / "artifacts").write_text("not a folder")
    db = Database.from_settings(make_settings(f"sqlite:///{tmp_path / 'h.db'}", tmp_path))
    store = health.check(db, actor=ACTOR).part("store")
    assert store.status == "fail" and store.reason == f"{tmp_path / 'artifacts'} is not a folder"
    db.dispose()


def test_a_store_of_another_database_fails_naming_its_owner(db: Database, other_db: Database,
                                                            tmp_path: Path) -> None:
    from stratlogic.storage.identity import claim_store

    shared = LocalStore(tmp_path / "shared")
    claim_store(other_db, shared)
    mine = Database(db.engine, db.settings.model_copy(update={"artifact_store": f"file:{tmp_path / 'shared'}"}))
    store = health.check(mine, actor=ACTOR).part("store")
    assert store.status == "fail" and f"belongs to database {other_db.settings.safe_url}" in store.reason
    owner = Database(other_db.engine, other_db.settings.model_copy(update={"artifact_store": f"file:{shared.root}"}))
    assert health.check(owner, actor=ACTOR).part("store").status == "ok"


@pytest.fixture
def s3_settings(s3_server: object, tmp_path: Path, sqlite_template: Path) -> Iterator[dict[str, object]]:
    shutil.copyfile(sqlite_template, tmp_path / "s3.db")
    server = s3_server
    yield {"database_url": f"sqlite:///{tmp_path / 's3.db'}", "s3_endpoint": server.endpoint,  # type: ignore[attr-defined]
           "s3_access_key": server.access_key, "s3_secret_key": server.secret_key,  # type: ignore[attr-defined]
           "s3_secure": False}


@pytest.mark.s3
def test_s3_deep_probe_writes_reads_and_deletes(s3_settings: dict[str, object], s3_server: SeaweedServer,
                                                tmp_path: Path) -> None:
    prefix = f"health-{time.time_ns()}"
    s3_store(s3_server).ensure_bucket()  # the bucket the storage tests share
    settings = make_settings(str(s3_settings.pop("database_url")), tmp_path, **s3_settings)
    db = Database.from_settings(settings.model_copy(update={"artifact_store": f"s3://{BUCKET}/{prefix}"}))
    report = health.check(db, actor=ACTOR, deep=True)
    store = report.part("store")
    assert store.status == "ok" and "reachable, bucket exists" in store.reason and store.details["probe_ms"] > 0
    from stratlogic.storage.factory import store_from_settings

    assert everything(store_from_settings(db.settings)) == []  # the probe object is gone
    db.dispose()


@pytest.mark.s3
def test_s3_missing_bucket_warns_when_it_may_be_made_and_fails_when_not(s3_settings: dict[str, object],
                                                                        tmp_path: Path) -> None:
    url = str(s3_settings.pop("database_url"))
    env = {"STRATLOGIC_DATABASE_URL": url, "STRATLOGIC_HOME": str(tmp_path),
           "STRATLOGIC_ARTIFACT_STORE": "s3://no-such-bucket-health/x", "STRATLOGIC_S3_ENDPOINT":
           str(s3_settings["s3_endpoint"]), "STRATLOGIC_S3_ACCESS_KEY": str(s3_settings["s3_access_key"]),
           "STRATLOGIC_S3_SECRET_KEY": str(s3_settings["s3_secret_key"]), "STRATLOGIC_S3_SECURE": "false"}
    lenient = invoke(env, "health")
    assert lenient.exit_code == 0, lenient.output
    assert "bucket 'no-such-bucket-health' does not exist" in lenient.stdout and "(the first write makes it)" in \
        lenient.stdout
    assert invoke(env, "health", "--strict").exit_code == 2
    deep = json.loads(invoke(env, "health", "--deep", "--json").stdout)
    assert deep["parts"]["store"]["status"] == "warn" and "write probe skipped" in deep["parts"]["store"]["reason"]
    strict = invoke({**env, "STRATLOGIC_S3_CREATE_BUCKET": "false"}, "health")
    assert strict.exit_code == 1 and "STRATLOGIC_S3_CREATE_BUCKET is off" in strict.stderr
    secret = str(s3_settings["s3_secret_key"])
    assert secret not in lenient.output + strict.output


@pytest.mark.sqlite
def test_an_s3_endpoint_that_refuses_fails_quickly(sqlite_template: Path, tmp_path: Path) -> None:
    shutil.copyfile(sqlite_template, tmp_path / "h.db")
    settings = load_settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'h.db'}",
                             artifact_store="s3://bucket", s3_endpoint="http://127.0.0.1:1",
                             s3_access_key="AKIDHEALTH", s3_secret_key="Sup3rSecretKey")
    db = Database.from_settings(settings)
    started = time.monotonic()
    report = health.check(db, actor=ACTOR, timeout=1)
    store = report.part("store")
    assert time.monotonic() - started < 1 * 2 + 1 + 3
    assert store.status == "fail" and store.reason.startswith("cannot reach s3://bucket/ at http://127.0.0.1:1")
    assert report.part("database").status == "ok" and "Sup3rSecretKey" not in json.dumps(report.as_dict())
    db.dispose()


# --- arguments, rendering, the CLI -------------------------------------------------------------------------

def test_bad_arguments_are_refused_naming_the_value(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"audit_rows 0 is not a number of rows"):
        health.check(db, actor=ACTOR, audit_rows=0)
    with pytest.raises(ValidationError, match=r"timeout -1 is not a number of seconds"):
        health.check(db, actor=ACTOR, timeout=-1)


def test_the_notebook_rendering_is_escaped_and_masks_the_password(tmp_path: Path) -> None:
    settings = make_settings("postgresql://postgres:Sup3rSecretPW@127.0.0.1:1/x", tmp_path)
    db = Database.from_settings(settings.model_copy(update={"artifact_store": f"file:{tmp_path / 'a<b>'}"}))
    rendered = health.check(db, actor=ACTOR, timeout=1)._repr_html_()
    assert "Sup3rSecretPW" not in rendered and "postgres:***@127.0.0.1:1/x" in rendered
    assert "a&lt;b&gt;" in rendered and "a<b>" not in rendered
    assert "<td style='color:#cf222e;font-weight:bold'>fail</td><td>database</td>" in rendered
    db.dispose()


def test_cli_health_prints_every_part_and_json_keeps_the_old_fields(db: Database, tmp_path: Path) -> None:
    env = {"STRATLOGIC_DATABASE_URL": str(db.settings.url.render_as_string(hide_password=False)),
           "STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_ARTIFACT_STORE": db.settings.artifact_store}
    shown = invoke(env, "health", "--deep")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("ok: all 6 parts ok") and lines[1] == f"database: {db.settings.safe_url}"
    assert [line.split()[:2] for line in lines[3:]] == [["ok", name] for name in PARTS]
    report = json.loads(invoke(env, "health", "--json").stdout)
    assert {"ok", "backend", "url", "reachable", "latency_ms", "server_version", "current_revision",
            "head_revision", "message", "warnings", "status", "parts"} <= set(report)
    assert report["parts"]["audit"]["status"] == "ok"
    refused = invoke(env, "health", "--audit-rows", "0")
    assert refused.exit_code == 2 and "--audit-rows" in refused.output


def test_cli_health_on_a_down_database_prints_the_store_and_exits_1(tmp_path: Path) -> None:
    env = {"STRATLOGIC_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none",
           "STRATLOGIC_HOME": str(tmp_path)}
    result = run_cli("health", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("unhealthy: database fail: cannot reach the database at")
    assert "  ok    store     folder " in result.stderr
