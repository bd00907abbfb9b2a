"""Migrations through Alembic's command API: one typed function per command.

The CLI, notebooks and tests call these; ``migrations/env.py`` imports ``migration_options`` and the
connection hooks so that online runs, offline SQL and drift checks all compare the same way.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, Identity, pool

from stratlogic.config import Settings
from stratlogic.db.engine import make_engine
from stratlogic.db.errors import translated
from stratlogic.errors import MigrationError, SchemaDriftError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Revision:
    """One migration script as ``db history`` lists it."""

    revision: str
    down_revision: str | None
    message: str
    is_head: bool
    is_current: bool


def migration_options(dialect: str) -> dict[str, Any]:
    """Options for ``context.configure``: shared by env.py and the drift check so they never disagree."""
    from stratlogic.models import Base

    return {
        "target_metadata": Base.metadata,
        "compare_type": True,
        "compare_server_default": _compare_server_default if dialect == "sqlite" else True,
        "render_as_batch": dialect == "sqlite",
        "render_item": _render_item,
    }


def _compare_server_default(context: Any, inspected_column: Any, metadata_column: Any, inspected_default: Any,
                            metadata_default: Any, rendered_metadata_default: Any) -> bool:
    """Compare defaults as Alembic does, except for two things SQLite cannot tell apart.

    SQLite has no identity columns (its rowid plays that part) and spells booleans 1/0 or true/false.
    Used on SQLite only. Returns False for "same", True for "different".
    """
    if isinstance(metadata_default, Identity):
        return False
    return _plain_default(inspected_default) != _plain_default(rendered_metadata_default)


def _plain_default(value: object) -> str:
    text = str(value or "").strip().strip("()").strip("'\"").lower()
    return {"true": "1", "false": "0"}.get(text, text)


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render the package's own column types as plain SQLAlchemy ones, so migrations stay frozen."""
    from stratlogic.models.base import UTCDateTime

    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def prepare_connection(connection: Connection) -> None:
    """Make a connection safe for DDL before the migration transaction begins.

    SQLite: foreign keys off, because a batch migration rebuilds a table (create, copy, drop, rename)
    and dropping the old table with foreign keys on would cascade deletes into child tables. The pragma
    is a no-op inside a transaction, so it goes straight to the driver, before BEGIN.
    (PostgreSQL's lock and statement timeouts come with the connection: see ``migration_engine``.)
    """
    if connection.dialect.name == "sqlite":
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        if raw.execute("PRAGMA foreign_keys").fetchone()[0]:
            raise MigrationError("cannot turn SQLite foreign keys off: hand migrations a connection "
                                 "with no open transaction")


def finish_connection(connection: Connection) -> None:
    """After migrating SQLite: prove no foreign key was broken, then turn enforcement back on."""
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    broken = raw.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise MigrationError(f"migration left {len(broken)} broken foreign key(s), first: {broken[0]}")
    raw.execute("PRAGMA foreign_keys=ON")


