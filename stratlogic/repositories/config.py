"""System configuration: typed values with a declared schema per key, secrets masked when listed.

Every key is declared below (type, default, description, secret flag). Setting an undeclared key, or a
value of the wrong type, is refused naming the key and what was expected. Unset keys read as their
default, so the code never has to guess.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, NoReturn, get_args, get_origin

from pydantic import AfterValidator, ConfigDict, TypeAdapter
from pydantic import Field as Constraint
from pydantic import ValidationError as PydanticError

from stratlogic.db.actor import current_actor
from stratlogic.errors import ValidationError
from stratlogic.models import SystemConfig
from stratlogic.models.audit_rules import AuditAction
from stratlogic.models.job import MAX_LEASE_SECONDS
from stratlogic.repositories import _trail
from stratlogic.repositories._frames import as_json_text
from stratlogic.repositories.base import Repository, same

if TYPE_CHECKING:
    import pandas as pd

MASK = "***"


@dataclass(frozen=True)
class ConfigKey:
    """The declaration of one configuration key."""

    key: str
    type: Any
    default: Any
    description: str
    secret: bool = False
    #: What reads the key: shown by ``config list`` so nobody tunes a key that changes nothing here.
    read_by: str = ""

    @cached_property
    def adapter(self) -> TypeAdapter[Any]:
        """A strict pydantic validator for the declared type (``"5"`` is not an int, ``True`` is not 1)."""
        return TypeAdapter(self.type, config=ConfigDict(strict=True, allow_inf_nan=False))

    @property
    def type_name(self) -> str:
        """The declared type, spelled as in Python (constraints left out): ``int``, ``list[str]``."""
        base = self.base_type
        return base.__name__ if get_origin(base) is None and isinstance(base, type) else str(base)

    @property
    def base_type(self) -> Any:
        """The declared type without its constraints (``Annotated[int, ...]`` -> ``int``)."""
        return get_args(self.type)[0] if get_origin(self.type) is Annotated else self.type

    def validate(self, value: Any) -> Any:
        """The value, checked against the declared type; raises ValidationError naming the key and type.

        A secret key's value is never repeated in the error (it is often the secret, slightly mistyped), nor
        kept in it: the error is raised outside the ``except`` so pydantic's, which holds the value, is not
        chained to it.
        """
        try:
            return self.adapter.validate_python(value)
        except PydanticError as exc:
            problem = str(exc.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
        raise ValidationError(f"config {self.key!r} expects {self.type_name}, got {self.shown(value)!r} "
                              f"({type(value).__name__}): {problem}")

    def shown(self, value: Any) -> Any:
        """The value as people may see it: a secret key's masked unless empty (so "not set" stays visible)."""
        return _masked(value, self.secret)


PositiveInt = Annotated[int, Constraint(ge=1)]
PositiveFloat = Annotated[float, Constraint(gt=0)]
MAX_BACKOFF_SECONDS = 86_400.0
"""A retry delay longer than a day is a typo; unbounded, it overflows the date arithmetic of every retry."""
MAX_RETENTION_DAYS = 36_500
"""A century: more than any retention policy needs, and far from what a date can hold."""
LeaseSeconds = Annotated[int, Constraint(ge=1, le=MAX_LEASE_SECONDS)]
BackoffSeconds = Annotated[float, Constraint(gt=0, le=MAX_BACKOFF_SECONDS)]

def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("it must not be empty or blank")
    return text


