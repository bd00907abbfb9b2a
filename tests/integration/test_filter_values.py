"""The public filter parser (issue 13 items 13 and 15, issue 14's "one parser"): values a column cannot hold
are refused by value on both engines, numbers that are not numbers say so plainly, callers name filters
their own way, and a bad job status lists the statuses."""

from __future__ import annotations

from typing import Any

import pytest

from stratlogic.db import Database
from stratlogic.errors import InvalidFilterError, ValidationError
from stratlogic.models import JobStatus
from stratlogic.repositories import AuditRepository, JobRepository, Repos, UserRepository, filters
from stratlogic.repositories import _filters as old_filters


def make_job(db: Database) -> int:
    with db.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com").id
        return JobRepository(uow).create(owner, "job", "https://example.com/", priority=5).id


def test_the_parser_is_public_and_the_old_module_still_imports() -> None:
    assert {"parse_filters", "parse_sort", "Field", "Filter", "Order", "field_for"} <= set(filters.__all__)
    assert old_filters.parse_filters is filters.parse_filters and old_filters.Field is filters.Field
    fields = JobRepository.filter_fields()
    assert fields["priority"].int_type == "integer" and fields["id"].int_type == "bigint"
    parsed = filters.parse_filters({"status__in": ["failed"]}, fields, "job")
    assert parsed[0].value == [JobStatus.FAILED]


@pytest.mark.parametrize(("given", "fragments"), [
    ({"priority": 2**31}, ["filter priority:", "2147483648", "integer", "-2147483648..2147483647"]),
    ({"priority__gte": -(2**31) - 1}, ["filter priority__gte:", "-2147483649"]),
    ({"attempt__in": [1, 2**40]}, ["filter attempt__in:", str(2**40)]),
    ({"priority": str(2**31)}, ["filter priority:", "'2147483648'", "integer"]),
    ({"priority__gt": "high"}, ["filter priority__gt:", "'high'", "not a valid number", "expected a number"]),
    ({"priority": "1e999"}, ["filter priority:", "'1e999'", "finite"]),
])
def test_values_a_column_cannot_hold_are_refused_by_value_on_both_engines(
        db: Database, given: dict[str, Any], fragments: list[str]) -> None:
    make_job(db)
    with db.unit_of_work(readonly=True) as uow:
        jobs = JobRepository(uow)
        for call in (lambda: jobs.list(given), lambda: jobs.count(given), lambda: jobs.frame(given)):
            with pytest.raises(ValidationError) as caught:
                call()
            message = str(caught.value)
            assert all(fragment in message for fragment in fragments), message
            assert "\n" not in message and "could not convert" not in message and "SELECT" not in message


def test_values_at_the_edge_of_the_range_are_accepted(db: Database) -> None:
    job = make_job(db)
    with db.unit_of_work(readonly=True) as uow:
        jobs = JobRepository(uow)
        assert jobs.count({"priority__lt": 2**31 - 1, "priority__gt": -(2**31)}) == 1
        assert jobs.count({"id__in": [job, 2**63 - 1]}) == 1  # a 64-bit id column takes 64-bit values
        assert jobs.count({"priority": "5", "priority__gte": "+4.5"}) == 1


def test_labels_name_the_filter_as_the_caller_does(db: Database) -> None:
    with pytest.raises(ValidationError) as caught:
        JobRepository.check_filters({"status__in": ["failed", "exploded"]}, labels={"status__in": "--status"})
    message = str(caught.value)
    assert message.startswith("--status: 'exploded'") and "status__in" not in message
    assert "pending" in message and "failed" in message
    with pytest.raises(InvalidFilterError, match="unknown filter field 'colour' for job"):
        JobRepository.check_filters({"colour": "red"}, labels={"colour": "--colour"})
    JobRepository.check_filters({"owner_id": 0}, labels={"owner_id": "--owner"})  # 0 is a value like any other


def test_transition_to_an_unknown_status_lists_the_statuses(db: Database) -> None:
    job = make_job(db)
    with db.unit_of_work() as uow, pytest.raises(ValidationError) as caught:
        JobRepository(uow).transition(job, "exploded")
    message = str(caught.value)
    assert "'exploded'" in message and all(status.value in message for status in JobStatus), message
    with db.unit_of_work(readonly=True) as uow:
        assert JobRepository(uow).get(job).status is JobStatus.QUEUED


def test_repos_of_has_jobs_and_audit(db: Database) -> None:
    make_job(db)
    with db.unit_of_work(readonly=True) as uow:
        repos = Repos.of(uow)
        assert isinstance(repos.jobs, JobRepository) and isinstance(repos.audit, AuditRepository)
        assert repos.jobs.count() == 1
        assert repos.audit.count({"action": "job.created"}) == 1
