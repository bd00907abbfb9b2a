"""The artifacts service on real databases and the configured folder store: the actor given is the one
recorded, the store comes from the database's settings unless given, errors name the caller's labels, and
``artifacts ls --csv`` is Excel-safe."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.db.actor import Actor, Origin
from stratlogic.errors import NotFoundError, ValidationError
from stratlogic.repositories import AuditRepository, JobRepository, UserRepository
from stratlogic.services import artifacts as service
from stratlogic.storage.local import LocalStore
from tests.cli_helpers import invoke

PAGE = b"<html><body>hello</body></html>"
FLAGS = {"job_id": "--job", "content_type": "--type", "target": "--out", "expires": "--expires"}


def a_job(db: Database) -> tuple[Actor, int]:
    """A person and a job of theirs; the person as an actor with an origin."""
    with db.unit_of_work() as uow:
        person = UserRepository(uow).create("ada", "ada@example.com").id
        job = JobRepository(uow).create(person, "page", "https://example.com/").id
    return Actor(person, origin=Origin("cli", "ada", "ws-12")), job


def trail(db: Database, artifact_id: int) -> list[tuple[str, int | None, dict[str, object]]]:
    with db.unit_of_work(readonly=True) as uow:
        return [(e.action, e.actor_id, e.details) for e in AuditRepository(uow).trail("artifact", artifact_id)]


def test_put_uses_the_configured_store_and_records_the_actor(db: Database, settings: Settings) -> None:
    actor, job = a_job(db)
    stored = service.put(db, job, PAGE, "page.html", actor=actor, metadata={"pages": 3})
    assert stored.created and stored.content_type == "text/html"
    assert LocalStore(settings.artifact_path).exists(stored.object_key)  # type: ignore[arg-type]
    (action, actor_id, details), *_ = trail(db, stored.id)
    assert (action, actor_id, details["cli"]) == ("artifact.created", actor.user_id, {"os_user": "ada",
                                                                                       "host": "ws-12"})
    again = service.put(db, job, PAGE, "copy.html", actor=actor)
    assert (again.id, again.created) == (stored.id, False)
    assert service.metadata(db, stored.id, actor=actor) == {"pages": 3}
    row = service.artifact_row(stored)
    assert list(row) == ["id", "job_id", "filename", "content_type", "size_bytes", "sha256", "bucket",
                         "object_key", "created_at"]
    with pytest.raises(NotFoundError, match="artifact 999999 not found"):
        service.metadata(db, 999999, actor=actor)


def test_download_makes_a_folder_named_with_a_slash_and_names_the_label(db: Database, tmp_path: Path) -> None:
    actor, job = a_job(db)
    stored = service.put(db, job, PAGE, "page.html", actor=actor)
    written = service.download(db, stored.id, f"{tmp_path / 'new' / 'folder'}/", actor=actor)
    assert written == tmp_path / "new" / "folder" / "page.html" and written.read_bytes() == PAGE
    (tmp_path / "plain").write_text("a file, not a folder")
    with pytest.raises(ValidationError, match=r"^--out '.*plain/x/': cannot make that folder"):
        service.download(db, stored.id, f"{tmp_path / 'plain'}/x/", actor=actor, labels=FLAGS)
    with service.open_reader(db, stored.id, actor=actor) as reader:
        assert b"".join(reader.iter_chunks(service.CHUNK)) == PAGE


def test_list_reads_types_in_any_case_and_refuses_a_negative_job_by_label(db: Database) -> None:
    actor, job = a_job(db)
    stored = service.put(db, job, PAGE, "page.html", actor=actor)
    page = service.list_artifacts(db, {"content_type": " TEXT/HTML "}, actor=actor)
    assert [row["id"] for row in page.rows] == [stored.id] and page.next_cursor is None
    assert service.list_artifacts(db, {"job_id": 0}, actor=actor).rows == []  # 0 is a value: no job has it
    with pytest.raises(ValidationError, match=r"^--job -1 is not a job id"):
        service.list_artifacts(db, {"job_id": -1}, actor=actor, labels=FLAGS)
    with pytest.raises(ValidationError, match=r"^job_id -1 is not a job id"):
        service.list_artifacts(db, {"job_id": -1}, actor=actor)


def test_url_checks_its_expiry_and_the_artifact(db: Database) -> None:
    actor, job = a_job(db)
    stored = service.put(db, job, PAGE, "page.html", actor=actor)
    assert service.url(db, stored.id, actor=actor, expires=timedelta(minutes=15)).startswith("file://")
    with pytest.raises(ValidationError, match=r"^--expires 8 days, 0:00:00 is out of range: give 1s up to 7d"):
        service.url(db, stored.id, actor=actor, expires=timedelta(days=8), labels=FLAGS)
    with pytest.raises(NotFoundError, match="artifact -1 not found"):
        service.url(db, -1, actor=actor)  # (another bucket's artifact: test_artifacts_cli)


def test_delete_records_the_actor_and_reconcile_finds_nothing_left(db: Database, settings: Settings) -> None:
    actor, job = a_job(db)
    stored = service.put(db, job, PAGE, "page.html", actor=actor)
    service.set_metadata(db, stored.id, {"lang": "en"}, actor=actor)
    assert [a.id for a in service.find_by_metadata(db, "lang", "en", actor=actor)] == [stored.id]
    gone = service.delete(db, stored.id, actor=actor)
    assert gone.id == stored.id and service.count(db, actor=actor) == 0
    assert not LocalStore(settings.artifact_path).exists(stored.object_key)  # type: ignore[arg-type]
    action, actor_id, _ = trail(db, stored.id)[-1]
    assert (action, actor_id) == ("artifact.deleted", actor.user_id)
    report = service.reconcile(db, actor=actor)
    assert report.ok and report.findings == [] and report.rows_checked == 0


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {"STRATLOGIC_DATABASE_URL": settings.database_url, "STRATLOGIC_HOME": str(tmp_path),
            "STRATLOGIC_ARTIFACT_STORE": settings.artifact_store}


def test_artifacts_ls_csv_is_excel_safe_and_json_keeps_its_keys(db: Database, env: dict[str, str]) -> None:
    actor, job = a_job(db)
    stored = service.put(db, job, PAGE, "=cmd.html", actor=actor)
    shown = invoke(env, "artifacts", "ls", "--csv")
    assert shown.exit_code == 0, shown.output
    rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert [(row["id"], row["filename"], row["sha256"]) for row in rows] == [(str(stored.id), "'=cmd.html",
                                                                              stored.sha256)]
    lines = invoke(env, "artifacts", "ls", "--json").stdout.splitlines()
    assert [json.loads(line) for line in lines] == [service.artifact_row(stored)]
    table = invoke(env, "artifacts", "ls", "--type", "TEXT/HTML").stdout
    assert "=cmd.html" in table and stored.sha256[:12] in table and stored.sha256 not in table
    nothing = invoke(env, "artifacts", "ls", "--job", "0")
    assert nothing.exit_code == 0 and nothing.stdout == "" and "no artifacts match" in nothing.stderr


def test_every_artifacts_entry_point_is_registered_with_what_it_does() -> None:
    from stratlogic.services import _base

    names = {name: item.writes for name, item in _base.ENTRIES.items() if name.startswith("artifacts.")}
    assert names == {"artifacts.put": True, "artifacts.get": False, "artifacts.open": False,
                     "artifacts.download": False, "artifacts.list": False, "artifacts.find": False,
                     "artifacts.count": False, "artifacts.frame": False, "artifacts.url": False,
                     "artifacts.delete": True, "artifacts.reconcile": True, "artifacts.metadata": False,
                     "artifacts.set_metadata": True, "artifacts.find_by_metadata": False}
    assert _base.ENTRIES["artifacts.put"].function is service.put
