"""Audit statistics against hand-computed answers, on SQLite and PostgreSQL alike (data: analytics_data)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select, text

from stratlogic.analytics import audit as stats
from stratlogic.db import Database
from stratlogic.errors import ValidationError
from stratlogic.models import AuditLog
from tests.integration.analytics_counting import counting_fetches
from tests.integration.analytics_data import seed_audit

W: dict[str, Any] = {"since": "2026-10-23", "until": "2026-10-27"}
PARIS: dict[str, Any] = {**W, "tz": "Europe/Paris"}


@pytest.fixture
def people(db: Database, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    return seed_audit(db, monkeypatch)


@pytest.fixture
def ids(db: Database, people: dict[str, int]) -> list[int]:
    """The events' ids, after checking the trail holds exactly the eight expected actions."""
    with db.unit_of_work(readonly=True) as uow:
        found = uow.session.execute(select(AuditLog.id, AuditLog.action).order_by(AuditLog.id)).all()
    assert [action for _, action in found] == ["user.created", "user.created", "user.role_changed", "config.set",
                                               "config.set", "user.deactivated", "user.updated", "user.logged_in"]
    return [row_id for row_id, _ in found]


def rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    return list(frame.itertuples(index=False, name=None))


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_volume_by_action_and_by_actor(db: Database, ids: list[int]) -> None:
    assert rows(stats.audit_volume(db, **W)) == [
        (utc("2026-10-23"), "user.created", 2), (utc("2026-10-24"), "user.role_changed", 1),
        (utc("2026-10-25"), "config.set", 2), (utc("2026-10-26"), "user.deactivated", 1),
        (utc("2026-10-26"), "user.logged_in", 1), (utc("2026-10-26"), "user.updated", 1)]
    assert rows(stats.audit_volume(db, group="actor", **W))[:3] == [
        (utc("2026-10-23"), "(system)", 1), (utc("2026-10-23"), "ada", 1), (utc("2026-10-24"), "ada", 1)]
    with pytest.raises(ValidationError, match=r"^group: 'resource' is not one of action, actor"):
        stats.audit_volume(db, group="resource")


def test_hour_buckets_keep_both_halves_of_the_night_that_falls_back(db: Database, ids: list[int]) -> None:
    hours = stats.audit_volume(db, by="hour", since="2026-10-25T00:00Z", until="2026-10-25T03:00Z", tz="Europe/Paris")
    assert [(b.isoformat(), key, n) for b, key, n in rows(hours)] == [
        ("2026-10-25T02:00:00+02:00", "config.set", 1), ("2026-10-25T02:00:00+01:00", "config.set", 1)]
    days = stats.audit_volume(db, **PARIS)
    assert [(b.isoformat(), key, n) for b, key, n in rows(days)][1:3] == [
        ("2026-10-24T00:00:00+02:00", "user.role_changed", 1), ("2026-10-25T00:00:00+02:00", "config.set", 2)]


def test_top_actors_and_resources(db: Database, people: dict[str, int], ids: list[int]) -> None:
    actors = stats.top_actors(db, **W)
    assert rows(actors) == [(people["ada"], "ada", 5), (people["bob"], "bob", 2), (pd.NA, "(system)", 1)]
    assert str(actors["actor_id"].dtype) == "Int64"
    assert rows(stats.top_actors(db, limit=1, **W)) == [(people["ada"], "ada", 5)]
    assert rows(stats.top_resources(db, **W)) == [("user", str(people["ada"]), 3), ("user", str(people["bob"]), 3),
                                                  ("config", "jobs.lease_seconds", 1),
                                                  ("config", "audit.retention_days", 1)]
    assert rows(stats.top_resources(db, **W, resource_type="config", actor="bob", limit=1)) == \
        [("config", "jobs.lease_seconds", 1)]


def test_filters_by_action_and_actor(db: Database, people: dict[str, int], ids: list[int]) -> None:
    assert stats.top_actors(db, **W, action="config.set")["events"].tolist() == [2]
    assert stats.top_actors(db, **W, actor=[people["bob"]])["actor"].tolist() == ["bob"]
    with pytest.raises(ValidationError, match=r"^action: 'user.exploded' is not one of user.created"):
        stats.audit_volume(db, action="user.exploded")


