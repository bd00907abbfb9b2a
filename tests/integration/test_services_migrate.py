"""The migrate service on real SQLite and PostgreSQL: it takes a Database (not Settings) and holds the rules
the CLI enforced: a downgrade that drops data is refused without confirmation, naming what it would drop and
the caller's option, before anything runs; a blank revision message is refused before Alembic writes a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.db import migrate as alembic_commands
from stratlogic.db.actor import Actor
from stratlogic.errors import MigrationError, ValidationError
from stratlogic.services import migrate
from stratlogic.services._base import ENTRIES
from tests.conftest import make_settings

ACTOR = Actor()


def test_an_unconfirmed_downgrade_names_what_it_drops_and_changes_nothing(db: Database) -> None:
    head = alembic_commands.heads()[0]
    plan = migrate.downgrade_plan(db, "base", actor=ACTOR)
    assert plan.current == head and plan.target is None and "table users" in plan.drops
    with pytest.raises(MigrationError) as refused:
        migrate.downgrade(db, "base", actor=ACTOR, labels={"confirm": "--yes", "sql": "--sql"})
    message = str(refused.value)
    assert message.startswith(f"downgrade from {head} to base drops table ") and "table users" in message
    assert "pass --yes to confirm (back up first" in message
    assert ("--sql shows the SQL" in message) is (db.dialect != "sqlite")  # SQLite cannot render it offline
    with pytest.raises(MigrationError, match=r"pass confirm=True to confirm"):  # a notebook's spelling
        migrate.downgrade(db, steps=len(plan.revisions), actor=ACTOR)
    assert migrate.current(db, actor=ACTOR) == head
    assert migrate.downgrade(db, "base", confirm=True, actor=ACTOR) is None
    assert migrate.current(db, actor=ACTOR) is None
    assert migrate.upgrade(db, actor=ACTOR) == head


def test_a_downgrade_that_drops_nothing_runs_without_confirmation(db: Database) -> None:
    while (plan := migrate.downgrade_plan(db, steps=1, actor=ACTOR)).drops:
        migrate.downgrade(db, steps=1, confirm=True, actor=ACTOR)
    assert migrate.downgrade(db, steps=1, actor=ACTOR) == plan.target
    assert migrate.downgrade(db, plan.target or "base", actor=ACTOR) == plan.target  # already there: nothing


def test_history_current_and_check_read_the_given_database(db: Database, empty_url: str, tmp_path: Path) -> None:
    head = alembic_commands.heads()[0]
    revisions = migrate.history(db, actor=ACTOR)
    assert revisions[0].revision == head and revisions[0].is_head and revisions[0].is_current
    assert not any(rev.is_current for rev in revisions[1:]) and revisions[-1].down_revision is None
    assert migrate.check(db, actor=ACTOR) == []
    empty = Database.from_settings(make_settings(empty_url, tmp_path / "empty"))
    try:
        assert migrate.current(empty, actor=ACTOR) is None
        assert not any(rev.is_current for rev in migrate.history(empty, actor=ACTOR))
        assert migrate.upgrade(empty, "0001", actor=ACTOR) == "0001"  # forward from base: runs
        with pytest.raises(MigrationError, match=r"^upgrade to '0001' refused: the database is at"):
            migrate.upgrade(db, "0001", actor=ACTOR)
    finally:
        empty.dispose()


def test_offline_sql_starts_where_the_database_is(db: Database, settings: Settings) -> None:
    at_head = migrate.upgrade_sql(db, actor=ACTOR)
    assert at_head == migrate.MigrationSql("", alembic_commands.heads()[0])  # nothing to do, on either engine
    if db.dialect == "sqlite":
        with pytest.raises(MigrationError, match=r"^--sql is for PostgreSQL"):
            migrate.downgrade_sql(db, "base", actor=ACTOR)
        return
    assert "DROP TABLE users" in migrate.downgrade_sql(db, "base", actor=ACTOR)
    assert migrate.current(db, actor=ACTOR) == alembic_commands.heads()[0]  # printed, not run


@pytest.mark.parametrize("message", ["", "  "])
def test_a_blank_revision_message_is_refused_naming_the_option(db: Database, message: str) -> None:
    with pytest.raises(MigrationError, match=rf"^-m/--message {message!r} is blank: say what the migration does"):
        migrate.revision(db, message, actor=ACTOR, labels={"message": "-m/--message"})
    with pytest.raises(MigrationError, match=rf"^message {message!r} is blank"):
        migrate.revision(db, message, actor=ACTOR)


def test_reads_and_writes_are_registered_as_such() -> None:
    writes = {name: entry.writes for name, entry in ENTRIES.items() if name.startswith("migrate.")}
    assert writes == {"migrate.current": False, "migrate.history": False, "migrate.check": False,
                      "migrate.upgrade": True, "migrate.upgrade_sql": False, "migrate.downgrade_plan": False,
                      "migrate.downgrade": True, "migrate.downgrade_sql": False, "migrate.revision": True}


def test_the_schema_document_is_written_where_asked_and_an_unwritable_place_is_named(tmp_path: Path) -> None:
    """The docs service (docs/schema.md from the models) sits beside migrate: both read the models."""
    from stratlogic.schema_docs import render_schema
    from stratlogic.services import docs

    written = docs.write_schema(tmp_path / "new" / "schema.md", actor=ACTOR)
    assert written == tmp_path / "new" / "schema.md" and written.read_text(encoding="utf-8") == render_schema()
    assert docs.SCHEMA_DOC.name == "schema.md" and docs.SCHEMA_DOC.parent.name == "docs"
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ValidationError, match=rf"^cannot write {tmp_path / 'a-file' / 'schema.md'}: "):
        docs.write_schema(tmp_path / "a-file" / "schema.md", actor=ACTOR)
