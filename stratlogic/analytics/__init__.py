"""Statistics computed where the data is, as small typed DataFrames, and the window grammar they share.

Every statistic takes a ``Database``, opens its own read-only unit and returns a pandas DataFrame with
documented columns (docs/analytics.md). Aggregate SQL is built here (read-only SQLAlchemy Core): this is
the one layer beside ``repositories/`` that builds SQL, and it never writes.
"""

from __future__ import annotations

from stratlogic.analytics.jobs import (
    job_attempts,
    job_breakdown,
    job_durations,
    job_errors,
    job_summary,
    job_throughput,
    job_volume,
    queue_health,
    stuck_jobs,
)
from stratlogic.analytics.window import Window, parse_bucket, parse_moment, parse_tz, parse_window

__all__ = ["Window", "job_attempts", "job_breakdown", "job_durations", "job_errors", "job_summary", "job_throughput",
           "job_volume", "parse_bucket", "parse_moment", "parse_tz", "parse_window", "queue_health", "stuck_jobs"]
