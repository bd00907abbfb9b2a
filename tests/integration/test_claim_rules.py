"""Every claim path makes the decision ``models.job.CLAIM`` states and writes what it says, on real databases.

One table holds a job for every combination of status, retry time (none, due, not yet due), lease (none,
live, expired; with attempts left or spent) and kind; each path claims from it with no kinds filter, a
matching one and another. The paths: the worker's claim (``stratlogic.jobs.claim``: the PostgreSQL
statement on a driver connection, or the portable claim on SQLite), ``JobRepository.claim`` in a unit of
work (the statement inside the unit on PostgreSQL), and the portable ORM claim itself on both engines.
The demo generator's claim is played on the same rows and must agree with them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select

from stratlogic.db import Database
from stratlogic.jobs import claim
from stratlogic.models import AuditLog, JobStatus, ScrapingJob
from stratlogic.models.job import CLAIM
from stratlogic.repositories import UserRepository
from stratlogic.repositories.jobs import JobRepository
from stratlogic.seed._lifecycle import CLAIM_SLOTS, Job, Kind, Policy, Target
from stratlogic.seed._rows import micros, moment

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEASE = 60
WORKER = "w-rules"
OLD_WORKER = "w-old"
RETRY = {"none": None, "due": NOW - timedelta(seconds=1), "later": NOW + timedelta(hours=1)}
KIND_FILTERS = {"no filter": None, "scrape only": ["scrape"], "crawl and other": ["crawl", "other"]}


@dataclass(frozen=True)
class Combo:
    """One job's starting state."""

    status: JobStatus
    retry: str
    lease: str  # none, live or expired
    spent: bool  # attempts spent (recovery leaves it failed)
    kind: str


def combos() -> list[Combo]:
    found = []
    for status, retry, kind in itertools.product(JobStatus, RETRY, ("scrape", "crawl")):
        if status is not JobStatus.RUNNING:
            found.append(Combo(status, retry, "none", False, kind))
            continue
        found += [Combo(status, retry, "live", False, kind), Combo(status, retry, "expired", False, kind),
                  Combo(status, retry, "expired", True, kind)]
    return found


