"""The seed service on real SQLite and PostgreSQL: the rules ``stratlogic seed`` enforced, now below it.

Demo sizes given without the demo are refused naming the caller's flags; a bad value or a weak admin password
is refused before ``reset`` empties anything, and the same Database keeps working after a reset (its pool
pointed at the deleted file); the admin's audit row carries the given actor's origin.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from stratlogic.db import Database
from stratlogic.db.actor import Actor, Origin
from stratlogic.errors import ValidationError
from stratlogic.repositories import AuditRepository, UserRepository
from stratlogic.services import audit, seed
from stratlogic.services._base import ENTRIES

UNTIL = date.today() - timedelta(days=2)
SMALL = seed.DemoOptions(users=4, jobs=30, days=3, seed=5, until=UNTIL, objects=False)
ORIGIN = Origin("cli", "linus", "ws-3")
ONLY_SQLITE = pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite)])
ONLY_POSTGRES = pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
FLAGS = {"demo": "--demo", "jobs": "--jobs", "objects": "--no-objects", "until": "--until"}


def _users(db: Database) -> int:
    with db.unit_of_work(readonly=True) as uow:
        return UserRepository(uow).count()


def test_demo_options_are_checked_and_named_by_the_callers_flags() -> None:
    assert seed.demo_options(demo=False) is None
    with pytest.raises(ValidationError, match=r"^--jobs, --no-objects only apply with --demo$"):
        seed.demo_options(demo=False, jobs=5, objects=False, labels=FLAGS)
    with pytest.raises(ValidationError, match=r"^jobs, objects=False only apply with demo=True$"):
        seed.demo_options(demo=False, jobs=5, objects=False)
    with pytest.raises(ValidationError, match=r"^--until 'garbage' is not a date \(YYYY-MM-DD\)$"):
        seed.demo_options(until="garbage", labels=FLAGS)
    with pytest.raises(ValidationError, match=r"--jobs -5 is out of range"):
        seed.demo_options(jobs=-5)
    chosen = seed.demo_options(jobs=30, until=UNTIL.isoformat(), objects=False)
    assert chosen == seed.DemoOptions(jobs=30, until=UNTIL, objects=False)  # unset ones keep their defaults


def test_base_seed_records_the_actors_origin_and_the_demo_verifies(db: Database) -> None:
    base = seed.seed_defaults(db, actor=Actor(origin=ORIGIN), interactive=True)
    assert base.admin_created and base.password is not None and base.password_file is None
    with db.unit_of_work(readonly=True) as uow:
        (created,) = AuditRepository(uow).list({"action": "user.created"})
    assert created.details["cli"] == {"os_user": "linus", "host": "ws-3"}
    assert seed.seed_defaults(db, actor=Actor()).nothing_to_do
    planned = seed.estimate(db, SMALL, actor=Actor())
    assert planned.estimate.objects == 0 and planned.describe().endswith("no objects (--no-objects)")
    result = seed.seed_demo(db, SMALL, actor=Actor())
    assert result.created and result.rows["scraping_jobs"] == 30 and _users(db) == 5
    assert not seed.seed_demo(db, SMALL, actor=Actor()).created  # a second run adds nothing
    assert audit.verify(db, actor=Actor()).ok


@ONLY_POSTGRES
def test_reset_is_refused_on_postgresql(db: Database) -> None:
    seed.seed_defaults(db, actor=Actor(), interactive=True)
    with pytest.raises(ValidationError, match=r"^--reset only empties the embedded SQLite database"):
        seed.reset(db, actor=Actor())
    assert _users(db) == 1


@ONLY_SQLITE
def test_reset_checks_first_then_empties_and_the_database_keeps_working(db: Database, tmp_path: Path) -> None:
    seed.seed_demo(db, SMALL, actor=Actor(), interactive=True)
    with pytest.raises(ValidationError, match=r"--jobs -5 is out of range"):
        seed.reset(db, actor=Actor(), demo=seed.DemoOptions(jobs=-5))
    weak = Database(db.engine, db.settings.model_copy(update={"admin_password": SecretStr("password")}))
    with pytest.raises(ValidationError, match=r"^STRATLOGIC_ADMIN_PASSWORD refused: it "):
        seed.reset(weak, actor=Actor())
    assert _users(db) == 5  # nothing emptied by either refusal
    done = seed.reset(db, actor=Actor())
    assert done.objects_removed == 0 and done.other_owner is None
    assert _users(db) == 0  # the same Database reads the new, empty file
    assert seed.seed_defaults(db, actor=Actor(), interactive=True).admin_created and _users(db) == 1


def test_entry_points_are_registered() -> None:
    assert {name for name in ENTRIES if name.startswith("seed.")} == {
        "seed.defaults", "seed.estimate", "seed.demo", "seed.reset"}
