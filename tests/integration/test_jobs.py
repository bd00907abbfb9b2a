"""The job repository against real databases (SQLite and PostgreSQL): the state machine and everything around it.

State machine: every (from, to) pair of the six statuses. Allowed moves succeed through the public API
(enqueue, claim, complete, fail, cancel, retry) and through ``transition`` itself; every other move raises
``InvalidTransitionError`` naming the job and both statuses, and leaves the row (status, version,
updated_at) exactly as it was even when the caller goes on and commits. ``queued -> running`` only works
with the claim fields (``claim`` is the way in); ``failed -> queued`` only while attempts are left.

Around it: optimistic locking between two sessions, claim order (priority, then age) with kinds and
leases, exponential backoff with jitter under an injected clock (no sleeps), the dead letter and
``retry``, heartbeats (progress never goes backwards within an attempt, only the holder may report),
lease expiry and recovery, dedupe keys (repository and partial unique index), bounded error messages,
argument checks, clean-up of old finished jobs with their artifacts, statistics, and an intact audit
trail afterwards.

Real processes: workers in spawned processes drain a queue (every job claimed and completed exactly
once, checked in the audit trail), and a worker killed with SIGKILL while holding a job loses it to the
next claim once its (real, two-second) lease has run out.

Several tests began as strict xfails documenting defects found in ``stratlogic/`` (bare transitions
breaking the CHECK, retry against a taken dedupe key, racing lease recovery, unchecked URL length); they
now guard the fixes.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from stratlogic.analytics import job_attempts, job_summary, queue_health
from stratlogic.audit import verify
from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.db.session import UnitOfWork
from stratlogic.errors import (
    ConcurrentUpdateError,
    ConflictError,
    InvalidTransitionError,
    ValidationError,
)
from stratlogic.jobs import claim, cleanup
from stratlogic.models import Artifact, AuditLog, JobStatus, ScrapingJob, utcnow
from stratlogic.models.job import ACTIVE, TRANSITIONS
from stratlogic.repositories import ArtifactRepository, ConfigRepository, UserRepository
from stratlogic.repositories.jobs import MAX_ERROR_MESSAGE, JobRepository, Progress
from tests.conftest import make_settings

P, Q, R = JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING
C, F, X = JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED

#: The documented state machine, written out here rather than read from the code under test.
EXPECTED_MOVES: dict[JobStatus, frozenset[JobStatus]] = {
    P: frozenset({Q, X}),
    Q: frozenset({R, X}),
    R: frozenset({C, F, X}),
    F: frozenset({Q}),
    C: frozenset(),
    X: frozenset(),
}
ALLOWED = [(source, target) for source in JobStatus for target in JobStatus if target in EXPECTED_MOVES[source]]
ILLEGAL = {source: [t for t in JobStatus if t not in EXPECTED_MOVES[source]] for source in JobStatus}
DEFAULT_LEASE = timedelta(seconds=300)  # config jobs.lease_seconds
DEFAULT_BACKOFF_BASE = 30.0  # config jobs.backoff_base_seconds
SETUP_WORKER = "w-setup"
SHA = "ab" * 32
_kinds = itertools.count()

# --- helpers ------------------------------------------------------------------------------------


class FakeClock:
    """The repositories' clock, moved by hand: leases and backoff are tested without sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)`` and return the new time."""
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment``."""
        self.now = moment
        return moment


@dataclass(frozen=True)
class RowState:
    """What an illegal move must not change."""

    status: JobStatus
    version: int
    updated_at: datetime


def jobs_of(uow: UnitOfWork, clock: FakeClock, seed: int = 0) -> JobRepository:
    """A job repository on ``uow`` with the fake clock and a seeded jitter source."""
    return JobRepository(uow, clock=clock, rng=random.Random(seed))


def fresh_kind() -> str:
    """A kind no other job in the test has, so ``claim(kinds=[...])`` picks exactly one job."""
    return f"kind-{next(_kinds)}"


def put_in(db: Database, clock: FakeClock, owner_id: int, status: JobStatus, *, max_retries: int = 3,
           priority: int = 0) -> int:
    """Create a job and bring it to ``status`` through legal moves only; returns its id."""
    kind = fresh_kind()
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        job_id = jobs.create(owner_id, "job", "https://example.com/", kind=kind, queue=False,
                             max_retries=max_retries, priority=priority).id
        if status is P:
            return job_id
        if status is X:
            jobs.cancel(job_id)
            return job_id
        jobs.enqueue(job_id)
        if status is Q:
            return job_id
        assert [job.id for job in jobs.claim(SETUP_WORKER, kinds=[kind])] == [job_id]
        if status is C:
            jobs.complete(job_id, SETUP_WORKER)
        elif status is F:
            jobs.fail(job_id, "SetupError", "failed on purpose", SETUP_WORKER, retry=False)
    return job_id


def load(db: Database, job_id: int) -> ScrapingJob:
    """The job as committed, read in a fresh session (attributes stay loaded after it closes)."""
    with db.unit_of_work(readonly=True) as uow:
        job = uow.session.get(ScrapingJob, job_id)
        assert job is not None, f"job {job_id} is gone"
        return job


def row_state(db: Database, job_id: int) -> RowState:
    """Status, version and updated_at as committed."""
    job = load(db, job_id)
    return RowState(job.status, job.version, job.updated_at)


def job_count(db: Database) -> int:
    """How many jobs exist."""
    with db.unit_of_work(readonly=True) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(ScrapingJob)) or 0)


def audit_rows(db: Database, action: str, job_id: int | None = None) -> list[AuditLog]:
    """Audit rows with this action (about this job when given), oldest first."""
    query = select(AuditLog).where(AuditLog.action == action)
    if job_id is not None:
        query = query.where(AuditLog.resource_type == "job", AuditLog.resource_id == str(job_id))
    with db.unit_of_work(readonly=True) as uow:
        return list(uow.session.scalars(query.order_by(AuditLog.id)))


def moves(db: Database, job_id: int) -> list[tuple[str, str]]:
    """The job's recorded status changes as (from, to), oldest first."""
    return [(row.details["from"], row.details["to"]) for row in audit_rows(db, "job.status_changed", job_id)]


def assert_trail_intact(db: Database) -> None:
    """The hash chain verifies and is not empty."""
    report = verify(db)
    assert report.ok, report.message
    assert report.rows > 0


def set_config(db: Database, **values: Any) -> None:
    """Set configuration keys (``jobs__lease_seconds=...`` for ``jobs.lease_seconds``)."""
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        for name, value in values.items():
            config.set(name.replace("__", "."), value)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at the real current time (created_at is set by the real clock)."""
    return FakeClock(utcnow())


@pytest.fixture
def owner_id(db: Database) -> int:
    """The id of the user who owns the test's jobs."""
    with db.unit_of_work() as uow:
        return UserRepository(uow).create("owner", "owner@example.com").id


# --- 1. the transition table --------------------------------------------------------------------


def test_transition_table_is_the_documented_one() -> None:
    assert {source: frozenset(targets) for source, targets in TRANSITIONS.items()} == EXPECTED_MOVES
    assert set(ACTIVE) == {P, Q, R}
    assert len(ALLOWED) + sum(len(targets) for targets in ILLEGAL.values()) == len(JobStatus) ** 2


