"""Statistics computed where the data is, as small typed DataFrames, and the window grammar they share.

Every statistic takes a ``Database``, opens its own read-only unit and returns a pandas DataFrame with
documented columns (docs/analytics.md). Aggregate SQL is built here (read-only SQLAlchemy Core): this is
the one layer beside ``repositories/`` that builds SQL, and it never writes.

The statistics are imported on first use (PEP 562): ``stratlogic.analytics.window``, which the CLI parses
``--since`` with, does not load pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stratlogic.analytics.window import Window, bucket_starts, parse_bucket, parse_moment, parse_tz, parse_window

if TYPE_CHECKING:
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

#: Each statistic and the module that defines it (the workbench binds each as ``wb.stats.<name>``).
_HOMES = {
    "jobs": ("job_volume", "job_summary", "job_durations", "job_attempts", "job_errors", "job_breakdown",
             "job_throughput", "stuck_jobs", "queue_health"),
    "artifacts": ("artifact_summary", "artifact_sizes", "artifact_size_percentiles", "artifacts_per_job",
                  "metadata_coverage", "metadata_top_values", "duplicate_artifacts"),
    "audit": ("audit_volume", "top_actors", "top_resources", "security_changes", "after_hours", "chain_status"),
    "users": ("user_summary", "users_by_role"),
}
STATISTICS = tuple(name for names in _HOMES.values() for name in names)
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import a statistic's module when the statistic is first asked for."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'stratlogic.analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"stratlogic.analytics.{module}"), name)
    globals()[name] = value
    return value


__all__ = ["STATISTICS", "Window", "after_hours", "artifact_size_percentiles", "artifact_sizes", "artifact_summary",
           "artifacts_per_job", "audit_volume", "bucket_starts", "chain_status", "duplicate_artifacts",
           "job_attempts", "job_breakdown", "job_durations", "job_errors", "job_summary", "job_throughput",
           "job_volume", "metadata_coverage", "metadata_top_values", "parse_bucket", "parse_moment", "parse_tz",
           "parse_window", "queue_health", "security_changes", "stuck_jobs", "top_actors", "top_resources",
           "user_summary", "users_by_role"]
