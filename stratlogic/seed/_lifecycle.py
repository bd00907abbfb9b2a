"""One demo job's life, moved the way the job repository moves a real one, stopped at the window's end.

A job is created (pending) and queued by its owner, claimed by a worker (attempt + 1, a lease), reports
progress by heartbeats, and completes, fails (and is queued again after a backoff while attempts remain),
is cancelled by its owner, or loses its worker and is recovered when the lease runs out. Each move is an
audit event with the details ``JobRepository`` records; the row left at the end holds what those moves
would have left (timestamps, claim, lease, counters, version). Whatever would happen after the window's
end does not happen: those jobs are still pending, queued or running.
"""

from __future__ import annotations

from bisect import bisect
from typing import Any, NamedTuple

import orjson

from stratlogic.models.audit_rules import AuditAction
from stratlogic.models.job import CLAIM, Claimed, domain_of
from stratlogic.repositories.bulk import json_value
from stratlogic.seed._artifacts import ArtifactSpec, Page, artifact, outputs
from stratlogic.seed._random import Draw
from stratlogic.seed._rows import MILLISECOND, MINUTE, SECOND, moment, stamp
from stratlogic.seed._vocab import ERRORS

JOB_COLUMNS = ("id", "owner_id", "name", "kind", "target_url", "target_domain", "status", "priority", "options",
               "pages_done", "pages_total", "items_scraped", "bytes_downloaded", "attempt", "max_retries",
               "next_retry_at", "error_type", "error_message", "claimed_by", "heartbeat_at", "lease_expires_at",
               "created_at", "started_at", "finished_at", "updated_at", "version")
HEARTBEAT = 30 * SECOND
WORKERS = tuple(f"scraper-{n:02d}" for n in range(1, 13))
#: Per attempt: a worker dies (its lease expires), the owner cancels while it runs or while it waits.
P_LEASE_LOST, P_CANCEL_RUNNING, P_CANCEL_QUEUED = 0.004, 0.008, 0.012
#: Jobs created pending (scheduled for later); some of those are cancelled before they are queued.
P_PENDING, P_CANCEL_PENDING = 0.03, 0.15
_ERROR_CUMULATIVE = [sum(e[3] for e in ERRORS[:i + 1]) for i in range(len(ERRORS))]
#: Actions as plain strings: they go into rows and hashes many millions of times.
STATUS_CHANGED, CREATED = AuditAction.JOB_STATUS_CHANGED.value, AuditAction.JOB_CREATED.value
RECOVERED, STORED = AuditAction.JOB_RECOVERED.value, AuditAction.ARTIFACT_STORED.value
_FINISHED = frozenset({"completed", "failed", "cancelled"})
#: The columns a claim writes (``models.job.CLAIM.sets``) as ``Job`` slots.
CLAIM_SLOTS = {"status": "status", "claimed_by": "claimed_by", "heartbeat_at": "heartbeat", "started_at": "started",
               "lease_expires_at": "lease", "attempt": "attempt", "finished_at": "finished",
               "next_retry_at": "next_retry", "pages_done": "pages_done", "items_scraped": "items",
               "bytes_downloaded": "bytes", "updated_at": "updated", "version": "version"}
#: ``CLAIM.sets`` made into a plan once, so a claim (millions in a large demo) costs no more than written out
#: by hand: each slot set from a position in ``Job.claim``'s ``given`` tuple, or incremented.
_GIVEN = (Claimed.TARGET, Claimed.WORKER, Claimed.NOW, Claimed.LEASE_UNTIL, Claimed.NULL, Claimed.ZERO)
_CLAIM_SETS = tuple((CLAIM_SLOTS[column], _GIVEN.index(how)) for column, how in CLAIM.sets.items()
                    if how is not Claimed.NEXT)
_CLAIM_INCREMENTS = tuple(CLAIM_SLOTS[column] for column, how in CLAIM.sets.items() if how is Claimed.NEXT)
_CLAIMED = CLAIM.target.value
_due, _claim_details = CLAIM.due, CLAIM.audit_details