def alembic_config(settings: Settings, connection: Connection | None = None,
                   script_location: Path | None = None) -> Config:
    """An Alembic Config for the project's migrations, optionally bound to a live connection."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"), stdout=io.StringIO())
    cfg.set_main_option("script_location", str(script_location or PROJECT_ROOT / "migrations"))
    cfg.attributes["settings"] = settings
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migration_engine(settings: Settings) -> Engine:
    """An unpooled engine for migrations: pragmas and settings die with each connection.

    On PostgreSQL the lock and statement timeouts are sent at connection start-up, so DDL fails fast
    instead of queueing behind a long transaction (and blocking everyone queued behind it), and they
    hold outside transactions too, where CREATE INDEX CONCURRENTLY runs.
    """
    timeouts = {"lock_timeout": str(settings.migration_lock_timeout_ms),
                "statement_timeout": str(settings.migration_statement_timeout_ms)}
    return make_engine(settings, server_settings=timeouts, poolclass=pool.NullPool)


@contextmanager
def _connected(settings: Settings) -> Iterator[Connection]:
    """A short-lived connection of its own (NullPool): pragmas and SETs die with it."""
    engine = migration_engine(settings)
    try:
        with translated(engine), engine.connect() as connection:
            yield connection
            connection.commit()
    finally:
        engine.dispose()


def _run(settings: Settings, action: str, *args: Any, **kwargs: Any) -> str:
    """Run an Alembic command on our own connection; return what it printed (offline SQL, listings)."""
    with _connected(settings) as connection:
        cfg = alembic_config(settings, connection)
        try:
            getattr(command, action)(cfg, *args, **kwargs)
        except CommandError as exc:
            raise MigrationError(f"{action} failed: {exc}") from exc
        out = cfg.stdout
        return out.getvalue() if isinstance(out, io.StringIO) else ""


def script_directory() -> ScriptDirectory:
    """The migrations folder as Alembic sees it."""
    return ScriptDirectory(str(PROJECT_ROOT / "migrations"))


def heads() -> list[str]:
    """Every head revision (more than one means the history has forked)."""
    return list(script_directory().get_heads())


def current(settings: Settings) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    with _connected(settings) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _resolve(revision: str) -> str | None:
    try:
        found = script_directory().get_revision(revision)
    except CommandError as exc:
        raise MigrationError(f"unknown revision {revision!r}: {exc}") from exc
    return found.revision if found else None


def _refuse_backwards(settings: Settings, revision: str) -> None:
    """Refuse ``upgrade`` to a revision older than the current one (Alembic silently does nothing)."""
    now = current(settings)
    if now is None or revision in ("head", "heads") or revision.startswith("+"):
        return
    target = _resolve(revision)
    below = {rev.revision for rev in script_directory().iterate_revisions(now, "base")}
    if target is None or (target != now and target in below):
        raise MigrationError(f"upgrade to {revision!r} refused: the database is at {now}, which is newer; "
                             f"use `stratlogic db downgrade {revision}`")


def upgrade(settings: Settings, revision: str = "head", *, sql: bool = False) -> str:
    """Apply migrations up to ``revision``; with ``sql`` return the SQL instead of running it.

    The SQL starts from the database's current revision; it is ``""`` when the database is already at
    ``revision`` (see ``pending_upgrade``).
    """
    _refuse_too_many_steps(settings, revision)
    if sql:
        if ":" not in revision:
            _refuse_backwards(settings, revision)  # Alembic would print an empty script
            if not revision.startswith("+") and not pending_upgrade(settings, revision):
                return ""
        return _offline(settings, "upgrade", revision)
    _refuse_backwards(settings, revision)
    return _run(settings, "upgrade", revision)


def _refuse_too_many_steps(settings: Settings, revision: str) -> None:
    """``+N`` beyond head: say how far head is, instead of Alembic's "Relative revision +N didn't produce N"."""
    if not re.fullmatch(r"\+\d+", revision):
        return
    steps, now = int(revision[1:]), current(settings)
    pending = len(list(script_directory().walk_revisions())) - len(_below(now))
    if steps > pending:
        where = f"at head {now}" if pending == 0 else \
            f"at {now or 'base'}, {pending} revision{'s' * (pending != 1)} below head"
        raise MigrationError(f"cannot go up {steps} step{'s' * (steps != 1)}: the database is {where}")


def pending_upgrade(settings: Settings, revision: str = "head") -> bool:
    """Whether upgrading to ``revision`` has anything to do (False: the database is already there)."""
    now = current(settings)
    return now is None or now != _resolve(revision)