def _move_with_the_api(jobs: JobRepository, job_id: int, source: JobStatus, target: JobStatus) -> None:
    """Make the move ``source -> target`` the way a caller is meant to."""
    if target is X:
        jobs.cancel(job_id)
    elif (source, target) == (P, Q):
        jobs.enqueue(job_id)
    elif (source, target) == (Q, R):
        kind = jobs.get(job_id).kind
        assert [job.id for job in jobs.claim("w-api", kinds=[kind])] == [job_id]
    elif target is C:
        jobs.complete(job_id, SETUP_WORKER)
    elif target is F:
        jobs.fail(job_id, "Boom", "it broke", SETUP_WORKER, retry=False)
    elif (source, target) == (F, Q):
        assert jobs.retry({"id": job_id}) == [job_id]
    else:  # pragma: no cover - ALLOWED lists only the moves above
        raise AssertionError(f"no API call for {source} -> {target}")


@pytest.mark.parametrize(("source", "target"), ALLOWED, ids=[f"{s}-{t}" for s, t in ALLOWED])
def test_allowed_moves_succeed_through_the_api(db: Database, clock: FakeClock, owner_id: int,
                                              source: JobStatus, target: JobStatus) -> None:
    job_id = put_in(db, clock, owner_id, source)
    before = row_state(db, job_id)
    now = clock.advance(minutes=1)
    with db.unit_of_work() as uow:
        _move_with_the_api(jobs_of(uow, clock), job_id, source, target)
    job = load(db, job_id)
    assert (job.status, job.version, job.updated_at) == (target, before.version + 1, now)
    assert moves(db, job_id)[-1] == (source.value, target.value)
    if target in (C, F, X):
        assert (job.finished_at, job.lease_expires_at) == (now, None)
    elif target is Q:
        assert (job.finished_at, job.claimed_by, job.lease_expires_at) == (None, None, None)
    else:
        assert (job.claimed_by, job.started_at, job.lease_expires_at) == ("w-api", now, now + DEFAULT_LEASE)
    assert_trail_intact(db)


BARE_MOVES = [pytest.param(s, t, id=f"{s}-{t}") for s, t in ALLOWED if (s, t) != (Q, R)]


@pytest.mark.parametrize(("source", "target"), BARE_MOVES)
def test_transition_alone_makes_every_allowed_move(db: Database, clock: FakeClock, owner_id: int,
                                                   source: JobStatus, target: JobStatus) -> None:
    """``transition(id, target)`` with no extra fields: the table allows it, so it must work."""
    job_id = put_in(db, clock, owner_id, source)
    before = row_state(db, job_id)
    now = clock.advance(minutes=1)
    with db.unit_of_work() as uow:
        moved = jobs_of(uow, clock).transition(job_id, target)
        assert moved.status is target
    assert row_state(db, job_id) == RowState(target, before.version + 1, now)
    assert moves(db, job_id)[-1] == (source.value, target.value)


def test_queued_to_running_needs_the_claim_fields(db: Database, clock: FakeClock, owner_id: int) -> None:
    """The table allows queued -> running, but the CHECK wants a holder and a lease: only claim supplies them."""
    job_id = put_in(db, clock, owner_id, Q)
    before = row_state(db, job_id)
    clock.advance(minutes=1)
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        with pytest.raises(InvalidTransitionError, match=r"queued -> running; .*use claim\(worker_id\)"):
            jobs.transition(job_id, R)
        assert jobs.get(job_id).status is Q
    assert row_state(db, job_id) == before
    assert moves(db, job_id) == [("pending", "queued")]

    now = clock.advance(minutes=1)
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).transition(job_id, R, claimed_by="by-hand", started_at=now,
                                       lease_expires_at=now + timedelta(minutes=5))
    job = load(db, job_id)
    assert (job.status, job.claimed_by, job.version) == (R, "by-hand", before.version + 1)
    assert moves(db, job_id)[-1] == ("queued", "running")


@pytest.mark.parametrize("source", list(JobStatus), ids=str)
def test_illegal_moves_are_refused_and_change_nothing(db: Database, clock: FakeClock, owner_id: int,
                                                      source: JobStatus) -> None:
    job_id = put_in(db, clock, owner_id, source)
    before = row_state(db, job_id)
    recorded = moves(db, job_id)
    clock.advance(hours=1)
    with db.unit_of_work() as uow:  # the caller catches the error and commits: still nothing may change
        jobs = jobs_of(uow, clock)
        for target in ILLEGAL[source]:
            with pytest.raises(InvalidTransitionError) as caught:
                jobs.transition(job_id, target)
            error = caught.value
            assert (error.job_id, error.current, error.target) == (job_id, source.value, target.value)
            assert f"job {job_id}: cannot go {source.value} -> {target.value}" in str(error)
            assert set(error.allowed) == {s.value for s in EXPECTED_MOVES[source]}
            assert jobs.get(job_id).status is source
    assert row_state(db, job_id) == before
    assert moves(db, job_id) == recorded


def test_failed_to_queued_is_refused_once_attempts_are_spent(db: Database, clock: FakeClock,
                                                             owner_id: int) -> None:
    job_id = put_in(db, clock, owner_id, F, max_retries=1)  # attempt 1 of 1: spent
    before = row_state(db, job_id)
    clock.advance(hours=1)
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        with pytest.raises(InvalidTransitionError) as caught:
            jobs.transition(job_id, Q, claimed_by=None, heartbeat_at=None)
        assert (caught.value.job_id, caught.value.current, caught.value.target) == (job_id, "failed", "queued")
        assert f"job {job_id}: cannot go failed -> queued" in str(caught.value)
        with pytest.raises(InvalidTransitionError):
            jobs.retry({"id": job_id}, extra_attempts=0)  # no extra attempt granted: still spent
    assert row_state(db, job_id) == before


# --- 2. optimistic locking ----------------------------------------------------------------------


def test_a_stale_writer_gets_concurrent_update_error(db: Database, settings: Settings, clock: FakeClock,
                                                     owner_id: int) -> None:
    """Two sessions hold the same job; the second to write loses with ConcurrentUpdateError."""
    job_id = put_in(db, clock, owner_id, P)
    before = row_state(db, job_id)
    other = Database.from_settings(settings)
    try:
        if db.dialect == "postgresql":  # both transactions open at once; the reader never blocks the writer
            with db.unit_of_work() as uow:
                jobs = jobs_of(uow, clock)
                mine = jobs.get(job_id)  # held: the session's identity map keeps it (and its version)
                assert mine.status is P
                with other.unit_of_work() as theirs:
                    jobs_of(theirs, clock).cancel(job_id)
                with pytest.raises(ConcurrentUpdateError) as caught:
                    jobs.enqueue(job_id)
        else:  # SQLite writers serialise: read and commit, let the other writer commit, then write the stale copy
            with db.unit_of_work() as uow:
                stale = jobs_of(uow, clock).get(job_id)
            with other.unit_of_work() as theirs:
                jobs_of(theirs, clock).cancel(job_id)
            with db.unit_of_work() as uow:
                uow.session.add(stale)
                assert stale.status is P and stale.version == before.version
                with pytest.raises(ConcurrentUpdateError) as caught:
                    jobs_of(uow, clock).enqueue(job_id)
    finally:
        other.dispose()
    assert f"job {job_id}" in str(caught.value)
    assert "pending -> queued" in str(caught.value)
    after = load(db, job_id)
    assert (after.status, after.version) == (X, before.version + 1)
    assert moves(db, job_id) == [("pending", "cancelled")]


