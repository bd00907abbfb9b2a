"""The ``stratlogic artifacts`` commands' refusals: a row of another bucket, a filename with brackets.

Each test guards against one bug found in review (the comment above it names the bug, now fixed). Most run on
SQLite with the local store only, where the bug does not depend on the engine or the store; the S3 ones use
the session's SeaweedFS server.
"""


from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from stratlogic.db import Database
from stratlogic.models import Artifact
from stratlogic.storage import (
    LocalStore,
    store_artifact,
)
from tests.cli_helpers import invoke
from tests.integration.storage_helpers import SQLITE, new_job

HTML = b"<!doctype html><html><body><p>hello</p></body></html>"


# Was: cli/artifacts.py url: no bucket check (get/open_artifact refuse); it signed the key in the configured
# store for a row of another bucket
@SQLITE
def test_cli_url_refuses_an_artifact_of_another_bucket(settings: object, db: Database, tmp_path: Path) -> None:
    env = {"STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_DATABASE_URL": settings.database_url,  # type: ignore[attr-defined]
           "STRATLOGIC_ARTIFACT_STORE": settings.artifact_store}  # type: ignore[attr-defined]
    store = LocalStore(tmp_path / "artifacts")
    stored = store_artifact(db, store, new_job(db), HTML, "index.html")
    with db.unit_of_work() as uow:
        uow.session.execute(update(Artifact).where(Artifact.id == stored.id).values(bucket="other-bucket"))
    got = invoke(env, "artifacts", "get", str(stored.id), "--out", str(tmp_path))
    assert got.exit_code == 1
    link = invoke(env, "artifacts", "url", str(stored.id))  # today: exit 0 and a file:// URL
    assert link.exit_code == 1 and "other-bucket" in link.output


# Was: cli/_common.py cli_errors printed messages as Rich markup: '[draft]' in a filename vanished ('[/x]' would
# crash)
@SQLITE
def test_cli_error_keeps_brackets_in_filenames(settings: object, db: Database, tmp_path: Path) -> None:
    env = {"STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_DATABASE_URL": settings.database_url,  # type: ignore[attr-defined]
           "STRATLOGIC_ARTIFACT_STORE": settings.artifact_store}  # type: ignore[attr-defined]
    empty = tmp_path / "[draft] page.html"
    empty.write_bytes(b"")
    result = invoke(env, "artifacts", "put", str(new_job(db)), str(empty))
    assert result.exit_code == 1
    assert "[draft] page.html" in result.stderr