def row_of(number: int, combo: Combo, owner: int) -> dict[str, Any]:
    """A row in ``combo``'s state that the table's CHECK constraints accept."""
    running, finished = combo.status is JobStatus.RUNNING, combo.status.value in ("completed", "failed", "cancelled")
    lease = {"none": None, "live": NOW + timedelta(minutes=1), "expired": NOW - timedelta(minutes=1)}[combo.lease]
    return {"id": 1000 + number, "owner_id": owner, "name": f"job {number}", "kind": combo.kind,
            "target_url": f"https://example.com/{number}", "status": combo.status,
            "priority": (number * 7) % 5 - 2, "options": {}, "pages_done": 2, "pages_total": 10, "items_scraped": 3,
            "bytes_downloaded": 4, "attempt": 1, "max_retries": 1 if combo.spent else 3,
            "next_retry_at": RETRY[combo.retry], "claimed_by": OLD_WORKER if running else None,
            "heartbeat_at": NOW - timedelta(minutes=2) if running else None, "lease_expires_at": lease,
            "created_at": NOW - timedelta(hours=2) + timedelta(seconds=number // 3),  # ties broken by priority, id
            "started_at": NOW - timedelta(minutes=10) if running or finished else None,
            "finished_at": NOW - timedelta(minutes=5) if finished else None,
            "updated_at": NOW - timedelta(minutes=2), "version": 2}


def fill(db: Database) -> list[dict[str, Any]]:
    """The table of every combination; returns the rows as read back (the database's own values)."""
    with db.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com").id
        rows = [row_of(number, combo, owner) for number, combo in enumerate(combos())]
        uow.session.execute(insert(cast(Table, ScrapingJob.__table__)), rows)
    return read(db)


def read(db: Database) -> list[dict[str, Any]]:
    with db.unit_of_work(readonly=True) as uow:
        rows = uow.session.execute(select(ScrapingJob.__table__).order_by(ScrapingJob.id)).mappings().all()
    return [dict(row) for row in rows]


def predict(rows: list[dict[str, Any]], kinds: list[str] | None) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """What the rule says a claim of every claimable job does: ids in claim order, and each job's state just
    before it is claimed (after lease recovery, which precedes the pick)."""
    before: dict[int, dict[str, Any]] = {}
    for row in rows:
        state = row
        if CLAIM.expired(row["status"], row[CLAIM.lease_column], NOW):
            if CLAIM.after_recovery(row["attempt"], row["max_retries"]) is not CLAIM.source:
                continue
            # recovered: failed then queued again, two moves of the state machine
            state = {**row, "status": CLAIM.source, "next_retry_at": None, "version": row["version"] + 2}
        if CLAIM.claimable(state, NOW, kinds):
            before[row["id"]] = state
    return sorted(before, key=lambda job_id: CLAIM.sort_key(before[job_id])), before


def claim_by_worker(db: Database, kinds: list[str] | None) -> list[dict[str, Any]]:
    jobs = claim(db, WORKER, 1000, kinds=kinds, lease_seconds=LEASE, clock=lambda: NOW)
    return [{column: getattr(job, column) for column in ("id", *CLAIM.sets)} for job in jobs]


def claim_in_unit(db: Database, kinds: list[str] | None) -> list[dict[str, Any]]:
    with db.unit_of_work() as uow:
        jobs = JobRepository(uow, clock=lambda: NOW).claim(WORKER, 1000, kinds=kinds, lease_seconds=LEASE)
        return [{column: getattr(job, column) for column in ("id", *CLAIM.sets)} for job in jobs]


def claim_portably(db: Database, kinds: list[str] | None) -> list[dict[str, Any]]:
    with db.unit_of_work() as uow:
        jobs = JobRepository(uow, clock=lambda: NOW)
        jobs.recover_stale()
        claimed = jobs._claim_portable(WORKER, 1000, kinds, NOW, NOW + timedelta(seconds=LEASE))
        return [{column: getattr(job, column) for column in ("id", *CLAIM.sets)} for job in claimed]


PATHS: dict[str, Callable[[Database, list[str] | None], list[dict[str, Any]]]] = {
    "worker claim": claim_by_worker, "claim in a unit": claim_in_unit, "portable claim": claim_portably}


@pytest.mark.parametrize("kinds", list(KIND_FILTERS.values()), ids=list(KIND_FILTERS))
@pytest.mark.parametrize("path", list(PATHS))
def test_every_claim_path_decides_and_writes_as_the_rule_says(db: Database, path: str,
                                                              kinds: list[str] | None) -> None:
    rows = fill(db)
    order, before = predict(rows, kinds)
    assert order, "the table has claimable jobs for every filter"
    returned = PATHS[path](db, kinds)
    assert [job["id"] for job in returned] == order, f"{path} picked other jobs, or in another order"
    after = {row["id"]: row for row in read(db)}
    for job in returned:
        expected = CLAIM.claimed(before[job["id"]], WORKER, NOW, NOW + timedelta(seconds=LEASE))
        written = {column: after[job["id"]][column] for column in CLAIM.sets}
        assert written == expected, f"job {job['id']}"
        assert {column: job[column] for column in CLAIM.sets} == expected, f"returned job {job['id']}"
    for row in rows:
        if row["id"] in before:
            continue
        if CLAIM.expired(row["status"], row[CLAIM.lease_column], NOW):  # recovered, but not claimed
            assert after[row["id"]]["status"] is CLAIM.after_recovery(row["attempt"], row["max_retries"])
            assert after[row["id"]][CLAIM.lease_column] is None
            assert after[row["id"]]["error_type"] == CLAIM.expired_error
            assert after[row["id"]]["error_message"] == CLAIM.expired_message(OLD_WORKER, row["lease_expires_at"])
        else:
            assert after[row["id"]] == row, f"job {row['id']} ({row['status']}) was not to be touched"
    if path != "portable claim":  # the portable claim alone writes no audit rows (its caller's claim does)
        assert claim_details(db) == [(str(job_id), CLAIM.audit_details(before[job_id]["attempt"] + 1, WORKER))
                                     for job_id in order]


def claim_details(db: Database) -> list[tuple[str | None, dict[str, Any]]]:
    """The audit rows of claims (to the rule's target status), oldest first."""
    with db.unit_of_work(readonly=True) as uow:
        rows = uow.session.scalars(select(AuditLog).where(AuditLog.action == "job.status_changed")
                                   .order_by(AuditLog.id)).all()
    return [(row.resource_id, row.details) for row in rows if row.details.get("to") == CLAIM.target.value]


def demo_job(row: dict[str, Any]) -> Job:
    """The demo generator's job in the state of ``row`` (its times in microseconds)."""
    kind = Kind(row["kind"], 60, 1.0, 3, 2.0, 0.1)
    job = Job(row["id"], row["owner_id"], micros(row["created_at"]), kind,
              Target(row["target_url"], row["name"], cast(Any, None), 1.0), b"{}", row["priority"],
              row["max_retries"], 10, Policy(end=micros(NOW) + 10**12, lease=LEASE * 10**6, backoff_base=1,
                                             backoff_max=2, objects=False))
    for column, slot in CLAIM_SLOTS.items():
        value = row[column]
        setattr(job, slot, micros(value) if isinstance(value, datetime) else value)
    job.status = row["status"].value
    return job


def test_the_demo_generator_claims_the_same_jobs_and_writes_the_same_fields(db: Database) -> None:
    """Jobs whose lease has not expired (the demo generator recovers a job in its own event, before the
    claim): the generator claims exactly the ones the database claims, writing the same values."""
    rows = [row for row in fill(db) if not CLAIM.expired(row["status"], row[CLAIM.lease_column], NOW)]
    claimed = {job["id"] for job in claim_by_worker(db, None)}
    after = {row["id"]: row for row in read(db)}
    demo_claimed = set()
    for row in rows:
        job = demo_job(row)
        try:
            job.claim(micros(NOW), WORKER)
        except ValueError as refused:
            assert f"demo job {row['id']} cannot be claimed" in str(refused)
            continue
        demo_claimed.add(row["id"])
        demo = {column: getattr(job, slot) for column, slot in CLAIM_SLOTS.items()}
        demo = {column: moment(value) if column.endswith("_at") and value is not None else value
                for column, value in demo.items()}
        assert demo == {column: after[row["id"]][column] for column in CLAIM.sets}, f"job {row['id']}"
        assert job.events[-1][5] == CLAIM.audit_details(row["attempt"] + 1, WORKER)
    assert demo_claimed == claimed & {row["id"] for row in rows}
    assert len(demo_claimed) >= 4