# --- 3. claims ----------------------------------------------------------------------------------


def test_claim_takes_priority_then_age_and_marks_the_jobs(db: Database, clock: FakeClock, owner_id: int) -> None:
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        made = {name: jobs.create(owner_id, name, "https://example.com/", priority=priority).id
                for name, priority in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -3)]}
        pdf = jobs.create(owner_id, "pdf", "https://example.com/x.pdf", kind="pdf", priority=1000).id
        jobs.create(owner_id, "later", "https://example.com/", queue=False, priority=1000)  # pending: never claimed

    t1 = clock.advance(seconds=10)
    with db.unit_of_work() as uow:
        with pytest.raises(ValidationError, match="n must be between 1 and 1000, got 0"):
            jobs_of(uow, clock).claim("w1", n=0)
        first = jobs_of(uow, clock).claim("w1", n=3, kinds=["scrape"])
        assert [job.id for job in first] == [made["b"], made["d"], made["a"]]
    t2 = clock.advance(seconds=10)
    with db.unit_of_work() as uow:
        second = jobs_of(uow, clock).claim("w2", n=10, kinds=["scrape"], lease_seconds=60)
        assert [job.id for job in second] == [made["c"], made["e"]]  # fewer left than asked for
    with db.unit_of_work() as uow:
        assert jobs_of(uow, clock).claim("w3", n=10, kinds=["scrape"]) == []
    set_config(db, jobs__lease_seconds=120)
    t3 = clock.advance(seconds=10)
    with db.unit_of_work() as uow:
        assert [job.id for job in jobs_of(uow, clock).claim("w4", n=5)] == [pdf]  # any kind; pending not taken

    expected = {made["b"]: ("w1", t1, DEFAULT_LEASE), made["d"]: ("w1", t1, DEFAULT_LEASE),
                made["a"]: ("w1", t1, DEFAULT_LEASE), made["c"]: ("w2", t2, timedelta(seconds=60)),
                made["e"]: ("w2", t2, timedelta(seconds=60)), pdf: ("w4", t3, timedelta(seconds=120))}
    for job_id, (worker, at, lease) in expected.items():
        job = load(db, job_id)
        assert (job.status, job.claimed_by, job.attempt) == (R, worker, 1)
        assert (job.started_at, job.heartbeat_at, job.lease_expires_at, job.updated_at) == (at, at, at + lease, at)
        assert job.version == 3  # created, enqueued, claimed
        claims = [row.details for row in audit_rows(db, "job.status_changed", job_id)
                  if row.details["to"] == "running"]
        assert claims == [{"from": "queued", "to": "running", "attempt": 1, "worker": worker}]
    assert_trail_intact(db)


# --- 4. backoff, dead letter, retry -------------------------------------------------------------


@pytest.mark.parametrize(("base", "ceiling", "seed"), [(None, None, 0), (10.0, 25.0, 7)],
                         ids=["default-config", "base10-max25"])
def test_failures_back_off_then_dead_letter_then_retry(db: Database, clock: FakeClock, owner_id: int,
                                                       base: float | None, ceiling: float | None,
                                                       seed: int) -> None:
    if base is not None:
        set_config(db, jobs__backoff_base_seconds=base, jobs__backoff_max_seconds=ceiling)
    base_delay, max_delay = base or DEFAULT_BACKOFF_BASE, ceiling or 3600.0
    job_id = put_in(db, clock, owner_id, Q, max_retries=4)
    kind = load(db, job_id).kind

    for attempt in (1, 2, 3):
        with db.unit_of_work() as uow:
            claimed = jobs_of(uow, clock).claim("w", kinds=[kind])
            assert [(job.id, job.attempt) for job in claimed] == [(job_id, attempt)]
        failed_at = clock.advance(seconds=1)
        with db.unit_of_work() as uow:
            jobs_of(uow, clock, seed).fail(job_id, "Timeout", f"attempt {attempt} timed out", "w")
        job = load(db, job_id)
        delay = min(max_delay, base_delay * 2 ** (attempt - 1))
        assert (job.status, job.attempt, job.claimed_by, job.error_type) == (Q, attempt, None, "Timeout")
        assert job.next_retry_at is not None
        assert failed_at + timedelta(seconds=delay / 2) <= job.next_retry_at <= failed_at + timedelta(seconds=delay)
        assert moves(db, job_id)[-2:] == [("running", "failed"), ("failed", "queued")]

        clock.set(job.next_retry_at - timedelta(milliseconds=1))
        with db.unit_of_work() as uow:
            assert jobs_of(uow, clock).claim("w", kinds=[kind]) == []  # still backing off
            assert queue_health(db, now=clock())["claimable"].item() == 0
        clock.set(job.next_retry_at)

    with db.unit_of_work() as uow:  # attempt 4 of 4
        assert [job.attempt for job in jobs_of(uow, clock).claim("w", kinds=[kind])] == [4]
    clock.advance(seconds=1)
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).fail(job_id, "Timeout", "last attempt timed out", "w")
    dead = load(db, job_id)
    assert (dead.status, dead.attempt, dead.next_retry_at) == (F, 4, None)
    clock.advance(days=30)
    with db.unit_of_work() as uow:
        assert jobs_of(uow, clock).claim("w", kinds=[kind]) == []  # the dead letter stays put
        assert jobs_of(uow, clock).retry({"id": job_id}, extra_attempts=2) == [job_id]
    requeued = load(db, job_id)
    assert (requeued.status, requeued.max_retries, requeued.next_retry_at) == (Q, 6, None)
    with db.unit_of_work() as uow:
        assert [job.attempt for job in jobs_of(uow, clock).claim("w", kinds=[kind])] == [5]
        jobs_of(uow, clock).complete(job_id, "w")
    assert load(db, job_id).status is C
    assert_trail_intact(db)


def test_fail_without_attempts_left_or_without_retry_stays_failed(db: Database, clock: FakeClock,
                                                                  owner_id: int) -> None:
    no_retries = put_in(db, clock, owner_id, R, max_retries=0)
    refused_retry = put_in(db, clock, owner_id, R, max_retries=5)
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        jobs.fail(no_retries, "Fatal", "no retries configured", SETUP_WORKER)
        jobs.fail(refused_retry, "Fatal", "not worth retrying", SETUP_WORKER, retry=False)
    for job_id in (no_retries, refused_retry):
        job = load(db, job_id)
        assert (job.status, job.next_retry_at, job.finished_at) == (F, None, clock.now)
        assert moves(db, job_id)[-1] == ("running", "failed")


# --- 5. heartbeats ------------------------------------------------------------------------------


