"""The audit service on real SQLite and PostgreSQL: verify, checkpoint, prune and the trail's reads.

A checkpoint written by the service (its row naming the given actor) is proved by ``verify`` from the file,
an altered file is refused naming it; a prune keeps the rest verifiable and names its actor; a listing
refuses an unknown action or a negative user id naming the caller's flags, before any query.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stratlogic.db import Database
from stratlogic.db.actor import Actor, Origin
from stratlogic.errors import ValidationError
from stratlogic.repositories import UserRepository
from stratlogic.services import audit, config

ORIGIN = Origin("cli", "grace", "ws-7")


def _user(db: Database, name: str) -> int:
    with db.unit_of_work() as uow:
        return UserRepository(uow).create(name, f"{name}@example.com").id


def _changes(db: Database, count: int) -> None:
    for value in range(1, count + 1):
        config.set(db, "jobs.lease_seconds", 100 + value, actor=Actor())


def test_checkpoint_is_recorded_as_the_actor_and_verified_from_its_file(db: Database, tmp_path: Path) -> None:
    grace = _user(db, "grace")
    _changes(db, 2)
    written = audit.checkpoint(db, str(tmp_path / "points" / "cp.json"), actor=Actor(grace, origin=ORIGIN))
    assert Path(written.location) == tmp_path / "points" / "cp.json"
    assert json.loads(Path(written.location).read_text())["last_id"] == written.checkpoint.last_id
    (row,) = audit.list_rows(db, actor=Actor(), action="audit.checkpoint").items
    assert (row.actor_id, row.details["cli"]) == (grace, {"os_user": "grace", "host": "ws-7"})
    report = audit.verify(db, actor=Actor(), checkpoint=written.location)
    assert report.ok and report.message.endswith("against the checkpoint") and report.rows == 4  # user, 2 sets, cp
    altered = tmp_path / "altered.json"
    altered.write_text(Path(written.location).read_text().replace('"rows"', '"row_count"'))
    with pytest.raises(ValidationError, match=f"{altered} is not a valid audit checkpoint"):
        audit.verify(db, actor=Actor(), checkpoint=str(altered))


def test_prune_keeps_the_rest_verifiable_and_names_its_actor(db: Database) -> None:
    grace = _user(db, "grace")
    _changes(db, 3)
    first_kept = audit.list_rows(db, actor=Actor(), action="config.set").items[-1].id
    result = audit.prune(db, first_kept, actor=Actor(grace, origin=ORIGIN))
    assert result.rows == first_kept - 1 and result.last_id == first_kept - 1
    (pruned,) = audit.list_rows(db, actor=Actor(), action="audit.pruned").items
    assert pruned.actor_id == grace and pruned.details["rows"] == result.rows
    assert audit.verify(db, actor=Actor()).ok
    with pytest.raises(ValidationError, match=r"before_id 0 is not a row id"):
        audit.prune(db, 0, actor=Actor())


def test_listing_filters_pages_and_refuses_by_the_callers_flags(db: Database) -> None:
    _changes(db, 3)
    first = audit.list_rows(db, actor=Actor(), action="CONFIG.SET", limit=2)
    assert [row.action for row in first.items] == ["config.set"] * 2 and first.next_cursor
    rest = audit.list_rows(db, actor=Actor(), action="config.set", limit=2, cursor=first.next_cursor)
    assert len(rest.items) == 1 and rest.next_cursor is None
    assert len(audit.trail(db, "config", "jobs.lease_seconds", actor=Actor())) == 3
    with pytest.raises(ValidationError, match=r"^--action 'config.sett' is not an audit action; allowed: .*config.set"):
        audit.list_rows(db, actor=Actor(), action="config.sett", labels={"action": "--action"})
    with pytest.raises(ValidationError, match=r"^action 'nope' is not an audit action"):
        audit.list_rows(db, actor=Actor(), action="nope")
    with pytest.raises(ValidationError, match=r"^--actor -1 is not a user id"):
        audit.list_rows(db, actor=Actor(), actor_id=-1, labels={"actor_id": "--actor"})


def test_a_checkpoint_that_cannot_be_written_is_one_error_naming_where(db: Database, tmp_path: Path) -> None:
    _changes(db, 1)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "cp.json"
    with pytest.raises(ValidationError, match=rf"^cannot write the checkpoint to {target}: .* at row 1; nothing else"):
        audit.checkpoint(db, str(target), actor=Actor())
    assert blocker.read_text() == "not a folder"
