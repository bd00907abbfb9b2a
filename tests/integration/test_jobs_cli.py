"""``stratlogic jobs …`` on real databases: list, show, cancel, retry, recover-stale and cleanup, and bad
input answered with one clear line (exit 1, no traceback) that changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from stratlogic.audit import verify
from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.models import JobStatus, ScrapingJob, utcnow
from stratlogic.repositories import UserRepository
from stratlogic.repositories.jobs import JobRepository
from tests.cli_helpers import run_here


@pytest.fixture
def env(migrated_url: str, tmp_path: Path) -> dict[str, str]:
    return {"STRATLOGIC_DATABASE_URL": migrated_url, "STRATLOGIC_HOME": str(tmp_path)}


def statuses(db: Database) -> dict[int, str]:
    with db.unit_of_work(readonly=True) as uow:
        return {job_id: status.value for job_id, status in uow.session.execute(
            select(ScrapingJob.id, ScrapingJob.status).order_by(ScrapingJob.id))}


def refused(env: dict[str, str], *args: str) -> str:
    """Run a command that must fail cleanly; its error line."""
    done = run_here(*args, env=env)
    assert done.returncode == 1, (args, done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    return done.stderr


def test_jobs_commands_steer_the_queue_and_refuse_bad_input(settings: Settings, env: dict[str, str]) -> None:
    db = Database.from_settings(settings)
    long_ago = utcnow() - timedelta(days=100)
    with db.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com").id
        queued = JobRepository(uow).create(owner, "queued", "https://example.com/q").id
        failed = JobRepository(uow).create(owner, "failed", "https://example.com/f", kind="failing").id
        JobRepository(uow).claim("w", kinds=["failing"])
        JobRepository(uow).fail(failed, "Timeout", "too slow", "w", retry=False)
        old = JobRepository(uow).create(owner, "old", "https://example.com/o", kind="old").id
        then = JobRepository(uow, clock=lambda: long_ago)
        then.claim("w", kinds=["old"])
        then.complete(old, "w")

    listed = [json.loads(line) for line in run_here("jobs", "list", "--json", env=env).stdout.splitlines()]
    assert {row["id"]: row["status"] for row in listed} == {queued: "queued", failed: "failed", old: "completed"}
    only_failed = run_here("jobs", "list", "--status", "failed", "--json", env=env).stdout.splitlines()
    assert [json.loads(line)["id"] for line in only_failed] == [failed]
    assert "'bogus'" in refused(env, "jobs", "list", "--status", "bogus")
    shown = json.loads(run_here("jobs", "show", str(failed), "--json", env=env).stdout)
    moves = [entry["details"]["to"] for entry in shown["history"] if entry["action"] == "job.status_changed"]
    assert (shown["error_type"], moves) == ("Timeout", ["queued", "running", "failed"])
    assert str(10**6) in refused(env, "jobs", "show", str(10**6))

    before = statuses(db)
    assert "say which failed jobs" in refused(env, "jobs", "retry")
    mixed = refused(env, "jobs", "retry", "--id", str(failed), "--id", str(queued))
    assert f"job {queued} is queued, not failed" in mixed and "nothing was re-queued" in mixed
    assert str(10**6) in refused(env, "jobs", "retry", "--id", str(10**6))
    assert "'bogus'" in refused(env, "jobs", "cleanup", "--older-than", "30d", "--status", "bogus")
    assert "'soon'" in refused(env, "jobs", "cleanup", "--older-than", "soon")
    assert statuses(db) == before  # nothing refused changed anything

    assert run_here("jobs", "cancel", str(queued), env=env).returncode == 0
    again = refused(env, "jobs", "cancel", str(queued))
    assert str(queued) in again and "cancelled" in again
    retried = run_here("jobs", "retry", "--id", str(failed), env=env)
    assert retried.returncode == 0 and f"re-queued 1 job(s): {failed}" in retried.stderr
    assert "re-queued 0, failed 0" in run_here("jobs", "recover-stale", env=env).stderr

    preview = run_here("jobs", "cleanup", "--older-than", "30d", "--dry-run", env=env)
    assert preview.returncode == 0 and '1 job(s) finished before' in preview.stderr
    assert '{"completed": 1}' in preview.stderr
    assert set(statuses(db)) == {queued, failed, old}  # a dry run deletes nothing
    deleted = run_here("jobs", "cleanup", "--older-than", "30d", "--yes", env=env)
    assert deleted.returncode == 0 and 'deleted 1 job(s)' in deleted.stderr
    assert statuses(db) == {queued: JobStatus.CANCELLED.value, failed: JobStatus.QUEUED.value}
    assert verify(db).ok
    db.dispose()


@pytest.mark.parametrize("command", [("jobs", "show"), ("jobs", "cancel"), ("jobs", "retry", "--id")])
def test_an_id_beyond_64_bits_is_not_found_without_a_traceback(env: dict[str, str], command: tuple[str, ...]) -> None:
    huge = "99999999999999999999"
    assert f"job {huge} not found" in refused(env, *command, huge)