def test_heartbeat_records_progress_that_never_goes_backwards(db: Database, clock: FakeClock,
                                                              owner_id: int) -> None:
    job_id = put_in(db, clock, owner_id, R)
    assert load(db, job_id).progress is None  # total unknown
    beat = clock.advance(seconds=30)
    with db.unit_of_work() as uow:
        job = jobs_of(uow, clock).heartbeat(job_id, SETUP_WORKER, Progress(pages_done=2, pages_total=10,
                                                                           items_scraped=5, bytes_downloaded=100))
        assert job.progress == pytest.approx(0.2)
    job = load(db, job_id)
    assert (job.pages_done, job.pages_total, job.items_scraped, job.bytes_downloaded) == (2, 10, 5, 100)
    assert (job.heartbeat_at, job.lease_expires_at) == (beat, beat + DEFAULT_LEASE)
    assert job.progress == pytest.approx(0.2)
    settled = row_state(db, job_id)

    clock.advance(seconds=30)
    refused = [(Progress(pages_done=1), ["pages_done", "from 2 to 1"]),
               (Progress(items_scraped=4), ["items_scraped", "from 5 to 4"]),
               (Progress(bytes_downloaded=99), ["bytes_downloaded", "from 100 to 99"]),
               (Progress(pages_done=11), ["pages_done 11", "pages_total 10"]),
               (Progress(pages_total=1), ["pages_done 2", "pages_total 1"]),
               (Progress(pages_total=-1), ["pages_total", "-1"])]
    with db.unit_of_work() as uow:  # refused reports are caught and the transaction commits: nothing written
        jobs = jobs_of(uow, clock)
        for progress, named in refused:
            with pytest.raises(ValidationError) as caught:
                jobs.heartbeat(job_id, SETUP_WORKER, progress)
            assert all(part in str(caught.value) for part in named), (progress, str(caught.value))
            assert f"job {job_id}" in str(caught.value)
    assert row_state(db, job_id) == settled

    beat = clock.advance(seconds=30)
    with db.unit_of_work() as uow:  # the total may shrink as long as it stays above what is done
        jobs_of(uow, clock).heartbeat(job_id, SETUP_WORKER, Progress(pages_total=4), lease_seconds=60)
    job = load(db, job_id)
    assert (job.pages_done, job.pages_total, job.lease_expires_at) == (2, 4, beat + timedelta(seconds=60))
    assert job.progress == pytest.approx(0.5)


def test_only_the_holder_may_heartbeat_complete_or_fail(db: Database, clock: FakeClock, owner_id: int) -> None:
    job_id = put_in(db, clock, owner_id, R)
    before = row_state(db, job_id)
    clock.advance(seconds=10)
    calls: list[Callable[[JobRepository], object]] = [
        lambda jobs: jobs.heartbeat(job_id, "intruder", Progress(pages_done=1)),
        lambda jobs: jobs.complete(job_id, "intruder"),
        lambda jobs: jobs.fail(job_id, "E", "not mine", "intruder"),
    ]
    with db.unit_of_work() as uow:
        for call in calls:
            with pytest.raises(ConflictError) as caught:
                call(jobs_of(uow, clock))
            assert f"job {job_id} is not held by worker 'intruder'" in str(caught.value)
            assert repr(SETUP_WORKER) in str(caught.value)
    assert row_state(db, job_id) == before
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).complete(job_id, SETUP_WORKER)
    with db.unit_of_work() as uow, pytest.raises(ConflictError, match="it is completed"):
        jobs_of(uow, clock).heartbeat(job_id, SETUP_WORKER)


def test_counters_start_again_with_a_new_attempt(db: Database, clock: FakeClock, owner_id: int) -> None:
    job_id = put_in(db, clock, owner_id, R)
    kind = load(db, job_id).kind
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        jobs.heartbeat(job_id, SETUP_WORKER, Progress(pages_done=7, pages_total=10, items_scraped=30,
                                                      bytes_downloaded=1000))
        jobs.fail(job_id, "Timeout", "slow site", SETUP_WORKER)
    clock.set(load(db, job_id).next_retry_at)  # type: ignore[arg-type]
    with db.unit_of_work() as uow:
        [job] = jobs_of(uow, clock).claim("w2", kinds=[kind])
        assert (job.attempt, job.pages_done, job.items_scraped, job.bytes_downloaded) == (2, 0, 0, 0)
    clock.advance(seconds=5)
    with db.unit_of_work() as uow:  # below the previous attempt's figures, but this is a new attempt
        job = jobs_of(uow, clock).heartbeat(job_id, "w2", Progress(pages_done=3, items_scraped=4,
                                                                   bytes_downloaded=10))
        assert job.progress == pytest.approx(0.3)
    with db.unit_of_work() as uow, pytest.raises(ConflictError, match="held by 'w2'"):
        jobs_of(uow, clock).heartbeat(job_id, SETUP_WORKER, Progress(pages_done=8))
    job = load(db, job_id)
    assert (job.pages_done, job.items_scraped, job.bytes_downloaded, job.claimed_by) == (3, 4, 10, "w2")


# --- 6. leases ----------------------------------------------------------------------------------


def test_recover_stale_requeues_or_fails_expired_jobs(db: Database, clock: FakeClock, owner_id: int) -> None:
    with_attempts = put_in(db, clock, owner_id, R, max_retries=3)
    spent = put_in(db, clock, owner_id, R, max_retries=1)
    healthy = put_in(db, clock, owner_id, R)
    lease_end = load(db, with_attempts).lease_expires_at
    assert lease_end == clock.now + DEFAULT_LEASE

    clock.set(lease_end)  # type: ignore[arg-type]
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        jobs.heartbeat(healthy, SETUP_WORKER)  # this one keeps its lease alive
        result = jobs.recover_stale()
        assert (result.requeued, result.failed) == ([], [])  # expiring now is not expired yet
    assert audit_rows(db, "job.recovered") == []

    recovered_at = clock.advance(seconds=1)
    with db.unit_of_work() as uow:
        result = jobs_of(uow, clock).recover_stale()
        assert (result.requeued, result.failed) == ([with_attempts], [spent])
    requeued, dead = load(db, with_attempts), load(db, spent)
    assert (requeued.status, requeued.attempt, requeued.claimed_by, requeued.lease_expires_at) == (Q, 1, None, None)
    assert (dead.status, dead.finished_at, dead.lease_expires_at) == (F, recovered_at, None)
    for job in (requeued, dead):
        assert job.error_type == "lease_expired"
        assert repr(SETUP_WORKER) in (job.error_message or "")
    assert load(db, healthy).status is R
    assert moves(db, with_attempts)[-2:] == [("running", "failed"), ("failed", "queued")]
    assert moves(db, spent)[-1] == ("running", "failed")
    [row] = audit_rows(db, "job.recovered")
    assert row.details == {"requeued": [with_attempts], "failed": [spent]}
    with db.unit_of_work() as uow, pytest.raises(ConflictError, match="lease may have expired"):
        jobs_of(uow, clock).complete(with_attempts, SETUP_WORKER)  # the old holder is too late
    assert_trail_intact(db)


def test_claim_by_another_worker_recovers_an_expired_lease(db: Database, clock: FakeClock,
                                                           owner_id: int) -> None:
    job_id = put_in(db, clock, owner_id, Q)
    with db.unit_of_work() as uow:
        assert [job.id for job in jobs_of(uow, clock).claim("slow", lease_seconds=60)] == [job_id]
    clock.advance(seconds=59)
    with db.unit_of_work() as uow:  # the lease now runs to +119 s
        jobs_of(uow, clock).heartbeat(job_id, "slow", Progress(pages_done=1), lease_seconds=60)
    clock.advance(seconds=30)  # past the first lease, not the extended one
    with db.unit_of_work() as uow:
        assert jobs_of(uow, clock).claim("fast") == []
    now = clock.advance(seconds=300)
    with db.unit_of_work() as uow:
        [job] = jobs_of(uow, clock).claim("fast")
        assert (job.id, job.attempt, job.claimed_by, job.pages_done) == (job_id, 2, "fast", 0)
        assert job.lease_expires_at == now + DEFAULT_LEASE
    [row] = audit_rows(db, "job.recovered")
    assert row.details == {"requeued": [job_id], "failed": []}
    assert moves(db, job_id) == [("pending", "queued"), ("queued", "running"), ("running", "failed"),
                                 ("failed", "queued"), ("queued", "running")]
    with db.unit_of_work() as uow, pytest.raises(ConflictError, match="held by 'fast'"):
        jobs_of(uow, clock).heartbeat(job_id, "slow")


