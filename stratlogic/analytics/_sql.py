"""SQL expressions that differ between SQLite and PostgreSQL, built so both give the same answers.

- Time differences in seconds, exact to the microsecond on both engines: the interval's epoch on
  PostgreSQL; on SQLite whole seconds (``strftime('%s')``) plus the stored text's six microsecond digits
  (``julianday`` keeps only milliseconds, rounded per timestamp, which put percentiles 1 ms apart).
- Buckets: calendar buckets in a named time zone. PostgreSQL converts with ``AT TIME ZONE``; SQLite has
  no time zones, so the zone's UTC offsets over the window (a handful of DST changes) are computed in
  Python and applied with a ``CASE`` on the timestamp. Hour buckets are keyed by their UTC start, so the
  two 01:00s of a night that falls back stay two buckets.
- Percentiles: linear interpolation between the two nearest ranks (PostgreSQL's ``percentile_cont``,
  numpy's default): ``percentile_cont`` on PostgreSQL, ``row_number()`` / ``count()`` windows on SQLite.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Float, Integer, Select, case, cast, func, literal, literal_column, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from stratlogic.analytics.window import Window
from stratlogic.db import Database
from stratlogic.models.base import UTCDateTime

PERCENTILES = (0.5, 0.9, 0.95, 0.99)


def seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in seconds, as a float, on either engine."""
    if dialect == "postgresql":
        return func.date_part("epoch", end - start, type_=Float)  # microseconds / 1e6 in double precision
    return type_coerce((_sqlite_micros(end) - _sqlite_micros(start)) / literal(1_000_000.0, Float), Float)


def _sqlite_micros(column: Any) -> ColumnElement[int]:
    """Microseconds since the epoch of a SQLite timestamp stored as ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTCDateTime)."""
    seconds = cast(func.strftime("%s", column), Integer)
    return seconds * literal(1_000_000, Integer) + cast(func.substr(column, 21, 6), Integer)


def offsets(window: Window) -> list[tuple[datetime | None, int]]:
    """The zone's UTC offsets (seconds) over the window: ``[(None, first), (change_at, next), …]``."""
    zone = ZoneInfo(window.tz)
    found: list[tuple[datetime | None, int]] = [(None, _offset(window.since, zone))]
    step, moment = timedelta(days=1), window.since
    while moment < window.until:
        later = min(moment + step, window.until)
        if _offset(later, zone) != found[-1][1]:
            change = _first_change(moment, later, zone, found[-1][1])
            found.append((change, _offset(change, zone)))
            moment = change
        else:
            moment = later
    return found


def _offset(moment: datetime, zone: ZoneInfo) -> int:
    delta = moment.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _first_change(low: datetime, high: datetime, zone: ZoneInfo, before: int) -> datetime:
    """The first second in ``(low, high]`` whose offset is not ``before`` (bisection)."""
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0) if middle.microsecond else middle
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if _offset(middle, zone) == before:
            low = middle
        else:
            high = middle
    return high


def offset_expr(column: Any, pieces: Sequence[tuple[datetime | None, int]]) -> ColumnElement[int]:
    """The UTC offset (seconds) at each row's timestamp, from the pieces ``offsets`` found."""
    if len(pieces) == 1:
        return literal(pieces[0][1], Integer)
    whens = [(column < type_coerce(literal(change, UTCDateTime()), UTCDateTime()), literal(before, Integer))
             for (_, before), (change, _) in itertools.pairwise(pieces)]
    return case(*whens, else_=literal(pieces[-1][1], Integer))


def bucket_key(dialect: str, column: Any, by: str, window: Window) -> ColumnElement[Any]:
    """A per-row bucket key: for hours the UTC start of the local hour, else the local start date/time.

    PostgreSQL returns a naive timestamp, SQLite text; ``bucket_label`` turns either into the bucket's
    tz-aware start.
    """
    pieces = offsets(window)
    whole_hours = all(off % 3600 == 0 for _, off in pieces)
    if dialect == "postgresql":
        return _pg_bucket(column, by, window, pieces, whole_hours)
    return _sqlite_bucket(column, by, pieces, whole_hours)


def _pg_bucket(column: Any, by: str, window: Window, pieces: Sequence[tuple[datetime | None, int]],
               whole_hours: bool) -> ColumnElement[Any]:
    utc = func.timezone("UTC", column)
    if by != "hour":
        return func.date_trunc(by, func.timezone(window.tz, column))
    if whole_hours:
        return func.date_trunc("hour", utc)
    shift = offset_expr(column, pieces) * literal_column("interval '1 second'")
    return func.date_trunc("hour", utc + shift) - shift


def _sqlite_bucket(column: Any, by: str, pieces: Sequence[tuple[datetime | None, int]],
                   whole_hours: bool) -> ColumnElement[Any]:
    offset = offset_expr(column, pieces)
    utc_only = len(pieces) == 1 and pieces[0][1] == 0
    shift = [] if utc_only else [offset.concat(" seconds")]  # a modifier: one date-function call per row
    if by == "hour":
        if whole_hours:
            return func.strftime("%Y-%m-%d %H:00:00", column)
        return func.datetime(func.strftime("%Y-%m-%d %H:00:00", column, *shift), (-offset).concat(" seconds"))
    if by == "day":
        return func.date(column, *shift)
    if by == "week":  # back six days, then forward to the next Monday: the Monday on or before
        return func.date(column, *shift, "-6 days", "weekday 1")
    return func.strftime("%Y-%m-01", column, *shift)