def downgrade(settings: Settings, revision: str | None = None, *, steps: int | None = None,
              sql: bool = False, yes: bool = False) -> str:
    """Undo migrations down to ``revision`` (e.g. ``base``), or by ``steps`` relative steps.

    A downgrade that drops a table or a column loses data, so it is refused unless ``yes`` (the CLI's
    ``--yes`` or its confirmation); ``sql`` only prints, so it never needs ``yes``.
    """
    plan = downgrade_plan(settings, revision, steps=steps)
    if not plan.revisions:
        return ""  # already there: nothing to undo
    if sql:
        return _offline(settings, "downgrade", f"{plan.current or 'base'}:{plan.target or 'base'}")
    if plan.drops and not yes:
        see = "" if settings.backend == "sqlite" else ", or --sql to see the SQL"
        raise MigrationError(f"{plan.describe()}: pass --yes (yes=True) to confirm{see}")
    return _run(settings, "downgrade", plan.target or "base")


@dataclass(frozen=True)
class DowngradePlan:
    """What a downgrade would undo, found before anything runs: the revisions and what their SQL drops."""

    current: str | None
    target: str | None  # None: base
    revisions: list[str]
    drops: list[str]  # "table users", "column scraping_jobs.kind"

    def describe(self) -> str:
        """One line: where from, where to, and what is dropped."""
        where = f"downgrade from {self.current or 'base'} to {self.target or 'base'}"
        return f"{where} drops {', '.join(self.drops)}" if self.drops else f"{where} drops no table or column"


def downgrade_plan(settings: Settings, revision: str | None = None, *, steps: int | None = None) -> DowngradePlan:
    """The revisions a downgrade would undo and the tables and columns their SQL drops.

    The drops are read from the downgrade's own SQL, rendered offline for PostgreSQL whatever the database
    (the scripts drop the same tables and columns on every engine; SQLite's batch rebuilds cannot render
    offline). So a new revision needs no list kept by hand.
    """
    if (revision is None) == (steps is None):
        raise MigrationError("downgrade needs exactly one of REVISION or --steps N")
    if steps is not None and steps < 1:
        raise MigrationError(f"--steps must be at least 1, got {steps}")
    now = current(settings)
    below = _below(now)
    if steps is not None:
        if steps > len(below):
            raise MigrationError(f"cannot go down {steps} step{'s' * (steps != 1)}: the database is "
                                 f"{len(below)} revision{'s' * (len(below) != 1)} above base")
        target = below[steps] if steps < len(below) else None
    else:
        target = _downgrade_target(now, below, str(revision))
    undone = below[:below.index(target)] if target is not None else below
    drops = _drops_of(settings, now, target) if undone else []
    return DowngradePlan(now, target, undone, drops)


def _below(now: str | None) -> list[str]:
    """The current revision and every one under it, newest first (empty at base)."""
    if now is None:
        return []
    return [rev.revision for rev in script_directory().iterate_revisions(now, "base")]


def _downgrade_target(now: str | None, below: list[str], revision: str) -> str | None:
    if revision == "base":
        return None
    if re.fullmatch(r"-\d+", revision):
        raise MigrationError(f"{revision!r} is not a revision: to go down {revision[1:]} step(s), "
                             f"use --steps {revision[1:]}")
    target = _resolve(revision)
    if target not in below:
        raise MigrationError(f"cannot downgrade to {revision!r}: the database is at {now or 'base'}, "
                             f"which is not above it; accepted: base or one of {', '.join(below[1:]) or 'none'}")
    return target


_DROP_TABLE = re.compile(r"\bDROP TABLE (?:IF EXISTS )?\"?([\w.]+)\"?", re.IGNORECASE)
_DROP_COLUMN = re.compile(r"\bALTER TABLE (?:ONLY )?\"?([\w.]+)\"?\s+DROP COLUMN (?:IF EXISTS )?\"?(\w+)\"?",
                          re.IGNORECASE)


