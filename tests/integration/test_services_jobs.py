"""The jobs service on real databases: the actor given is the one recorded, the rules the CLI used to enforce
(only failed jobs retried by id, a retry says which, a clean-up cut not in the future, no negative owner)
refuse with the CLI's messages naming the caller's labels, and ``jobs list --csv`` is Excel-safe."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stratlogic.audit.verify import verify
from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.db.actor import Actor, Origin
from stratlogic.errors import NotFoundError, ValidationError
from stratlogic.models import JobStatus, utcnow
from stratlogic.repositories import AuditRepository, JobRepository, UserRepository
from stratlogic.services import jobs as service
from tests.cli_helpers import invoke

FLAGS = {"status__in": "--status", "owner_id": "--owner", "id__in": "--id", "error_type": "--error-type",
         "kind": "--kind", "all_failed": "--all-failed", "older_than": "--older-than", "statuses": "--status"}


def some_jobs(db: Database) -> tuple[Actor, int, int]:
    """A person, a queued job and a failed one (attempts spent); the person as an actor with an origin."""
    with db.unit_of_work() as uow:
        person = UserRepository(uow).create("ada", "ada@example.com").id
        jobs = JobRepository(uow)
        queued = jobs.create(person, "queued", "https://example.com/q").id
        failed = jobs.create(person, "failed", "https://example.com/f", kind="failing", max_retries=0).id
        jobs.claim("w", kinds=["failing"])
        jobs.fail(failed, "Timeout", "too slow", "w")
    return Actor(person, origin=Origin("cli", "ada", "ws-12")), queued, failed


def last_entry(db: Database, job_id: int) -> tuple[int | None, str, dict[str, object]]:
    with db.unit_of_work(readonly=True) as uow:
        entry = AuditRepository(uow).trail("job", job_id)[-1]
        return entry.actor_id, entry.action, entry.details


def test_a_write_records_the_actor_given(db: Database) -> None:
    actor, queued, failed = some_jobs(db)
    service.cancel(db, queued, actor=actor)
    actor_id, action, details = last_entry(db, queued)
    assert (actor_id, action, details["to"]) == (actor.user_id, "job.status_changed", "cancelled")
    assert details["cli"] == {"os_user": "ada", "host": "ws-12"}
    assert service.retry(db, actor=actor, ids=[failed]) == [failed]
    assert last_entry(db, failed)[0] == actor.user_id
    shown = service.show(db, failed, actor=actor)
    assert (shown["status"], shown["attempts"]) == ("queued", "1 of 2")  # the retry granted one more
    assert [entry["details"].get("to") for entry in shown["history"]][-1] == "queued"


def test_claim_records_the_actor_given_on_each_claimed_job(db: Database) -> None:
    actor, queued, _ = some_jobs(db)
    claimed = service.claim(db, "worker-1", 5, actor=actor)
    assert [job.id for job in claimed] == [queued]
    actor_id, action, details = last_entry(db, queued)
    assert (actor_id, action, details["to"], details["worker"]) == (actor.user_id, "job.status_changed", "running",
                                                                    "worker-1")


def test_claim_records_the_actors_origin(db: Database) -> None:
    actor, queued, _ = some_jobs(db)
    service.claim(db, "worker-1", actor=actor)
    assert last_entry(db, queued)[2].get("cli") == {"os_user": "ada", "host": "ws-12"}
    assert verify(db).ok  # the origin is in the hashed form too (PostgreSQL builds it in the statement)


def test_retry_refuses_a_job_that_is_not_failed_naming_it_and_requeues_nothing(db: Database) -> None:
    actor, queued, failed = some_jobs(db)
    with pytest.raises(ValidationError) as refused:
        service.retry(db, actor=actor, ids=[failed, queued])
    assert str(refused.value) == (f"job {queued} is queued, not failed: only failed jobs can be retried; "
                                  "nothing was re-queued")
    assert service.get(db, failed, actor=actor).status is JobStatus.FAILED  # the failed one was not re-queued
    with pytest.raises(NotFoundError, match="job 999999 not found"):
        service.retry(db, actor=actor, ids=[999999])


def test_a_retry_must_say_which_jobs_in_the_callers_words(db: Database) -> None:
    actor, _, failed = some_jobs(db)
    with pytest.raises(ValidationError) as cli:
        service.retry(db, actor=actor, labels=FLAGS)
    assert str(cli.value) == "say which failed jobs to retry: --id, --error-type, --kind, or --all-failed"
    with pytest.raises(ValidationError, match="say which failed jobs to retry: ids, error_type, kind, or "
                                              "all_failed=True"):
        service.retry(db, actor=actor)
    assert service.retry(db, actor=actor, all_failed=True) == [failed]


def test_filter_errors_name_the_callers_labels(db: Database) -> None:
    actor, _, _ = some_jobs(db)
    with pytest.raises(ValidationError) as cli:
        service.list_jobs(db, {"status__in": ["exploded"]}, actor=actor, labels=FLAGS)
    assert str(cli.value).startswith("--status: 'exploded'") and "status__in" not in str(cli.value)
    with pytest.raises(ValidationError, match="status__in"):
        service.list_jobs(db, {"status__in": ["exploded"]}, actor=actor)
    with pytest.raises(ValidationError, match=r"^--owner -3 is not a user id"):
        service.list_jobs(db, {"owner_id": -3}, actor=actor, labels=FLAGS)
    assert service.list_jobs(db, {"owner_id": 0}, actor=actor).rows == []  # 0 is a value: no job has it
    page = service.list_jobs(db, {"status__in": ["failed"]}, actor=actor, limit=1)
    assert [row["name"] for row in page.rows] == ["failed"] and page.next_cursor is None
    assert set(page.rows[0]) >= {"id", "status", "attempt", "max_retries", "created_at", "lease_expires_at"}


def test_cleanup_refuses_a_future_cut_naming_the_value_as_given(db: Database) -> None:
    actor, _, _ = some_jobs(db)
    with pytest.raises(ValidationError, match=r"^--older-than '2999-01-01' is in the future \(2999-01-01T"):
        service.cleanup(db, "2999-01-01", actor=actor, labels=FLAGS)
    with pytest.raises(ValidationError, match=r"^older_than 2999-01-01T00:00:00\+00:00 is in the future"):
        service.cleanup(db, datetime(2999, 1, 1, tzinfo=UTC), actor=actor)
    with pytest.raises(ValidationError, match=r"^--status: only finished jobs can be cleaned up, not queued"):
        service.cleanup(db, "30d", actor=actor, statuses=["queued"], labels=FLAGS)
    with pytest.raises(ValidationError, match=r"--older-than: 'soon' is not a moment"):
        service.cleanup_cut("soon", labels=FLAGS)
    with pytest.raises(ValidationError, match=r"--older-than '9999999w' reaches back before the year 1"):
        service.cleanup_cut("9999999w", labels=FLAGS)
    now = utcnow()
    assert service.cleanup_cut("30d", now=now) == now - timedelta(days=30) == service.cleanup_cut("-30d", now=now)


def test_cleanup_deletes_with_the_actor_given_and_a_dry_run_deletes_nothing(db: Database) -> None:
    actor, queued, failed = some_jobs(db)
    future = utcnow() + timedelta(minutes=1)
    with pytest.raises(ValidationError, match="in the future"):
        service.cleanup(db, future, actor=actor)
    preview = service.cleanup(db, "0s", actor=actor, statuses=["failed"])
    assert (preview.dry_run, preview.by_status) == (True, {"failed": 1})
    assert service.count(db, actor=actor) == 2
    done = service.cleanup(db, "0s", actor=actor, dry_run=False, keep_objects=True)
    assert done.by_status == {"failed": 1}
    assert [job.id for job in service.find(db, actor=actor)] == [queued]
    with db.unit_of_work(readonly=True) as uow:
        gone = AuditRepository(uow).trail("job", failed)[-1]
    assert (gone.action, gone.actor_id) == ("job.deleted", actor.user_id)


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {"STRATLOGIC_DATABASE_URL": settings.database_url, "STRATLOGIC_HOME": str(tmp_path),
            "STRATLOGIC_ARTIFACT_STORE": settings.artifact_store}


def test_jobs_list_csv_is_excel_safe_and_json_keeps_its_keys(db: Database, env: dict[str, str]) -> None:
    with db.unit_of_work() as uow:
        person = UserRepository(uow).create("ada", "ada@example.com").id
        job = JobRepository(uow).create(person, "=HYPERLINK(\"http://evil\")", "https://example.com/").id
    shown = invoke(env, "jobs", "list", "--csv")
    assert shown.exit_code == 0, shown.output
    rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert [(row["id"], row["name"]) for row in rows] == [(str(job), "'=HYPERLINK(\"http://evil\")")]
    lines = invoke(env, "jobs", "list", "--json").stdout.splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["=HYPERLINK(\"http://evil\")"]
    assert list(json.loads(lines[0])) == list(rows[0])  # the same keys, in the same order
    both = invoke(env, "jobs", "list", "--json", "--csv")
    assert both.exit_code == 1 and "--json and --csv cannot be given together" in both.stderr
    table = invoke(env, "jobs", "list").stdout
    assert "=HYPERLINK" in table and "0 of" in table  # a table is for people: shown as typed


def test_every_jobs_entry_point_is_registered_with_what_it_does() -> None:
    from stratlogic.services import _base

    names = {name: item.writes for name, item in _base.ENTRIES.items() if name.startswith("jobs.")}
    assert names == {"jobs.list": False, "jobs.show": False, "jobs.get": False, "jobs.find": False,
                     "jobs.count": False, "jobs.frame": False, "jobs.create": True, "jobs.cancel": True,
                     "jobs.retry": True, "jobs.recover_stale": True, "jobs.claim": True, "jobs.cleanup": True}
    assert _base.ENTRIES["jobs.retry"].function is service.retry