#: An event: (when, actor, action, resource type, resource id, details, artifact or None).
Event = tuple[int, int | None, str, str, str | None, dict[str, Any], ArtifactSpec | None]


class Kind(NamedTuple):
    """How jobs of a kind behave: running time (median, spread), pages, items per page, failure rate."""

    name: str
    run_median: int
    run_spread: float
    pages_median: int
    items_per_page: float
    fail_rate: float


class Target(NamedTuple):
    """What one job fetches (drawn by the caller): the URL, its name, its page, how flaky its site is."""

    url: str
    name: str
    page: Page
    flakiness: float


class Policy(NamedTuple):
    """The configuration a real system would have run with (the declared defaults), in microseconds."""

    end: int
    lease: int
    backoff_base: int
    backoff_max: int
    objects: bool


class Job:
    """The mutable state of one job while its life is played; ``row()`` is what the table holds after."""

    next_retry: int | None
    error_type: str | None
    error_message: str | None
    claimed_by: str | None
    heartbeat: int | None
    lease: int | None
    started: int | None
    finished: int | None
    pages_total: int | None
    __slots__ = ("attempt", "bytes", "claimed_by", "created", "created_at", "error_message", "error_type", "events",
                 "finished", "heartbeat", "id", "items", "kind", "lease", "max_retries", "next_retry", "options",
                 "owner", "pages_done", "pages_total", "planned_pages", "policy", "priority", "rid", "started",
                 "status", "target", "updated", "version")

    def __init__(self, job_id: int, owner: int, created: int, kind: Kind, target: Target, options: bytes,
                 priority: int, max_retries: int, planned_pages: int, policy: Policy) -> None:
        self.id, self.rid, self.owner, self.created = job_id, str(job_id), owner, created
        self.created_at = stamp(created)
        self.kind, self.target, self.options, self.priority = kind, target, options, priority
        self.max_retries, self.planned_pages, self.policy = max_retries, planned_pages, policy
        self.status, self.attempt, self.version, self.updated = "pending", 0, 1, created
        self.pages_done, self.pages_total, self.items, self.bytes = 0, None, 0, 0
        self.next_retry = self.error_type = self.error_message = self.claimed_by = None
        self.heartbeat = self.lease = self.started = self.finished = None
        self.events: list[Event] = []

    # ----- moves (each returns False when it would happen after the window's end) --------------------
    def create(self) -> None:
        """``JobRepository.create(..., queue=...)``: the row as first inserted."""
        at = self.created_at
        values = {"attempt": 0, "bytes_downloaded": 0, "created_at": at, "id": self.id, "items_scraped": 0,
                  "kind": self.kind.name, "max_retries": self.max_retries, "name": self.target.name,
                  "options": orjson.Fragment(self.options), "owner_id": self.owner, "pages_done": 0,
                  "priority": self.priority, "status": "pending", "target_url": self.target.url,
                  "target_domain": domain_of(self.target.url), "updated_at": at,
                  "version": 1}
        self.events.append((self.created, self.owner, CREATED, "job", self.rid, {"values": values}, None))

    def move(self, when: int, actor: int | None, target: str, extra: dict[str, Any] | None = None) -> bool:
        """A status change recorded as ``job.status_changed`` (``extra`` as ``_audit_fields`` shows them)."""
        if when >= self.policy.end:
            return False
        details = {"attempt": self.attempt, "from": self.status, "to": target}
        if extra:
            details.update(extra)
        self.events.append((when, actor, STATUS_CHANGED, "job", self.rid, details, None))
        self.status, self.updated, self.version = target, when, self.version + 1
        if target in _FINISHED:
            self.finished, self.lease = when, None
        elif target == "queued":
            self.finished = self.lease = self.claimed_by = self.heartbeat = None
        return True

    def claim(self, when: int, worker: str) -> bool:
        """``claim`` as ``models.job.CLAIM`` states it: queued -> running, attempt + 1, a lease, counters
        reset for the new attempt, one ``job.status_changed`` event.

        Raises:
            ValueError: the rule does not let this job be claimed at ``when`` (a bug in the life played).
        """
        if when >= self.policy.end:
            return False
        if not _due(self.status, self.next_retry, when):
            raise ValueError(f"demo job {self.id} cannot be claimed at {when}: it is {self.status}, "
                             f"retry at {self.next_retry}")
        given = (_CLAIMED, worker, when, when + self.policy.lease, None, 0)
        for slot, position in _CLAIM_SETS:
            setattr(self, slot, given[position])
        for slot in _CLAIM_INCREMENTS:
            setattr(self, slot, getattr(self, slot) + 1)
        self.events.append((when, None, STATUS_CHANGED, "job", self.rid, _claim_details(self.attempt, worker),
                            None))
        return True

    def work(self, until: int, fraction: float) -> bool:
        """Heartbeats every 30 s from the claim, the last one at ``until`` reporting ``fraction`` done.

        Past the window's end, the job is left running with the last heartbeat before the end.
        """
        assert self.started is not None
        stopped = until >= self.policy.end
        beats = (min(until, self.policy.end - 1) - self.started) // HEARTBEAT
        if stopped:
            if beats == 0:
                return False
            beat = self.started + beats * HEARTBEAT
            fraction *= (beat - self.started) / (until - self.started)
        else:
            beats, beat = beats + 1, until
        self.heartbeat, self.lease, self.updated = beat, beat + self.policy.lease, beat
        self.version += beats
        if self.pages_total is None:
            self.pages_total = self.planned_pages
        self.pages_done = int(self.pages_total * fraction)
        self.items = int(self.pages_done * self.kind.items_per_page)
        self.bytes = self.pages_done * (40_000 + self.id * 7_919 % 120_000)  # 40-160 kB a page, by job
        return not stopped

    def fail(self, when: int, error_type: str, message: str, actor: int | None = None) -> bool:
        """running -> failed, with the error kept on the row (a later success does not clear it)."""
        if not self.move(when, actor, "failed", {"error_message": message, "error_type": error_type}):
            return False
        self.error_type, self.error_message = error_type, message
        return True

    def requeue(self, when: int, retry_at: int | None) -> bool:
        """failed -> queued (backoff: ``next_retry_at`` shown; a recovered job: none)."""
        shown = {"next_retry_at": stamp(retry_at)} if retry_at is not None else None
        if not self.move(when, None, "queued", shown):
            return False
        self.next_retry = retry_at
        return True

    def row(self) -> tuple[Any, ...]:
        """The row as the table holds it after the last move (in the bulk writer's wire form)."""
        return (self.id, self.owner, self.target.name, self.kind.name, self.target.url, domain_of(self.target.url),
                self.status, self.priority,
                json_value(self.options), self.pages_done, self.pages_total, self.items, self.bytes, self.attempt,
                self.max_retries, self.next_retry, self.error_type, self.error_message, self.claimed_by,
                self.heartbeat, self.lease, self.created, self.started, self.finished, self.updated, self.version)


