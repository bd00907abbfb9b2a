"""Audit statistics: events per bucket, most active actors and most changed resources, security-relevant
changes, events outside working hours, and the chain's status for a report's header.

Events are placed in the window by ``occurred_at``. Filters: ``action`` (one of the trail's actions),
``actor`` (username or id), ``resource_type``. An event without an actor is shown as ``(system)``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Text, and_, cast, func, literal, or_, select

from stratlogic.analytics._filters import (
    FilterValue,
    Moment,
    check_choice,
    check_limit,
    in_window,
    listed,
    named,
    one_of,
    person,
)
from stratlogic.analytics._filters import window_of as _window
from stratlogic.analytics._frames import frame
from stratlogic.analytics._sql import bucket_key, bucket_label, fetch, local_clock
from stratlogic.analytics.window import Window, parse_bucket, parse_moment
from stratlogic.audit.verify import anchor, verify, verify_segment
from stratlogic.db import Database
from stratlogic.errors import ValidationError
from stratlogic.models import AuditLog, User
from stratlogic.models.audit_rules import GENESIS, AuditAction
from stratlogic.models.base import UTCDateTime

L = AuditLog
SYSTEM = "(system)"
GROUPS = ("action", "actor")
ACTIONS = tuple(action.value for action in AuditAction)
#: Actions that change who may do what, or the trail itself.
SECURITY_ACTIONS = ("user.created", "user.deleted", "user.role_changed", "user.activated", "user.deactivated",
                    "user.password_changed", "audit.pruned", "backup.restored")
#: Configuration keys whose changes a security review wants to see (retention, what may be stored, proxy).
SECURITY_CONFIG_KEYS = ("audit.retention_days", "artifacts.allowed_content_types", "artifacts.max_size_bytes",
                        "scraper.proxy_url")
#: ``chain_status(since=CHECKPOINT)``: from the newest checkpoint recorded in the trail.
CHECKPOINT = "checkpoint"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def audit_filters(*, action: FilterValue = None, actor: FilterValue = None,
                  resource_type: FilterValue = None) -> list[ColumnElement[bool]]:
    """Conditions for the audit filter keywords; an unknown action is refused with the list of actions."""
    actions = listed("action", action)
    for item in actions or []:
        check_choice("action", item, ACTIONS)
    return [*one_of("action", L.action, actions, "audit"), *person("actor", L.actor_id, actor, "audit"),
            *one_of("resource_type", L.resource_type, resource_type, "audit")]


def _where(window: Window, **filters: FilterValue) -> list[ColumnElement[bool]]:
    return [*in_window(L.occurred_at, window), *audit_filters(**filters)]


def _actor_name() -> Any:
    return func.coalesce(User.username, literal(SYSTEM))


@named
def audit_volume(db: Database, *, by: str = "day", group: str = "action", since: Moment = "-30d",
                 until: Moment = "now", tz: str = "UTC", action: FilterValue = None, actor: FilterValue = None,
                 resource_type: FilterValue = None) -> pd.DataFrame:
    """Events per bucket and action (or actor's username) -> ``bucket`` (tz-aware), ``key``, ``events``."""
    check_choice("group", group, GROUPS)
    window, unit = _window(since, until, tz), parse_bucket(by)
    column = L.action if group == "action" else L.actor_id
    rows = (select(bucket_key(db.dialect, L.occurred_at, unit, window).label("bucket"), column.label("k"))
            .where(*_where(window, action=action, actor=actor, resource_type=resource_type)).subquery())
    counted = (select(rows.c.bucket, rows.c.k, func.count().label("events"))
               .group_by(rows.c.bucket, rows.c.k).subquery())
    if group == "action":
        statement = select(counted.c.bucket, counted.c.k, counted.c.events)
    else:
        statement = (select(counted.c.bucket, _actor_name(), counted.c.events)
                     .outerjoin(User, User.id == counted.c.k))
    found = fetch(db, statement.order_by(counted.c.bucket, counted.c.k.nulls_first()))
    return frame(((bucket_label(b, unit, window.tz), key, n) for b, key, n in found),
                 [("bucket", "datetime"), ("key", "str"), ("events", "int64")], tz=window.tz)


@named
def top_actors(db: Database, *, limit: int = 10, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
               action: FilterValue = None, actor: FilterValue = None,
               resource_type: FilterValue = None) -> pd.DataFrame:
    """The most active actors -> ``actor_id`` (<NA> for the system), ``actor`` (username), ``events``."""
    top = (select(L.actor_id, func.count().label("events"))
           .where(*_where(_window(since, until, tz), action=action, actor=actor, resource_type=resource_type))
           .group_by(L.actor_id).order_by(func.count().desc(), L.actor_id.nulls_last())
           .limit(check_limit(limit)).subquery())
    found = fetch(db, select(top.c.actor_id, _actor_name(), top.c.events).outerjoin(User, User.id == top.c.actor_id)
                  .order_by(top.c.events.desc(), top.c.actor_id.nulls_last()))
    return frame(found, [("actor_id", "Int64"), ("actor", "str"), ("events", "int64")])


@named
def top_resources(db: Database, *, limit: int = 10, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
                  action: FilterValue = None, actor: FilterValue = None,
                  resource_type: FilterValue = None) -> pd.DataFrame:
    """The resources with the most events -> ``resource_type``, ``resource_id``, ``changes``; ties go to
    the most recently changed."""
    where = _where(_window(since, until, tz), action=action, actor=actor, resource_type=resource_type)
    found = fetch(db, select(L.resource_type, L.resource_id, func.count()).where(*where, L.resource_id.is_not(None))
                  .group_by(L.resource_type, L.resource_id).order_by(func.count().desc(), func.max(L.id).desc())
                  .limit(check_limit(limit)))
    return frame(found, [("resource_type", "str"), ("resource_id", "str"), ("changes", "int64")])


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


EVENT = [("id", "int64"), ("occurred_at", "utc"), ("actor", "str"), ("action", "str"), ("resource_type", "str"),
         ("resource_id", "str")]


def _security_condition(config_keys: tuple[str, ...]) -> ColumnElement[bool]:
    details = cast(L.details, Text)
    touches_access = or_(details.like('%"is_active"%'), details.like('%"role"%'))
    return or_(L.action.in_(SECURITY_ACTIONS),
               and_(L.action == AuditAction.USER_UPDATED.value, touches_access),
               and_(L.action.in_([AuditAction.CONFIG_SET.value, AuditAction.CONFIG_UNSET.value]),
                    L.resource_id.in_(config_keys)))


@named
def security_changes(db: Database, *, since: Moment = "-30d", until: Moment = "now", tz: str = "UTC",
                     actor: FilterValue = None, config_keys: tuple[str, ...] = SECURITY_CONFIG_KEYS,
                     limit: int = 10_000) -> pd.DataFrame:
    """Every change to users' roles, activation, existence or password, to the trail (prunes, restores)
    and to ``config_keys`` -> ``EVENT`` columns + ``details`` (JSON text; secrets are masked in the trail)."""
    keys = tuple(str(key) for key in (listed("config_keys", config_keys) or []))
    found = fetch(db, select(L.id, L.occurred_at, _actor_name(), L.action, L.resource_type, L.resource_id, L.details)
                  .outerjoin(User, User.id == L.actor_id)
                  .where(*_where(_window(since, until, tz), actor=actor), _security_condition(keys))
                  .order_by(L.occurred_at, L.id).limit(check_limit(limit, most=1_000_000)))
    return frame(((*row[:6], _json(row[6])) for row in found), [*EVENT, ("details", "str")])


def _clock(param: str, text: str) -> str:
    if not isinstance(text, str) or not _CLOCK.fullmatch(text.strip()):
        raise ValidationError(f"{param}: {text!r} is not a time of day; use HH:MM, e.g. 08:00")
    return f"{text.strip()}:00"


@named
def after_hours(db: Database, *, start: str = "08:00", end: str = "18:00", weekdays_only: bool = True,
                since: Moment = "-30d", until: Moment = "now", tz: str = "UTC", action: FilterValue = None,
                actor: FilterValue = None, resource_type: FilterValue = None,
                limit: int = 10_000) -> pd.DataFrame:
    """Events outside working hours ``[start, end)`` in ``tz`` (and, with ``weekdays_only``, every weekend
    event) -> ``EVENT`` columns + ``local_time`` (tz-aware); ``start`` after ``end`` means a night shift."""
    opens, closes = _clock("start", start), _clock("end", end)
    if opens == closes:
        raise ValidationError(f"end: {end!r} equals start: working hours would be empty")
    window = _window(since, until, tz)
    clock, weekday = local_clock(db.dialect, L.occurred_at, window)
    outside = (or_(clock < opens, clock >= closes) if opens < closes else and_(clock >= closes, clock < opens))
    if weekdays_only:
        outside = or_(outside, weekday >= 6)
    found = fetch(db, select(L.id, L.occurred_at, _actor_name(), L.action, L.resource_type, L.resource_id)
                  .outerjoin(User, User.id == L.actor_id)
                  .where(*_where(window, action=action, actor=actor, resource_type=resource_type), outside)
                  .order_by(L.occurred_at, L.id).limit(check_limit(limit, most=1_000_000)))
    return frame(((*row, row[1]) for row in found), [*EVENT, ("local_time", "datetime")], tz=window.tz)


CHAIN = [("ok", "bool"), ("rows_checked", "int64"), ("tail_id", "Int64"), ("tail_hash", "str"),
         ("first_bad_id", "Int64"), ("message", "str"), ("seconds", "float64"), ("first_id", "Int64")]


@named
def chain_status(db: Database, *, workers: int = 1, since: Moment | None = None, tz: str = "UTC") -> pd.DataFrame:
    """One row from ``audit verify``: ``ok``, ``rows_checked``, ``tail_id`` / ``tail_hash`` (the last row
    verified), ``first_bad_id``, ``message``, ``seconds``, ``first_id`` (the first row checked).

    The whole chain by default, in one process: it never forks, so it is safe inside a notebook kernel
    (``workers`` > 1 shares a PostgreSQL trail out to processes). With ``since``, only the rows from the
    first one at or after ``since`` to the tail, and that row's link to the stored hash before it: a quick
    check for a report's window, which does not prove the older prefix (run the full check for that).
    With ``since="checkpoint"``, the rows after the newest checkpoint recorded in the trail (``stratlogic
    audit checkpoint``), linked to the hash it recorded; the whole chain when there is none (``_from_checkpoint``).
    """
    if since == CHECKPOINT:
        return _from_checkpoint(db, workers)
    if since is None:
        report = verify(db, workers=workers)
        with db.unit_of_work(readonly=True) as uow:
            first = uow.session.scalar(select(func.min(L.id)))
        return frame([(report.ok, report.rows, report.last_id, report.last_hash, report.bad_id, report.message,
                       report.seconds, first)], CHAIN)
    try:
        start = parse_moment(since, param="since", tz=tz)
    except ValidationError as exc:
        raise ValidationError(f"{exc} (or {CHECKPOINT!r}: from the newest checkpoint)") from None
    return _recent_chain(db, start)


def _newest_checkpoint(db: Database) -> tuple[int, int, str, datetime] | None:
    """The newest ``audit.checkpoint`` row: its id, the id and hash it recorded, and when. The ids are read
    filtered on the action alone (a few hundred a year), so the (action, occurred_at) index answers it:
    ``max(id)`` lets PostgreSQL walk the primary key backwards instead, the whole trail (3.6 s on 5.5M rows)
    when there is no checkpoint."""
    with db.unit_of_work(readonly=True) as uow:
        newest = max(uow.session.scalars(select(L.id).where(L.action == AuditAction.AUDIT_CHECKPOINT.value)),
                     default=None)
        if newest is None:
            return None
        row = uow.session.execute(select(L.resource_id, L.details, L.occurred_at).where(L.id == newest)).one()
    details = row.details if isinstance(row.details, dict) else {}
    if not str(row.resource_id or "").isdigit() or not isinstance(details.get("hash"), str):
        return None
    return newest, int(row.resource_id), details["hash"], row.occurred_at


def _from_checkpoint(db: Database, workers: int) -> pd.DataFrame:
    """Verify the rows after the newest checkpoint's row, and that they link to the hash it recorded.

    Rows up to the checkpoint's are not re-read (an edit there since the checkpoint goes unseen: the whole
    check finds it); a checkpoint whose row is gone (pruned since) or that holds no id and hash is not used.
    """
    found = _newest_checkpoint(db)
    with db.unit_of_work(readonly=True) as uow:
        point_hash = None if found is None else uow.session.scalar(select(L.hash).where(L.id == found[1]))
    if found is None or point_hash is None:
        whole = chain_status(db, workers=workers)
        return whole.assign(message=whole["message"] + " (the whole chain: no usable checkpoint in the trail)")
    started, (marker, point_id, recorded, taken) = time.perf_counter(), found
    segment = verify_segment(db, point_id + 1, 2**63 - 1)
    bad, message = segment.bad_id, segment.message
    if point_hash != recorded:
        bad, message = point_id, (f"row {point_id} no longer has the hash the checkpoint at row {marker} recorded "
                                  f"({taken.isoformat()}): the chain up to it was rewritten")
    elif bad is None and segment.first_prev != recorded:
        bad, message = segment.first_id, (f"row {segment.first_id}: link broken: its prev_hash is not the hash "
                                          f"of row {point_id} that the checkpoint recorded")
    ok = bad is None
    if ok:
        message = (f"{segment.rows} rows verified from id {segment.first_id} to {segment.last_id}, linked to row "
                   f"{point_id} as the checkpoint at row {marker} ({taken.isoformat()}) recorded it; rows up to "
                   f"{point_id} not re-read")
    return frame([(ok, segment.rows, segment.last_id if ok else None, segment.last_hash if ok else None, bad,
                   message, time.perf_counter() - started, segment.first_id)], CHAIN)


def _recent_chain(db: Database, start: datetime) -> pd.DataFrame:
    started = time.perf_counter()
    with db.unit_of_work(readonly=True) as uow:
        low = uow.session.scalar(select(func.min(L.id)).where(L.occurred_at >= literal(start, UTCDateTime())))
        before = None if low is None else uow.session.scalar(
            select(L.hash).where(L.id < low).order_by(L.id.desc()).limit(1))
    before = before or anchor(db) or GENESIS  # the first row links to the genesis value or a prune's anchor
    if low is None:
        return frame([(True, 0, None, None, None, f"no rows since {start.isoformat()}",
                       time.perf_counter() - started, None)], CHAIN)
    segment = verify_segment(db, low, 2**63 - 1)
    if segment.bad_id is None and segment.first_prev != before:
        segment = replace(segment, bad_id=low, message=f"row {low}: its prev_hash does not match the hash of the "
                                                       "row before it (a row was inserted, deleted or reordered)")
    ok = segment.bad_id is None
    message = f"{segment.rows} rows verified from id {low}" if ok else segment.message
    return frame([(ok, segment.rows, segment.last_id if ok else None, segment.last_hash if ok else None,
                   segment.bad_id, message, time.perf_counter() - started, low)], CHAIN)


__all__ = ["ACTIONS", "CHECKPOINT", "SECURITY_ACTIONS", "SECURITY_CONFIG_KEYS", "after_hours", "audit_filters",
           "audit_volume", "chain_status", "security_changes", "top_actors", "top_resources"]