#: Text that is not blank: an empty User-Agent is a misconfiguration, not a choice.
NonBlank = Annotated[str, Constraint(max_length=500), AfterValidator(_not_blank)]
_SCRAPER = "the scraper (outside this package), which reads it through the config repository"
DECLARED: dict[str, ConfigKey] = {k.key: k for k in [
    ConfigKey("artifacts.max_size_bytes", PositiveInt, 100 * 1024 * 1024,
              "Largest artifact accepted, in bytes.", read_by="artifact store (storage/artifacts.py)"),
    ConfigKey("artifacts.allowed_content_types", list[str],
              ["text/html", "application/json", "text/csv", "application/pdf", "image/png", "image/jpeg",
               "text/plain", "application/xml"],
              "Content types an artifact may have.", read_by="artifact store (storage/artifacts.py)"),
    ConfigKey("jobs.default_max_retries", Annotated[int, Constraint(ge=0, le=100)], 3,
              "Retries a new job gets unless it says otherwise.", read_by="job creation"),
    ConfigKey("jobs.lease_seconds", LeaseSeconds, 300,
              "How long a claim lasts without a heartbeat before the job is recovered.",
              read_by="worker claims and heartbeats"),
    ConfigKey("jobs.backoff_base_seconds", BackoffSeconds, 30.0, "First retry delay; doubles each attempt.",
              read_by="job retries after a failure"),
    ConfigKey("jobs.backoff_max_seconds", BackoffSeconds, 3600.0, "Longest retry delay.",
              read_by="job retries after a failure"),
    ConfigKey("audit.retention_days", Annotated[int, Constraint(ge=1, le=MAX_RETENTION_DAYS)], 365,
              "Audit rows older than this may be archived.",
              read_by="nothing yet: the retention issue (archive and prune) will"),
    ConfigKey("reports.default_window_days", PositiveInt, 30, "Window the reports cover by default.",
              read_by="nothing yet: the report notebooks will"),
    ConfigKey("scraper.user_agent", NonBlank, "StratLogicBot/1.0", "User-Agent header scrapers send.",
              read_by=_SCRAPER),
    ConfigKey("scraper.rate_limit_per_second", PositiveFloat, 1.0, "Requests per second per target host.",
              read_by=_SCRAPER),
    ConfigKey("scraper.proxy_url", str, "", "Outbound proxy for scrapers (may carry credentials).",
              secret=True, read_by=_SCRAPER),
]}


@dataclass(frozen=True)
class ConfigEntry:
    """One key as listed: its value (masked when secret), whether it is the default, who set it."""

    key: str
    value: Any
    type_name: str
    description: str
    is_secret: bool
    is_default: bool
    updated_by_id: int | None
    updated_at: datetime | None
    read_by: str = ""


def declared(key: str) -> ConfigKey:
    """The declaration of ``key``; raises ValidationError listing the declared keys."""
    try:
        return DECLARED[key]
    except KeyError:
        raise ValidationError(f"unknown config key {key!r}; declared keys: {', '.join(sorted(DECLARED))}") from None


def parse_text(key: str, text: str) -> Any:
    """A value typed at a CLI prompt: JSON when it parses (``10``, ``true``, ``["a"]``), else the text."""
    spec = declared(key)
    if spec.base_type is str:
        return spec.validate(text)  # a text key keeps exactly what was typed, even if it looks like JSON
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    return spec.validate(value)


