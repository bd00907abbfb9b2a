"""Whole-system health: one report over the database, its pool, the artifact store, the audit chain, the job
queue and the disk, each part ``ok``, ``warn`` or ``fail`` with a one-line reason.

It must answer when things are broken, so it opens no unit of work before it knows the database answers:
the database is probed first (on a connection of its own when a shorter ``timeout`` is asked for), the
parts that need it say they were not checked when it does not answer, and the store is checked in a
thread of its own meanwhile, bounded by the same timeout (a silent S3 endpoint would otherwise hold a read
for two minutes). It writes nothing to the database; ``deep=True`` writes, reads back and deletes one
small object in the store and verifies the newest audit rows. Thresholds are ``Thresholds`` (documented
in docs/operations.md#health).
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from stratlogic.db import Database
from stratlogic.db.actor import Actor, as_actor
from stratlogic.errors import ValidationError
from stratlogic.services._base import entry
from stratlogic.services._health_parts import (
    DEFAULT_THRESHOLDS,
    Part,
    Status,
    Thresholds,
    audit_part,
    database_part,
    disk_part,
    pool_part,
    queue_part,
    settings_warnings,
    store_part_bounded,
)

_RANK: dict[Status, int] = {"ok": 0, "warn": 1, "fail": 2}
_COLOURS: dict[Status, str] = {"ok": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}


@dataclass(frozen=True)
class SystemHealth:
    """The report: every part with its status and reason, the database's figures at the top level (the
    fields ``stratlogic health --json`` always had), and settings warnings (stray ``STRATLOGIC_*``
    variables), which never change the status."""

    backend: str
    url: str  # password and secret query values masked
    store: str  # the store's description, never its keys
    deep: bool
    checked_at: datetime
    seconds: float
    parts: tuple[Part, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def status(self) -> Status:
        """The worst status of any part."""
        return max((part.status for part in self.parts), key=_RANK.__getitem__, default="ok")

    @property
    def ok(self) -> bool:
        """No part failed (warnings allowed)."""
        return self.status != "fail"

    def part(self, name: str) -> Part:
        """One part by name (``database``, ``pool``, ``store``, ``audit``, ``queue``, ``disk``)."""
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(f"no health part {name!r}; parts: {', '.join(p.name for p in self.parts)}")

    def _database(self, key: str) -> Any:
        return self.part("database").details.get(key)

    @property
    def reachable(self) -> bool:
        """The database answered."""
        return bool(self._database("reachable"))

    @property
    def latency_ms(self) -> float | None:
        """One round trip to the database, in milliseconds."""
        value = self._database("latency_ms")
        return None if value is None else float(value)

    @property
    def server_version(self) -> str | None:
        """The database server's version."""
        value = self._database("server_version")
        return None if value is None else str(value)

    @property
    def current_revision(self) -> str | None:
        """The schema revision of the database (None: never migrated, or not reachable)."""
        value = self._database("current_revision")
        return None if value is None else str(value)

    @property
    def head_revision(self) -> str | None:
        """The migrations' head."""
        value = self._database("head_revision")
        return None if value is None else str(value)

    @property
    def message(self) -> str:
        """One line: the parts that are not ok, or that all are."""
        troubled = [part for part in self.parts if part.status != "ok"]
        if not troubled:
            return f"all {len(self.parts)} parts ok; {self.part('database').reason}"
        return "; ".join(f"{part.name} {part.status}: {part.reason}" for part in troubled)

    def exit_code(self, *, strict: bool = False) -> int:
        """0 all ok; 1 any part failed; 2 warnings only, when ``strict`` (otherwise warnings exit 0)."""
        if self.status == "fail":
            return 1
        return 2 if strict and self.status == "warn" else 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the status, the database's fields at the top level, then every part by name."""
        return {
            "status": self.status, "ok": self.ok, "backend": self.backend, "url": self.url,
            "reachable": self.reachable, "latency_ms": self.latency_ms, "server_version": self.server_version,
            "current_revision": self.current_revision, "head_revision": self.head_revision,
            "message": self.message, "store": self.store, "deep": self.deep,
            "checked_at": self.checked_at.isoformat(), "seconds": round(self.seconds, 3),
            "parts": {part.name: {"status": part.status, "reason": part.reason, **_plain(part.details)}
                      for part in self.parts},
            "warnings": list(self.warnings),
        }

    def _repr_html_(self) -> str:
        """A table for notebooks: every value escaped; the URL is the masked one."""
        rows = "".join(
            f"<tr><td style='color:{_COLOURS[part.status]};font-weight:bold'>{part.status}</td>"
            f"<td>{html.escape(part.name)}</td><td>{html.escape(part.reason)}</td></tr>"
            for part in self.parts)
        warnings = "".join(f"<li>{html.escape(warning)}</li>" for warning in self.warnings)
        return (f"<div><b style='color:{_COLOURS[self.status]}'>{self.status}</b> "
                f"{html.escape(self.backend)} database {html.escape(self.url)}; store {html.escape(self.store)}"
                f"{' (deep)' if self.deep else ''}, checked in {self.seconds:.2f} s"
                f"<table><tr><th>status</th><th>part</th><th>reason</th></tr>{rows}</table>"
                + (f"<ul>{warnings}</ul>" if warnings else "") + "</div>")


def _plain(details: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in details.items()}


@entry("health.check", writes=False)
def check(database: Database, *, actor: Actor, deep: bool = False, timeout: float | None = None,
          audit_rows: int = 1000, thresholds: Thresholds = DEFAULT_THRESHOLDS,
          now: datetime | None = None) -> SystemHealth:
    """Check every part of the system and report, never raising for a part that is down.

    Args:
        deep: also write, read back and delete a probe object in the store, and verify the newest
            ``audit_rows`` rows of the audit chain.
        timeout: seconds to wait for a silent database or store (default: STRATLOGIC_CONNECT_TIMEOUT).
        thresholds: when a part warns; ``now``: the moment ages are measured from (tests).
    """
    if isinstance(audit_rows, bool) or not isinstance(audit_rows, int) or audit_rows < 1:
        raise ValidationError(f"audit_rows {audit_rows!r} is not a number of rows: give 1 or more")
    if timeout is not None and not timeout > 0:
        raise ValidationError(f"timeout {timeout!r} is not a number of seconds: give more than 0")
    started, moment = time.perf_counter(), now or datetime.now(UTC)
    limits = replace(thresholds, audit_rows=audit_rows)
    with as_actor(actor):
        store = store_part_bounded(database, deep=deep, timeout=timeout)  # runs while the database is probed
        database_result, skip = database_part(database, timeout=timeout, thresholds=limits)
        parts = [database_result, pool_part(database),
                 store.result(usable=skip is None),
                 audit_part(database, skip=skip, deep=deep, now=moment, thresholds=limits),
                 queue_part(database, skip=skip, now=moment, thresholds=limits),
                 disk_part(database, thresholds=limits)]
    return SystemHealth(database.dialect, database.settings.safe_url, store.description, deep, moment,
                        time.perf_counter() - started, tuple(parts), tuple(settings_warnings(database)))


__all__ = ["DEFAULT_THRESHOLDS", "Part", "Status", "SystemHealth", "Thresholds", "check"]