def live(job: Job, rng: Draw, backlog: float) -> None:
    """Play the job's life until it ends or the window does. ``backlog`` stretches its queue waits."""
    job.create()
    if rng.random() < P_PENDING:  # scheduled: queued (or cancelled) by its owner later
        when = job.created + int(rng.lognormal(40 * MINUTE, 1.0))
        if rng.random() < P_CANCEL_PENDING:
            job.move(when, job.owner, "cancelled")
            return
    else:  # create() queues it in the same transaction
        when = job.created + (2 + rng.below(38)) * MILLISECOND
    if not job.move(when, job.owner, "queued"):
        return
    while _attempt(job, rng, when, backlog):
        when = job.updated


def _attempt(job: Job, rng: Draw, since: int, backlog: float) -> bool:
    """Wait in the queue, run once; True when the job is queued again for another attempt."""
    ready = max(since, job.next_retry or 0)
    claimed = ready + int(rng.lognormal(8 * SECOND * backlog, 1.5))
    if rng.random() < P_CANCEL_QUEUED:
        job.move(since + int((claimed - since) * rng.random()), job.owner, "cancelled")
        return False
    if not job.claim(claimed, rng.pick(WORKERS)):
        return False
    runs = min(8 * 3600 * SECOND, max(SECOND, int(rng.lognormal(job.kind.run_median, job.kind.run_spread))))
    draw = rng.random()
    if draw < P_LEASE_LOST:
        return _lose_worker(job, rng, claimed + int(runs * rng.random()))
    if draw < P_LEASE_LOST + P_CANCEL_RUNNING:
        ends = claimed + int(runs * rng.random())
        if job.work(ends, rng.random()):
            job.move(ends, job.owner, "cancelled")
        return False
    if draw < P_LEASE_LOST + P_CANCEL_RUNNING + job.kind.fail_rate * job.target.flakiness:
        return _fail(job, rng, claimed + int(runs * rng.random()))
    _complete(job, rng, claimed + runs)
    return False


