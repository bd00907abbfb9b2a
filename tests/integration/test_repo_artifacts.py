"""The artifact repository's metadata and lookups against real databases (SQLite and PostgreSQL).

Metadata set (insert or replace), read back with its JSON types, deleted, refused when the key or value
cannot be stored, searched by JSON value (a number must never match its text), counted per key;
de-duplication by checksum within a job.

Every test runs once per engine through the ``db`` fixture. Several began as strict xfails that showed
real defects (JSON affinity on SQLite, JSONB comparisons); they now guard the fixes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from stratlogic.analytics import metadata_coverage
from stratlogic.db import Database
from stratlogic.db.session import UnitOfWork
from stratlogic.errors import NotFoundError, ValidationError
from stratlogic.models import Artifact, ScrapingJob
from stratlogic.repositories import ArtifactRepository
from tests.integration.repo_helpers import committed_job, make_job

SHA_A = "ab" * 32
SHA_B = "cd" * 32


def add_artifact(uow: UnitOfWork, job_id: int, key: str, sha256: str = SHA_A) -> int:
    """Add an artifact of ``job_id`` in bucket ``raw`` under object key ``key`` through the repository.

    Returns its id (an int outlives the unit of work; ``set_metadata`` expires the ORM objects).
    """
    artifact = Artifact(job_id=job_id, bucket="raw", object_key=key, filename=f"{key}.html",
                        content_type="text/html", size_bytes=10, sha256=sha256)
    return ArtifactRepository(uow).add(artifact).id



@pytest.fixture
def job_id(db: Database) -> int:
    """The id of a committed job (and of its owner, a user without password)."""
    return committed_job(db)


# --- artifacts ----------------------------------------------------------------------------------


def test_set_metadata_many_keys_then_overwrite_some(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        one = add_artifact(uow, job_id, "one")
        other = add_artifact(uow, job_id, "other")
        artifacts.set_metadata(one, {"http_status": 200, "language": "en", "score": 0.5, "cached": False,
                                     "tags": ["a", "b"], "headers": {"server": "nginx", "age": 3}})
        artifacts.set_metadata(other, {"http_status": 404})
    with db.unit_of_work() as uow:
        ArtifactRepository(uow).set_metadata(one, {"http_status": 301, "cached": True, "charset": "utf-8",
                                                   "empty": None})
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        stored = artifacts.metadata(one)
        assert stored == {
            "cached": True, "charset": "utf-8", "empty": None, "headers": {"server": "nginx", "age": 3},
            "http_status": 301, "language": "en", "score": 0.5, "tags": ["a", "b"],
        }
        assert list(stored) == sorted(stored)
        assert artifacts.metadata(other) == {"http_status": 404}
        assert artifacts.metadata(999_999) == {}


@pytest.mark.parametrize("value", [
    7, 0, -3, "7", "", 0.5, True, False, None, [1, "x", None, 1.5, False], [], {"nested": {"k": [1, 2]}, "n": None},
    {}, "Zoë — 日本", 2**62,
    pytest.param(2.0, id="integral-float"),
    pytest.param(10**20 + 1, id="int-beyond-64-bits"),
])
def test_metadata_value_keeps_its_type(db: Database, job_id: int, value: Any,
                                       request: pytest.FixtureRequest) -> None:
    with db.unit_of_work() as uow:
        artifact = add_artifact(uow, job_id, "typed")
        ArtifactRepository(uow).set_metadata(artifact, {"value": value})
    with db.unit_of_work() as uow:
        stored = ArtifactRepository(uow).metadata(artifact)["value"]
    assert stored == value
    assert type(stored) is type(value)


def test_objects_stay_readable_after_set_metadata(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        artifact = ArtifactRepository(uow).add(Artifact(job_id=job_id, bucket="raw", object_key="one",
                                                        filename="one.html", content_type="text/html",
                                                        size_bytes=10, sha256=SHA_A))
        ArtifactRepository(uow).set_metadata(artifact.id, {"a": 1})
    assert artifact.object_key == "one"


def test_delete_metadata(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        one = add_artifact(uow, job_id, "one")
        two = add_artifact(uow, job_id, "two")
        artifacts.set_metadata(one, {"a": 1, "b": 2, "c": 3})
        artifacts.set_metadata(two, {"a": 1})
        assert artifacts.delete_metadata(one, ["a", "c", "missing"]) == 2
        assert artifacts.delete_metadata(one, []) == 0
        assert artifacts.delete_metadata(one, ["a"]) == 0
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        assert artifacts.metadata(one) == {"b": 2}
        assert artifacts.metadata(two) == {"a": 1}


@pytest.mark.parametrize("key", ["Bad Key", "", "x" * 101, "1abc", "_abc", "Abc", "a b", "ключ", "a;drop"])
def test_invalid_metadata_keys_are_refused_naming_the_key(db: Database, job_id: int, key: str) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        artifact = add_artifact(uow, job_id, "one")
        with pytest.raises(ValidationError) as caught:
            artifacts.set_metadata(artifact, {"good": 1, key: "v"})
        assert repr(key) in str(caught.value)
        assert artifacts.metadata(artifact) == {}  # the valid key in the same call was not written either
        with pytest.raises(ValidationError):
            artifacts.find_by_metadata(key, "v")


def test_longest_metadata_key_is_accepted(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        artifact = add_artifact(uow, job_id, "one")
        ArtifactRepository(uow).set_metadata(artifact, {"k" * 100: 1, "a.b-c_d9": 2})
        assert ArtifactRepository(uow).metadata(artifact) == {"k" * 100: 1, "a.b-c_d9": 2}


@pytest.mark.parametrize("value", [
    {1, 2}, datetime(2024, 1, 1, tzinfo=UTC), math.nan, [1, math.nan], {"x": math.nan}, (1, 2), b"bytes",
    {1: "non-string key"}, object(),
], ids=["set", "datetime", "nan", "nan-in-list", "nan-in-dict", "tuple", "bytes", "int-dict-key", "object"])
def test_invalid_metadata_values_are_refused_naming_the_key(db: Database, job_id: int, value: Any) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        artifact = add_artifact(uow, job_id, "one")
        with pytest.raises(ValidationError) as caught:
            artifacts.set_metadata(artifact, {"language": "en", "payload": value})
        assert "'payload'" in str(caught.value)
        assert artifacts.metadata(artifact) == {}


@pytest.mark.parametrize("value", [math.inf, -math.inf, [math.inf]], ids=["inf", "-inf", "inf-in-list"])
def test_infinite_metadata_values_are_refused(db: Database, job_id: int, value: Any) -> None:
    with db.unit_of_work() as uow:
        artifact = add_artifact(uow, job_id, "one")
        with pytest.raises(ValidationError, match="'payload'"):
            ArtifactRepository(uow).set_metadata(artifact, {"payload": value})


def test_set_metadata_on_unknown_artifact_is_not_found(db: Database) -> None:
    with db.unit_of_work() as uow, pytest.raises(NotFoundError, match="4242"):
        ArtifactRepository(uow).set_metadata(4242, {"a": 1})


TAGGED: dict[str, dict[str, Any]] = {
    "ok_en": {"http_status": 200, "language": "en"},
    "text_200": {"http_status": "200", "language": "EN"},
    "missing_en": {"http_status": 404, "language": "en"},
    "bare": {},
    "ok_de": {"http_status": 200, "language": "de", "other": "en"},
    "flag_true": {"flag": True},
    "flag_one": {"flag": 1},
    "tags_ab": {"tags": ["a", "b"]},
    "tags_ba": {"tags": ["b", "a"]},
    "headers": {"headers": {"a": 1, "b": 2}},
    "noted": {"note": None},
}

# (key, value, the artifacts that must be found, in id order)
FIND_CASES: dict[str, tuple[str, Any, list[str]]] = {
    "int-200": ("http_status", 200, ["ok_en", "ok_de"]),
    "text-200": ("http_status", "200", ["text_200"]),
    "int-404": ("http_status", 404, ["missing_en"]),
    "int-500": ("http_status", 500, []),
    "text-en": ("language", "en", ["ok_en", "missing_en"]),
    "text-EN": ("language", "EN", ["text_200"]),
    "bool-true": ("flag", True, ["flag_true"]),
    "int-1": ("flag", 1, ["flag_one"]),
    "unknown-key": ("nobody_has_this", 200, []),
    "list": ("tags", ["a", "b"], ["tags_ab"]),
    "dict-same-order": ("headers", {"a": 1, "b": 2}, ["headers"]),
    "dict-other-order": ("headers", {"b": 2, "a": 1}, ["headers"]),
    "none": ("note", None, ["noted"]),
}

@pytest.fixture
def tagged(db: Database, job_id: int) -> dict[str, int]:
    """Committed artifacts carrying the metadata of ``TAGGED``, by name."""
    with db.unit_of_work() as uow:
        ids = {name: add_artifact(uow, job_id, name) for name in TAGGED}
        for name, values in TAGGED.items():
            if values:
                ArtifactRepository(uow).set_metadata(ids[name], values)
    return ids


@pytest.mark.parametrize("case", list(FIND_CASES))
def test_find_by_metadata_returns_exactly_the_matches(db: Database, tagged: dict[str, int], case: str,
                                                      request: pytest.FixtureRequest) -> None:
    key, value, expected = FIND_CASES[case]
    with db.unit_of_work() as uow:
        found = [artifact.id for artifact in ArtifactRepository(uow).find_by_metadata(key, value)]
    assert found == [tagged[name] for name in expected]


def test_find_by_metadata_limit(db: Database, tagged: dict[str, int], request: pytest.FixtureRequest) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        assert [a.id for a in artifacts.find_by_metadata("http_status", 200, limit=1)] == [tagged["ok_en"]]
        with pytest.raises(ValidationError, match="limit"):
            artifacts.find_by_metadata("http_status", 200, limit=0)


def test_metadata_coverage_counts_and_shares(db: Database, job_id: int) -> None:  # statistics live in analytics
    assert metadata_coverage(db).empty
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        made = [add_artifact(uow, job_id, f"a{n}") for n in range(3)]
        for artifact in made:
            artifacts.set_metadata(artifact, {"a": 1})
        artifacts.set_metadata(made[0], {"a": 2, "b": "x"})  # overwriting does not count twice
    coverage = metadata_coverage(db)
    assert list(zip(coverage["key"], coverage["artifacts"], strict=True)) == [("a", 3), ("b", 1)]
    assert coverage["coverage"][0] == 1.0
    assert coverage["coverage"][1] == pytest.approx(1 / 3)


def test_metadata_coverage_counts_artifacts_without_metadata(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        made = [add_artifact(uow, job_id, f"a{n}") for n in range(4)]
        artifacts.set_metadata(made[1], {"b": 1, "c": 1})
        artifacts.set_metadata(made[2], {"c": 1})
    coverage = metadata_coverage(db)
    assert list(coverage.itertuples(index=False, name=None)) == [("c", 2, 0.5), ("b", 1, 0.25)]


def test_by_checksum_stays_within_the_job(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        owner_id = uow.session.get_one(ScrapingJob, job_id).owner_id
        other_job = make_job(uow, owner_id, "other").id
        mine = add_artifact(uow, job_id, "mine", sha256=SHA_A)
        theirs = add_artifact(uow, other_job, "theirs", sha256=SHA_B)
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)

        def found(job: int, sha256: str) -> int | None:
            artifact = artifacts.by_checksum(job, sha256)
            return None if artifact is None else artifact.id

        assert found(job_id, SHA_A) == mine
        assert found(job_id, SHA_A.upper()) == mine
        assert found(job_id, SHA_B) is None
        assert found(other_job, SHA_A) is None
        assert found(other_job, SHA_B) == theirs


def test_for_job_returns_only_that_jobs_artifacts_oldest_first(db: Database, job_id: int) -> None:
    with db.unit_of_work() as uow:
        owner_id = uow.session.get_one(ScrapingJob, job_id).owner_id
        other_job = make_job(uow, owner_id, "other").id
        mine = [add_artifact(uow, job_id, f"mine-{n}") for n in range(3)]
        add_artifact(uow, other_job, "theirs")
        empty_job = make_job(uow, owner_id, "empty").id
    with db.unit_of_work() as uow:
        artifacts = ArtifactRepository(uow)
        assert [a.id for a in artifacts.for_job(job_id)] == mine
        assert [a.object_key for a in artifacts.for_job(other_job)] == ["theirs"]
        assert artifacts.for_job(empty_job) == []
