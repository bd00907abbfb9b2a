"""Backups to ``s3://`` on a real S3 server (SeaweedFS): written, verified and restored from there; a prefix
already used refused; a cut-off backup (no manifest) refused as incomplete."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from stratlogic.audit.verify import verify
from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.db.actor import Actor
from stratlogic.errors import ValidationError
from stratlogic.seed import DemoOptions, seed_demo
from stratlogic.services.backup import backup, restore, verify_backup
from stratlogic.storage.testing import SeaweedServer
from tests.conftest import make_settings
from tests.integration.storage_helpers import settings_on_s3

pytestmark = [pytest.mark.s3, pytest.mark.sqlite]
BUCKET = "stratlogic-backups"
ACTOR = Actor()


@pytest.fixture
def backend() -> str:
    """SQLite only: the S3 side is what these tests are about."""
    return "sqlite"


def with_s3(settings: Settings, server: SeaweedServer) -> Settings:
    return settings_on_s3(settings, server, BUCKET)


def test_a_backup_on_s3_verifies_and_restores(s3_server: SeaweedServer, settings: Settings, tmp_path: Path) -> None:
    source = Database.from_settings(with_s3(settings, s3_server))
    seed_demo(source, DemoOptions(users=3, jobs=15, days=2, seed=4, until=date(2026, 12, 1), objects=False))
    where = f"s3://{BUCKET}/{uuid.uuid4().hex}/nightly"
    made = backup(source, where, actor=ACTOR)
    assert made.location == where and made.rows["scraping_jobs"] == 15
    assert verify_backup(where, actor=ACTOR, database=source).manifest_sha256 == made.manifest_sha256
    with pytest.raises(ValidationError, match=rf"backup location {where} is not empty"):
        backup(source, where, actor=ACTOR)

    into = Database.from_settings(with_s3(make_settings(f"sqlite:///{tmp_path / 'copy.db'}", tmp_path / "c"),
                                          s3_server))
    restore(where, into, actor=ACTOR)
    into.dispose()
    into = Database.from_settings(into.settings)
    try:
        assert verify(into).ok
    finally:
        into.dispose()
        source.dispose()


def test_a_prefix_without_its_manifest_is_refused_as_incomplete(s3_server: SeaweedServer, settings: Settings) -> None:
    source = Database.from_settings(with_s3(settings, s3_server))
    where = f"{BUCKET}/{uuid.uuid4().hex}/cut"
    backup(source, f"s3://{where}", actor=ACTOR)
    fs = pafs.S3FileSystem(access_key=s3_server.access_key, secret_key=s3_server.secret_key,
                           endpoint_override=s3_server.endpoint, scheme="http")
    fs.delete_file(f"{where}/manifest.json")  # as a backup cut off before its last write leaves it
    with pytest.raises(ValidationError, match=r"is not a complete backup: manifest\.json is missing"):
        verify_backup(f"s3://{where}", actor=ACTOR, database=source)
    source.dispose()
