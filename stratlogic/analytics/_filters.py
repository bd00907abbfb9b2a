"""Filter keywords of the statistics (``status=``, ``owner=``, ``domain=`` …) as SQL conditions.

Each keyword takes a scalar or a list and is validated by the repositories' filter parser
(``stratlogic.repositories.filters``), under its own name: ``status='bogus'`` is refused as
``status: 'bogus' is not a valid status (allowed: …)``, exactly as the repositories and the CLI refuse it.
"""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import ColumnElement, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from stratlogic.analytics.window import Window, parse_window
from stratlogic.errors import ValidationError
from stratlogic.models import User
from stratlogic.models.base import UTCDateTime
from stratlogic.repositories.filters import field_for, parse_filters

#: What a filter keyword accepts: one value or several (``None``: no filter).
FilterValue = str | int | Iterable[str | int] | None
#: A window bound: see ``stratlogic.analytics.window``.
Moment = str | date | datetime
_P = ParamSpec("_P")
_R = TypeVar("_R")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def listed(param: str, value: Any) -> list[Any] | None:
    """``None`` -> no filter; a scalar -> ``[scalar]``; a list, tuple or set -> a list; else refused by name."""
    if value is None:
        return None
    if isinstance(value, str | int | float | enum.Enum | date):
        return [value]
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    raise ValidationError(f"{param}: {value!r} is neither a value nor a list of values")


def one_of(param: str, column: InstrumentedAttribute[Any], value: Any, resource: str, *,
           lower: bool = False) -> list[ColumnElement[bool]]:
    """``column IN (values)`` (validated for the column's type), or nothing when ``value`` is None."""
    items = listed(param, value)
    if items is None:
        return []
    if lower:
        items = [item.translate(_ASCII_LOWER) if isinstance(item, str) else item for item in items]
    key = f"{param}__in"
    [parsed] = parse_filters({key: items}, {param: field_for(param, column)}, resource, labels={key: param})
    return [parsed.clause()]


def user_ids(param: str, ids: list[Any]) -> list[Any]:
    """``ids`` as given, unless one is negative: no user has one, so it is refused rather than matching nothing
    (``--owner -3`` is a typo; 0 is a value, as everywhere, and matches nothing)."""
    for item in ids:
        if int(item) < 0:
            raise ValidationError(f"{param}: {item} is not a user id (ids are whole numbers from 1)")
    return ids


def person(param: str, column: InstrumentedAttribute[Any], value: Any, resource: str) -> list[ColumnElement[bool]]:
    """A user given by id (int) or username (text): ``owner=3``, ``actor=['ada', 7]``."""
    items = listed(param, value)
    if items is None:
        return []
    if any(isinstance(item, bool) or not isinstance(item, int | str) for item in items):
        raise ValidationError(f"{param}: {value!r} is not a username or a user id (or a list of them)")
    ids = user_ids(param, [item for item in items if isinstance(item, int)])
    names = [item.strip().translate(_ASCII_LOWER) for item in items if isinstance(item, str)]
    clauses = one_of(param, column, ids, resource) if ids else []
    if names:
        [by_name] = one_of(param, User.username, names, resource)
        clauses.append(column.in_(select(User.id).where(by_name)))
    return [or_(*clauses)] if clauses else [column.in_([])]


def in_window(column: InstrumentedAttribute[Any], window: Window) -> list[ColumnElement[bool]]:
    """``since <= column < until``, bound with the column's own type (SQLite compares the stored text)."""
    return [column >= literal(window.since, UTCDateTime()), column < literal(window.until, UTCDateTime())]


def window_of(since: Moment, until: Moment, tz: str) -> Window:
    """``parse_window`` under the statistics' keyword names."""
    return parse_window(since, until, tz=tz)


def named(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Refuse an unknown keyword (a misspelt filter such as ``stauts=``) with a one-line ValidationError that
    names it and lists what the statistic accepts, as for a bad value (Python's own error is a TypeError)."""
    accepted = [name for name, param in inspect.signature(function).parameters.items()
                if param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]

    @functools.wraps(function)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        for name in kwargs:
            if name not in accepted:
                raise ValidationError(f"{name}: {function.__name__} has no such parameter; it accepts "
                                      f"{', '.join(n for n in accepted if n != 'db')}")
        return function(*args, **kwargs)
    return checked


def check_limit(limit: int, *, param: str = "limit", most: int = 10_000) -> int:
    """A positive row limit up to ``most``, refused by name otherwise."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise ValidationError(f"{param}: {limit!r} is not a whole number from 1 to {most}")
    return limit


def check_choice(param: str, value: str, allowed: Iterable[str]) -> str:
    """``value`` if it is one of ``allowed``; else a ValidationError naming the parameter and the choices."""
    choices = list(allowed)
    if value not in choices:
        raise ValidationError(f"{param}: {value!r} is not one of {', '.join(choices)}")
    return value


__all__ = ["FilterValue", "Moment", "check_choice", "check_limit", "in_window", "listed", "named", "one_of",
           "person", "window_of"]