def _fail(job: Job, rng: Draw, when: int) -> bool:
    if not job.work(when, rng.random() * 0.8):
        return False
    error_type, message, retryable, _ = ERRORS[bisect(_ERROR_CUMULATIVE, rng.random() * _ERROR_CUMULATIVE[-1])]
    path = job.target.url.split("/", 3)[-1]
    text = message.format(host=job.target.url.split("/")[2], path=f"/{path}")
    if not job.fail(when, error_type, text) or not retryable or job.attempt >= job.max_retries:
        return False
    delay = min(job.policy.backoff_max, job.policy.backoff_base * 2 ** (job.attempt - 1))
    retry_at = when + delay // 2 + int(rng.random() * delay / 2)  # "equal jitter", as the repository does
    return job.requeue(when + (1 + rng.below(19)) * MILLISECOND, retry_at)


def _lose_worker(job: Job, rng: Draw, dies: int) -> bool:
    """The worker stops heartbeating; the next claim after the lease runs out recovers the job."""
    if not job.work(dies, rng.random()) or job.lease is None:
        return False
    worker, expired = job.claimed_by, job.lease
    noticed = expired + SECOND + rng.below(4 * SECOND)
    if noticed + 2 * MILLISECOND >= job.policy.end:  # recovery is one transaction: all of it or none
        return False
    message = CLAIM.expired_message(worker, moment(expired))
    if not job.fail(noticed, CLAIM.expired_error, message):
        return False
    requeue = CLAIM.after_recovery(job.attempt, job.max_retries) is CLAIM.source
    again = requeue and job.requeue(noticed + MILLISECOND, None)
    details = {"failed": [] if again else [job.id], "requeued": [job.id] if again else []}
    job.events.append((noticed + 2 * MILLISECOND, None, RECOVERED, "job", None, details, None))
    return again


def _complete(job: Job, rng: Draw, ends: int) -> None:
    """Final progress, the files it stored (just before), then completed."""
    if not job.work(ends - 50 * MILLISECOND, 1.0) or ends >= job.policy.end:
        return
    files = [(kind, n) for kind, count in outputs(rng, job.kind.name) for n in range(1, count + 1)]
    for i, (kind, number) in enumerate(files):
        when = ends - (len(files) - i) * 40 * MILLISECOND
        spec = artifact(rng, job.id, when, kind, number, job.target.page, job.policy.objects, job.kind.name == "crawl")
        job.events.append((when, None, STORED, "artifact", None, {}, spec))
    job.move(ends, None, "completed")


__all__ = ["JOB_COLUMNS", "Event", "Job", "Kind", "Policy", "Target", "live"]
