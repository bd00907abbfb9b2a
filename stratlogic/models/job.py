"""Scraping jobs: what to fetch, where the job is in its life, and how far it got."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stratlogic.models.base import (
    Base,
    BigId,
    JsonDocument,
    UTCDateTime,
    created_at_column,
    enum_column,
    id_column,
    updated_at_column,
)
from stratlogic.models.enums import JobStatus

if TYPE_CHECKING:
    from sqlalchemy.engine.default import DefaultExecutionContext

    from stratlogic.models.artifact import Artifact
    from stratlogic.models.user import User

#: The longest lease a claim or heartbeat may ask for (a week); here so that both the job repository and
#: the configuration schema (``jobs.lease_seconds``) can use it without importing each other.
MAX_LEASE_SECONDS = 7 * 86_400
#: Statuses in which a job is still alive (a dedupe key is unique among these).
ACTIVE = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING)
ACTIVE_SQL = "status IN ('pending', 'queued', 'running')"
#: Timestamps and lease consistent with the status; the database refuses anything else.
STATUS_TIMESTAMPS_SQL = (
    "(status IN ('pending', 'queued') AND finished_at IS NULL AND claimed_by IS NULL AND lease_expires_at IS NULL)"
    " OR (status = 'running' AND started_at IS NOT NULL AND finished_at IS NULL AND claimed_by IS NOT NULL"
    " AND lease_expires_at IS NOT NULL)"
    " OR (status IN ('completed', 'failed', 'cancelled') AND finished_at IS NOT NULL AND lease_expires_at IS NULL)"
)

#: The allowed status moves; the job repository enforces these and nothing else.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.QUEUED, JobStatus.CANCELLED}),
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


class Claimed(enum.Enum):
    """What a claim writes into one column; each claim path turns these into its own form."""

    TARGET = "the rule's target status"
    WORKER = "the claiming worker's id"
    NOW = "the claim's moment"
    LEASE_UNTIL = "the claim's moment plus the lease"
    NEXT = "the column's value plus one"
    NULL = "nothing (NULL)"
    ZERO = "zero"


@dataclass(frozen=True)
class ClaimRule:
    """A worker's claim, stated once: which jobs may be taken, in what order, what taking one writes, and
    what happens to a job whose worker stopped renewing its lease.

    The portable claim (``JobRepository``), the PostgreSQL statement (``repositories/_claim.py``) and the
    demo generator (``seed/_lifecycle.py``) are all built from ``CLAIM``; the CHECK constraint
    ``STATUS_TIMESTAMPS_SQL`` must hold for every row a claim writes (tests/unit/test_claim_rules.py).
    """

    #: The status a claimable job is in, and the one a claim moves it to.
    source: JobStatus
    target: JobStatus
    #: A claimable job's retry time: NULL or not after the claim's moment.
    due_column: str
    #: Claim order: (column, descending) pairs, the last one unique.
    order: tuple[tuple[str, bool], ...]
    #: Every column a claim writes, in the order the PostgreSQL statement writes them.
    sets: Mapping[str, Claimed]
    #: A job in ``target`` whose lease ends before the moment of a recovery is recovered: failed with
    #: ``expired_error``, then queued again (``source``) while attempts remain.
    lease_column: str
    expired_error: str

    def due(self, status: str, retry_at: Any, now: Any) -> bool:
        """Whether a job in ``status`` with this retry time may be claimed at ``now`` (any kinds filter aside)."""
        return status == self.source and (retry_at is None or retry_at <= now)

    def claimable(self, row: Mapping[str, Any], now: Any, kinds: Sequence[str] | None = None) -> bool:
        """Whether this job (its columns by name) may be claimed at ``now`` by a claim for ``kinds``."""
        return self.due(row["status"], row[self.due_column], now) and (not kinds or row["kind"] in kinds)

    def sort_key(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """Claim order as a Python sort key (numbers only are ever descending: priority)."""
        return tuple(-row[column] if descending else row[column] for column, descending in self.order)

    def claimed(self, row: Mapping[str, Any], worker: str, now: Any, lease_until: Any) -> dict[str, Any]:
        """The values a claim writes into this job (its columns by name), column by column."""
        given = {Claimed.TARGET: self.target, Claimed.WORKER: worker, Claimed.NOW: now,
                 Claimed.LEASE_UNTIL: lease_until, Claimed.NULL: None, Claimed.ZERO: 0}
        return {column: row[column] + 1 if how is Claimed.NEXT else given[how] for column, how in self.sets.items()}

    def audit_details(self, attempt: int, worker: str) -> dict[str, Any]:
        """The details of a claim's ``job.status_changed`` row (``attempt`` is the new one)."""
        source, target = self._move
        return {"from": source, "to": target, "attempt": attempt, "worker": worker}

    @cached_property
    def _move(self) -> tuple[str, str]:
        """The two statuses as text, looked up once: the demo generator builds millions of these rows, and an
        enum's ``.value`` costs more than the rest of the dict."""
        return self.source.value, self.target.value

    def expired(self, status: str, lease_until: Any, now: Any) -> bool:
        """Whether a recovery at ``now`` takes this job from its worker."""
        return status == self.target and lease_until is not None and lease_until < now

    def after_recovery(self, attempt: int, max_retries: int) -> JobStatus:
        """Where a recovered job ends: queued again while attempts remain, else failed."""
        return self.source if attempt < max_retries else JobStatus.FAILED

    def expired_message(self, worker: str | None, lease_until: datetime | None) -> str:
        """The error message a recovered job carries."""
        return (f"worker {worker!r} stopped heartbeating; lease expired at "
                f"{lease_until.isoformat() if lease_until else '?'}")


