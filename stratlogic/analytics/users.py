"""User statistics (moved here from ``UserRepository.stats``): totals, activity and roles, in SQL.

Users are counted whenever they were created; the window only decides who was *recently active* (logged
in within it). Filters: ``role``, ``active`` (a bool).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, and_, case, func, select

from stratlogic.analytics._filters import FilterValue, Moment, in_window, named, one_of
from stratlogic.analytics._filters import window_of as _window
from stratlogic.analytics._frames import frame
from stratlogic.analytics._sql import fetch
from stratlogic.db import Database
from stratlogic.models import User
from stratlogic.models.enums import UserRole
from stratlogic.repositories.filters import field_for, parse_filters


def user_filters(*, role: FilterValue = None, active: bool | str | None = None) -> list[ColumnElement[bool]]:
    """Conditions for ``role`` (one or several) and ``active`` (true/false, as the repositories take it)."""
    conditions = one_of("role", User.role, role, "user")
    if active is not None:
        [parsed] = parse_filters({"active": active}, {"active": field_for("active", User.is_active)}, "user",
                                 labels={"active": "active"})
        conditions.append(parsed.clause())
    return conditions


def _count(condition: Any) -> Any:
    return func.count(case((condition, 1)))


@named
def user_summary(db: Database, *, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
                 role: FilterValue = None, active: bool | str | None = None) -> pd.DataFrame:
    """One row: ``users``, ``active``, ``inactive``, ``verified``, ``recently_active`` (logged in in the window)."""
    window = _window(since, until, tz)
    [row] = fetch(db, select(func.count(), _count(User.is_active), _count(User.is_verified),
                             _count(and_(*in_window(User.last_login_at, window))))
                  .where(*user_filters(role=role, active=active)))
    users, on, verified, recent = row
    return frame([(users, on, users - on, verified, recent)],
                 [("users", "int64"), ("active", "int64"), ("inactive", "int64"), ("verified", "int64"),
                  ("recently_active", "int64")])


@named
def users_by_role(db: Database, *, role: FilterValue = None, active: bool | str | None = None) -> pd.DataFrame:
    """Every role with its user count -> ``role``, ``users`` (roles without users listed with 0)."""
    found = {getattr(r, "value", r): n for r, n in fetch(db, select(User.role, func.count())
                                                        .where(*user_filters(role=role, active=active))
                                                        .group_by(User.role))}
    return frame(((r.value, found.get(r.value, 0)) for r in UserRole), [("role", "str"), ("users", "int64")])


__all__ = ["user_filters", "user_summary", "users_by_role"]
