"""The claim's rules (``models.job.CLAIM``) agree with the CHECK constraint, the state machine and the demo
generator's claim; the PostgreSQL statement is built from them. Row-level agreement of the three claim
paths on real databases is in tests/integration/test_claim_rules.py."""

from __future__ import annotations

import itertools
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from stratlogic.models import JobStatus, ScrapingJob
from stratlogic.models.job import CLAIM, STATUS_TIMESTAMPS_SQL, TRANSITIONS, Claimed
from stratlogic.repositories import _claim
from stratlogic.seed._lifecycle import CLAIM_SLOTS, Job, Kind, Policy, Target

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEASE_UNTIL = NOW + timedelta(minutes=5)
CHECKED = ("status", "started_at", "finished_at", "claimed_by", "lease_expires_at")


def check_holds(row: dict[str, Any]) -> bool:
    """``STATUS_TIMESTAMPS_SQL`` evaluated by SQLite on this row (its text, exactly as the table has it)."""
    values = {name: (row[name].isoformat() if isinstance(row[name], datetime) else row[name]) for name in CHECKED}
    columns = ", ".join(f":{name} AS {name}" for name in CHECKED)
    with closing(sqlite3.connect(":memory:")) as connection:
        (holds,) = connection.execute(f"SELECT ({STATUS_TIMESTAMPS_SQL}) FROM (SELECT {columns})", values).fetchone()
    return bool(holds)


def source_rows() -> list[dict[str, Any]]:
    """Every shape a claimable row can have under the CHECK constraint (started or not, ever finished or not)."""
    rows = []
    for started, retry, attempt in itertools.product((None, NOW - timedelta(hours=1)),
                                                     (None, NOW - timedelta(seconds=1), NOW), (0, 2)):
        row = {"status": CLAIM.source.value, "started_at": started, "finished_at": None, "claimed_by": None,
               "lease_expires_at": None, "heartbeat_at": None, "next_retry_at": retry, "attempt": attempt,
               "version": 3, "pages_done": 4, "items_scraped": 5, "bytes_downloaded": 6, "updated_at": NOW,
               "priority": 0, "created_at": NOW, "id": 1, "kind": "scrape"}
        assert check_holds(row)
        rows.append(row)
    return rows


@pytest.mark.parametrize("row", source_rows())
def test_every_row_a_claim_writes_satisfies_the_check_constraint(row: dict[str, Any]) -> None:
    assert CLAIM.due(row["status"], row["next_retry_at"], NOW)
    claimed = {**row, **CLAIM.claimed(row, "w1", NOW, LEASE_UNTIL)}
    assert claimed["status"] == CLAIM.target
    assert check_holds(claimed), f"a claim of {row} writes a row the CHECK constraint refuses: {claimed}"
    assert claimed["attempt"] == row["attempt"] + 1 and claimed["version"] == row["version"] + 1


def test_the_check_constraint_would_refuse_a_claim_that_left_out_the_lease_or_the_worker() -> None:
    """The CHECK test above can fail: without the lease or the worker, the constraint refuses the row."""
    row = source_rows()[0]
    claimed = {**row, **CLAIM.claimed(row, "w1", NOW, LEASE_UNTIL)}
    assert not check_holds({**claimed, "lease_expires_at": None})
    assert not check_holds({**claimed, "claimed_by": None})


def test_the_rule_moves_jobs_only_the_way_the_state_machine_allows() -> None:
    assert CLAIM.target in TRANSITIONS[CLAIM.source]
    recovered_to = {CLAIM.after_recovery(0, 1), CLAIM.after_recovery(1, 1)}
    assert recovered_to == {CLAIM.source, JobStatus.FAILED}
    assert JobStatus.FAILED in TRANSITIONS[CLAIM.target] and CLAIM.source in TRANSITIONS[JobStatus.FAILED]


def test_the_rule_names_only_columns_of_the_table() -> None:
    columns = set(ScrapingJob.__table__.columns.keys())
    named = {*CLAIM.sets, CLAIM.due_column, CLAIM.lease_column, *(column for column, _ in CLAIM.order)}
    assert named <= columns, named - columns
    assert CLAIM.order[-1][0] == "id"  # the last key is unique: the order is total


@pytest.mark.parametrize(("status", "retry", "due"), [
    ("queued", None, True), ("queued", NOW, True), ("queued", NOW + timedelta(microseconds=1), False),
    ("pending", None, False), ("running", None, False), ("failed", None, False), ("completed", None, False),
    ("cancelled", None, False)])