def test_security_changes(db: Database, people: dict[str, int], ids: list[int]) -> None:
    changes = stats.security_changes(db, **W)
    assert changes["id"].tolist() == [ids[0], ids[1], ids[2], ids[3], ids[5]]
    assert changes["action"].tolist() == ["user.created", "user.created", "user.role_changed", "config.set",
                                          "user.deactivated"]
    assert changes.iloc[3]["resource_id"] == "audit.retention_days" and changes.iloc[3]["actor"] == "bob"
    assert '"new":30' in changes.iloc[3]["details"]
    assert changes.iloc[0]["occurred_at"] == utc("2026-10-23 07:30")
    assert stats.security_changes(db, **W, config_keys=("jobs.lease_seconds",))["id"].tolist() == \
        [ids[0], ids[1], ids[2], ids[4], ids[5]]


def test_after_hours_in_a_zone_and_on_weekends(db: Database, ids: list[int]) -> None:
    paris = stats.after_hours(db, **PARIS)
    assert paris["id"].tolist() == [ids[1], ids[2], ids[3], ids[4], ids[7]]
    assert paris.iloc[0]["local_time"].isoformat() == "2026-10-23T18:30:00+02:00"
    assert str(paris["occurred_at"].dtype) == "datetime64[us, UTC]"
    assert stats.after_hours(db, **W)["id"].tolist() == [ids[0], ids[2], ids[3], ids[4], ids[7]]
    assert stats.after_hours(db, **PARIS, weekdays_only=False)["id"].tolist() == [ids[1], ids[3], ids[4], ids[7]]
    night = stats.after_hours(db, **PARIS, start="20:00", end="06:00", weekdays_only=False)
    assert night["id"].tolist() == [ids[0], ids[1], ids[2], ids[5], ids[6]]
    with pytest.raises(ValidationError, match=r"^start: '8am' is not a time of day"):
        stats.after_hours(db, start="8am")
    with pytest.raises(ValidationError, match=r"^end: '08:00' equals start"):
        stats.after_hours(db, end="08:00")


def test_chain_status_verifies_in_one_process(db: Database, ids: list[int]) -> None:
    [row] = rows(stats.chain_status(db))
    assert row[:3] == (True, 8, ids[-1]) and len(row[3]) == 64 and pd.isna(row[4]) and row[7] == ids[0]
    recent = stats.chain_status(db, since="2026-10-25").iloc[0]
    assert (recent["ok"], recent["rows_checked"], recent["first_id"], recent["tail_hash"]) == (True, 5, ids[3], row[3])
    assert stats.chain_status(db, since="2026-11-01")["rows_checked"].item() == 0


GUARDS = {"postgresql": "DROP TRIGGER audit_logs_no_update_delete ON audit_logs",
          "sqlite": "DROP TRIGGER audit_logs_no_update"}


def test_chain_status_names_the_first_bad_row(db: Database, ids: list[int]) -> None:
    with db.engine.begin() as conn:  # someone with database access edits a row behind the trail's back
        conn.execute(text(GUARDS[db.dialect]))
        conn.execute(text("UPDATE audit_logs SET action = 'user.updated' WHERE id = :id"), {"id": ids[5]})
    whole = stats.chain_status(db).iloc[0]
    assert (whole["ok"], whole["first_bad_id"], whole["rows_checked"]) == (False, ids[5], 5)
    assert str(ids[5]) in whole["message"] and pd.isna(whole["tail_id"])
    recent = stats.chain_status(db, since="2026-10-26").iloc[0]
    assert (recent["ok"], recent["first_bad_id"]) == (False, ids[5])
    assert stats.chain_status(db, since="2026-10-26T09:15").iloc[0]["ok"]  # after the edited row: not checked


def test_empty_window(db: Database, ids: list[int]) -> None:
    empty: dict[str, Any] = {"since": "2025-01-01", "until": "2025-01-02"}
    for name in ("audit_volume", "top_actors", "top_resources", "security_changes", "after_hours"):
        frame = getattr(stats, name)(db, **empty)
        assert frame.empty and len(frame.columns) >= 3


ALL: list[tuple[str, dict[str, Any]]] = [
    ("audit_volume", {"by": "hour", "group": "actor"}), ("top_actors", {}), ("top_resources", {}),
    ("security_changes", {}), ("after_hours", {})]


@pytest.mark.parametrize(("name", "extra"), ALL, ids=[name for name, _ in ALL])
def test_each_statistic_fetches_no_more_rows_than_it_returns(db: Database, ids: list[int], name: str,
                                                             extra: dict[str, Any]) -> None:
    with counting_fetches(db) as fetched:
        result = getattr(stats, name)(db, **PARIS, **extra)
    assert 0 < fetched.rows <= len(result)
