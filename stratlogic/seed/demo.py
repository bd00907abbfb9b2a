"""The demo seed: users of every role, months of scraping jobs, their artifacts, and a trail that verifies.

Everything is drawn from ``--seed`` and the window (``--until``, ``--days``): the same arguments give the
same rows on an empty database (password hashes aside). It is written in time order, as a real system would
have written it: the base seed's rows at the window's start, then the users, then each day's jobs and
every event of their lives, so audit ids rise with time. Days are generated one after another and written
in batches through the bulk writer (COPY on PostgreSQL), so memory stays flat at any volume.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any
from urllib.parse import quote

from stratlogic.db import Database, UnitOfWork
from stratlogic.errors import StorageError, ValidationError
from stratlogic.models import Artifact, ArtifactMetadata, AuditLog, ScrapingJob, User
from stratlogic.repositories import AuditTrail, UserRepository
from stratlogic.repositories.bulk import BulkWriter, deferred_indexes
from stratlogic.repositories.config import DECLARED
from stratlogic.seed._calendar import jobs_per_day
from stratlogic.seed._days import Day, Plan, Setup, Stored, WireEvent, days
from stratlogic.seed._identity import SeedIdentity
from stratlogic.seed._lifecycle import JOB_COLUMNS, Policy
from stratlogic.seed._people import make_people
from stratlogic.seed._random import draw
from stratlogic.seed._rows import AUDIT_COLUMNS, DAY, HOUR, SECOND, Chain, micros, moment
from stratlogic.seed._vocab import DEMO_EMAIL_DOMAIN
from stratlogic.seed.base import USER_COLUMNS, BaseSeedResult, discard_password_file, write_defaults
from stratlogic.storage import ArtifactStore, store_from_settings
from stratlogic.storage.runs import RUN_METADATA, begin_run, end_run

ARTIFACT_COLUMNS = ("id", "job_id", "bucket", "object_key", "filename", "content_type", "size_bytes", "sha256",
                    "created_at")
METADATA_COLUMNS = ("id", "artifact_id", "key", "value")
#: Rows gathered before a batch goes to the writer (a few tens of MB of tuples).
BATCH_ROWS = 60_000
#: From this many jobs, PostgreSQL indexes and foreign keys of the big tables are rebuilt after the load,
#: and days are made by a producer process (spawned once, it costs about a second).
DEFER_INDEXES_FROM = PRODUCER_FROM = 50_000
BULK_MODELS = (ScrapingJob, Artifact, ArtifactMetadata, AuditLog)
log = logging.getLogger(__name__)
LIMITS = {"users": (1, 100_000), "jobs": (0, 20_000_000), "days": (1, 3_650)}


@dataclass(frozen=True)
class DemoOptions:
    """What to generate. ``until``: the window's end (its midnight, UTC), default today."""

    users: int = 20
    jobs: int = 2_000
    days: int = 30
    seed: int = 1
    until: date | None = None
    objects: bool = True

    def window(self) -> tuple[int, int]:
        """Start and end of the window, microseconds since 2000-01-01 UTC (both at midnight UTC)."""
        until = self.until or datetime.now(UTC).date()
        end = micros(datetime(until.year, until.month, until.day, tzinfo=UTC))
        return end - self.days * DAY, end


@dataclass(frozen=True)
class DemoResult:
    """What the demo seed wrote (``created`` False: the database already held demo data)."""

    created: bool
    start: datetime
    end: datetime
    rows: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    seconds: float = 0.0
    base: BaseSeedResult | None = None

    @property
    def total_rows(self) -> int:
        """Rows written, all tables."""
        return sum(self.rows.values())


@dataclass
class _Batch:
    """Rows of consecutive days waiting to be written, table by table (parents first)."""

    jobs: list[tuple[Any, ...]] = field(default_factory=list)
    artifacts: list[tuple[Any, ...]] = field(default_factory=list)
    metadata: list[tuple[Any, ...]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)

    def size(self) -> int:
        return len(self.jobs) + len(self.artifacts) + len(self.metadata) + len(self.audit)

    def write(self, writer: BulkWriter) -> _Batch:
        writer.write(ScrapingJob, JOB_COLUMNS, self.jobs)
        writer.write(Artifact, ARTIFACT_COLUMNS, self.artifacts)
        writer.write(ArtifactMetadata, METADATA_COLUMNS, self.metadata)
        writer.write(AuditLog, AUDIT_COLUMNS, self.audit)
        return _Batch()