def test_due_is_queued_and_past_the_retry_time(status: str, retry: datetime | None, due: bool) -> None:
    assert CLAIM.due(status, retry, NOW) is due


@pytest.mark.parametrize(("kinds", "claimable"), [(None, True), ([], True), (["scrape"], True),
                                                  (["crawl", "scrape"], True), (["crawl"], False)])
def test_a_kinds_filter_limits_the_claim_to_those_kinds(kinds: list[str] | None, claimable: bool) -> None:
    row = source_rows()[0]
    assert CLAIM.claimable(row, NOW, kinds) is claimable


def test_claim_order_is_priority_then_age_then_id() -> None:
    rows = [{"priority": p, "created_at": NOW + timedelta(seconds=s), "id": i}
            for i, (p, s) in enumerate([(0, 1), (5, 2), (0, 0), (5, 2), (-3, 0)], start=1)]
    assert [row["id"] for row in sorted(rows, key=CLAIM.sort_key)] == [2, 4, 3, 1, 5]


def test_expiry_is_a_running_job_whose_lease_ended_before_the_recovery() -> None:
    assert CLAIM.expired("running", NOW - timedelta(microseconds=1), NOW)
    assert not CLAIM.expired("running", NOW, NOW)
    assert not CLAIM.expired("running", None, NOW)
    assert not CLAIM.expired("queued", NOW - timedelta(hours=1), NOW)
    assert CLAIM.expired_message("w 'x'", NOW) == (
        "worker \"w 'x'\" stopped heartbeating; lease expired at 2026-03-01T12:00:00+00:00")


def test_the_postgresql_statement_is_built_from_the_rule() -> None:
    """Each column the rule sets appears in the statement's SET list, in the rule's form, and nothing else."""
    sql = _claim.claim_sql(3, by_kind=True)
    set_list = sql.split(" SET ", 1)[1].split(" FROM picked", 1)[0]
    forms = {Claimed.TARGET: "'running'", Claimed.WORKER: "%(worker)s", Claimed.NOW: "%(now)s",
             Claimed.LEASE_UNTIL: "%(lease_until)s", Claimed.NULL: "NULL", Claimed.ZERO: "0"}
    expected = [f"{c} = j.{c} + 1" if how is Claimed.NEXT else f"{c} = {forms[how]}" for c, how in CLAIM.sets.items()]
    assert set_list.split(", ") == expected
    assert "WHERE status = 'queued' AND (next_retry_at IS NULL OR next_retry_at <= %(now)s) AND kind = ANY" in sql
    assert sql.count("ORDER BY priority DESC, created_at, id") == 3
    assert "'from', 'queued', 'to', 'running', 'attempt', attempt, 'worker', %(worker)s::text" in sql


def demo_job(status: str, next_retry: int | None, attempt: int = 1) -> Job:
    """A demo generator's job in ``status`` (times in microseconds, as the generator keeps them)."""
    kind = Kind("scrape", 60, 1.0, 3, 2.0, 0.1)
    target = Target("https://example.com/a", "a", cast(Any, None), 1.0)
    job = Job(7, 1, 0, kind, target, b"{}", 0, 3, 3, Policy(end=10**12, lease=300_000_000, backoff_base=1,
                                                                   backoff_max=2, objects=False))
    job.status, job.next_retry, job.attempt, job.version, job.pages_done = status, next_retry, attempt, 4, 2
    return job


@pytest.mark.parametrize(("status", "retry"), [("queued", None), ("queued", 1_000), ("queued", 1_001),
                                               *((s.value, None) for s in JobStatus if s is not JobStatus.QUEUED)])
def test_the_demo_generator_claims_exactly_what_the_rule_allows_and_writes_what_it_says(
        status: str, retry: int | None) -> None:
    job = demo_job(status, retry)
    before = {column: getattr(job, slot) for column, slot in CLAIM_SLOTS.items()}
    if not CLAIM.due(status, retry, 1_000):
        with pytest.raises(ValueError, match=f"demo job 7 cannot be claimed at 1000: it is {status}"):
            job.claim(1_000, "scraper-01")
        assert {column: getattr(job, slot) for column, slot in CLAIM_SLOTS.items()} == before
        return
    assert job.claim(1_000, "scraper-01")
    after = {column: getattr(job, slot) for column, slot in CLAIM_SLOTS.items()}
    assert after == CLAIM.claimed(before, "scraper-01", 1_000, 1_000 + job.policy.lease)
    assert type(after["status"]) is str  # the bulk writer's wire form, not the enum
    assert job.events[-1][2:6] == ("job.status_changed", "job", "7", CLAIM.audit_details(2, "scraper-01"))
