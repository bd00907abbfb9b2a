"""One entry point for notebooks: ``wb = stratlogic.open()``.

    wb = stratlogic.open()                          # settings from the environment / .env
    wb                                              # masked URL, backend, revision, row counts
    wb.stats.job_summary(since="-7d")               # every analytics function, bound to wb's database
    wb.jobs.frame({"status": "failed"}, limit=20)   # thin facades over the services
    wb.export("audit", "out/audit.parquet", since="-30d")

A face like the CLI: every method calls one entry point of ``stratlogic.services`` (never a repository, a
session or SQL) with the workbench's database and its actor (``wb.acting``: ``wb.actor`` and the process's
origin) named in the call itself, because a ContextVar set in one cell is not reliably visible in the next
under ipykernel (issues #1457, #749). Each service opens and closes its own unit of work, so no transaction
stays open between cells. ``readonly=True`` refuses writes in the facades and also at the database (SQLite
``query_only``, PostgreSQL ``default_transaction_read_only``: ``stratlogic.db.readonly``).
"""

from __future__ import annotations

import functools
import html
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from stratlogic._workbench_facades import Artifacts, Audit, Config, Jobs, ReadOnlyWorkbenchError, Users
from stratlogic.config import Settings, display_url, load_settings
from stratlogic.db import Database, open_database
from stratlogic.db.actor import Actor, Origin
from stratlogic.errors import ValidationError


class Stats:
    """Every statistic in ``stratlogic.analytics.__all__``, bound to the workbench's database and actor.

    ``wb.stats.job_volume(by="week", since="-90d")`` is ``services.analytics.statistic(wb.db, "job_volume",
    {"by": "week", "since": "-90d"}, actor=wb.acting)``; docstrings and signatures (without ``db``) are the
    functions' own, so ``wb.stats.job_volume?`` and JupyterLab's contextual help show them. Looked up on use:
    functions added later appear by themselves.
    """

    def __init__(self, db: Database, actor: Actor | None = None) -> None:
        self._db, self._actor = db, actor or Actor()
        self._bound: dict[str, Callable[..., Any]] = {}

    @staticmethod
    def _functions() -> dict[str, Callable[..., Any]]:
        from stratlogic.services.analytics import statistics

        return statistics()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._bound:
            functions = self._functions()
            if name not in functions:
                raise AttributeError(f"wb.stats has no {name!r}; available: {', '.join(sorted(functions))}")
            self._bound[name] = _bind(name, functions[name], self._db, self._actor)
        return self._bound[name]

    def __dir__(self) -> list[str]:
        return sorted(self._functions())

    def __repr__(self) -> str:
        return f"<wb.stats: {', '.join(sorted(self._functions()))}>"


