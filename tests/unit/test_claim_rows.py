"""Claimed rows become detached jobs without the model's constructor, so nothing else configures the ORM."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from datetime import datetime, timedelta, timezone
from sqlalchemy import inspect
from stratlogic.repositories._claim import JOB_COLUMNS, detached_job

values = dict.fromkeys(JOB_COLUMNS)
plus_two = timezone(timedelta(hours=2))
values.update(id=7, status="running", attempt=1, version=3, created_at=datetime(2026, 1, 1, 12, tzinfo=plus_two))
job = detached_job(tuple(values[name] for name in JOB_COLUMNS))
state = inspect(job)
print(job.id, job.status.name, job.created_at.isoformat(), state.detached, state.identity, bool(state.modified))
"""


def test_a_process_whose_first_orm_use_is_a_claimed_row_gets_a_clean_detached_job() -> None:
    """Run in a fresh interpreter: the mappers are not configured there until something configures them."""
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["7", "RUNNING", "2026-01-01T10:00:00+00:00", "True", "(7,)", "False"]
