"""``stratlogic backup``, ``backup verify`` and ``restore`` as a person runs them: what they print, their exit
codes, and one-line errors naming the flag."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from stratlogic.audit.verify import verify
from stratlogic.db import Database
from stratlogic.seed import DemoOptions, seed_demo
from tests.cli_helpers import invoke
from tests.conftest import make_settings

pytestmark = pytest.mark.sqlite


@pytest.fixture
def source(tmp_path: Path, sqlite_template: Path) -> dict[str, str]:
    """The environment of a seeded SQLite database."""
    path = tmp_path / "source.db"
    path.write_bytes(sqlite_template.read_bytes())
    database = Database.from_settings(make_settings(f"sqlite:///{path}", tmp_path))
    seed_demo(database, DemoOptions(users=3, jobs=15, days=2, seed=2, until=date(2026, 12, 1), objects=False))
    database.dispose()
    return {"STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_DATABASE_URL": f"sqlite:///{path}",
            "STRATLOGIC_ARTIFACT_STORE": f"file:{tmp_path / 'artifacts'}"}


def test_backup_verify_and_restore_from_the_command_line(source: dict[str, str], tmp_path: Path) -> None:
    made = invoke(source, "backup", "--out", str(tmp_path / "bk"))
    assert made.exit_code == 0, made.output
    assert f"to {tmp_path / 'bk'} (" in made.stdout and "revision 0008" in made.stdout
    assert "manifest sha256: " in made.stdout

    checked = invoke(source, "backup", "verify", str(tmp_path / "bk"), "--json")
    assert checked.exit_code == 0, checked.output
    document = json.loads(checked.stdout)
    assert document["rows"]["scraping_jobs"] == 15 and document["revision"] == "0008"

    target = f"sqlite:///{tmp_path / 'copy.db'}"
    restored = invoke(source, "restore", str(tmp_path / "bk"), "--into", target)
    assert restored.exit_code == 0, restored.output
    assert f"into {target} (revision 0008)" in restored.stdout
    assert "note: the source had no installation id yet" in restored.stdout
    copy = Database.from_settings(make_settings(target, tmp_path / "copy"))
    try:
        assert verify(copy).ok
    finally:
        copy.dispose()

    again = invoke(source, "restore", str(tmp_path / "bk"), "--into", target)
    assert again.exit_code == 1
    assert again.stderr.count("\n") == 1 and "is not empty (users 4, " in again.stderr
    assert "or add --force to drop and recreate its schema" in again.stderr
    forced = invoke(source, "restore", str(tmp_path / "bk"), "--into", target, "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["rows"]["scraping_jobs"] == 15


def test_mistakes_are_one_line_naming_the_flag(source: dict[str, str], tmp_path: Path) -> None:
    missing = invoke(source, "backup")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: --out: give the folder or s3://bucket/prefix to write the backup to"

    bad_url = invoke(source, "restore", str(tmp_path / "nothing"), "--into", "mysql://root:hunter2@h/db")
    assert bad_url.exit_code == 1 and bad_url.stderr.startswith("error: --into mysql://root:***@h/db: ")
    assert "hunter2" not in bad_url.stderr

    not_a_backup = invoke(source, "backup", "verify", str(tmp_path))
    assert not_a_backup.exit_code == 1
    assert f"{tmp_path} is not a complete backup: manifest.json is missing" in not_a_backup.stderr
