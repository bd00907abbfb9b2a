"""``Repository.frame()`` (issue 13 items 6 and 7): a frame cut at its limit says so, naming the total;
``frame(all=True)`` and ``frames()`` give every row in batches; JSON columns are JSON text, so any frame
(audit details of mixed shapes included) writes to Parquet."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from stratlogic.db import Database
from stratlogic.errors import ValidationError
from stratlogic.repositories import AuditRepository, ConfigRepository, TruncatedFrameWarning, UserRepository

USERS = 23


@pytest.fixture
def people(db: Database) -> list[int]:
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        return [users.create(f"user{i:02d}", f"user{i:02d}@example.com").id for i in range(USERS)]


def test_a_frame_cut_at_its_limit_warns_naming_the_total(db: Database, people: list[int]) -> None:
    with db.unit_of_work(readonly=True) as uow:
        users = UserRepository(uow)
        with pytest.warns(TruncatedFrameWarning) as caught:
            frame = users.frame(limit=10)
        assert len(frame) == 10
        message = str(caught[0].message)
        assert f"first 10 of {USERS} matching rows" in message and "all=True" in message
        with pytest.warns(TruncatedFrameWarning, match=f"rows 21-22 of {USERS}"):
            assert len(users.frame(sort="id", limit=2, offset=20)) == 2
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an uncut frame says nothing
            assert len(users.frame(limit=USERS)) == USERS
            assert len(users.frame(sort="id", limit=3, offset=USERS - 3)) == 3


def test_all_and_frames_stream_every_row_in_order(db: Database, people: list[int]) -> None:
    with db.unit_of_work(readonly=True) as uow:
        users = UserRepository(uow)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            everyone = users.frame(all=True, sort="-username")
        assert list(everyone["id"]) == list(reversed(people))
        batches = list(users.frames(sort="username", batch=7))
        assert [len(b) for b in batches] == [7, 7, 7, 2]
        assert list(pd.concat(batches)["id"]) == people
        assert "password_hash" not in everyone.columns
        filtered = users.frame({"username__in": ["user01", "user05"]}, all=True)
        assert list(filtered["username"]) == ["user01", "user05"]
        empty = users.frame({"username": "nobody"}, all=True)
        assert empty.empty and list(empty.columns) == list(everyone.columns)
        with pytest.raises(ValidationError, match="batch must be between 1 and 100000, got 0"):
            next(users.frames(batch=0))


@pytest.mark.parametrize(("limit", "offset"), [(5, 0), (None, 3), (1000, 0), (5, 3)])
def test_all_refuses_a_limit_or_offset_it_would_ignore(db: Database, people: list[int], limit: int | None,
                                                        offset: int) -> None:
    """``frame(all=True, limit=5)`` used to return every row without a word: it names what it cannot honour."""
    with db.unit_of_work(readonly=True) as uow, pytest.raises(
            ValidationError, match=rf"all=True .* takes no limit or offset \(got limit={limit}, offset={offset}\)"):
        UserRepository(uow).frame(all=True, limit=limit, offset=offset)


def test_audit_frames_with_details_of_mixed_shapes_write_to_parquet(db: Database, tmp_path: Path) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        config.set("artifacts.allowed_content_types", ["text/html"])  # old and new: lists
        config.set("jobs.lease_seconds", 60)                            # old and new: integers
        config.set("scraper.proxy_url", "http://u:s3cret@proxy:3128")  # masked
    with db.unit_of_work(readonly=True) as uow:
        audit = AuditRepository(uow).frame({"action": "config.set"})
        configs = ConfigRepository(uow).frame()
    details = [json.loads(text) for text in audit["details"]]
    assert details[0]["new"] == ["text/html"] and details[1] == {"old": 300, "new": 60}
    audit.to_parquet(tmp_path / "audit.parquet")
    configs.to_parquet(tmp_path / "config.parquet")
    back = pd.read_parquet(tmp_path / "audit.parquet")
    assert [json.loads(text) for text in back["details"]] == details
    stored = dict(zip(configs["key"], configs["value"], strict=True))
    assert json.loads(stored["jobs.lease_seconds"]) == 60 and json.loads(stored["scraper.proxy_url"]) == "***"
    assert not (tmp_path / "config.parquet").read_bytes().count(b"s3cret")


def test_frames_walk_a_nullable_sort_key_without_losing_or_repeating_rows(db: Database) -> None:
    from stratlogic.repositories import JobRepository

    with db.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com").id
        jobs = JobRepository(uow)
        made = [jobs.create(owner, f"j{i}", "https://example.com/").id for i in range(7)]
        for job in made[::2]:
            jobs.cancel(job)  # finished_at set on four jobs, NULL on three
    with db.unit_of_work(readonly=True) as uow:
        batches = list(JobRepository(uow).frames(sort="-finished_at", batch=2))
    ids = [int(i) for batch in batches for i in batch["id"]]
    assert sorted(ids) == made and len(ids) == len(set(ids))
    finished = [int(i) for batch in batches for i in batch["id"] if i in made[::2]]
    assert ids[:4] == finished  # NULLs sort last
