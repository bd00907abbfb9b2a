"""Statistics computed where the data is, as small typed DataFrames, and the window grammar they share.

Every statistic takes a ``Database``, opens its own read-only unit and returns a pandas DataFrame with
documented columns (docs/analytics.md). Aggregate SQL is built here (read-only SQLAlchemy Core): this is
the one layer beside ``repositories/`` that builds SQL, and it never writes.
"""

from __future__ import annotations

from stratlogic.analytics.artifacts import (
    artifact_size_percentiles,
    artifact_sizes,
    artifact_summary,
    artifacts_per_job,
    duplicate_artifacts,
    metadata_coverage,
    metadata_top_values,
)
from stratlogic.analytics.audit import (
    after_hours,
    audit_volume,
    chain_status,
    security_changes,
    top_actors,
    top_resources,
)
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
from stratlogic.analytics.users import user_summary, users_by_role
from stratlogic.analytics.window import Window, bucket_starts, parse_bucket, parse_moment, parse_tz, parse_window

#: The statistics (the workbench binds each as ``wb.stats.<name>``).
STATISTICS = ("job_volume", "job_summary", "job_durations", "job_attempts", "job_errors", "job_breakdown",
              "job_throughput", "stuck_jobs", "queue_health", "artifact_summary", "artifact_sizes",
              "artifact_size_percentiles", "artifacts_per_job", "metadata_coverage", "metadata_top_values",
              "duplicate_artifacts", "audit_volume", "top_actors", "top_resources", "security_changes",
              "after_hours", "chain_status", "user_summary", "users_by_role")

__all__ = ["STATISTICS", "Window", "after_hours", "artifact_size_percentiles", "artifact_sizes", "artifact_summary",
           "artifacts_per_job", "audit_volume", "bucket_starts", "chain_status", "duplicate_artifacts",
           "job_attempts", "job_breakdown", "job_durations", "job_errors", "job_summary", "job_throughput",
           "job_volume", "metadata_coverage", "metadata_top_values", "parse_bucket", "parse_moment", "parse_tz",
           "parse_window", "queue_health", "security_changes", "stuck_jobs", "top_actors", "top_resources",
           "user_summary", "users_by_role"]
