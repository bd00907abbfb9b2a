"""One entry point for notebooks: ``wb = stratlogic.open()``.

    wb = stratlogic.open()                          # settings from the environment / .env
    wb                                              # masked URL, backend, revision, row counts
    wb.stats.job_summary(since="-7d")               # every analytics function, bound to wb's database
    wb.jobs.frame({"status": "failed"}, limit=20)   # thin facades over the repositories and services
    wb.export("audit", "out/audit.parquet", since="-30d")

The workbench carries its database and acting user explicitly: every write names ``wb.actor`` inside the
call itself, because a ContextVar set in one cell is not reliably visible in the next under ipykernel
(issues #1457, #749). Every method opens and closes its own unit of work, so no transaction stays open
between cells. ``readonly=True`` refuses writes in the facades and also at the database (SQLite
``query_only``, PostgreSQL ``default_transaction_read_only``).
"""

from __future__ import annotations

import functools
import html
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from stratlogic._workbench_facades import Artifacts, Audit, Config, Jobs, ReadOnlyWorkbenchError, Users
from stratlogic.config import Settings, display_url, load_settings
from stratlogic.db import Database, make_engine
from stratlogic.db.actor import Origin, acting_as
from stratlogic.db.engine import SQLITE_BEGIN
from stratlogic.errors import StratLogicError, ValidationError
from stratlogic.models import Artifact, AuditLog, ScrapingJob, User

_COUNTED = {"users": User, "jobs": ScrapingJob, "artifacts": Artifact, "audit rows": AuditLog}