def _drops_of(settings: Settings, now: str | None, target: str | None) -> list[str]:
    """Tables and columns dropped by the offline SQL of ``now:target`` (Alembic's own table left out)."""
    offline = settings.model_copy(update={"database_url": "postgresql+psycopg://offline@localhost/offline"})
    cfg = alembic_config(offline)
    out = io.StringIO()
    cfg.stdout = out
    try:
        with redirect_stdout(out):
            command.downgrade(cfg, f"{now or 'base'}:{target or 'base'}", sql=True)
    except CommandError as exc:
        raise MigrationError(f"cannot plan the downgrade to {target or 'base'}: {exc}") from exc
    sql = out.getvalue()
    dropped = [name for name in _DROP_TABLE.findall(sql) if name != "alembic_version"]
    columns = [f"column {table}.{column}" for table, column in _DROP_COLUMN.findall(sql) if table not in dropped]
    return list(dict.fromkeys([f"table {name}" for name in dropped] + columns))  # a dropped table's columns go too


def _offline(settings: Settings, action: str, revision: str) -> str:
    """Render migration SQL without a database (Alembic's offline mode; PostgreSQL only)."""
    if settings.backend == "sqlite":
        raise MigrationError("--sql is for PostgreSQL: SQLite migrations rebuild tables (batch mode), which needs "
                             f"the live database; back up the file and run `stratlogic db {action}` instead")
    cfg = alembic_config(settings)
    out = io.StringIO()
    cfg.stdout = out
    if ":" not in revision and (now := current(settings)) is not None:
        revision = f"{now}:{revision}"  # from where the database is, not from base
    try:
        with redirect_stdout(out):
            getattr(command, action)(cfg, revision, sql=True)
    except CommandError as exc:
        raise MigrationError(f"{action} --sql failed: {exc}") from exc
    return out.getvalue()


def history(settings: Settings) -> list[Revision]:
    """Every revision, newest first, marking the heads and the database's current one."""
    now = current(settings)
    script = script_directory()
    head_set = set(script.get_heads())
    return [Revision(rev.revision, _down(rev.down_revision), rev.doc or "", rev.revision in head_set,
                     rev.revision == now) for rev in script.walk_revisions()]


def _down(value: str | Sequence[str] | None) -> str | None:
    return value if value is None or isinstance(value, str) else ", ".join(value)


def check(settings: Settings) -> list[str]:
    """List every difference between the models and the migrated database; empty when in step.

    Raises SchemaDriftError when there are differences, several heads, or the database is not at head.
    """
    problems: list[str] = []
    found_heads = heads()
    if len(found_heads) > 1:
        problems.append(f"the migrations have {len(found_heads)} heads: {', '.join(sorted(found_heads))}")
    with _connected(settings) as connection:
        context = MigrationContext.configure(connection, opts=migration_options(connection.dialect.name))
        now = context.get_current_revision()
        if len(found_heads) == 1 and now != found_heads[0]:
            problems.append(f"the database is at {now or 'no revision'}, not at head {found_heads[0]}: "
                            "run `stratlogic db upgrade`")
        else:
            problems.extend(_describe(diff) for diff in compare_metadata(context, context.opts["target_metadata"]))
    if problems:
        raise SchemaDriftError(problems)
    return problems


def _describe(diff: Any) -> str:
    """One readable line for an autogenerate diff tuple (or list of tuples for column changes)."""
    if isinstance(diff, list):
        return "; ".join(_describe(item) for item in diff)
    kind, *rest = diff
    names = [getattr(item, "name", None) or repr(item) for item in rest if item is not None][:4]
    return f"{kind}: {', '.join(str(n) for n in names)}"


def revision(settings: Settings, message: str, *, autogenerate: bool = True) -> Path:
    """Write a new migration script (autogenerated from the models by default); return its path."""
    with _connected(settings) as connection:
        cfg = alembic_config(settings, connection)
        try:
            script = command.revision(cfg, message=message, autogenerate=autogenerate)
        except CommandError as exc:
            raise MigrationError(f"revision failed: {exc}") from exc
    if script is None or isinstance(script, list):
        raise MigrationError("revision produced no single script")
    return Path(script.path)


__all__ = ["PROJECT_ROOT", "DowngradePlan", "Revision", "alembic_config", "check", "current", "downgrade",
           "downgrade_plan", "finish_connection", "heads", "history", "migration_engine", "migration_options",
           "pending_upgrade", "prepare_connection", "revision", "upgrade"]
