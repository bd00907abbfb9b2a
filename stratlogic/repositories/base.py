"""The generic repository: typed CRUD, safe filtering and sorting, both kinds of pagination, bulk writes.

Every read and write of rows goes through a repository. Subclasses declare the model, a resource name
for messages, and which fields may be filtered, sorted and written; everything else is refused by name.
Each write runs in a savepoint, so a refused write changes nothing and the caller's transaction stays
usable (a notebook can catch the error and carry on).
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.orm.exc import StaleDataError

from stratlogic.db.session import UnitOfWork
from stratlogic.errors import ConcurrentUpdateError, NotFoundError, ValidationError
from stratlogic.models import Base
from stratlogic.models.audit_rules import MASK, AuditAction
from stratlogic.repositories import _cursor, _frames, _trail
from stratlogic.repositories._errors import integrity
from stratlogic.repositories.filters import (
    _MAX_INT,
    _MIN_INT,
    Field,
    Filter,
    Order,
    field_for,
    parse_filters,
    parse_sort,
)

if TYPE_CHECKING:
    import pandas as pd

ModelT = TypeVar("ModelT", bound=Base)
Filters = Mapping[str, Any] | None
Sort = str | Sequence[str] | None
#: SQLite allows 32766 bound parameters per statement; stay well under it on both engines.
MAX_PARAMETERS = 30_000


@dataclass(frozen=True)
class Page(Generic[ModelT]):
    """One keyset page: its rows, and the cursor of the next page (None on the last page)."""

    items: list[ModelT]
    next_cursor: str | None
    limit: int
    total: int | None = field(default=None)

    @property
    def has_more(self) -> bool:
        """Whether another page follows."""
        return self.next_cursor is not None


class Repository(Generic[ModelT]):
    """Typed access to one table. Subclasses set ``model``, ``resource`` and the field whitelists."""

    model: type[ModelT]
    resource: ClassVar[str]
    filterable: ClassVar[tuple[str, ...]] = ("id",)
    sortable: ClassVar[tuple[str, ...]] = ("id",)
    writable: ClassVar[tuple[str, ...]] = ()
    hidden: ClassVar[frozenset[str]] = frozenset()
    default_sort: ClassVar[tuple[str, ...]] = ("id",)
    primary_key: ClassVar[str] = "id"
    max_limit: ClassVar[int] = 10_000
    #: Every write is recorded in the audit trail, in the same savepoint as the change.
    audited: ClassVar[bool] = True
    #: The actions recorded for created / updated / deleted rows (subclasses name their own).
    actions: ClassVar[Mapping[str, AuditAction]] = {"created": AuditAction.ROW_CREATED,
                                                     "updated": AuditAction.ROW_UPDATED,
                                                     "deleted": AuditAction.ROW_DELETED}

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session: Session = uow.session
        self._filter_fields, self._sort_fields = self._fields()

    @classmethod
    def _fields(cls) -> tuple[dict[str, Field], dict[str, Field]]:
        """The filterable and sortable fields, described once per class (repositories are built often)."""
        cached = cls.__dict__.get("_field_cache")
        if cached is None:
            cached = ({name: cls._field(name) for name in cls.filterable},
                      {name: cls._field(name) for name in cls.sortable})
            cls._field_cache = cached  # type: ignore[attr-defined]
        return cached

    @classmethod
    def filter_fields(cls) -> Mapping[str, Field]:
        """The fields this repository filters on, by name (for ``filters.parse_filters`` elsewhere)."""
        return cls._fields()[0]

    @classmethod
    def check_filters(cls, filters: Filters, *, labels: Mapping[str, str] | None = None) -> None:
        """Refuse bad filters before any query, naming them as the caller does (``labels``: a CLI's
        ``{"status__in": "--status"}``); the same checks every read makes."""
        parse_filters(filters, cls._fields()[0], cls.resource, labels=labels)

    @classmethod
    def _field(cls, name: str) -> Field:
        column: InstrumentedAttribute[Any] = getattr(cls.model, name)
        return field_for(name, column)

    @property
    def _table(self) -> Table:
        return self.model.__table__  # type: ignore[return-value]

    @property
    def _pk(self) -> InstrumentedAttribute[Any]:
        return getattr(self.model, self.primary_key)  # type: ignore[no-any-return]

    # ----- reads ---------------------------------------------------------------------------------------
    def get(self, ident: Any) -> ModelT:
        """The row with this primary key; raises NotFoundError naming it."""
        found = self.get_or_none(ident)
        if found is None:
            raise NotFoundError(f"{self.resource} {ident!r} not found")
        return found

    def get_or_none(self, ident: Any) -> ModelT | None:
        """The row with this primary key, or None.

        An integer no 64-bit key can hold matches no row; asking the database would overflow its driver.
        """
        if isinstance(ident, int) and not isinstance(ident, bool) and not _MIN_INT <= ident <= _MAX_INT:
            return None
        return self.session.get(self.model, ident)

    def _select(self, filters: Filters) -> tuple[Select[Any], list[Filter]]:
        parsed = parse_filters(filters, self._filter_fields, self.resource)
        return select(self.model).where(*(f.clause() for f in parsed)), parsed

    def count(self, filters: Filters = None) -> int:
        """How many rows match (a separate query: pages never pay for a total they did not ask for)."""
        parsed = parse_filters(filters, self._filter_fields, self.resource)
        query = select(func.count()).select_from(self.model).where(*(f.clause() for f in parsed))
        return int(self.session.scalar(query) or 0)

    def exists(self, filters: Filters = None) -> bool:
        """Whether any row matches."""
        query, _ = self._select(filters)
        return bool(self.session.scalar(select(query.limit(1).exists())))

    def _orders(self, sort: Sort) -> list[Order]:
        orders = parse_sort(sort, self._sort_fields, self.resource, self.default_sort)
        if not any(order.field.name == self.primary_key for order in orders):  # unique last key: total order
            orders.append(Order(self._field(self.primary_key), orders[-1].descending))
        return orders

    def _order_by(self, orders: Sequence[Order]) -> list[Any]:
        clauses = []
        for order in orders:
            clause = order.field.column.desc() if order.descending else order.field.column.asc()
            clauses.append(clause.nulls_last() if order.field.nullable else clause)
        return clauses

    def _check_limit(self, limit: int) -> None:
        if not 1 <= limit <= self.max_limit:
            raise ValidationError(f"limit must be between 1 and {self.max_limit}, got {limit}")

    @staticmethod
    def _check_offset(offset: int) -> None:
        if offset < 0:
            raise ValidationError(f"offset must be 0 or more, got {offset}")

    def list(self, filters: Filters = None, *, sort: Sort = None, limit: int = 50, offset: int = 0) -> list[ModelT]:
        """One offset page (fine for small screens; use ``page`` for deep paging through large tables)."""
        self._check_limit(limit)
        self._check_offset(offset)
        query, _ = self._select(filters)
        query = query.order_by(*self._order_by(self._orders(sort))).limit(limit).offset(offset)
        return list(self.session.scalars(query))

    def page(self, filters: Filters = None, *, sort: Sort = None, limit: int = 50, cursor: str | None = None,
             with_total: bool = False) -> Page[ModelT]:
        """One keyset page: as fast at page 10,000 as at page 1. Pass ``next_cursor`` to get the next."""
        self._check_limit(limit)
        query, parsed = self._select(filters)
        orders = self._orders(sort)
        query_id = _cursor.fingerprint(self._table.name, orders, parsed)
        if cursor:
            values = self._codec().decode(cursor, query_id, orders)
            query = query.where(_cursor.after(orders, values))
        rows = builtins.list(self.session.scalars(query.order_by(*self._order_by(orders)).limit(limit + 1)))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = [getattr(rows[-1], order.field.name) for order in orders]
            next_cursor = self._codec().encode(query_id, last)
        total = self.count(filters) if with_total else None
        return Page(rows, next_cursor, limit, total)

    def iterate(self, filters: Filters = None, *, sort: Sort = None, batch: int = 1000) -> Iterator[ModelT]:
        """Every matching row, fetched a keyset page at a time (memory stays flat on any table size)."""
        cursor: str | None = None
        while True:
            page = self.page(filters, sort=sort, limit=batch, cursor=cursor)
            yield from page.items  # the identity map holds clean rows weakly: memory stays flat
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _codec(self) -> _cursor.CursorCodec:
        settings = self.uow.database.settings
        # Cursors only pick where a page starts (filters are applied again): the key keeps them to their
        # installation and query. Never derived from the database password: a printed cursor would let
        # anyone try password guesses against it offline.
        secret = settings.audit_key.get_secret_value() if settings.audit_key else \
            self.uow.database.engine.url.render_as_string(hide_password=True)
        return _cursor.CursorCodec(hashlib.sha256(f"stratlogic-cursor:{secret}".encode()).digest())

    def frame(self, filters: Filters = None, *, sort: Sort = None, limit: int | None = None, offset: int = 0,
              all: bool = False) -> pd.DataFrame:
        """Matching rows as a DataFrame of their visible columns (hidden ones, such as hashes, never appear).

        At most ``limit`` rows (default 1000): when more match, a ``TruncatedFrameWarning`` names the total.
        ``all=True`` reads every matching row (in keyset batches, see ``frames``), so it takes no ``limit``
        or ``offset``. JSON columns are JSON text.
        """
        if all:
            if limit is not None or offset:
                raise ValidationError(f"all=True reads every matching row: it takes no limit or offset (got "
                                      f"limit={limit}, offset={offset}); drop all=True for a slice")
            return _frames.concat(self.frames(filters, sort=sort), self._frame_of([]))
        limit = _frames.FRAME_LIMIT if limit is None else limit
        self._check_limit(limit)
        self._check_offset(offset)
        query, orders = self._frame_query(filters, sort)
        rows = self.session.execute(query.order_by(*self._order_by(orders)).limit(limit + 1).offset(offset)).all()
        if len(rows) > limit:
            rows = rows[:limit]
            _frames.warn_truncated(self.resource, limit, offset, self.count(filters))
        return self._frame_of(rows)

    def frames(self, filters: Filters = None, *, sort: Sort = None,
               batch: int = _frames.FRAME_BATCH) -> Iterator[pd.DataFrame]:
        """Every matching row as DataFrames of at most ``batch`` rows, one keyset query each (memory stays
        flat on any table size; rows added meanwhile behind the cursor are not read twice)."""
        if not 1 <= batch <= 100_000:
            raise ValidationError(f"batch must be between 1 and 100000, got {batch}")
        query, orders = self._frame_query(filters, sort)
        names = [f"_sort_{i}" for i in range(len(orders))]
        keyed = query.add_columns(*(o.field.column.label(n) for o, n in zip(orders, names, strict=True)))
        last: builtins.list[Any] | None = None
        while True:
            page = keyed.where(_cursor.after(orders, last)) if last is not None else keyed
            rows = self.session.execute(page.order_by(*self._order_by(orders)).limit(batch)).all()
            if not rows:
                return
            last = [getattr(rows[-1], name) for name in names]
            yield self._frame_of([row[:-len(names)] for row in rows])
            if len(rows) < batch:
                return

    def _frame_query(self, filters: Filters, sort: Sort) -> tuple[Select[Any], builtins.list[Order]]:
        _, parsed = self._select(filters)
        columns = [c for c in self._table.columns if c.name not in self.hidden]
        return select(*columns).where(*(f.clause() for f in parsed)), self._orders(sort)

    def _frame_of(self, rows: Sequence[Any]) -> pd.DataFrame:
        """A frame of visible-column rows (subclasses mask values here: ``ConfigRepository``)."""
        columns = [c for c in self._table.columns if c.name not in self.hidden]
        return _frames.build(rows, [c.name for c in columns], _frames.json_columns(columns))

    # ----- writes --------------------------------------------------------------------------------------
    def add(self, entity: ModelT) -> ModelT:
        """Insert one row and return it with its id."""
        with self.session.begin_nested(), integrity(self.resource, _values(entity)):
            self.session.add(entity)
            self.session.flush()
            self._record("created", [(getattr(entity, self.primary_key), {"values": self._snapshot(entity)})])
        return entity

    def add_many(self, rows: Sequence[Mapping[str, Any]]) -> builtins.list[int]:
        """Insert many rows with one statement per batch; return their ids in input order."""
        if not rows:
            return []
        self._check_columns(rows[0].keys(), set(self._table.columns.keys()))
        ids: builtins.list[int] = []
        with self.session.begin_nested(), integrity(self.resource, rows[0] if len(rows) == 1 else None):
            for chunk in _chunks(rows, len(rows[0])):
                statement = insert(self.model).returning(self._pk, sort_by_parameter_order=True)
                ids += builtins.list(self.session.scalars(statement, list(chunk)))
            self._record("created", [(ident, {"values": self._mask(row)})
                                     for ident, row in zip(ids, rows, strict=True)])
        return ids

    def update(self, ident: Any, **changes: Any) -> ModelT:
        """Change writable fields of one row; unknown or read-only fields are refused by name."""
        self._check_columns(changes.keys(), set(self.writable))
        return self._change(ident, changes, "updated")

    def _change(self, ident: Any, changes: Mapping[str, Any], action: str | AuditAction) -> ModelT:
        """Set fields of one row and record old -> new for those that really changed."""
        entity = self.get(ident)
        with self._versioned(entity, ident), self.session.begin_nested(), integrity(self.resource, changes):
            diff = {}
            for name, value in changes.items():
                old = getattr(entity, name)
                setattr(entity, name, value)
                if not same(old, value):
                    diff[name] = {"old": old, "new": value}
            self.session.flush()
            if diff:
                self._record(action, [(ident, {"changes": self._mask_changes(diff)})])
        return entity

    def delete(self, ident: Any) -> None:
        """Delete one row (children follow the table's ON DELETE rules)."""
        entity = self.get(ident)
        with self._versioned(entity, ident), self.session.begin_nested(), integrity(self.resource):
            details = {"values": self._snapshot(entity), **self._cascaded([ident]).get(ident, {})}
            self.session.delete(entity)
            self.session.flush()
            self._record("deleted", [(ident, details)])

    def update_where(self, filters: Filters, **changes: Any) -> int:
        """Change writable fields of every matching row; returns how many changed. Filters are required."""
        self._check_columns(changes.keys(), set(self.writable))
        ids = self._matching_ids(filters)
        with self.session.begin_nested(), integrity(self.resource, changes):
            before = self._current_values(ids, changes.keys())
            for chunk in _chunks(ids, 1):
                self.session.execute(update(self.model).where(self._pk.in_(chunk)).values(**changes)
                                     .execution_options(synchronize_session="fetch"))
            self._record("updated", [(ident, {"changes": self._mask_changes(diff)}) for ident in ids
                                     if (diff := _diff(before[ident], changes))])
        return len(ids)

    def delete_where(self, filters: Filters) -> int:
        """Delete every matching row; returns how many. Filters are required."""
        ids = self._matching_ids(filters)
        with self.session.begin_nested(), integrity(self.resource):
            before = self._current_values(ids, self._visible_columns())
            cascaded = self._cascaded(ids)
            for chunk in _chunks(ids, 1):
                self.session.execute(delete(self.model).where(self._pk.in_(chunk))
                                     .execution_options(synchronize_session="fetch"))
            self._record("deleted", [(ident, {"values": self._mask(before[ident]), **cascaded.get(ident, {})})
                                     for ident in ids])
        return len(ids)

    @contextmanager
    def _versioned(self, entity: ModelT, ident: Any) -> Iterator[None]:
        """A versioned row changed by another writer since it was read: say so in our terms."""
        try:
            yield
        except StaleDataError:
            self.session.expire(entity)
            raise ConcurrentUpdateError(f"{self.resource} {ident} was changed by another writer since it was "
                                        "read; re-read it and try again") from None

    def _matching_ids(self, filters: Filters) -> builtins.list[Any]:
        if not filters:
            raise ValidationError(f"a bulk change to {self.resource} needs at least one filter")
        parsed = parse_filters(filters, self._filter_fields, self.resource)
        query = select(self._pk).where(*(f.clause() for f in parsed)).order_by(self._pk)
        if self.uow.dialect == "postgresql":
            query = query.with_for_update()
        return builtins.list(self.session.scalars(query))

    def upsert_many(self, rows: Sequence[Mapping[str, Any]], *, conflict: Sequence[str],
                    update_fields: Sequence[str] | None = None) -> builtins.list[int]:
        """Insert rows, or update ``update_fields`` where ``conflict`` (a unique key) already exists."""
        if not rows:
            return []
        table_columns = set(self._table.columns.keys())
        self._check_columns(rows[0].keys(), table_columns)
        self._check_columns(conflict, table_columns)
        targets = builtins.list(update_fields if update_fields is not None else
                       [k for k in rows[0] if k not in conflict])
        self._check_columns(targets, table_columns)
        dialect_insert = postgresql.insert if self.uow.dialect == "postgresql" else sqlite.insert
        ids: builtins.list[int] = []
        with self.session.begin_nested(), integrity(self.resource):
            existing = self._existing_by_key(rows, conflict, targets)
            for chunk in _chunks(rows, len(rows[0])):
                statement = dialect_insert(self._table).values(builtins.list(chunk))
                excluded = statement.excluded
                statement = statement.on_conflict_do_update(
                    index_elements=list(conflict), set_={name: excluded[name] for name in targets}
                ) if targets else statement.on_conflict_do_nothing(index_elements=list(conflict))
                ids += builtins.list(self.session.scalars(statement.returning(self._pk)))
            self._record_upserts(rows, conflict, targets, existing)
        self._expire_loaded(ids)  # rows changed behind the ORM's back: reload them on next access
        return ids

    # ----- audit --------------------------------------------------------------------------------------
    @property
    def audit_type(self) -> str:
        """The resource type this repository's rows have in the audit trail (``user``, ``artifact_metadata``)."""
        return self.resource.replace(" ", "_")

    def _record(self, action: str | AuditAction, changes: Sequence[tuple[Any, Mapping[str, Any]]]) -> None:
        """Append one audit row per changed row, in the current savepoint."""
        if not self.audited or not changes:
            return
        resolved = action if isinstance(action, AuditAction) else self.actions[action]
        _trail.append(self.uow, [_trail.AuditEntry(resolved, self.audit_type, str(ident), details)
                                 for ident, details in changes])

    def _visible_columns(self) -> builtins.list[str]:
        return [c.name for c in self._table.columns if c.name not in self.hidden]

    def _mask(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values fit for the trail: hidden ones (password hashes) masked, unset ones left out."""
        return {k: (MASK if k in self.hidden else v) for k, v in values.items() if v is not None}

    def _mask_changes(self, diff: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        return {k: ({"old": MASK, "new": MASK} if k in self.hidden else v) for k, v in diff.items()}

    def _snapshot(self, entity: Base) -> dict[str, Any]:
        return self._mask({c.name: getattr(entity, c.key, None) for c in self._table.columns})

    def _current_values(self, ids: Sequence[Any], names: Any) -> dict[Any, dict[str, Any]]:
        """Column values of these rows as the database has them now (for old -> new in the trail)."""
        columns = [self._table.c[name] for name in names]
        found: dict[Any, dict[str, Any]] = {}
        for chunk in _chunks(ids, 1):
            query = select(self._table.c[self.primary_key], *columns).where(self._table.c[self.primary_key].in_(chunk))
            for row in self.session.execute(query):
                found[row[0]] = dict(zip([c.name for c in columns], row[1:], strict=True))
        return found

    def _cascaded(self, ids: Sequence[Any]) -> dict[Any, dict[str, Any]]:
        """Rows the database will delete along with these (ON DELETE CASCADE), for the parent's trail row.

        Subclasses whose tables have cascading children override this.
        """
        return {}

    def _existing_by_key(self, rows: Sequence[Mapping[str, Any]], conflict: Sequence[str],
                         targets: Sequence[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
        """Rows that already hold these conflict keys: their id and the columns an upsert may change."""
        keys = {tuple(row[c] for c in conflict) for row in rows}
        found: dict[tuple[Any, ...], dict[str, Any]] = {}
        columns = [self._table.c[self.primary_key], *(self._table.c[c] for c in conflict),
                   *(self._table.c[t] for t in targets)]
        first = self._table.c[conflict[0]]
        for chunk in _chunks(sorted({key[0] for key in keys}, key=repr), 1):
            for row in self.session.execute(select(*columns).where(first.in_(chunk))):
                key = tuple(row[1:1 + len(conflict)])
                if key in keys:
                    found[key] = {"id": row[0], **dict(zip(targets, row[1 + len(conflict):], strict=True))}
        return found

    def _record_upserts(self, rows: Sequence[Mapping[str, Any]], conflict: Sequence[str], targets: Sequence[str],
                        existing: Mapping[tuple[Any, ...], Mapping[str, Any]]) -> None:
        """One trail row per row the upsert created or really changed (re-read for the new ids)."""
        keys = [tuple(row[c] for c in conflict) for row in rows]
        now = self._existing_by_key(rows, conflict, targets)
        created, updated = [], []
        for key, row in zip(keys, rows, strict=True):
            if key not in existing:
                created.append((now[key]["id"], {"values": self._mask(row)}))
            elif diff := _diff(existing[key], {t: row[t] for t in targets}):
                updated.append((existing[key]["id"], {"changes": self._mask_changes(diff)}))
        self._record("created", created)
        self._record("updated", updated)

    def _expire_loaded(self, ids: Sequence[Any]) -> None:
        wanted = set(ids)
        for entity in list(self.session.identity_map.values()):
            if isinstance(entity, self.model) and getattr(entity, self.primary_key) in wanted:
                self.session.expire(entity)

    def _check_columns(self, names: Any, allowed: set[str]) -> None:
        unknown = sorted(set(names) - allowed)
        if unknown:
            raise ValidationError(f"{self.resource}: cannot write {', '.join(map(repr, unknown))}; "
                                  f"allowed: {', '.join(sorted(allowed)) or 'none'}")


def same(old: Any, new: Any) -> bool:
    """Equal *and* of the same type: ``1``, ``True`` and ``1.0`` are different JSON values, so different here."""
    if isinstance(old, dict | list) or isinstance(new, dict | list):
        return json.dumps(old, sort_keys=True, default=str) == json.dumps(new, sort_keys=True, default=str)
    return type(old) is type(new) and old == new


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: {"old": before.get(k), "new": v} for k, v in after.items() if not same(before.get(k), v)}


def _values(entity: Base) -> dict[str, Any]:
    return {c.key: getattr(entity, c.key, None) for c in entity.__table__.columns}


def _chunks(items: Sequence[Any], width: int) -> Iterator[Sequence[Any]]:
    size = max(1, MAX_PARAMETERS // max(width, 1))
    for start in range(0, len(items), size):
        yield items[start:start + size]


TruncatedFrameWarning = _frames.TruncatedFrameWarning

__all__ = ["Filters", "Page", "Repository", "Sort", "TruncatedFrameWarning"]
