"""When demo jobs are created: a weekly and a daily rhythm over a slowly growing year.

Weekdays are busy in office hours, weekends quiet; every night a scheduled batch runs at 01:00-03:00 UTC.
Volume grows over the window (a system in use gets more use) with some day-to-day noise. The number of
jobs per day is fixed first (largest remainder), so each day can be generated on its own.
"""

from __future__ import annotations

import bisect
import itertools
import math

from stratlogic.seed._random import Draw
from stratlogic.seed._rows import DAY, HOUR

#: Relative job creation by hour of day (UTC) on a weekday: night batch, then office hours.
WEEKDAY_HOURS = (2, 7, 9, 6, 2, 1, 1, 2, 5, 8, 9, 9, 7, 8, 9, 9, 8, 6, 4, 3, 2, 2, 2, 2)
#: On Saturday and Sunday people work much less; the scheduled night batch runs all the same.
WEEKEND_FACTOR = 0.25
_NIGHT = range(0, 5)
#: Queues back up behind the night batch: waits are this many times longer in these hours.
BACKLOG = tuple(6.0 if hour in (1, 2, 3) else 1.0 for hour in range(24))


def _weekday(day: int) -> int:
    """Monday = 0 for a day number counted from 2000-01-01 (a Saturday), as all demo times are."""
    return (day + 5) % 7


def hour_weights(weekday: int) -> list[float]:
    """The hourly profile of one day (Monday = 0)."""
    if weekday < 5:
        return [float(w) for w in WEEKDAY_HOURS]
    return [float(w) if hour in _NIGHT else w * WEEKEND_FACTOR for hour, w in enumerate(WEEKDAY_HOURS)]


def jobs_per_day(rng: Draw, total: int, first_day: int, days: int) -> list[int]:
    """Split ``total`` jobs over ``days`` days starting at day number ``first_day`` (days since 2000-01-01)."""
    weights = []
    for i in range(days):
        weekday = _weekday(first_day + i)
        growth = 0.7 + 0.6 * (i + 0.5) / days
        weights.append(sum(hour_weights(weekday)) * growth * math.exp(rng.gauss(0, 0.12)))
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(days), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[:total - sum(counts)]:
        counts[i] += 1
    return counts


def creation_times(rng: Draw, day_start: int, count: int, earliest: int = 0) -> list[int]:
    """``count`` creation times (microseconds) within the day starting at ``day_start``, in order.

    None falls before ``earliest`` (the first day starts after the users exist): those are drawn again.
    """
    weekday = _weekday(day_start // DAY)
    cumulative = list(itertools.accumulate(hour_weights(weekday)))
    top = cumulative[-1]
    times: list[int] = []
    while len(times) < count:
        moment = day_start + bisect.bisect(cumulative, rng.random() * top) * HOUR + rng.below(HOUR)
        if moment >= earliest:
            times.append(moment)
    times.sort()
    return times


__all__ = ["BACKLOG", "creation_times", "hour_weights", "jobs_per_day"]