def test_a_report_from_an_earlier_attempt_of_the_same_worker_is_refused(db: Database, clock: FakeClock,
                                                                       owner_id: int) -> None:
    """A worker that lost its lease and claimed the job again must not let the old attempt's thread finish it."""
    job_id = put_in(db, clock, owner_id, Q)
    with db.unit_of_work() as uow:
        [first] = jobs_of(uow, clock).claim("w", lease_seconds=60)
    clock.advance(seconds=120)
    with db.unit_of_work() as uow:
        [second] = jobs_of(uow, clock).claim("w")  # recovers the expired lease, then claims the job again
    assert (first.id, first.attempt, second.id, second.attempt) == (job_id, 1, job_id, 2)
    for report in ("heartbeat", "complete", "fail"):
        with db.unit_of_work() as uow, pytest.raises(ConflictError, match="on attempt 2, not attempt 1"):
            jobs = jobs_of(uow, clock)
            if report == "heartbeat":
                jobs.heartbeat(job_id, "w", Progress(pages_done=5), attempt=first.attempt)
            elif report == "complete":
                jobs.complete(job_id, "w", attempt=first.attempt)
            else:
                jobs.fail(job_id, "E", "old attempt", "w", attempt=first.attempt)
    assert row_state(db, job_id).status is R and load(db, job_id).pages_done == 0
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).complete(job_id, "w", attempt=second.attempt)
    assert load(db, job_id).status is C


def test_a_job_cancelled_by_a_host_whose_clock_is_behind_the_worker_finishes_when_it_started(
        db: Database, clock: FakeClock, owner_id: int) -> None:
    """Clocks differ between hosts; the CHECK finished_at >= started_at must not refuse a legal move."""
    job_id = put_in(db, clock, owner_id, Q)
    ahead = FakeClock(clock.now + timedelta(seconds=30))
    with db.unit_of_work() as uow:
        [job] = jobs_of(uow, ahead).claim("w")
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).cancel(job_id)
    cancelled = load(db, job_id)
    assert cancelled.status is X and cancelled.finished_at == cancelled.started_at == job.started_at


@pytest.mark.parametrize("lease", [0, -60, 10**9, True, 1.5])
def test_a_lease_that_is_not_1_second_to_a_week_is_refused_by_value(db: Database, clock: FakeClock,
                                                                      owner_id: int, lease: Any) -> None:
    """A zero or negative lease would hand the job to the next claim while its worker still runs it."""
    job_id = put_in(db, clock, owner_id, Q)
    before = row_state(db, job_id)
    with db.unit_of_work() as uow, pytest.raises(ValidationError, match=f"lease_seconds .* got {lease!r}"):
        jobs_of(uow, clock).claim("w", lease_seconds=lease)
    with pytest.raises(ValidationError, match="lease_seconds"):
        claim(db, "w", lease_seconds=lease)
    assert row_state(db, job_id) == before
    with db.unit_of_work() as uow:
        [job] = jobs_of(uow, clock).claim("w", lease_seconds=1)
        assert job.lease_expires_at == clock.now + timedelta(seconds=1)
    with db.unit_of_work() as uow, pytest.raises(ValidationError, match=f"got {lease!r}"):
        jobs_of(uow, clock).heartbeat(job_id, "w", lease_seconds=lease)


def test_progress_beyond_what_its_column_holds_is_refused_by_name(db: Database, clock: FakeClock,
                                                                   owner_id: int) -> None:
    """The same clear error on both engines (SQLite would store it, PostgreSQL would fail with a DataError)."""
    job_id = put_in(db, clock, owner_id, R)
    for progress, name in [(Progress(items_scraped=2**31), "items_scraped"),
                           (Progress(bytes_downloaded=2**63), "bytes_downloaded"),
                           (Progress(pages_total=2**31), "pages_total")]:
        with db.unit_of_work() as uow, pytest.raises(ValidationError, match=f"{name} must be a whole number"):
            jobs_of(uow, clock).heartbeat(job_id, SETUP_WORKER, progress)
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).heartbeat(job_id, SETUP_WORKER, Progress(bytes_downloaded=2**40, items_scraped=2**31 - 1))
    job = load(db, job_id)
    assert (job.bytes_downloaded, job.items_scraped) == (2**40, 2**31 - 1)


# --- 7. dedupe keys -----------------------------------------------------------------------------


def test_dedupe_key_allows_one_active_job(db: Database, clock: FakeClock, owner_id: int) -> None:
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        first = jobs.create(owner_id, "first", "https://example.com/", dedupe_key="site:example", queue=False).id
        jobs.create(owner_id, "free", "https://example.com/")  # jobs without a key never clash
        jobs.create(owner_id, "free too", "https://example.com/")
    for status_step in ("pending", "queued", "running"):
        with db.unit_of_work() as uow:
            jobs = jobs_of(uow, clock)
            if status_step == "queued":
                jobs.enqueue(first)
            elif status_step == "running":
                jobs.transition(first, R, claimed_by="w", started_at=clock.now,
                                lease_expires_at=clock.now + DEFAULT_LEASE)
            with pytest.raises(ConflictError) as caught:
                jobs.create(owner_id, "second", "https://example.com/", dedupe_key="site:example")
            assert "'site:example'" in str(caught.value)
            assert f"(job {first})" in str(caught.value)
            assert caught.value.field == "dedupe_key"
    assert job_count(db) == 3
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).complete(first, "w")
    with db.unit_of_work() as uow:
        second = jobs_of(uow, clock).create(owner_id, "second", "https://example.com/", dedupe_key="site:example").id
    with db.unit_of_work() as uow, pytest.raises(ConflictError, match=f"job {second}"):
        jobs_of(uow, clock).create(owner_id, "third", "https://example.com/", dedupe_key="site:example")
    assert job_count(db) == 4


RAW_INSERT = text("INSERT INTO scraping_jobs (owner_id, name, target_url, status, options, dedupe_key, finished_at) "
                  "VALUES (:owner, 'raw', 'https://example.com/', :status, '{}', :key, "
                  "CASE WHEN :finished THEN CURRENT_TIMESTAMP END)")


def test_partial_unique_index_refuses_a_second_active_row(db: Database, clock: FakeClock, owner_id: int) -> None:
    with db.unit_of_work() as uow:
        active = jobs_of(uow, clock).create(owner_id, "active", "https://example.com/", dedupe_key="k").id
    for status in ("queued", "pending"):
        with pytest.raises(IntegrityError) as caught, db.unit_of_work() as uow:
            uow.session.execute(RAW_INSERT, {"owner": owner_id, "status": status, "key": "k", "finished": False})
        assert "dedupe_key" in str(caught.value.orig) and "constraint" in str(caught.value.orig).lower()
    with db.unit_of_work() as uow:  # finished rows are outside the index: any number may share the key
        for status in ("completed", "cancelled", "failed"):
            uow.session.execute(RAW_INSERT, {"owner": owner_id, "status": status, "key": "k", "finished": True})
    assert job_count(db) == 4
    assert load(db, active).status is Q


