"""The window grammar: moments, windows, buckets and time zones, and the errors that name the parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from stratlogic.analytics.window import Window, bucket_starts, parse_bucket, parse_moment, parse_tz, parse_window
from stratlogic.errors import ValidationError

NOW = datetime(2026, 12, 6, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("now", NOW),
    ("today", datetime(2026, 12, 6, tzinfo=UTC)),
    ("yesterday", datetime(2026, 12, 5, tzinfo=UTC)),
    ("-30m", NOW - timedelta(minutes=30)),
    ("-12h", NOW - timedelta(hours=12)),
    ("-7d", NOW - timedelta(days=7)),
    ("-2w", NOW - timedelta(weeks=2)),
    (" -7D ", NOW - timedelta(days=7)),
    ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
    ("2026-12-01T08:00:00+01:00", datetime(2026, 12, 1, 7, tzinfo=UTC)),
    ("2026-12-01T08:00:00Z", datetime(2026, 12, 1, 8, tzinfo=UTC)),
    ("2026-12-01 08:00", datetime(2026, 12, 1, 8, tzinfo=UTC)),
])
def test_moments_in_utc(text: str, expected: datetime) -> None:
    assert parse_moment(text, param="since", now=NOW) == expected


def test_moments_in_a_named_zone() -> None:
    paris = "Europe/Paris"  # UTC+1 in December
    assert parse_moment("today", param="since", now=NOW, tz=paris) == datetime(2026, 12, 5, 23, tzinfo=UTC)
    assert parse_moment("yesterday", param="since", now=NOW, tz=paris) == datetime(2026, 12, 4, 23, tzinfo=UTC)
    assert parse_moment("2026-12-01", param="since", now=NOW, tz=paris) == datetime(2026, 11, 30, 23, tzinfo=UTC)
    assert parse_moment("2026-12-01T08:00", param="since", now=NOW, tz=paris) == datetime(2026, 12, 1, 7, tzinfo=UTC)
    # an explicit offset wins over the zone
    assert parse_moment("2026-12-01T08:00+00:00", param="since", tz=paris) == datetime(2026, 12, 1, 8, tzinfo=UTC)


def test_date_and_datetime_objects() -> None:
    assert parse_moment(date(2026, 7, 1), param="since", tz="Europe/Paris") == datetime(2026, 6, 30, 22, tzinfo=UTC)
    assert parse_moment(datetime(2026, 7, 1, 12), param="since", tz="Europe/Paris") == \
        datetime(2026, 7, 1, 10, tzinfo=UTC)
    aware = datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert parse_moment(aware, param="since", tz="Asia/Tokyo") == aware
    assert parse_moment("now", param="until").tzinfo is UTC


def test_dst_days_are_local_midnights() -> None:
    # Europe/Paris leaves summer time on 2026-10-25: that day has 25 hours.
    start = parse_moment("2026-10-25", param="since", tz="Europe/Paris")
    end = parse_moment("2026-10-26", param="until", tz="Europe/Paris")
    assert (start, end) == (datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC))
    assert end - start == timedelta(hours=25)
    # 'yesterday' just after the change is the long day; '-1d' stays an exact 24 hours
    after = datetime(2026, 10, 26, 12, tzinfo=UTC)
    assert parse_moment("yesterday", param="since", now=after, tz="Europe/Paris") == start
    assert parse_moment("-1d", param="since", now=after, tz="Europe/Paris") == after - timedelta(hours=24)
    # America/Santiago skips midnight on 2026-09-06: the day begins at 01:00 local (04:00 UTC)
    assert parse_moment("2026-09-06", param="since", tz="America/Santiago") == datetime(2026, 9, 6, 4, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "+7d", "7d", "-7y", "-7 days", "soon", "2026-13-01", "2026-12-01T25:00",
                                  "12/01/2026", "-99999999d", "1e3", "2026"])
def test_bad_moments_name_the_parameter_and_value(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_moment(text, param="until", now=NOW)
    message = str(caught.value)
    assert message.startswith("until: ") and repr(text) in message and "-7d" in message


def test_non_text_moment_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"^since: 7 is not a moment"):
        parse_moment(7, param="since")  # type: ignore[arg-type]


def test_window_defaults_and_zone() -> None:
    window = parse_window(now=NOW)
    assert window == Window(NOW - timedelta(days=30), NOW, "UTC")
    window = parse_window("2026-10-25", "2026-10-26", now=NOW, tz="Europe/Paris")
    assert window.until - window.since == timedelta(hours=25) and window.tz == "Europe/Paris"
    assert str(window.zone) == "Europe/Paris"


def test_until_may_be_in_the_future() -> None:
    assert parse_window("today", "2026-12-31", now=NOW).until == datetime(2026, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize(("since", "until", "pattern"), [
    ("-1d", "-2d", r"^until: '-2d' gives an inverted window"),
    ("2026-12-01", "2026-12-01", r"^until: '2026-12-01' gives an empty window"),
    ("2026-12-07", "2026-12-08", r"^since: '2026-12-07' is in the future"),
    ("-1m", "-1m", r"^until: '-1m' gives an empty window"),
    ("0026-12-01", "now", r"^since: '0026-12-01' to until 'now' spans \d+ days; a window may span at most 100 years"),
    ("-9999999d", "now", r"^since: '-9999999d' is not a moment"),
    ("1926-12-01", "now", r"spans .* at most 100 years"),
])
def test_bad_windows(since: str, until: str, pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern):
        parse_window(since, until, now=NOW)


def test_a_century_is_allowed() -> None:
    assert parse_window("1927-01-01", "2026-12-01", now=NOW).since.year == 1927


def test_bad_tz_is_named() -> None:
    for bad in ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime", 5]:
        with pytest.raises(ValidationError, match=r"^tz: "):
            parse_window(tz=bad)  # type: ignore[arg-type]
    assert parse_tz(" Europe/Paris ") == "Europe/Paris"


def test_now_must_be_aware() -> None:
    with pytest.raises(ValidationError, match="now: must be timezone-aware"):
        parse_window(now=datetime(2026, 12, 6))


def test_window_checks_itself() -> None:
    with pytest.raises(ValidationError, match="not before"):
        Window(NOW, NOW)
    with pytest.raises(ValidationError, match="timezone-aware"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2))


def test_buckets() -> None:
    assert [parse_bucket(b) for b in ["hour", "Day", " week ", "month"]] == ["hour", "day", "week", "month"]
    for bad in ["year", "", "days", None]:
        with pytest.raises(ValidationError, match=r"^by: .* allowed: hour, day, week, month$"):
            parse_bucket(bad)  # type: ignore[arg-type]


def test_bucket_starts_cover_the_window_in_its_zone() -> None:
    paris = parse_window("2026-10-24T22:00Z", "2026-10-25T03:00Z", now=NOW, tz="Europe/Paris")
    hours = [start.isoformat() for start in bucket_starts(paris, "hour")]
    assert hours == ["2026-10-25T00:00:00+02:00", "2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00",
                     "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"]
    days = bucket_starts(parse_window("2026-10-24T12:00", "2026-10-27", now=NOW, tz="Europe/Paris"), "day")
    assert [d.isoformat() for d in days] == ["2026-10-24T00:00:00+02:00", "2026-10-25T00:00:00+02:00",
                                             "2026-10-26T00:00:00+01:00"]
    weeks = bucket_starts(parse_window("2026-03-28", "2026-04-07", now=NOW), "week")
    assert [w.date().isoformat() for w in weeks] == ["2026-03-23", "2026-03-30", "2026-04-06"]
    months = bucket_starts(parse_window("2026-11-15", "2027-02-01", now=NOW), "month")
    assert [m.date().isoformat() for m in months] == ["2026-11-01", "2026-12-01", "2027-01-01"]
    india = bucket_starts(parse_window("2026-03-29T00:00Z", "2026-03-29T02:00Z", now=NOW, tz="Asia/Kolkata"), "hour")
    assert [h.isoformat() for h in india] == ["2026-03-29T05:00:00+05:30", "2026-03-29T06:00:00+05:30",
                                              "2026-03-29T07:00:00+05:30"]