class Stats:
    """Every statistic in ``stratlogic.analytics.__all__``, bound to the workbench's database.

    ``wb.stats.job_volume(by="week", since="-90d")`` is ``analytics.job_volume(wb.db, by="week", ...)``;
    docstrings and signatures (without ``db``) are the functions' own, so ``wb.stats.job_volume?`` and
    JupyterLab's contextual help show them. Looked up on use: functions added later appear by themselves.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._bound: dict[str, Callable[..., Any]] = {}

    @staticmethod
    def _functions() -> dict[str, Callable[..., Any]]:
        module = importlib.import_module("stratlogic.analytics")
        found: dict[str, Callable[..., Any]] = {}
        for name in getattr(module, "__all__", ()):
            candidate = getattr(module, name, None)
            if inspect.isfunction(candidate) and _first_parameter(candidate) in ("db", "database"):
                found[name] = candidate
        return found

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._bound:
            functions = self._functions()
            if name not in functions:
                raise AttributeError(f"wb.stats has no {name!r}; available: {', '.join(sorted(functions))}")
            self._bound[name] = _bind(functions[name], self._db)
        return self._bound[name]

    def __dir__(self) -> list[str]:
        return sorted(self._functions())

    def __repr__(self) -> str:
        return f"<wb.stats: {', '.join(sorted(self._functions()))}>"


def _first_parameter(function: Callable[..., Any]) -> str | None:
    parameters = list(inspect.signature(function).parameters)
    return parameters[0] if parameters else None


def _bind(function: Callable[..., Any], db: Database) -> Callable[..., Any]:
    """``function`` with ``db`` filled in, keeping its name, docstring and signature minus ``db``."""

    def bound(*args: Any, **kwargs: Any) -> Any:
        return function(db, *args, **kwargs)

    functools.update_wrapper(bound, function)
    signature = inspect.signature(function)
    bound.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:])
    return bound


@dataclass(frozen=True)
class Summary:
    """What the workbench is connected to: nothing secret (the URL is masked)."""

    url: str
    backend: str
    revision: str | None
    counts: dict[str, int] = field(default_factory=dict)
    approximate: bool = False
    problem: str | None = None


class Workbench:
    """The analyst's handle on one database and artifact store; build it with ``stratlogic.open()``."""

    def __init__(self, db: Database, *, store: Any = None, actor: int | None = None, actor_name: str | None = None,
                 readonly: bool = False) -> None:
        self.db, self.actor, self.actor_name, self.readonly = db, actor, actor_name, readonly
        #: Recorded in the details of every audit row this workbench writes (OS user and host, unauthenticated).
        self.origin = Origin.of_this_process("workbench")
        self._store = store
        self.jobs, self.artifacts, self.audit = Jobs(self), Artifacts(self), Audit(self)
        self.users, self.config, self.stats = Users(self), Config(self), Stats(db)

    @property
    def settings(self) -> Settings:
        """The settings the database was opened with."""
        return self.db.settings

    @property
    def store(self) -> Any:
        """The artifact store (``STRATLOGIC_ARTIFACT_STORE`` unless ``open(store=...)`` named one)."""
        if self._store is None or isinstance(self._store, str):
            from stratlogic.storage import store_from_settings

            chosen = self.settings if self._store is None else self.settings.model_copy(
                update={"artifact_store": self._store})
            self._store = store_from_settings(chosen)
        return self._store

    def _refuse_readonly(self, what: str) -> None:
        if self.readonly:
            raise ReadOnlyWorkbenchError(f"{what} refused: this workbench was opened read-only")

    def export(self, kind: str, out: str | Path, **options: Any) -> Any:
        """Stream ``kind`` (audit, jobs, artifacts) to ``out`` as Parquet/CSV/XLSX (``ExportResult``).

        Example: ``wb.export("jobs", "out/jobs.csv", fmt="csv", since="-7d", filters={"status": "failed"})``
        """
        from stratlogic.analytics.export import export

        options.setdefault("store_settings", self.settings)  # an s3:// target uses wb's store, not the process's
        with acting_as(self.actor, origin=self.origin):
            return export(self.db, kind, out, **options)  # type: ignore[arg-type]  # export names the kinds

    def health(self) -> Any:
        """Reachable, latency, schema revision against the migrations' head (``HealthReport``)."""
        from stratlogic.db.health import check

        return check(_reader(self.db))

    def migrate(self, revision: str = "head") -> str:
        """Apply migrations up to ``revision`` (``stratlogic db upgrade``); returns what Alembic reported."""
        from stratlogic.db import migrate

        self._refuse_readonly("migrate")
        return migrate.upgrade(self.settings, revision)

    def seed_demo(self, *, users: int = 20, jobs: int = 2_000, days: int = 30, seed: int = 1,
                  objects: bool = True, **options: Any) -> Any:
        """Generate demo data (``stratlogic seed --demo``; the base seed first if missing). Example:
        ``wb.seed_demo(users=5, jobs=500, days=30, seed=5)``."""
        from stratlogic.seed import DemoOptions, seed_demo

        self._refuse_readonly("seed_demo")
        chosen = DemoOptions(users=users, jobs=jobs, days=days, seed=seed, objects=objects, **options)
        with acting_as(self.actor, origin=self.origin):
            return seed_demo(self.db, chosen, store=self.store if objects else None)

    def summary(self) -> Summary:
        """Masked URL, backend, revision and row counts (estimates on PostgreSQL); never raises."""
        return _summary(self.db)

    def close(self) -> None:
        """Close the pooled connections."""
        self.db.dispose()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        found = self.summary()
        mode = "read-only" if self.readonly else f"actor={self.actor_name or 'system'}"
        if found.problem:
            return f"<Workbench {found.url} ({found.backend}, {mode}): {found.problem}>"
        counts = ", ".join(f"{name}={'~' if found.approximate else ''}{n:,}" for name, n in found.counts.items())
        return f"<Workbench {found.url} ({found.backend}, revision {found.revision}, {mode}): {counts}>"

    def _repr_html_(self) -> str:
        found = self.summary()
        rows = [("database", found.url), ("backend", found.backend), ("revision", found.revision or "none"),
                ("mode", "read-only" if self.readonly else f"acting as {self.actor_name or 'system'}")]
        rows += [(name, f"{'~' if found.approximate else ''}{n:,}") for name, n in found.counts.items()]
        if found.problem:
            rows.append(("problem", found.problem))
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in rows)
        return f"<table><caption>StratLogic workbench</caption>{body}</table>"