def test_retry_refuses_a_dead_job_whose_key_is_taken(db: Database, clock: FakeClock, owner_id: int) -> None:
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        dead = jobs.create(owner_id, "dead", "https://example.com/", dedupe_key="k").id
        jobs.claim("w")
        jobs.fail(dead, "E", "gave up", "w", retry=False)
        holder = jobs.create(owner_id, "holder", "https://example.com/", dedupe_key="k").id
    with db.unit_of_work() as uow, pytest.raises(ConflictError) as caught:
        jobs_of(uow, clock).retry({"id": dead})
    assert "'k'" in str(caught.value) and f"job {holder}" in str(caught.value)
    assert load(db, dead).status is F


# --- 8. bounded messages and argument checks ----------------------------------------------------


def test_error_message_and_type_are_bounded(db: Database, clock: FakeClock, owner_id: int) -> None:
    job_id = put_in(db, clock, owner_id, R)
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).fail(job_id, "T" * 500, "m" * 10_000, SETUP_WORKER, retry=False)
    job = load(db, job_id)
    assert job.error_message == "m" * MAX_ERROR_MESSAGE
    assert MAX_ERROR_MESSAGE <= 2000
    assert job.error_type == "T" * 100
    [row] = [r for r in audit_rows(db, "job.status_changed", job_id) if r.details["to"] == "failed"]
    assert len(row.details["error_message"]) <= MAX_ERROR_MESSAGE


def _assert_create_refused(db: Database, clock: FakeClock, owner_id: int, arguments: dict[str, Any],
                           named: list[str]) -> None:
    """``create`` with ``arguments`` raises ValidationError naming each of ``named``, and writes nothing."""
    call: dict[str, Any] = {"target_url": "https://example.com/", **arguments}
    before = job_count(db)
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        with pytest.raises(ValidationError) as caught:
            jobs.create(owner_id, "bad", call.pop("target_url"), **call)
        assert all(part in str(caught.value) for part in named), str(caught.value)
        jobs.create(owner_id, "good", "https://example.com/")  # the transaction is still usable
    assert job_count(db) == before + 1


def test_create_refuses_bad_arguments_naming_them(db: Database, clock: FakeClock, owner_id: int) -> None:
    for arguments, named in [({"target_url": "ftp://example.com/file"}, ["target_url", "'ftp://example.com/file'"]),
                             ({"target_url": "example.com"}, ["'example.com'"]),
                             ({"priority": 5000}, ["priority 5000", "-1000..1000"]),
                             ({"priority": -1001}, ["priority -1001"])]:
        _assert_create_refused(db, clock, owner_id, arguments, named)


@pytest.mark.parametrize(("arguments", "named"), [
    pytest.param({"max_retries": -1}, ["max_retries", "-1"], id="negative-retries"),
    pytest.param({"target_url": "https://example.com/" + "a" * 3000}, ["target_url"], id="url-too-long"),
])
def test_create_refuses_other_bad_arguments_naming_them(db: Database, clock: FakeClock, owner_id: int,
                                                        arguments: dict[str, Any], named: list[str]) -> None:
    _assert_create_refused(db, clock, owner_id, arguments, named)


# --- 9. clean-up --------------------------------------------------------------------------------


def add_artifact(uow: UnitOfWork, job_id: int, key: str) -> int:
    """An artifact row of ``job_id``, added through the repository; returns its id."""
    artifact = Artifact(job_id=job_id, bucket="raw", object_key=key, filename=f"{key}.html",
                        content_type="text/html", size_bytes=10, sha256=SHA)
    return ArtifactRepository(uow).add(artifact).id


def test_cleanup_deletes_old_finished_jobs_and_their_artifacts(db: Database, clock: FakeClock,
                                                              owner_id: int) -> None:
    start = clock.now
    ids = {name: put_in(db, clock, owner_id, status)
           for name, status in [("done", R), ("broke", R), ("stopped", Q), ("recent", R), ("running", R),
                                ("queued", Q), ("pending", P)]}
    clock.set(start + timedelta(hours=1))  # finished in the order stopped, done, broke
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).cancel(ids["stopped"])
    clock.set(start + timedelta(hours=2))
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).complete(ids["done"], SETUP_WORKER)
        old_artifacts = [add_artifact(uow, ids["done"], "old-1"), add_artifact(uow, ids["done"], "old-2")]
    clock.set(start + timedelta(hours=3))
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).fail(ids["broke"], "E", "gave up", SETUP_WORKER, retry=False)
    clock.set(start + timedelta(days=10))
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).complete(ids["recent"], SETUP_WORKER)
        kept_artifact = add_artifact(uow, ids["recent"], "new-1")
    cut = start + timedelta(days=5)

    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        assert jobs.finished_before(cut) == [ids["stopped"], ids["done"], ids["broke"]]
        assert jobs.finished_before(cut, statuses=[C]) == [ids["done"]]
        assert jobs.finished_before(cut, limit=2) == [ids["stopped"], ids["done"]]
        assert jobs.finished_before(start) == []
        with pytest.raises(ValidationError, match="not running"):
            jobs.finished_before(cut, statuses=[R])
        old = jobs.finished_before(cut)
        assert jobs.delete_ids(old) == 3
        assert jobs.delete_ids([]) == 0

    with db.unit_of_work(readonly=True) as uow:
        left = set(uow.session.scalars(select(ScrapingJob.id)))
        artifacts = set(uow.session.scalars(select(Artifact.id)))
    assert left == {ids[name] for name in ("recent", "running", "queued", "pending")}
    assert artifacts == {kept_artifact}
    deleted = {int(row.resource_id): row.details for row in audit_rows(db, "job.deleted")}
    assert set(deleted) == {ids["stopped"], ids["done"], ids["broke"]}
    assert deleted[ids["done"]]["cascaded"] == {"artifacts": old_artifacts}
    assert "cascaded" not in deleted[ids["stopped"]] and "cascaded" not in deleted[ids["broke"]]
    assert deleted[ids["broke"]]["values"]["status"] == "failed"
    assert_trail_intact(db)


@pytest.mark.postgres
def test_a_retry_racing_a_cleanup_never_leaves_a_running_job_deleted(pg_database: Callable[..., str],
                                                                     pg_template: str, tmp_path: Path) -> None:
    """The batch a clean-up picked is locked until it is deleted: a retry and claim started meanwhile (from
    another pool) wait for it, then find the job gone (the retry loses, as any concurrent writer does) and
    nothing to claim; the report counts what was deleted."""
    settings = make_settings(pg_database(pg_template), tmp_path)
    db, other = Database.from_settings(settings), Database.from_settings(settings)
    clock = FakeClock(utcnow())
    with db.unit_of_work() as uow:
        owner_id = UserRepository(uow).create("owner", "owner@example.com").id
    job_id = put_in(db, clock, owner_id, F)
    outcome: dict[str, Any] = {}

    def retry_and_claim() -> None:
        try:
            with other.unit_of_work() as uow:
                outcome["retried"] = JobRepository(uow).retry({"id": job_id})
        except ConcurrentUpdateError as exc:
            outcome["retried"] = exc
        outcome["claimed"] = [job.id for job in claim(other, "w2")]

    def archive(_uow: UnitOfWork, ids: list[int]) -> None:
        assert ids == [job_id]
        racer = threading.Thread(target=retry_and_claim)
        racer.start()
        outcome["racer"] = racer
        deadline = time.monotonic() + 20
        while not waiting_for_the_write_lock(db) and time.monotonic() < deadline:
            time.sleep(0.02)
        outcome["waited"] = waiting_for_the_write_lock(db)

    report = cleanup(db, utcnow() + timedelta(days=1), dry_run=False, archive=archive)
    outcome["racer"].join(timeout=30)
    other.dispose()
    assert outcome["waited"], "the retry did not wait for the clean-up's lock"
    assert report.by_status == {"failed": 1} and job_count(db) == 0
    assert outcome["retried"] == [] or isinstance(outcome["retried"], ConcurrentUpdateError), outcome
    assert outcome["claimed"] == []
    assert_trail_intact(db)
    db.dispose()