def bucket_label(key: Any, by: str, tz: str) -> datetime:
    """The tz-aware start of the bucket a ``bucket_key`` value names."""
    moment = key if isinstance(key, datetime) else datetime.fromisoformat(str(key))
    zone = ZoneInfo(tz)
    if by == "hour":
        return moment.replace(tzinfo=UTC).astimezone(zone)
    return datetime.combine(moment.date(), datetime.min.time(), tzinfo=zone).astimezone(UTC).astimezone(zone)


def local_clock(dialect: str, column: Any, window: Window) -> tuple[ColumnElement[str], ColumnElement[int]]:
    """Each row's local wall-clock time as ``HH:MM:SS`` text and its ISO weekday (1 = Monday .. 7)."""
    if dialect == "postgresql":
        local = func.timezone(window.tz, column)
        return func.to_char(local, "HH24:MI:SS"), cast(func.extract("isodow", local), Integer)
    shift = offset_expr(column, offsets(window)).concat(" seconds")
    weekday = cast(func.strftime("%w", column, shift), Integer)
    return func.time(column, shift), case((weekday == 0, 7), else_=weekday)


def percentile_statements(dialect: str, values: Mapping[str, Any], source: Any, where: Sequence[Any], *,
                          maximum: bool = False) -> list[Select[Any]]:
    """Statements whose rows hold, per named value, its count and what ``percentiles_of`` needs.

    One statement on PostgreSQL (``percentile_cont`` ignores NULLs, so several values share one scan);
    one per value on SQLite (each ranks its own non-NULL rows). ``source`` is the FROM, ``where`` its filter.
    """
    if dialect == "postgresql":
        columns = []
        for prefix, value in values.items():
            columns += [func.count(value).label(f"{prefix}n"),
                        func.percentile_cont(literal(list(PERCENTILES), _float_array()))
                        .within_group(value).label(f"{prefix}p")]
            columns += [func.max(value).label(f"{prefix}max")] if maximum else []
        return [select(*columns).select_from(source).where(*where)]
    return [_ranked_percentiles(prefix, value, source, where) for prefix, value in values.items()]


def _ranked_percentiles(prefix: str, value: Any, source: Any, where: Sequence[Any]) -> Select[Any]:
    ranked = (select(value.label("v"), func.row_number().over(order_by=value).label("i"),
                     func.count().over().label("n")).select_from(source).where(*where, value.is_not(None))
              .subquery())
    picks = []
    for k, p in enumerate(PERCENTILES):
        low = cast((ranked.c.n - 1) * p, Integer) + 1
        picks += [func.max(case((ranked.c.i == low, ranked.c.v))).label(f"{prefix}lo{k}"),
                  func.max(case((ranked.c.i == low + 1, ranked.c.v))).label(f"{prefix}hi{k}")]
    return select(func.coalesce(func.max(ranked.c.n), 0).label(f"{prefix}n"), *picks,
                  func.max(ranked.c.v).label(f"{prefix}max"))


def _float_array() -> Any:
    from sqlalchemy.dialects.postgresql import ARRAY

    return ARRAY(Float)


class Percentiles(NamedTuple):
    """A value's count, its ``PERCENTILES`` (NaN when there are no rows) and its maximum (None then)."""

    n: int
    points: list[float]
    maximum: Any


def percentiles_of(rows: Sequence[Any], prefix: str) -> Percentiles:
    """From the rows of ``percentile_statements``: one value's count, percentiles and maximum."""
    mapping = next(row._mapping for row in rows if f"{prefix}n" in row._mapping)
    n = int(mapping[f"{prefix}n"] or 0)
    if n == 0:
        return Percentiles(0, [math.nan] * len(PERCENTILES), None)
    if f"{prefix}p" in mapping:
        return Percentiles(n, [float(v) for v in mapping[f"{prefix}p"]], mapping.get(f"{prefix}max"))
    values = []
    for k, p in enumerate(PERCENTILES):
        position = (n - 1) * p
        low, high = float(mapping[f"{prefix}lo{k}"]), mapping[f"{prefix}hi{k}"]
        fraction = position - math.floor(position)
        values.append(low if high is None else low + fraction * (float(high) - low))
    return Percentiles(n, values, mapping.get(f"{prefix}max"))


def fetch(db: Database, statement: Any) -> list[Any]:
    """Every row of one read-only statement, in its own read-only unit of work."""
    with db.unit_of_work(readonly=True) as uow:
        return list(uow.session.execute(statement))


def fetch_all(db: Database, statements: Sequence[Any]) -> list[list[Any]]:
    """The rows of several statements, read in one read-only unit of work."""
    with db.unit_of_work(readonly=True) as uow:
        return [list(uow.session.execute(statement)) for statement in statements]


__all__ = ["PERCENTILES", "Percentiles", "bucket_key", "bucket_label", "fetch", "fetch_all", "local_clock",
           "offset_expr", "offsets", "percentile_statements", "percentiles_of", "seconds_between"]