def _reader(db: Database) -> Engine:
    """The engine, its SQLite transactions begun DEFERRED: the default ``BEGIN IMMEDIATE`` takes the write lock,
    which a read-only workbench's ``query_only`` connection refuses ("attempt to write a readonly database")."""
    return db.engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})


def _summary(db: Database) -> Summary:
    url, backend = display_url(db.engine.url), db.dialect
    try:
        with _reader(db).connect() as connection:
            from alembic.runtime.migration import MigrationContext

            revision = MigrationContext.configure(connection).get_current_revision()
            if revision is None:
                return Summary(url, backend, None, problem="not migrated: run wb.migrate()")
            counts, approximate = _counts(connection, backend)
    except (SQLAlchemyError, StratLogicError) as exc:
        return Summary(url, backend, None, problem=f"unreachable: {type(exc).__name__}")
    return Summary(url, backend, revision, counts, approximate)


def _counts(connection: Any, backend: str) -> tuple[dict[str, int], bool]:
    """Exact counts on SQLite; the planner's estimates on PostgreSQL (a count of 5M audit rows takes seconds)."""
    if backend == "postgresql":
        estimate = text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:name)")
        found = {label: connection.execute(estimate, {"name": model.__tablename__}).scalar()
                 for label, model in _COUNTED.items()}
        if all(value is not None and value >= 0 for value in found.values()):
            return {label: int(value) for label, value in found.items()}, True
    counts = {label: int(connection.execute(select(func.count()).select_from(model)).scalar_one())
              for label, model in _COUNTED.items()}
    return counts, False


def _read_only_engine(settings: Settings) -> Engine:
    """An engine whose connections cannot write, whatever the code above them does."""
    if settings.backend == "postgresql":
        return make_engine(settings, server_settings={"default_transaction_read_only": "on"})
    engine = make_engine(settings)

    @event.listens_for(engine, "connect")
    def _query_only(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")

    return engine


def _actor_id(db: Database, actor: int | str | None) -> tuple[int | None, str | None]:
    if actor is None or isinstance(actor, int):
        return actor, None if actor is None else f"user {actor}"
    from stratlogic.repositories import UserRepository

    with db.unit_of_work(readonly=True) as uow:
        user = UserRepository(uow).by_username(actor)
        return int(user.id), str(user.username)


def open(url: str | None = None, *, store: Any = None, actor: int | str | None = None,
         readonly: bool = False) -> Workbench:
    """Open the workbench on ``url`` (default: ``STRATLOGIC_DATABASE_URL`` / ``.env``, the embedded SQLite).

    Args:
        store: the artifact store: an ``ArtifactStore``, or ``"file:PATH"`` / ``"s3://BUCKET"``; default from settings.
        actor: the user (id or username) every write is recorded as; None: the system.
        readonly: refuse every write (the report notebooks open this way).

    Example: ``wb = stratlogic.open(readonly=True); wb.stats.job_summary(since="-7d")``
    """
    settings = load_settings(database_url=url) if url is not None else load_settings()
    if isinstance(actor, bool) or (actor is not None and not isinstance(actor, int | str)):
        raise ValidationError(f"actor {actor!r} is not a user id or username")
    engine = _read_only_engine(settings) if readonly else make_engine(settings)
    db = Database(engine, settings)
    actor_id, actor_name = _actor_id(db, actor)
    return Workbench(db, store=store, actor=actor_id, actor_name=actor_name, readonly=readonly)


__all__ = ["ReadOnlyWorkbenchError", "Stats", "Summary", "Workbench", "open"]