class ConfigRepository(Repository[SystemConfig]):
    """Typed get/set of configuration values."""

    model = SystemConfig
    resource = "config"
    primary_key: ClassVar[str] = "key"
    filterable = ("key", "is_secret", "updated_at")
    sortable = ("key", "updated_at")
    default_sort = ("key",)
    actions: ClassVar[Mapping[str, AuditAction]] = {"created": AuditAction.CONFIG_SET,
                                                     "updated": AuditAction.CONFIG_SET,
                                                     "deleted": AuditAction.CONFIG_UNSET}

    def value(self, key: str) -> Any:
        """The current value of ``key`` (its default when unset)."""
        spec = declared(key)
        row = self.get_or_none(key)
        return spec.default if row is None else row.value

    def recent_value(self, key: str, max_age: float = 5.0) -> Any:
        """``value(key)`` as read at most ``max_age`` seconds ago in this process, for hot paths (claims).

        A change made through this process is seen at once; one made elsewhere within ``max_age``.
        """
        found = _cached(self.uow.database, key, max_age)
        if found is not _MISS:
            return found
        value = self.value(key)
        self.uow.database.cache[f"config:{key}"] = (time.monotonic(), value)
        return value

    def add(self, entity: SystemConfig) -> NoReturn:
        """Refused: a row added directly would skip the declared key, type and secret flag."""
        raise _use_set("add")

    def add_many(self, rows: Sequence[Mapping[str, Any]]) -> NoReturn:
        """Refused: rows inserted in bulk would skip the declared key, type and secret flag."""
        raise _use_set("add_many")

    def upsert_many(self, rows: Sequence[Mapping[str, Any]], *, conflict: Sequence[str],
                    update_fields: Sequence[str] | None = None) -> NoReturn:
        """Refused: rows upserted in bulk would skip the declared key, type and secret flag."""
        raise _use_set("upsert_many")

    def _frame_of(self, rows: Sequence[Any]) -> pd.DataFrame:
        """Frames of stored rows, secret values masked (frames get printed, logged and saved)."""
        frame = super()._frame_of(rows)
        if not frame.empty:
            frame["value"] = [as_json_text(_shown(key, bool(flag), None if text is None else json.loads(text)))
                              for key, flag, text in zip(frame["key"], frame["is_secret"], frame["value"],
                                                         strict=True)]
        return frame

    def _forget(self, key: str) -> None:
        self.uow.database.cache.pop(f"config:{key}", None)

    def set(self, key: str, value: Any, *, updated_by: int | None = None) -> ConfigEntry:
        """Set ``key`` after checking the value against its declared type (recorded, secrets masked).

        ``updated_by`` defaults to the acting user (``acting_as``).
        """
        spec = declared(key)
        checked = spec.validate(value)
        self._forget(key)
        updated_by = updated_by if updated_by is not None else current_actor().user_id
        row = self.get_or_none(key)
        created = row is None
        old = spec.default if row is None else row.value
        changed = created or not same(old, checked) or row.updated_by_id != updated_by  # type: ignore[union-attr]
        with self.session.begin_nested():
            if row is None:
                row = SystemConfig(key=key, value=checked, description=spec.description, is_secret=spec.secret,
                                   updated_by_id=updated_by)
                self.session.add(row)
            else:
                row.value, row.updated_by_id = checked, updated_by
            self.session.flush()
            if changed:
                self._record(AuditAction.CONFIG_SET, [(key, {"old": old, "new": checked})])
        return self._entry(spec, row)

    def unset(self, key: str) -> bool:
        """Return ``key`` to its default; False when it was not set."""
        spec = declared(key)
        self._forget(key)
        row = self.get_or_none(key)
        if row is None:
            return False
        with self.session.begin_nested():
            old = row.value
            self.session.delete(row)
            self.session.flush()
            self._record(AuditAction.CONFIG_UNSET, [(key, {"old": old, "new": spec.default})])
        return True

    def _record(self, action: str | AuditAction, changes: Sequence[tuple[Any, Mapping[str, Any]]]) -> None:
        """Config rows are recorded by key; a secret key's values are masked however they were written."""
        resolved = action if isinstance(action, AuditAction) else self.actions[action]
        entries = []
        for key, details in changes:
            secret = key in DECLARED and DECLARED[key].secret
            masked = frozenset({"old", "new", "value"}) if secret else frozenset()
            entries.append(_trail.AuditEntry(resolved, "config", str(key), details, masked))
        _trail.append(self.uow, entries)

    def entry(self, key: str) -> ConfigEntry:
        """One key as listed (secret values masked)."""
        return self._entry(declared(key), self.get_or_none(key))

    def entries(self) -> list[ConfigEntry]:
        """Every declared key, set or not, in key order (secret values masked)."""
        rows = {row.key: row for row in self.list(limit=self.max_limit)}
        return [self._entry(spec, rows.get(key)) for key, spec in sorted(DECLARED.items())]

    @staticmethod
    def _entry(spec: ConfigKey, row: SystemConfig | None) -> ConfigEntry:
        shown = spec.shown(spec.default if row is None else row.value)
        return ConfigEntry(spec.key, shown, spec.type_name, spec.description, spec.secret, row is None,
                           row.updated_by_id if row else None, row.updated_at if row else None, spec.read_by)


def _shown(key: str, is_secret: bool, value: Any) -> Any:
    """A stored value as people may see it: masked when its key is declared secret or its row says so."""
    spec = DECLARED.get(key)
    return _masked(value, is_secret or (spec is not None and spec.secret))


def _masked(value: Any, secret: bool) -> Any:
    """``MASK`` for a secret value; an empty one stays visible, so "not set" can be told apart."""
    return MASK if secret and value not in ("", None) else value


def _use_set(method: str) -> ValidationError:
    return ValidationError(f"config: {method} is not available; set keys one at a time with "
                           "ConfigRepository.set(key, value), which checks the declared key and type")


_MISS = object()


def _cached(database: Any, key: str, max_age: float) -> Any:
    """``key``'s value from the process cache when read less than ``max_age`` seconds ago, else ``_MISS``."""
    found = database.cache.get(f"config:{key}")
    return found[1] if found is not None and time.monotonic() - found[0] < max_age else _MISS


def recent_config(database: Any, key: str, max_age: float = 5.0) -> Any:
    """``ConfigRepository.recent_value`` without a caller's unit of work: a read-only one only on a miss."""
    found = _cached(database, key, max_age)
    if found is not _MISS:
        return found
    with database.unit_of_work(readonly=True) as uow:
        return ConfigRepository(uow).recent_value(key, max_age)


__all__ = ["DECLARED", "MASK", "ConfigEntry", "ConfigKey", "ConfigRepository", "declared", "parse_text",
           "recent_config"]
