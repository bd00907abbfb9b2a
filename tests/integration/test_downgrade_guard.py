"""``db downgrade`` says what it drops and needs ``--yes`` for it; ``db upgrade --sql`` starts where the database is."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import inspect

from stratlogic.config import Settings
from stratlogic.db import migrate
from stratlogic.db.engine import make_engine
from stratlogic.errors import MigrationError
from tests.cli_helpers import BIN, run_here
from tests.conftest import make_settings


def schema(settings: Settings) -> dict[str, set[str]]:
    """Every table (Alembic's own left out) and its columns, as the database has them."""
    engine = make_engine(settings)
    try:
        found = inspect(engine)
        return {table: {c["name"] for c in found.get_columns(table)} for table in found.get_table_names()
                if table != "alembic_version"}
    finally:
        engine.dispose()


def dropped(before: dict[str, set[str]], after: dict[str, set[str]]) -> set[str]:
    tables = {f"table {t}" for t in before if t not in after}
    columns = {f"column {t}.{c}" for t, cols in before.items() if t in after for c in cols - after[t]}
    return tables | columns


def test_every_revision_s_plan_names_exactly_what_its_downgrade_drops(settings: Settings) -> None:
    """Step by step from head to base: the plan equals the schema difference, and drops need ``yes``."""
    while (now := migrate.current(settings)) is not None:
        plan = migrate.downgrade_plan(settings, steps=1)
        before = schema(settings)
        if plan.drops:
            with pytest.raises(MigrationError, match=f"downgrade from {now} to .* drops .*pass --yes"):
                migrate.downgrade(settings, steps=1)
            assert migrate.current(settings) == now  # refused: nothing ran
        migrate.downgrade(settings, steps=1, yes=True)
        assert set(plan.drops) == dropped(before, schema(settings)), now
        assert plan.revisions == [now]
    assert not schema(settings)


def test_a_downgrade_that_drops_nothing_needs_no_yes(settings: Settings) -> None:
    while (plan := migrate.downgrade_plan(settings, steps=1)).drops:  # down to a revision that changes no columns
        migrate.downgrade(settings, steps=1, yes=True)
    assert plan.current == "0007" and plan.target == "0006"  # 0007 changes a trigger only
    migrate.downgrade(settings, steps=1)
    assert migrate.current(settings) == plan.target


def test_too_many_steps_names_how_many_there_are(settings: Settings) -> None:
    above = len(list(migrate.script_directory().walk_revisions()))
    with pytest.raises(MigrationError) as caught:
        migrate.downgrade(settings, steps=99, yes=True)
    assert str(caught.value) == f"cannot go down 99 steps: the database is {above} revisions above base"
    assert migrate.downgrade_plan(settings, "head").revisions == []  # already there: nothing to undo
    migrate.downgrade(settings, steps=1, yes=True)
    with pytest.raises(MigrationError, match=r"cannot downgrade to 'head': the database is at .*not above it"):
        migrate.downgrade_plan(settings, "head")


def env_of(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {"STRATLOGIC_DATABASE_URL": settings.url.render_as_string(hide_password=False),
            "STRATLOGIC_HOME": str(tmp_path)}


def test_cli_downgrade_base_refuses_without_yes_naming_the_tables(settings: Settings, tmp_path: Path) -> None:
    env = env_of(settings, tmp_path)
    head = migrate.heads()[0]
    refused = run_here("db", "downgrade", "base", env=env)
    assert refused.returncode == 1
    line, = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: downgrade from {head} to base drops table ") and "table users" in line
    assert "pass --yes" in line and migrate.current(settings) == head
    done = run_here("db", "downgrade", "base", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert migrate.current(settings) is None


def test_cli_downgrade_too_many_steps(settings: Settings, tmp_path: Path) -> None:
    above = len(list(migrate.script_directory().walk_revisions()))
    result = run_here("db", "downgrade", "--steps", "99", "--yes", env=env_of(settings, tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: cannot go down 99 steps: the database is {above} revisions above base"


@pytest.mark.sqlite
def test_cli_downgrade_asks_a_person_at_a_terminal(settings: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATLOGIC_")} | env_of(settings, tmp_path)
    for answer, left_at in ((b"n\n", migrate.heads()[0]), (b"y\n", None)):
        leader, follower = pty.openpty()
        with subprocess.Popen([str(BIN), "db", "downgrade", "base"], stdin=follower, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env) as process:
            os.close(follower)
            os.write(leader, answer)
            _, said = process.communicate(timeout=60)
        os.close(leader)
        assert b"drops table " in said and b"table users;" in said and b"Downgrade?" in said
        assert process.returncode == (1 if left_at else 0)
        assert migrate.current(settings) == left_at


@pytest.fixture
def pg_settings(pg_database, pg_template: str, tmp_path: Path) -> Settings:  # type: ignore[no-untyped-def]
    """A migrated PostgreSQL database (offline SQL is for PostgreSQL only)."""
    return make_settings(pg_database(pg_template), tmp_path)


@pytest.mark.postgres
def test_cli_downgrade_sql_prints_without_asking(pg_settings: Settings, tmp_path: Path) -> None:
    settings = pg_settings
    result = run_here("db", "downgrade", "base", "--sql", env=env_of(settings, tmp_path))
    assert result.returncode == 0, result.stderr
    assert "DROP TABLE users" in result.stdout
    assert migrate.current(settings) == migrate.heads()[0]


@pytest.mark.postgres
def test_upgrade_sql_starts_at_the_current_revision(pg_settings: Settings, tmp_path: Path) -> None:
    settings = pg_settings
    env = env_of(settings, tmp_path)
    head = migrate.heads()[0]
    at_head = run_here("db", "upgrade", "--sql", env=env)
    assert at_head.returncode == 0 and at_head.stdout == ""
    assert at_head.stderr.strip() == f"database already at {head} (head): no SQL to print"
    migrate.downgrade(settings, "0005", yes=True)
    sql = migrate.upgrade(settings, "head", sql=True)
    assert "CREATE TABLE users" not in sql and "stratlogic_write_lock" in sql  # 0006 and later only
    assert f"UPDATE alembic_version SET version_num='{head}'" in sql


@pytest.mark.postgres
def test_upgrade_sql_of_an_empty_database_is_the_whole_schema(pg_database, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(pg_database(), tmp_path)
    assert "CREATE TABLE users" in migrate.upgrade(settings, "head", sql=True)


def test_relative_steps_beyond_head_or_a_relative_revision_say_what_to_do(settings: Settings) -> None:
    head = migrate.heads()[0]
    with pytest.raises(MigrationError) as caught:
        migrate.upgrade(settings, "+1")
    assert str(caught.value) == f"cannot go up 1 step: the database is at head {head}"  # not Alembic's wording
    migrate.downgrade(settings, steps=2, yes=True)
    below = migrate.current(settings)
    with pytest.raises(MigrationError, match=rf"^cannot go up 3 steps: the database is at {below}, 2 revisions"):
        migrate.upgrade(settings, "+3")
    with pytest.raises(MigrationError, match=r"'-1' is not a revision: .* use --steps 1"):
        migrate.downgrade(settings, "-1", yes=True)
    migrate.upgrade(settings, "+2")
    assert migrate.current(settings) == head


def test_a_refusal_points_to_sql_only_where_it_can_be_printed(settings: Settings, tmp_path: Path) -> None:
    env = env_of(settings, tmp_path)
    refused = run_here("db", "downgrade", "--steps", "1", env=env)
    assert refused.returncode == 1 and "pass --yes" in refused.stderr
    sql = run_here("db", "downgrade", "--steps", "1", "--sql", env=env)
    if settings.backend == "sqlite":  # no offline SQL for SQLite's table rebuilds
        assert "--sql" not in refused.stderr
        assert sql.returncode == 1 and "run `stratlogic db downgrade` instead" in sql.stderr
    else:
        assert "--sql shows the SQL" in refused.stderr
        assert sql.returncode == 0 and "DROP COLUMN" in sql.stdout


@pytest.mark.postgres
def test_upgrade_sql_to_an_older_revision_is_refused(pg_settings: Settings, tmp_path: Path) -> None:
    """Alembic printed an empty BEGIN/COMMIT script for it: refused like the upgrade itself."""
    result = run_here("db", "upgrade", "0005", "--sql", env=env_of(pg_settings, tmp_path))
    assert result.returncode == 1 and result.stdout == ""
    assert "upgrade to '0005' refused: the database is at" in result.stderr and "db downgrade 0005" in result.stderr


@pytest.mark.parametrize("message", ["", "   "])
def test_a_revision_with_a_blank_message_is_refused(settings: Settings, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    """It wrote ``migrations/versions/DATE_HASH_.py``; the writer is replaced so no test can add a migration."""
    from tests.integration.test_cli_review import invoke

    written: list[str] = []
    monkeypatch.setattr(migrate, "revision", lambda s, m, **kw: written.append(m) or tmp_path / "x.py")
    result = invoke(env_of(settings, tmp_path), "db", "revision", "-m", message)
    assert result.exit_code == 1 and written == []
    assert f"error: -m/--message {message!r} is blank" in result.stderr