def check(options: DemoOptions) -> None:
    """Refuse out-of-range sizes and a window that ends in the future, naming the value."""
    for name, (low, high) in LIMITS.items():
        value = getattr(options, name)
        if not low <= value <= high:
            raise ValidationError(f"--{name} {value} is out of range {low}..{high}")
    today = datetime.now(UTC).date()
    if options.until is not None and options.until > today:
        raise ValidationError(f"--until {options.until.isoformat()} is in the future (today is {today.isoformat()})")


def has_demo_data(uow: UnitOfWork) -> bool:
    """Whether the demo users (their reserved email domain) are already there."""
    return UserRepository(uow).exists({"email__contains": f"@{DEMO_EMAIL_DOMAIN}"})


def seed_demo(database: Database, options: DemoOptions, *, interactive: bool = False,
              progress: Callable[[int], None] | None = None, store: ArtifactStore | None = None) -> DemoResult:
    """Generate the demo data in one transaction (with the base seed first, if it is missing).

    Args:
        interactive: passed to the base seed (a generated admin password is shown rather than filed).
        progress: called with the number of jobs generated so far, after each day.
        store: where artifact objects go (``options.objects``) and whose bucket the rows name; default: the
            configured store. Objects written for a transaction that then fails are removed again.
    """
    check(options)
    store = store or store_from_settings(database.settings)
    identity = SeedIdentity.claim(database, store, options.objects)  # before the first object is written
    started, (start, end) = time.perf_counter(), options.window()
    window = (moment(start), moment(end))
    out = _Output(progress, store, options.objects)
    base: BaseSeedResult | None = None
    try:
        if options.objects:
            out.run = begin_run(store, f"demo seed of {database.settings.safe_url}")
        with database.unit_of_work() as uow:
            trail = AuditTrail(uow)
            trail.lock()
            identity.check(uow)
            if has_demo_data(uow):
                identity.record(uow)
                return DemoResult(False, *window)
            deferred = (deferred_indexes(uow, BULK_MODELS, keep_indexes=(AuditLog,))
                        if options.jobs >= DEFER_INDEXES_FROM else nullcontext())
            with deferred, BulkWriter(uow) as writer:
                chain = Chain(writer.reserve(AuditLog, 0), trail.tail_hash(), trail.key())
                identity.write(writer, chain, start)
                base = write_defaults(uow, writer, chain, start, interactive=interactive)
                assert base.admin_id is not None
                _generate(writer, chain, options, base.admin_id, out)
                writer.close()  # every row in before the indexes are rebuilt
                log.debug("demo rows written after %.1f s", time.perf_counter() - started)
            writer.finish()
    except BaseException:
        discard_password_file(base)
        out.remove_objects()
        identity.undo(database, store)
        raise
    finally:
        out.end()
    return DemoResult(True, *window, dict(writer.rows_written), len(out.written), time.perf_counter() - started, base)


class _Output:
    """Where rendered artifacts go besides their rows: progress, and their objects in the store.

    Each object names the run that wrote it (``storage/runs.py``), so when the process is killed outright
    (SIGKILL: no clean-up runs) ``reconcile --fix`` knows they were left behind and removes them.
    """

    def __init__(self, progress: Callable[[int], None] | None, store: ArtifactStore, objects: bool) -> None:
        self.progress, self.store, self.objects = progress, store, objects
        self.written: list[str] = []
        self.run: str | None = None

    def put(self, stored: Stored) -> None:
        """Store the artifact's body as the artifact service would (same user metadata, and the run)."""
        assert stored.body is not None
        self.written.append(stored.key)  # first: an interrupt just after the write must still remove it
        metadata = {"job-id": str(stored.job_id), "filename": quote(stored.filename), RUN_METADATA: str(self.run)}
        self.store.put(io.BytesIO(stored.body), stored.key, stored.content_type, metadata, length=len(stored.body))

    def remove_objects(self) -> None:
        """After a failed or interrupted seed: delete the objects it wrote (a failure here is logged, not
        raised over the first one; ``stratlogic artifacts reconcile --fix`` removes what is left)."""
        if self.written:
            log.warning("the demo seed did not finish: removing the %d object(s) it wrote", len(self.written))
        for key in self.written:
            try:
                self.store.delete(key)
            except StorageError as exc:
                log.warning("could not remove demo object %r after a failed seed: %s", key, exc)

    def end(self) -> None:
        """Forget the run: its objects have rows now, or were removed (what is left, reconcile removes)."""
        if self.run is not None:
            try:
                end_run(self.store, self.run)
            except StorageError as exc:
                log.warning("could not remove the demo seed's run file: %s", exc)