CLAIM = ClaimRule(
    source=JobStatus.QUEUED,
    target=JobStatus.RUNNING,
    due_column="next_retry_at",
    order=(("priority", True), ("created_at", False), ("id", False)),
    sets=MappingProxyType({
        "status": Claimed.TARGET, "claimed_by": Claimed.WORKER, "heartbeat_at": Claimed.NOW,
        "started_at": Claimed.NOW, "lease_expires_at": Claimed.LEASE_UNTIL, "attempt": Claimed.NEXT,
        "finished_at": Claimed.NULL, "next_retry_at": Claimed.NULL, "pages_done": Claimed.ZERO,
        "items_scraped": Claimed.ZERO, "bytes_downloaded": Claimed.ZERO, "updated_at": Claimed.NOW,
        "version": Claimed.NEXT,
    }),
    lease_column="lease_expires_at",
    expired_error="lease_expired",
)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def domain_of(url: str | None) -> str | None:
    """The host a job's URL targets: after ``://``, before ``/?#``, without user info, port or trailing dot.

    ASCII letters are lower-cased (IPv6 literals lose their brackets). Migration 0008 backfills the same
    rule in SQL, so the stored ``target_domain`` is the same whichever path wrote the row.
    """
    if not url or "://" not in url:
        return None
    authority = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    host = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
    return host.translate(_ASCII_LOWER).rstrip(".") or None


def _domain_default(context: DefaultExecutionContext) -> str | None:
    return domain_of(context.get_current_parameters().get("target_url"))  # type: ignore[no-untyped-call]


class ScrapingJob(Base):
    """One scraping job owned by a user.

    ``version`` is the optimistic-locking counter: an UPDATE that finds another version changed
    nothing, so two writers can never both move the same job. Deleting a job deletes its artifacts'
    rows and their metadata (ON DELETE CASCADE); a user who owns jobs cannot be deleted (RESTRICT).
    """

    __tablename__ = "scraping_jobs"
    __table_args__ = (
        CheckConstraint("priority BETWEEN -1000 AND 1000", name="priority_range"),
        CheckConstraint("pages_done >= 0 AND items_scraped >= 0 AND bytes_downloaded >= 0",
                        name="counters_non_negative"),
        CheckConstraint("pages_total IS NULL OR (pages_total >= 0 AND pages_done <= pages_total)",
                        name="pages_within_total"),
        CheckConstraint("attempt >= 0 AND max_retries >= 0", name="attempts_non_negative"),
        CheckConstraint("finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at",
                        name="finished_after_started"),
        Index("ix_scraping_jobs_status_created_at", "status", "created_at"),
        Index("ix_scraping_jobs_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_scraping_jobs_created_at_id", "created_at", "id"),  # newest-first keyset pages
        Index("ix_scraping_jobs_target_domain_created_at", "target_domain", "created_at"),  # per-domain reports
        CheckConstraint(STATUS_TIMESTAMPS_SQL, name="status_timestamps"),
        Index("uq_scraping_jobs_active_dedupe_key", "dedupe_key", unique=True,
              postgresql_where=text(ACTIVE_SQL), sqlite_where=text(ACTIVE_SQL)),
    )

    id: Mapped[int] = id_column()
    owner_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(50), default="scrape", server_default="scrape")
    target_url: Mapped[str] = mapped_column(String(2048))
    #: ``domain_of(target_url)``, filled on insert (ORM and Core alike) so reports filter without parsing URLs.
    target_domain: Mapped[str | None] = mapped_column(String(255), default=_domain_default)
    status: Mapped[JobStatus] = enum_column(JobStatus, "status", default=JobStatus.PENDING,
                                            server_default=JobStatus.PENDING.value)
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    options: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    pages_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pages_total: Mapped[int | None] = mapped_column(Integer)
    items_scraped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bytes_downloaded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_retries: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error_type: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: A claim holds the job until then; heartbeats extend it; past it, the job is recovered.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: At most one active (pending, queued, running) job per key.
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = updated_at_column()
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    owner: Mapped[User] = relationship(back_populates="jobs")
    artifacts: Mapped[list[Artifact]] = relationship(back_populates="job", cascade="all, delete-orphan",
                                                     passive_deletes=True)

    __mapper_args__ = {"version_id_col": version}

    @property
    def progress(self) -> float | None:
        """Share of pages done (0-1), derived from the counters; None while the total is unknown."""
        if not self.pages_total:
            return None
        return self.pages_done / self.pages_total


#: Claim order over queued rows only: a claim reads the first index entries instead of sorting the queue.
Index("ix_scraping_jobs_claim_order",
      *(getattr(ScrapingJob, column).desc() if descending else getattr(ScrapingJob, column)
        for column, descending in CLAIM.order),
      postgresql_where=text(f"status = '{CLAIM.source.value}'"), sqlite_where=text(f"status = '{CLAIM.source.value}'"))
