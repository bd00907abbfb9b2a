"""The parts of ``services.health.check``: each looks at one thing and returns a ``Part``; none raises.

A part that cannot be checked (its database is down) fails saying so, rather than passing by omission.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from stratlogic.config import stray_variables
from stratlogic.db import Database, UnitOfWork
from stratlogic.db import health as db_health
from stratlogic.errors import StratLogicError
from stratlogic.logs import redact

Status = Literal["ok", "warn", "fail"]
GIB, MIB = 1024**3, 1024**2
#: Probe objects are written here under the store's prefix (outside ``jobs/``: reconcile never counts them).
PROBE_PREFIX = "stratlogic-health-probe-"


@dataclass(frozen=True)
class Part:
    """One part of the report: its name, ``ok|warn|fail``, a one-line reason and JSON-ready figures."""

    name: str
    status: Status
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    """When a part warns or fails (docs/operations.md#health lists them)."""

    #: The oldest queued job waited longer: warn (no worker is taking jobs, or too few).
    queued_age: timedelta = timedelta(hours=1)
    #: Jobs still running past their lease: warn when more than this many (their worker died; the next claim
    #: recovers them).
    expired_leases: int = 0
    #: Nothing appended to the audit trail for longer: warn (nothing is writing here; is this the database?).
    audit_tail_age: timedelta = timedelta(days=7)
    #: The audit tail is further in the future than this: warn (a clock is wrong).
    clock_skew: timedelta = timedelta(minutes=5)
    #: One database round trip took longer: warn.
    latency_ms: float = 500.0
    #: Free disk below either: warn; below ``disk_fail_bytes``: fail (SQLite stops writing when full).
    disk_warn_bytes: int = GIB
    disk_warn_fraction: float = 0.05
    disk_fail_bytes: int = 100 * MIB
    #: ``deep``: how many of the newest audit rows are verified.
    audit_rows: int = 1000


DEFAULT_THRESHOLDS = Thresholds()


def guarded(name: str, check: Callable[[], Part]) -> Part:
    """Run one part's check; an error becomes that part's failure (one line, secrets masked)."""
    try:
        return check()
    except StratLogicError as exc:
        return Part(name, "fail", _line(str(exc)))
    except Exception as exc:  # a health check reports what broke instead of breaking itself
        return Part(name, "fail", f"unexpected {type(exc).__name__}: {_line(str(exc))}")


def _line(text: str) -> str:
    lines = text.strip().splitlines()
    return redact(lines[0]) if lines else "no details"


# ----- database and pool --------------------------------------------------------------------------------

def database_part(database: Database, *, timeout: float | None,
                  thresholds: Thresholds) -> tuple[Part, str | None]:
    """Reachable, latency, server version, revision against head; and why the database's other parts cannot
    be checked (None when they can)."""
    missing = _missing_sqlite_file(database)
    if missing is not None:  # connecting would make an empty file: a health check changes nothing
        reason = f"no database file at {missing}: run `stratlogic db upgrade` to make one"
        return (Part("database", "fail", reason, {"backend": "sqlite", "reachable": False}),
                "not checked: the database file does not exist")
    if timeout is not None and database.dialect == "postgresql":
        report = db_health.probe(database.settings, timeout)
    else:
        report = db_health.check(database.engine)
    details = {key: value for key, value in report.as_dict().items() if key not in ("ok", "message")}
    if not report.reachable:
        return Part("database", "fail", report.message, details), "not checked: the database is unreachable"
    if report.current_revision is None:
        return (Part("database", "fail", report.message, details),
                "not checked: the database is not migrated (run `stratlogic db upgrade`)")
    if not report.ok:
        return Part("database", "fail", report.message, details), None
    latency = report.latency_ms or 0.0
    if latency > thresholds.latency_ms:
        return Part("database", "warn", f"slow: a round trip took {latency:.0f} ms (over "
                                        f"{thresholds.latency_ms:g} ms); schema at head {report.head_revision}",
                    details), None
    return Part("database", "ok", report.message, details), None


def _missing_sqlite_file(database: Database) -> Path | None:
    name = database.settings.url.database if database.dialect == "sqlite" else None
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    path = Path(name).expanduser()
    return None if path.exists() else path


def pool_part(database: Database) -> Part:
    """The pool's counters (no connection opened): warn when checkouts timed out or every connection is lent."""
    stats = db_health.pool_stats(database.engine)
    details = stats.as_dict()
    if stats.size is None:
        return Part("pool", "ok", f"{stats.kind}: no pooling", details)
    limit = stats.size + (stats.max_overflow or 0)
    shown = f"{stats.checked_out} of {limit} connections in use (pool {stats.size} + overflow {stats.max_overflow})"
    if stats.timeouts:
        return Part("pool", "warn", f"{stats.timeouts} checkout(s) gave up after {stats.timeout_seconds:g} s "
                                    f"waiting for a connection; {shown}: raise STRATLOGIC_POOL_SIZE", details)
    if stats.checked_out >= limit:
        return Part("pool", "warn", f"every connection is in use: {shown}", details)
    return Part("pool", "ok", shown, details)


# ----- the artifact store ----------------------------------------------------------------------------------

class PendingStore:
    """The store's check, running in a daemon thread while the database is checked; ``result`` waits for it
    until the deadline and then adds which database owns the store (that needs the database)."""

    def __init__(self, database: Database, *, deep: bool, timeout: float | None) -> None:
        self.database = database
        self.limit = (timeout or database.settings.connect_timeout) * (4 if deep else 2) + 1
        self.deadline = time.monotonic() + self.limit
        self.outcome: list[Part] = []
        self.store: Any = None
        self.timeout = timeout
        self.thread: threading.Thread | None = None
        folder = database.settings.artifact_path
        if folder is not None and not deep:  # a folder's check is instant and needs no store (nor its imports)
            root = Path(folder).expanduser().resolve()
            self.description = f"file:{root}"
            status, reason = _folder(root)
            self.outcome.append(Part("store", status, reason, {"kind": "local"}))
            return
        try:
            self.store = _store(database, timeout)
            self.description = str(self.store.describe())
        except Exception as exc:  # a bad STRATLOGIC_S3_* setting: reported by the part
            self.description = database.settings.artifact_store
            self.outcome.append(guarded("store", _raiser(exc)))
            return
        self.thread = threading.Thread(target=self._run, args=(deep,), name="stratlogic-health-store", daemon=True)
        self.thread.start()

    def _run(self, deep: bool) -> None:
        self.outcome.append(guarded("store", lambda: store_part(self.store, deep=deep)))

    def result(self, *, usable: bool) -> Part:
        """The store part; a store that did not answer in time fails naming the wait."""
        if self.thread is not None:
            self.thread.join(max(0.0, self.deadline - time.monotonic()))
        if not self.outcome:
            return Part("store", "fail", f"no answer from {self.description} within {self.limit:g} s")
        part = self.outcome[0]
        if usable and part.status == "ok":
            part = guarded("store", lambda: _with_owner(self.database, self.store or _store(self.database,
                                                                                             self.timeout), part))
        return part


def _raiser(exc: Exception) -> Callable[[], Part]:
    def check() -> Part:
        raise exc
    return check


def store_part_bounded(database: Database, *, deep: bool, timeout: float | None) -> PendingStore:
    """Start the store's check in the background (``PendingStore.result`` collects it)."""
    return PendingStore(database, deep=deep, timeout=timeout)


def _store(database: Database, timeout: float | None) -> Any:
    from stratlogic.storage.factory import store_from_settings

    settings = database.settings
    if timeout is not None:
        settings = settings.model_copy(update={"connect_timeout": max(1, round(timeout))})
    return store_from_settings(settings)


def store_part(store: Any, *, deep: bool) -> Part:
    """Reachable and its bucket (or folder) there; with ``deep`` a probe object written, read back, deleted."""
    from stratlogic.storage.identity import store_owner
    from stratlogic.storage.local import LocalStore

    started = time.perf_counter()
    if isinstance(store, LocalStore):
        status, reason = _folder(store.root)
    else:
        status, reason = _bucket(store)
    details: dict[str, Any] = {"kind": "local" if isinstance(store, LocalStore) else "s3",
                               "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    if status == "fail":
        return Part("store", status, reason, details)
    if status == "ok":
        owner = store_owner(store)
        details["owner"] = owner.describe() if owner is not None else None
    if deep:
        if status != "ok":
            return Part("store", "warn", f"{reason}; write probe skipped (it would make the bucket)", details)
        details["probe_ms"] = _probe(store)
        reason += f"; a probe object was written, read back and deleted in {details['probe_ms']:.0f} ms"
    return Part("store", status, reason, details)


def _folder(root: Path) -> tuple[Status, str]:
    if root.is_dir():
        if not os.access(root, os.W_OK | os.X_OK):
            return "fail", f"folder {root} is not writable by this user"
        return "ok", f"folder {root} is there and writable"
    if root.exists():
        return "fail", f"{root} is not a folder"
    parent = _existing_ancestor(root)
    if not os.access(parent, os.W_OK | os.X_OK):
        return "fail", f"folder {root} does not exist and {parent} is not writable, so it cannot be made"
    return "ok", f"folder {root} is not made yet (the first write makes it)"


def _bucket(store: Any) -> tuple[Status, str]:
    """S3: whether the bucket exists (asked, never created: a health check changes nothing)."""
    try:
        exists = bool(store.client.bucket_exists(store.bucket))
    except Exception as exc:
        return "fail", f"cannot reach {store.describe()}: {type(exc).__name__}: {_line(_s3_reason(exc))}"
    if exists:
        return "ok", f"{store.describe()} reachable, bucket exists"
    if store.create_bucket:
        return "warn", f"bucket {store.bucket!r} does not exist at {store.endpoint} yet (the first write makes it)"
    return "fail", (f"bucket {store.bucket!r} does not exist at {store.endpoint} and STRATLOGIC_S3_CREATE_BUCKET "
                    "is off")


def _s3_reason(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    return f"{code}: {getattr(exc, 'message', '')}" if code else str(exc)


def _probe(store: Any) -> float:
    """Write, read back and delete a small object; the milliseconds it took. Raises when any step fails."""
    from stratlogic.errors import StorageError

    started = time.perf_counter()
    key = f"{store.prefix}{PROBE_PREFIX}{uuid.uuid4().hex}.txt"
    body = f"stratlogic health probe {datetime.now(UTC).isoformat()}\n".encode()
    store.put(io.BytesIO(body), key, "text/plain", length=len(body))
    try:
        with store.open(key) as stream:
            back = stream.read()
    finally:
        store.delete(key)
    if back != body:
        raise StorageError(f"write probe {key!r} in {store.describe()}: read back {len(back)} bytes that differ "
                           f"from the {len(body)} written")
    return round((time.perf_counter() - started) * 1000, 1)


def _with_owner(database: Database, store: Any, part: Part) -> Part:
    """The store's marker against this database's installation id: another database's store fails."""
    from stratlogic.storage.identity import check_store

    owner = check_store(database, store)  # raises StorageError naming both databases when not ours
    return Part(part.name, part.status, part.reason,
                {**part.details, "owner": owner.describe() if owner is not None else None})


# ----- audit chain and queue ------------------------------------------------------------------------------

def audit_part(database: Database, *, skip: str | None, deep: bool, now: datetime,
               thresholds: Thresholds) -> Part:
    """The chain's tail (id, age); ``deep``: the newest ``thresholds.audit_rows`` rows verified."""
    if skip:
        return Part("audit", "fail", skip)
    return guarded("audit", lambda: _audit(database, deep=deep, now=now, thresholds=thresholds))


def _audit(database: Database, *, deep: bool, now: datetime, thresholds: Thresholds) -> Part:
    from stratlogic.repositories import AuditRepository

    def ends(uow: UnitOfWork) -> tuple[tuple[int, datetime, str] | None, int | None]:
        audit = AuditRepository(uow)
        newest = audit.list(sort="-id", limit=1)
        lowest = audit.list(sort="-id", limit=1, offset=thresholds.audit_rows - 1) if deep else []
        return ((newest[0].id, newest[0].occurred_at, newest[0].hash) if newest else None,
                lowest[0].id if lowest else None)

    tail, low = database.read(ends)  # a connection killed meanwhile: read again on a new one
    if tail is None:
        return Part("audit", "ok", "the trail is empty", {"tail_id": None, "tail_age_seconds": None})
    tail_id, tail_at, tail_hash = tail
    age = now - tail_at
    details: dict[str, Any] = {"tail_id": tail_id, "tail_at": tail_at, "tail_hash": tail_hash,
                               "tail_age_seconds": round(age.total_seconds(), 3)}
    reason = f"tail row {tail_id}, appended {_ago(age)} ago"
    status: Status = "ok"
    if -age > thresholds.clock_skew:
        status, reason = "warn", f"tail row {tail_id} is dated {_ago(-age)} in the future: is a clock wrong?"
    elif age > thresholds.audit_tail_age:
        status, reason = "warn", f"{reason}: nothing recorded for over {_ago(thresholds.audit_tail_age)}"
    if deep:
        checked = _verify_newest(database, low, tail_id)
        details["verified_rows"] = checked.rows
        if checked.bad_id is not None:
            details["bad_id"] = checked.bad_id
            return Part("audit", "fail", checked.message, details)
        reason += f"; the newest {checked.rows} rows verify"
    return Part("audit", status, reason, details)


def _verify_newest(database: Database, low: int | None, high: int) -> Any:
    from stratlogic.audit.verify import verify_segment

    return verify_segment(database, low if low is not None else -(2**63), high)


def queue_part(database: Database, *, skip: str | None, now: datetime, thresholds: Thresholds) -> Part:
    """Queued jobs, the oldest one's wait, and running jobs past their lease."""
    if skip:
        return Part("queue", "fail", skip)
    return guarded("queue", lambda: _queue(database, now=now, thresholds=thresholds))


def _queue(database: Database, *, now: datetime, thresholds: Thresholds) -> Part:
    from stratlogic.repositories.jobs import JobRepository

    def counts(uow: UnitOfWork) -> tuple[int, datetime | None, int]:
        jobs = JobRepository(uow)
        oldest = jobs.list({"status": "queued"}, sort="created_at", limit=1)
        return (jobs.count({"status": "queued"}), oldest[0].created_at if oldest else None,
                jobs.count({"status": "running", "lease_expires_at__lt": now}))

    queued, oldest_at, expired = database.read(counts)
    age = now - oldest_at if oldest_at is not None else None
    details = {"queued": queued, "oldest_queued_at": oldest_at,
               "oldest_queued_age_seconds": round(age.total_seconds(), 3) if age is not None else None,
               "expired_leases": expired}
    reason = f"{queued} queued" + (f", the oldest waiting {_ago(age)}" if age is not None else "")
    reason += f", {expired} running past their lease"
    if expired > thresholds.expired_leases:
        return Part("queue", "warn", f"{reason} (their workers stopped; the next claim requeues them)", details)
    if age is not None and age > thresholds.queued_age:
        return Part("queue", "warn", f"{reason}: over {_ago(thresholds.queued_age)} (are workers running?)",
                    details)
    return Part("queue", "ok", reason, details)


# ----- disk ---------------------------------------------------------------------------------------------------

def disk_part(database: Database, *, thresholds: Thresholds) -> Part:
    """Free space where this installation writes locally: the SQLite file's folder, a local store's folder."""
    return guarded("disk", lambda: _disk(database, thresholds))


def _disk(database: Database, thresholds: Thresholds) -> Part:
    places = list(_local_places(database))
    if not places:
        return Part("disk", "ok", "nothing local to check (database and store are remote)", {"paths": []})
    found: dict[int, dict[str, Any]] = {}  # one row per file system: the database and store often share one
    for what, path in places:
        existing = _existing_ancestor(path)
        device = existing.stat().st_dev
        if device in found:
            found[device]["what"] += f" and {what}"
            continue
        usage = shutil.disk_usage(existing)
        found[device] = {"what": what, "path": str(existing), "free_bytes": usage.free, "total_bytes": usage.total,
                         "status": _disk_status(usage.free, usage.total, thresholds)}
    rows = list(found.values())
    worst: Status = max((row["status"] for row in rows), key=("ok", "warn", "fail").index)
    reason = "; ".join(f"{row['what']} {row['path']}: {_size(row['free_bytes'])} free of "
                       f"{_size(row['total_bytes'])}" for row in rows)
    if worst != "ok":
        reason += (f" (warn below {_size(thresholds.disk_warn_bytes)} or {thresholds.disk_warn_fraction:.0%}, "
                   f"fail below {_size(thresholds.disk_fail_bytes)})")
    return Part("disk", worst, reason, {"paths": rows})


def _disk_status(free: int, total: int, thresholds: Thresholds) -> Status:
    if free < thresholds.disk_fail_bytes:
        return "fail"
    if free < thresholds.disk_warn_bytes or (total and free / total < thresholds.disk_warn_fraction):
        return "warn"
    return "ok"


def _local_places(database: Database) -> Iterator[tuple[str, Path]]:
    settings = database.settings
    if settings.backend == "sqlite" and settings.url.database:
        yield "database", Path(settings.url.database).expanduser().resolve().parent
    if settings.artifact_path is not None:
        yield "store", Path(settings.artifact_path).expanduser().resolve()


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or "/")


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def _ago(span: timedelta) -> str:
    seconds = abs(span.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def settings_warnings(database: Database) -> list[str]:
    """Stray ``STRATLOGIC_*`` variables (a typo of a setting is otherwise ignored without a word)."""
    return stray_variables(env_file=database.settings.home / ".env")


__all__ = ["DEFAULT_THRESHOLDS", "PROBE_PREFIX", "Part", "PendingStore", "Status", "Thresholds", "audit_part",
           "database_part", "disk_part", "guarded", "pool_part", "queue_part", "settings_warnings", "store_part",
           "store_part_bounded"]