def waiting_for_the_write_lock(db: Database) -> bool:
    """Whether a session on this database waits for an advisory lock (the write lock)."""
    with db.engine.connect() as conn:
        return bool(conn.scalar(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND l.locktype = 'advisory' AND a.datname = current_database()")))


# --- 10. statistics -----------------------------------------------------------------------------


def test_stats_match_what_was_set_up(db: Database, clock: FakeClock, owner_id: int) -> None:  # via analytics
    set_config(db, jobs__backoff_base_seconds=1000.0)
    start = clock.now
    pending = [put_in(db, clock, owner_id, P) for _ in range(2)]  # older than any queued job
    first_queued = put_in(db, clock, owner_id, Q)
    put_in(db, clock, owner_id, Q)
    delayed = put_in(db, clock, owner_id, R)
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).fail(delayed, "E", "try later", SETUP_WORKER)  # queued again, in backoff
    short_lease = put_in(db, clock, owner_id, Q)
    kind = load(db, short_lease).kind
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).claim("w", kinds=[kind], lease_seconds=60)
    put_in(db, clock, owner_id, R)  # default lease: 300 s
    twice = put_in(db, clock, owner_id, F)
    kind = load(db, twice).kind
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        jobs.retry({"id": twice})
        jobs.claim("w", kinds=[kind])
        jobs.complete(twice, "w")
    put_in(db, clock, owner_id, F, max_retries=1)
    put_in(db, clock, owner_id, X)

    clock.set(start + timedelta(seconds=120))  # the 60 s lease has run out, the 300 s one has not
    window: dict[str, Any] = {"since": "-1d", "until": utcnow() + timedelta(seconds=1)}  # real created_at
    summary = job_summary(db, **window)
    queue = queue_health(db, now=clock()).iloc[0]
    attempts = dict(job_attempts(db, **window).itertuples(index=False, name=None))
    by_status = {s.value: int(summary[s.value].item()) for s in JobStatus}
    assert by_status == {"pending": 2, "queued": 3, "running": 2, "completed": 1, "failed": 1,
                         "cancelled": 1}
    assert (queue["queued"], queue["claimable"], queue["expired_leases"]) == (3, 2, 1)
    assert queue["oldest_queued_at"] == load(db, first_queued).created_at
    assert queue["oldest_queued_at"] > load(db, pending[0]).created_at
    assert attempts == {0: 5, 1: 4, 2: 1}
    assert job_summary(db, **window, owner=owner_id).equals(summary)
    assert queue_health(db, now=clock(), owner=owner_id).iloc[0].equals(queue)
    elsewhere = queue_health(db, now=clock(), kind="no-such-kind").iloc[0]
    assert job_summary(db, **window, kind="no-such-kind")["jobs"].item() == 0
    assert (elsewhere["queued"], job_attempts(db, **window, kind="no-such-kind").empty) == (0, True)
    assert pd.isna(elsewhere["oldest_queued_at"])
    clock.set(load(db, delayed).next_retry_at)  # type: ignore[arg-type]
    assert queue_health(db, now=clock())["claimable"].item() == 3


# --- 11. the audit trail after a whole life -----------------------------------------------------


def test_audit_trail_verifies_after_every_kind_of_change(db: Database, clock: FakeClock, owner_id: int) -> None:
    keep = put_in(db, clock, owner_id, R)
    with db.unit_of_work() as uow:
        jobs = jobs_of(uow, clock)
        jobs.heartbeat(keep, SETUP_WORKER, Progress(pages_done=1, pages_total=2))
        jobs.fail(keep, "E", "once", SETUP_WORKER)
    clock.advance(hours=1)
    lost = put_in(db, clock, owner_id, R)
    clock.advance(hours=1)  # lost's lease runs out; the next claim recovers it
    with db.unit_of_work() as uow:
        claimed = {job.id for job in jobs_of(uow, clock).claim("w", n=5)}
        assert claimed == {keep, lost}
        for job_id in claimed:
            jobs_of(uow, clock).complete(job_id, "w")
    put_in(db, clock, owner_id, X)
    dead = put_in(db, clock, owner_id, F, max_retries=1)
    with db.unit_of_work() as uow:
        jobs_of(uow, clock).delete_ids([dead])
    report = verify(db)
    assert report.ok, report.message
    with db.unit_of_work(readonly=True) as uow:
        actions = Counter(uow.session.scalars(select(AuditLog.action)))
    assert report.rows == sum(actions.values())
    assert {"job.created", "job.status_changed", "job.recovered", "job.deleted"} <= set(actions)


# --- 12. concurrent workers in separate processes -----------------------------------------------


def claim_and_complete_worker(url: str, home: str, worker: str, batch: int, start: Any, results: Any) -> None:
    """In a spawned process: claim ``batch`` jobs at a time, then complete them, until the queue is empty."""
    database = Database.from_settings(make_settings(url, Path(home)))
    done: list[int] = []
    try:
        start.wait(timeout=120)
        while True:
            with database.unit_of_work() as uow:
                claimed = [job.id for job in JobRepository(uow).claim(worker, n=batch)]
            if not claimed:
                break
            with database.unit_of_work() as uow:  # the work is done; report it in a transaction of its own
                jobs = JobRepository(uow)
                for job_id in claimed:
                    jobs.complete(job_id, worker)
            done += claimed
        results.put((worker, done))
    except BaseException as exc:
        results.put((worker, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        database.dispose()


@pytest.mark.slow
def test_workers_in_separate_processes_take_each_job_exactly_once(db: Database, migrated_url: str,
                                                                   owner_id: int, tmp_path: Path) -> None:
    processes, total = (8, 1000) if db.dialect == "postgresql" else (4, 200)
    with db.unit_of_work() as uow:
        ids = JobRepository(uow).add_many([{"owner_id": owner_id, "name": f"job-{i}", "priority": i % 7,
                                            "target_url": f"https://example.com/{i}", "status": "queued"}
                                           for i in range(total)])
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=claim_and_complete_worker,
                               args=(migrated_url, str(tmp_path / f"w{n}"), f"worker-{n}", 5, start, results))
               for n in range(processes)]
    for process in workers:
        process.start()
    try:
        reports = dict(results.get(timeout=120) for _ in workers)
    finally:
        for process in workers:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in workers] == [0] * processes, reports
    failures = {worker: report for worker, report in reports.items() if isinstance(report, str)}
    assert failures == {}
    taken = [job_id for done in reports.values() for job_id in done]
    assert sorted(taken) == sorted(ids)  # every job, and none twice

    with db.unit_of_work(readonly=True) as uow:
        outcome = Counter((status, attempt) for status, attempt in
                          uow.session.execute(select(ScrapingJob.status, ScrapingJob.attempt)))
        changes = Counter((row.resource_id, row.details["from"], row.details["to"]) for row in uow.session.scalars(
            select(AuditLog).where(AuditLog.action == "job.status_changed")))
    assert outcome == {(C, 1): total}
    for job_id in ids:
        assert changes[(str(job_id), "queued", "running")] == 1, job_id
        assert changes[(str(job_id), "running", "completed")] == 1, job_id
    assert sum(changes.values()) == 2 * total
    assert_trail_intact(db)