def _bind(name: str, function: Callable[..., Any], db: Database, actor: Actor) -> Callable[..., Any]:
    """The statistic ``name`` through the analytics service with ``db`` and ``actor`` filled in, keeping the
    function's name, docstring and signature minus ``db``. Positional arguments are passed by their names
    (``metadata_top_values("source")`` is ``key="source"``)."""
    from stratlogic.services.analytics import statistic

    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())[1:]
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def bound(*args: Any, **kwargs: Any) -> Any:
        if len(args) > len(positional):
            raise TypeError(f"{name}() takes {len(positional)} positional argument(s) but {len(args)} were given")
        params = dict(zip(positional, args, strict=False))
        twice = sorted(set(params) & set(kwargs))
        if twice:
            raise TypeError(f"{name}() got multiple values for argument {twice[0]!r}")
        return statistic(db, name, {**params, **kwargs}, actor=actor)

    functools.update_wrapper(bound, function)
    bound.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
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
        if isinstance(store, str):  # "file:PATH" / "s3://BUCKET": the services find it in the database's settings
            db, store = Database(db.engine, db.settings.model_copy(update={"artifact_store": store})), None
        self.db, self.actor, self.actor_name, self.readonly = db, actor, actor_name, readonly
        #: Recorded in the details of every audit row this workbench writes (OS user and host, unauthenticated).
        self.origin = Origin.of_this_process("workbench")
        #: What every service call names as its actor: ``wb.actor`` (None: the system) and ``wb.origin``.
        self.acting = Actor(actor, origin=self.origin)
        self._given_store, self._store = store, store
        self.jobs, self.artifacts, self.audit = Jobs(self), Artifacts(self), Audit(self)
        self.users, self.config, self.stats = Users(self), Config(self), Stats(db, self.acting)

    @property
    def settings(self) -> Settings:
        """The settings the database was opened with."""
        return self.db.settings

    @property
    def store(self) -> Any:
        """The artifact store (``STRATLOGIC_ARTIFACT_STORE`` unless ``open(store=...)`` named one)."""
        if self._store is None:
            from stratlogic.services import artifacts

            self._store = artifacts.configured_store(self.db)  # the store the services use for this database
        return self._store

    @property
    def chosen_store(self) -> Any:
        """The ``ArtifactStore`` object given to this workbench, if any (None: the services use the store the
        database's settings name, where ``open(store="s3://...")`` puts a store given by name)."""
        return self._given_store

    def _refuse_readonly(self, what: str) -> None:
        if self.readonly:
            raise ReadOnlyWorkbenchError(f"{what} refused: this workbench was opened read-only")

    def export(self, kind: str, out: str | Path, **options: Any) -> Any:
        """Stream ``kind`` (audit, jobs, artifacts) to ``out`` as Parquet/CSV/XLSX (``ExportResult``).

        Example: ``wb.export("jobs", "out/jobs.csv", fmt="csv", since="-7d", filters={"status": "failed"})``
        """
        from stratlogic.services import analytics

        options.setdefault("store_settings", self.settings)  # an s3:// target uses wb's store, not the process's
        return analytics.export(self.db, kind, out, actor=self.acting, **options)  # type: ignore[arg-type]

    def health(self, **options: Any) -> Any:
        """Every part of the system: database, pool, store, audit chain, queue, disk (``SystemHealth``, shown as
        a table in a notebook); ``deep=True`` also probes the store and verifies the newest audit rows."""
        from stratlogic.services import health

        return health.check(self.db, actor=self.acting, **options)

    def migrate(self, revision: str = "head") -> str | None:
        """Apply migrations up to ``revision`` (``stratlogic db upgrade``); returns the revision now current."""
        from stratlogic.services import migrate

        self._refuse_readonly("migrate")
        return migrate.upgrade(self.db, revision, actor=self.acting)

    def seed_demo(self, *, users: int = 20, jobs: int = 2_000, days: int = 30, seed: int = 1,
                  objects: bool = True, until: date | str | None = None) -> Any:
        """Generate demo data (``stratlogic seed --demo``; the base seed first if missing). Example:
        ``wb.seed_demo(users=5, jobs=500, days=30, seed=5)``."""
        from stratlogic.services import seed as seeding

        self._refuse_readonly("seed_demo")
        options = seeding.demo_options(users=users, jobs=jobs, days=days, seed=seed, until=until, objects=objects)
        return seeding.seed_demo(self.db, options, actor=self.acting, store=self.chosen_store)

    def summary(self) -> Summary:
        """Masked URL, backend, revision and row counts (estimates on PostgreSQL); never raises."""
        return _summary(self.db, self.acting)

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


def _summary(db: Database, actor: Actor) -> Summary:
    from stratlogic.services import analytics

    url, backend = display_url(db.engine.url), db.dialect
    found = analytics.summary(db, actor=actor)
    return Summary(url, backend, found.revision, found.counts, found.approximate, found.problem)


def _actor_id(db: Database, actor: int | str | None) -> tuple[int | None, str | None]:
    if actor is None or isinstance(actor, int):
        return actor, None if actor is None else f"user {actor}"
    from stratlogic.services import users

    user = users.by_username(db, actor, actor=Actor(origin=Origin.of_this_process("workbench")))
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
    if isinstance(store, str):  # every service then finds this store in the database's settings
        settings, store = settings.model_copy(update={"artifact_store": store}), None
    db = open_database(settings, readonly=readonly)
    actor_id, actor_name = _actor_id(db, actor)
    return Workbench(db, store=store, actor=actor_id, actor_name=actor_name, readonly=readonly)


__all__ = ["ReadOnlyWorkbenchError", "Stats", "Summary", "Workbench", "open"]
