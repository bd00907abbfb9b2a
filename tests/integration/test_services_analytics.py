"""``stratlogic.services.analytics`` on real SQLite and PostgreSQL: every statistic by name with its parameters
as a mapping (an ``actor`` filter is not the acting user), one clear error for an unknown statistic or
parameter, exports through the service, and the database summary (revision, counts, or the problem met)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratlogic import analytics
from stratlogic.config import load_settings
from stratlogic.db import Database, migrate
from stratlogic.db.actor import SYSTEM, Actor
from stratlogic.errors import ValidationError
from stratlogic.repositories import TruncatedFrameWarning
from stratlogic.services import _base, users
from stratlogic.services import analytics as service


def _people(db: Database) -> tuple[int, int]:
    ada = users.create(db, "ada", "ada@example.com", role="admin", actor=SYSTEM)
    bob = users.create(db, "bob", "bob@example.com", actor=Actor(ada.id))
    users.deactivate(db, bob.id, actor=Actor(ada.id))
    return ada.id, bob.id


def test_every_statistic_is_reachable_by_name(db: Database) -> None:
    _people(db)
    assert set(service.statistics()) == set(analytics.STATISTICS)
    summary = service.statistic(db, "user_summary", actor=SYSTEM)
    assert summary[["users", "active", "inactive"]].iloc[0].tolist() == [2, 1, 1]
    roles = service.statistic(db, "users_by_role", {"active": True}, actor=SYSTEM)
    assert dict(zip(roles["role"], roles["users"], strict=True))["admin"] == 1


def test_an_actor_filter_is_a_parameter_not_the_acting_user(db: Database) -> None:
    ada, _ = _people(db)
    top = service.statistic(db, "top_actors", {"actor": "ada", "since": "-1d"}, actor=Actor(None))
    assert top["actor_id"].tolist() == [ada] and top["events"].tolist() == [2]


def test_an_unknown_statistic_or_parameter_is_named(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"unknown statistic 'job_sumary'; available: .*job_summary"):
        service.statistic(db, "job_sumary", actor=SYSTEM)
    with pytest.raises(ValidationError, match=r"^stauts: job_summary has no such parameter"):
        service.statistic(db, "job_summary", {"stauts": "failed"}, actor=SYSTEM)
    with pytest.raises(ValidationError, match="'nope'"):
        service.statistic(db, "job_summary", {"status": "nope"}, actor=SYSTEM)


def test_export_through_the_service(db: Database, tmp_path: Path) -> None:
    _people(db)
    result = service.export(db, "audit", tmp_path / "audit.csv", fmt="csv", since="-1d",
                            filters={"action": "user.created"}, actor=SYSTEM)
    assert result.rows == 2 and result.files[0].path == str(tmp_path / "audit.csv")
    assert (tmp_path / "audit.csv").read_text().count("user.created") == 2
    with pytest.raises(ValidationError, match="unknown format 'pdf'"):
        service.export(db, "audit", tmp_path / "audit.pdf", fmt="pdf", actor=SYSTEM)  # type: ignore[arg-type]


def test_summary_gives_the_revision_and_counts_or_the_problem(db: Database, tmp_path: Path) -> None:
    _people(db)
    found = service.summary(db, actor=SYSTEM)
    assert found.problem is None and found.revision == migrate.heads()[0]
    assert set(found.counts) == {"users", "jobs", "artifacts", "audit rows"}
    if not found.approximate:  # PostgreSQL gives the planner's estimates once a table was analysed
        assert found.counts["users"] == 2 and found.counts["audit rows"] == 3
    empty = Database.from_settings(load_settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'new.db'}"))
    try:
        assert service.summary(empty, actor=SYSTEM).problem == "not migrated: run wb.migrate()"
    finally:
        empty.dispose()


@pytest.mark.postgres
def test_summary_of_an_unreachable_database_says_so(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres:Secret-Passw0rd@127.0.0.1:1/nothing"
    down = Database.from_settings(load_settings(home=tmp_path, database_url=url))
    try:
        found = service.summary(down, actor=SYSTEM)
    finally:
        down.dispose()
    assert found.revision is None and found.problem is not None and found.problem.startswith("unreachable: ")


def test_entry_points_are_registered_as_reads() -> None:
    names = {name: item.writes for name, item in _base.ENTRIES.items() if name.startswith("analytics.")}
    assert names == {"analytics.statistic": False, "analytics.export": False, "analytics.summary": False,
                     "analytics.row": False, "analytics.rows": False, "analytics.row_count": False,
                     "analytics.row_frame": False, "analytics.audit_tail": False}


def test_rows_of_a_table_and_the_audit_tail(db: Database) -> None:
    ada, bob = _people(db)
    tail = service.audit_tail(db, actor=SYSTEM)
    assert tail is not None and tail["id"] == service.row_count(db, "audit", actor=SYSTEM) == 3
    newest = service.row(db, "audit", tail["id"], actor=SYSTEM)
    assert (newest.action, newest.actor_id, newest.hash) == ("user.deactivated", ada, tail["hash"])
    assert [r.resource_id for r in service.rows(db, "audit", {"action": "user.created"}, sort="id", actor=SYSTEM)] \
        == [str(ada), str(bob)]
    with pytest.warns(TruncatedFrameWarning, match="first 2 of 3"):
        frame = service.row_frame(db, "audit", sort="-id", limit=2, actor=SYSTEM)
    assert frame["id"].tolist() == [3, 2]
    assert "password_hash" not in service.row_frame(db, "users", actor=SYSTEM).columns
    with pytest.raises(ValidationError, match="unknown table 'audits'; tables: users, jobs, artifacts, audit, config"):
        service.rows(db, "audits", actor=SYSTEM)


def test_an_empty_trail_has_no_tail(db: Database) -> None:
    assert service.audit_tail(db, actor=SYSTEM) is None