# --- 13. a worker killed while holding a job ----------------------------------------------------


def hold_job_worker(url: str, home: str, worker: str, lease_seconds: int, ready: Any, results: Any) -> None:
    """In a spawned process: claim one job with a short lease, report it, then hang until killed."""
    database = Database.from_settings(make_settings(url, Path(home)))
    with database.unit_of_work() as uow:
        claimed = [(job.id, job.attempt) for job in JobRepository(uow).claim(worker, lease_seconds=lease_seconds)]
    results.put(claimed)
    ready.set()
    time.sleep(600)


@pytest.mark.slow
def test_a_killed_workers_job_goes_to_the_next_claim_after_its_lease(db: Database, migrated_url: str,
                                                                      owner_id: int, tmp_path: Path) -> None:
    with db.unit_of_work() as uow:
        job_id = JobRepository(uow).create(owner_id, "fragile", "https://example.com/").id
    context = multiprocessing.get_context("spawn")
    ready, results = context.Event(), context.Queue()
    doomed = context.Process(target=hold_job_worker,
                             args=(migrated_url, str(tmp_path / "doomed"), "doomed", 2, ready, results))
    doomed.start()
    try:
        assert ready.wait(timeout=60), "the worker never claimed"
        assert results.get(timeout=10) == [(job_id, 1)]
        held = load(db, job_id)
        assert (held.status, held.claimed_by) == (R, "doomed")
        assert held.lease_expires_at is not None and held.started_at is not None
        assert held.lease_expires_at - held.started_at == timedelta(seconds=2)
        assert doomed.pid is not None
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.join(timeout=10)
        assert doomed.exitcode == -signal.SIGKILL
    finally:
        if doomed.is_alive():
            doomed.kill()
            doomed.join()
    with db.unit_of_work(readonly=True) as uow:  # the lease runs out two seconds after the claim, not before
        before_end = held.lease_expires_at - timedelta(milliseconds=1)
        assert queue_health(db, now=before_end)["expired_leases"].item() == 0
        after_end = held.lease_expires_at + timedelta(milliseconds=1)
        assert queue_health(db, now=after_end)["expired_leases"].item() == 1
    time.sleep(max(0.0, (held.lease_expires_at - utcnow()).total_seconds()) + 0.5)  # the lease is real time here

    with db.unit_of_work() as uow:
        claimed = JobRepository(uow).claim("rescuer")
        assert [(job.id, job.attempt, job.claimed_by) for job in claimed] == [(job_id, 2, "rescuer")]
    rescued = load(db, job_id)
    assert (rescued.error_type, rescued.status) == ("lease_expired", R)
    assert "'doomed'" in (rescued.error_message or "")
    [row] = audit_rows(db, "job.recovered")
    assert row.details == {"requeued": [job_id], "failed": []}
    assert moves(db, job_id)[1:] == [("queued", "running"), ("running", "failed"), ("failed", "queued"),
                                     ("queued", "running")]
    assert_trail_intact(db)


# --- recovery racing a claim (PostgreSQL: the two transactions really overlap) ---------------------


def _waiting_on_a_lock(database: Database) -> bool:
    """Whether some session of this database waits for a lock right now."""
    with database.engine.connect() as conn:
        return bool(conn.scalar(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND a.datname = current_database()")))


@pytest.fixture
def pg_settings(pg_database: Callable[..., str], pg_template: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a fresh migrated PostgreSQL database (for the tests that only make sense there)."""
    yield make_settings(pg_database(pg_template), tmp_path)


@pytest.mark.postgres
def test_a_claim_racing_another_claims_recovery_still_succeeds(pg_settings: Settings) -> None:
    first, second = Database.from_settings(pg_settings), Database.from_settings(pg_settings)
    try:
        start = utcnow()
        with first.unit_of_work() as uow:
            owner = UserRepository(uow).create("owner", "owner@example.com").id
            job_id = JobRepository(uow).create(owner, "stale", "https://example.com/").id
            JobRepository(uow, clock=lambda: start).claim("dead", lease_seconds=10)
        outcome: dict[str, object] = {}

        def other_claim() -> None:
            try:
                with second.unit_of_work() as uow:
                    later = start + timedelta(seconds=70)
                    outcome["claimed"] = [job.id for job in JobRepository(uow, clock=lambda: later).claim("b")]
            except Exception as exc:
                outcome["error"] = exc

        with first.unit_of_work() as uow:  # worker a recovers the job and takes it, not yet committed
            taken = JobRepository(uow, clock=lambda: start + timedelta(seconds=60)).claim("a")
            assert [(job.id, job.attempt) for job in taken] == [(job_id, 2)]
            racer = threading.Thread(target=other_claim)
            racer.start()
            deadline = time.monotonic() + 20
            while racer.is_alive() and not _waiting_on_a_lock(first) and time.monotonic() < deadline:
                time.sleep(0.02)
            if racer.is_alive() and not _waiting_on_a_lock(first):
                pytest.fail("the racing claim neither finished nor waited on a lock")
        racer.join(timeout=30)
        assert outcome == {"claimed": []}, outcome  # the job is worker a's; b simply finds nothing
        assert load(first, job_id).claimed_by == "a"
    finally:
        first.dispose()
        second.dispose()


def test_a_lease_length_changed_here_applies_to_the_next_claim(db: Database, owner_id: int) -> None:
    """Claims read the lease length from a short-lived per-process cache; a change made here clears it."""
    with db.unit_of_work() as uow:
        jobs = JobRepository(uow)
        for i in range(2):
            jobs.create(owner_id, f"job-{i}", f"https://example.com/{i}")
    leases = []
    for seconds in (120, 900):
        with db.unit_of_work() as uow:
            ConfigRepository(uow).set("jobs.lease_seconds", seconds)
        with db.unit_of_work() as uow:
            (job,) = JobRepository(uow).claim("w")
            leases.append((job.lease_expires_at - job.started_at).total_seconds())
    assert leases == [120, 900]


def test_a_lease_length_changed_elsewhere_is_seen_once_the_cache_is_stale(db: Database, settings: Settings) -> None:
    other = Database.from_settings(settings)
    try:
        with db.unit_of_work() as uow:
            assert ConfigRepository(uow).recent_value("jobs.lease_seconds") == 300
        with other.unit_of_work() as uow:
            ConfigRepository(uow).set("jobs.lease_seconds", 60)
        with db.unit_of_work() as uow:
            config = ConfigRepository(uow)
            assert config.recent_value("jobs.lease_seconds") == 300  # still the cached value
            assert config.recent_value("jobs.lease_seconds", max_age=0) == 60
    finally:
        other.dispose()