def _generate(writer: BulkWriter, chain: Chain, options: DemoOptions, admin_id: int, out: _Output) -> None:
    """Users, then day after day of jobs and their events, in time order."""
    start, end = options.window()
    seed = options.seed
    users_every = min(7 * SECOND, HOUR // (options.users + 1))
    people = make_people(draw(seed, "users"), options.users, writer.reserve(User, options.users),
                         start + SECOND, admin_id, chain, users_every)
    writer.write(User, USER_COLUMNS, people.rows)
    writer.write(AuditLog, AUDIT_COLUMNS, people.audit)
    setup = Setup(seed, people.owners, people.owner_weights, _policy(end, options.objects), out.store.prefix)
    pending: list[WireEvent] = []
    batch, ids, done = _Batch(), _Ids(writer), 0
    for plan, day in _days(writer, options, setup):
        batch.jobs += day.jobs
        pending += day.events
        pending.sort(key=itemgetter(0))  # stable: events at the same moment keep their job's order
        cut = bisect_left(pending, min(plan.start + DAY, end), key=itemgetter(0))  # events before the next day
        _render(pending[:cut], chain, ids, batch, out)
        del pending[:cut]
        if batch.size() >= BATCH_ROWS:
            batch = batch.write(writer)
        done += plan.jobs
        if out.progress:
            out.progress(done)
    assert not pending, "events past the window's end were generated"
    batch.write(writer)


def _days(writer: BulkWriter, options: DemoOptions, setup: Setup) -> Iterator[tuple[Plan, Day]]:
    """Each day's plan and what it produced, in order (by a producer process for large runs)."""
    start, _ = options.window()
    counts = jobs_per_day(draw(options.seed, "calendar"), options.jobs, start // DAY, options.days)
    first_jobs = itertools.accumulate(counts, initial=writer.reserve(ScrapingJob, options.jobs))
    plans = [Plan(day, start + day * DAY, count, first, start + HOUR)
             for day, (count, first) in enumerate(zip(counts, first_jobs, strict=False))]
    processes = 1 if options.jobs >= PRODUCER_FROM and (os.cpu_count() or 1) > 1 else 0
    return zip(plans, days(setup, plans, processes=processes), strict=True)


def _policy(end: int, objects: bool) -> Policy:
    """The job settings a real system would have run with: the declared configuration defaults."""
    return Policy(end, DECLARED["jobs.lease_seconds"].default * SECOND,
                  int(DECLARED["jobs.backoff_base_seconds"].default * SECOND),
                  int(DECLARED["jobs.backoff_max_seconds"].default * SECOND), objects)


class _Ids:
    """The next artifact and metadata ids (assigned in time order, as the database would)."""

    def __init__(self, writer: BulkWriter) -> None:
        self.artifact = writer.reserve(Artifact, 0)  # counted here: their number is not known ahead
        self.metadata = writer.reserve(ArtifactMetadata, 0)


def _render(events: list[WireEvent], chain: Chain, ids: _Ids, batch: _Batch, out: _Output) -> None:
    """Audit rows for events, in order; a stored artifact also gets its id, its row, metadata rows and object."""
    bucket = out.store.bucket
    for when, at, actor, action, resource_type, resource_id, details, stored in events:
        if stored is not None:
            artifact_id, ids.artifact = ids.artifact, ids.artifact + 1
            batch.artifacts.append((artifact_id, stored.job_id, bucket, stored.key, stored.filename,
                                    stored.content_type, stored.size, stored.sha256, stored.created))
            for name, value in stored.metadata:
                batch.metadata.append((ids.metadata, artifact_id, name, value))
                ids.metadata += 1
            if stored.body is not None:
                out.put(stored)
            resource_id = str(artifact_id)
        batch.audit.append(chain.row(when, at, actor, action, resource_type, resource_id, details))


__all__ = ["ARTIFACT_COLUMNS", "METADATA_COLUMNS", "DemoOptions", "DemoResult", "check", "has_demo_data", "seed_demo"]
