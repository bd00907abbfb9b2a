"""One grammar for time windows, buckets and time zones, shared by the CLI, the notebooks and reports.

A moment is ``now``, ``today``/``yesterday`` (midnight in the window's time zone), a relative past
offset (``-30m``, ``-12h``, ``-7d``, ``-2w``: exact durations, so ``-1d`` is 24 hours even across a DST
change), an ISO date (midnight in the time zone) or an ISO date-time (with an offset, or naive = in
the time zone). Every parsed moment is UTC-aware. Errors name the parameter and the value refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stratlogic.errors import ValidationError

BUCKETS = ("hour", "day", "week", "month")
#: Windows longer than this are refused as absurd (a typo such as 0026-12-01 or -9999d).
MAX_SPAN = timedelta(days=36525)
_RELATIVE = re.compile(r"^-\s*(\d{1,7})\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_GRAMMAR = ("now, today, yesterday, -30m/-12h/-7d/-2w, an ISO date (2026-12-01) "
            "or an ISO date-time (2026-12-01T08:00:00+01:00)")


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval ``[since, until)`` and the time zone its buckets and dates are read in."""

    since: datetime
    until: datetime
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValidationError("window: since and until must be timezone-aware datetimes")
        if self.since >= self.until:
            raise ValidationError(f"window: since {self.since.isoformat()} is not before until "
                                  f"{self.until.isoformat()}")

    @property
    def zone(self) -> ZoneInfo:
        """The window's time zone as a ``ZoneInfo``."""
        return ZoneInfo(self.tz)


def parse_tz(tz: str) -> str:
    """Return ``tz`` if it is an IANA time zone name (``UTC``, ``Europe/Paris``); else ``ValidationError``."""
    if not isinstance(tz, str) or not tz.strip():
        raise ValidationError(f"tz: {tz!r} is not a time zone; use an IANA name such as UTC or Europe/Paris")
    name = tz.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(f"tz: {name!r} is not a known IANA time zone; use a name such as UTC, "
                              "Europe/Paris or America/New_York") from None
    return name


def parse_bucket(by: str) -> str:
    """Return the bucket name (``hour|day|week|month``, weeks start on Monday); else ``ValidationError``."""
    name = by.strip().lower() if isinstance(by, str) else None
    if name not in BUCKETS:
        raise ValidationError(f"by: {by!r} is not a bucket; allowed: {', '.join(BUCKETS)}")
    return name


def local_midnight(day: date, tz: str) -> datetime:
    """The UTC instant at which ``day`` begins in ``tz`` (a midnight skipped by DST maps to the day's first instant)."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def parse_moment(value: str | date | datetime, *, param: str, now: datetime | None = None,
                 tz: str = "UTC") -> datetime:
    """Parse one moment of the grammar above into a UTC-aware datetime; ``param`` names it in errors."""
    zone = ZoneInfo(parse_tz(tz))
    reference = _reference(now)
    if isinstance(value, datetime):
        return _aware(value, zone)
    if isinstance(value, date):
        return local_midnight(value, tz)
    if not isinstance(value, str):
        raise ValidationError(f"{param}: {value!r} is not a moment; use {_GRAMMAR}")
    try:
        return _parse_text(value.strip(), reference, zone, tz)
    except (ValueError, OverflowError):
        raise ValidationError(f"{param}: {value!r} is not a moment; use {_GRAMMAR}") from None


def _reference(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValidationError("now: must be timezone-aware")
    return now.astimezone(UTC)


def _aware(moment: datetime, zone: ZoneInfo) -> datetime:
    return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).astimezone(UTC)


def _parse_text(text: str, now: datetime, zone: ZoneInfo, tz: str) -> datetime:
    word = text.lower()
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        day = now.astimezone(zone).date() - timedelta(days=1 if word == "yesterday" else 0)
        return local_midnight(day, tz)
    if match := _RELATIVE.match(word):
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return local_midnight(date.fromisoformat(text), tz)
    if not re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d", text):
        raise ValueError(text)
    return _aware(datetime.fromisoformat(text), zone)


def parse_window(since: str | date | datetime = "-30d", until: str | date | datetime = "now", *,
                 now: datetime | None = None, tz: str = "UTC") -> Window:
    """Parse and check a window: not empty or inverted, ``since`` not in the future, at most 100 years."""
    name = parse_tz(tz)
    reference = _reference(now)
    start = parse_moment(since, param="since", now=reference, tz=name)
    end = parse_moment(until, param="until", now=reference, tz=name)
    if start > reference:
        raise ValidationError(f"since: {_shown(since)} is in the future ({start.isoformat()} is after now, "
                              f"{reference.isoformat()})")
    if start >= end:
        what = "empty" if start == end else "inverted"
        raise ValidationError(f"until: {_shown(until)} gives an {what} window: it must be after since "
                              f"{_shown(since)} ({start.isoformat()})")
    if end - start > MAX_SPAN:
        raise ValidationError(f"since: {_shown(since)} to until {_shown(until)} spans "
                              f"{(end - start).days} days; a window may span at most 100 years")
    return Window(start, end, name)


def bucket_starts(window: Window, by: str) -> list[datetime]:
    """The start of every bucket that overlaps the window, tz-aware in the window's zone, in order.

    The statistics list only buckets with rows; reindex on these for a dense series (zeros in the gaps).
    Hours are real hours (a night that falls back has two 02:00 buckets); days, weeks (from Monday) and
    months start at local midnight.
    """
    unit, zone = parse_bucket(by), window.zone
    local = window.since.astimezone(zone)
    if unit == "hour":
        moment = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        starts = []
        while moment < window.until:
            starts.append(moment.astimezone(zone))
            moment = (moment + timedelta(hours=1)).astimezone(zone).replace(minute=0, second=0,
                                                                             microsecond=0).astimezone(UTC)
        return starts
    day = local.date()
    day = day - timedelta(days=day.weekday()) if unit == "week" else (day.replace(day=1) if unit == "month" else day)
    starts = []
    while (start := local_midnight(day, window.tz)) < window.until:
        starts.append(start.astimezone(zone))
        day = _next_day(day, unit)
    return starts


def _next_day(day: date, unit: str) -> date:
    if unit == "day":
        return day + timedelta(days=1)
    if unit == "week":
        return day + timedelta(weeks=1)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _shown(value: object) -> str:
    return repr(value.isoformat()) if isinstance(value, date) else repr(value)


__all__ = ["BUCKETS", "MAX_SPAN", "Window", "bucket_starts", "local_midnight", "parse_bucket", "parse_moment",
           "parse_tz", "parse_window"]
