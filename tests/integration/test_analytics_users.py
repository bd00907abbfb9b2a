"""User statistics on both engines: hand-counted answers and no more rows fetched than returned."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stratlogic.analytics import user_summary, users_by_role
from stratlogic.db import Database
from stratlogic.errors import ValidationError
from stratlogic.models import utcnow
from stratlogic.repositories import UserRepository
from tests.integration.analytics_counting import counting_fetches


@pytest.fixture
def users(db: Database) -> None:
    with db.unit_of_work() as uow:
        repo = UserRepository(uow)
        ada = repo.create("ada", "ada@example.com", role="admin", is_verified=True)
        bob = repo.create("bob", "bob@example.com", role="analyst")
        repo.create("cyd", "cyd@example.com", role="analyst")
        repo.deactivate(bob.id)
        repo.record_login(ada.id, when=utcnow() - timedelta(hours=2))
        repo.record_login(bob.id, when=utcnow() - timedelta(days=3))


def test_summary_and_roles(db: Database, users: None) -> None:
    assert user_summary(db).iloc[0].to_dict() == {"users": 3, "active": 2, "inactive": 1, "verified": 1,
                                                  "recently_active": 2}
    assert user_summary(db, since="-1d")["recently_active"].item() == 1
    assert user_summary(db, role="analyst", active="false")["users"].item() == 1
    assert users_by_role(db, active=True)["users"].tolist() == [1, 0, 1, 0]
    assert users_by_role(db)["role"].tolist() == ["admin", "operator", "analyst", "viewer"]
    with pytest.raises(ValidationError, match=r"^role: 'boss' is not a valid role"):
        user_summary(db, role="boss")
    with pytest.raises(ValidationError, match=r"^active: 'maybe' is not a valid bool"):
        users_by_role(db, active="maybe")


def test_fetch_no_more_rows_than_they_return(db: Database, users: None) -> None:
    for call in (user_summary, users_by_role):
        with counting_fetches(db) as fetched:
            result = call(db)
        assert 0 < fetched.rows <= len(result)
