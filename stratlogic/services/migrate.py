"""Migrations of a database's schema: upgrade, downgrade (with its plan and the confirmation rule), the
current revision, history, drift check, offline SQL and new revisions (``stratlogic db …``).

Alembic runs on a short-lived connection of its own (``db/migrate.py``: no pool, PostgreSQL lock and
statement timeouts), built from ``database.settings``: the caller's pool is never used for DDL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stratlogic.db import Database
from stratlogic.db import migrate as alembic_commands
from stratlogic.db.actor import Actor, as_actor
from stratlogic.db.migrate import DowngradePlan, Revision
from stratlogic.errors import MigrationError
from stratlogic.services._base import entry

#: How errors name the options when the caller gives no ``labels`` (the CLI passes its flags).
_OPTIONS = {"confirm": "confirm=True", "sql": "the SQL (downgrade_sql)", "message": "message"}


@dataclass(frozen=True)
class MigrationSql:
    """Offline SQL of an upgrade, and the revision it starts from (``sql`` is "" when already there)."""

    sql: str
    current: str | None


@entry("migrate.current", writes=False)
def current(database: Database, *, actor: Actor) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    with as_actor(actor):
        return alembic_commands.current(database.settings)


@entry("migrate.history", writes=False)
def history(database: Database, *, actor: Actor) -> list[Revision]:
    """Every revision, newest first, marking the heads and the database's current one."""
    with as_actor(actor):
        return alembic_commands.history(database.settings)


@entry("migrate.check", writes=False)
def check(database: Database, *, actor: Actor) -> list[str]:
    """Empty when the models, the migrations and the database agree; otherwise raises SchemaDriftError listing
    every difference (several heads, a database not at head, a column that differs)."""
    with as_actor(actor):
        return alembic_commands.check(database.settings)


@entry("migrate.upgrade", writes=True)
def upgrade(database: Database, revision: str = "head", *, actor: Actor) -> str | None:
    """Apply migrations up to ``revision`` (``head``, a revision, ``+N``); return the revision now current.

    An older revision than the current one is refused (Alembic would silently do nothing): use downgrade.
    """
    with as_actor(actor):
        alembic_commands.upgrade(database.settings, revision)
        return alembic_commands.current(database.settings)


@entry("migrate.upgrade_sql", writes=False)
def upgrade_sql(database: Database, revision: str = "head", *, actor: Actor) -> MigrationSql:
    """The SQL an upgrade to ``revision`` would run from the current revision, without running it
    (PostgreSQL only: SQLite's table rebuilds need the live file)."""
    with as_actor(actor):
        sql = alembic_commands.upgrade(database.settings, revision, sql=True)
        return MigrationSql(sql, alembic_commands.current(database.settings))


@entry("migrate.downgrade_plan", writes=False)
def downgrade_plan(database: Database, revision: str | None = None, *, steps: int | None = None,
                   actor: Actor) -> DowngradePlan:
    """What a downgrade to ``revision`` (or by ``steps``) would undo and which tables and columns it drops."""
    with as_actor(actor):
        return alembic_commands.downgrade_plan(database.settings, revision, steps=steps)


@entry("migrate.downgrade", writes=True)
def downgrade(database: Database, revision: str | None = None, *, steps: int | None = None, confirm: bool = False,
              actor: Actor, labels: Mapping[str, str] | None = None) -> str | None:
    """Undo migrations down to ``revision`` (``base``) or by ``steps``; return the revision now current.

    A downgrade that drops a table or a column loses their data: without ``confirm`` it is refused, naming
    what it would drop, before anything runs. ``labels`` names the caller's options in that refusal
    (``{"confirm": "--yes", "sql": "--sql"}``).
    """
    names = {**_OPTIONS, **(labels or {})}
    with as_actor(actor):
        plan = alembic_commands.downgrade_plan(database.settings, revision, steps=steps)
        if plan.drops and not confirm:
            see = "" if database.settings.backend == "sqlite" else f"; {names['sql']} shows the SQL"
            raise MigrationError(f"{plan.describe()}; the data in them is lost: pass {names['confirm']} to confirm "
                                 f"(back up first{see})")
        if plan.revisions:
            alembic_commands.downgrade(database.settings, plan.target or "base", yes=True)
        return alembic_commands.current(database.settings)


@entry("migrate.downgrade_sql", writes=False)
def downgrade_sql(database: Database, revision: str | None = None, *, steps: int | None = None,
                  actor: Actor) -> str:
    """The SQL a downgrade would run, without running it (PostgreSQL only); "" when already there."""
    with as_actor(actor):
        return alembic_commands.downgrade(database.settings, revision, steps=steps, sql=True)


@entry("migrate.revision", writes=True)
def revision(database: Database, message: str, *, actor: Actor, autogenerate: bool = True,
             labels: Mapping[str, str] | None = None) -> Path:
    """Write a new migration script, autogenerated from the models unless ``autogenerate`` is False; return
    its path. A blank message is refused (it names the file: ``DATE_HASH_.py`` says nothing)."""
    if not message.strip():
        label = {**_OPTIONS, **(labels or {})}["message"]
        raise MigrationError(f"{label} {message!r} is blank: say what the migration does (it names the file)")
    with as_actor(actor):
        return alembic_commands.revision(database.settings, message, autogenerate=autogenerate)


__all__ = ["DowngradePlan", "MigrationSql", "Revision", "check", "current", "downgrade", "downgrade_plan",
           "downgrade_sql", "history", "revision", "upgrade", "upgrade_sql"]
