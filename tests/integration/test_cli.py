"""The ``stratlogic`` command on real databases: db commands, health, and errors as one clear line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from stratlogic.db import migrate
from tests.cli_helpers import run_cli


@pytest.fixture
def env(empty_url: str, tmp_path: Path) -> dict[str, str]:
    return {"STRATLOGIC_DATABASE_URL": empty_url, "STRATLOGIC_HOME": str(tmp_path)}


def test_db_lifecycle_through_the_cli(env: dict[str, str]) -> None:
    assert run_cli("db", "current", env=env).stdout.strip() == "base"
    upgraded = run_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert run_cli("db", "current", env=env).stdout.strip() == migrate.heads()[0]
    checked = run_cli("db", "check", env=env)
    assert checked.returncode == 0 and "agree" in checked.stdout
    assert "0001" in run_cli("db", "history", env=env).stdout
    refused = run_cli("db", "upgrade", "0001", env=env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: upgrade to '0001' refused") and "Traceback" not in refused.stderr
    back = run_cli("db", "downgrade", "--steps", "1", env=env)
    assert back.returncode == 0, back.stderr
    below_head = migrate.script_directory().get_revision(migrate.heads()[0]).down_revision
    assert run_cli("db", "current", env=env).stdout.strip() == below_head
    assert run_cli("db", "downgrade", "base", env=env).returncode == 0
    assert run_cli("db", "current", env=env).stdout.strip() == "base"


def test_db_check_exits_1_and_lists_drift(env: dict[str, str]) -> None:
    result = run_cli("db", "check", env=env)
    assert result.returncode == 1
    assert "drift" in result.stderr and "not at head" in result.stderr


def test_health_json_on_a_healthy_database(env: dict[str, str]) -> None:
    run_cli("db", "upgrade", env=env)
    result = run_cli("health", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["current_revision"] == report["head_revision"] == migrate.heads()[0]


@pytest.mark.parametrize("target", ["refused", "silent"])
def test_health_on_a_down_database_is_quick_json_and_exit_1(target: str, silent_port: int, tmp_path: Path) -> None:
    port = 1 if target == "refused" else silent_port
    env = {"STRATLOGIC_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/none",
           "STRATLOGIC_HOME": str(tmp_path)}
    started = time.monotonic()
    result = run_cli("health", "--json", env=env)
    assert time.monotonic() - started < 6
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert not report["reachable"] and f"127.0.0.1:{port}/none" in report["message"]


def test_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    result = run_cli("db", "current", env={"STRATLOGIC_POOL_SIZE": "many", "STRATLOGIC_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: STRATLOGIC_POOL_SIZE: Input should be a valid integer, unable to parse string as an integer "
        "(got 'many')"]


def test_upgrade_sql_prints_sql_without_touching_the_database(env: dict[str, str]) -> None:
    result = run_cli("db", "upgrade", "--sql", env=env)
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE users" in result.stdout
    assert run_cli("db", "current", env=env).stdout.strip() == "base"


def test_config_commands(env: dict[str, str]) -> None:
    run_cli("db", "upgrade", env=env)
    assert run_cli("config", "get", "jobs.lease_seconds", env=env).stdout.strip() == "300"
    wrong = run_cli("config", "set", "jobs.lease_seconds", "ten", env=env)
    assert wrong.returncode == 1
    assert "config 'jobs.lease_seconds' expects int, got 'ten'" in wrong.stderr and "Traceback" not in wrong.stderr
    assert run_cli("config", "set", "jobs.lease_seconds", "600", env=env).returncode == 0
    assert run_cli("config", "get", "jobs.lease_seconds", env=env).stdout.strip() == "600"
    assert run_cli("config", "set", "scraper.proxy_url", "http://u:pw-77@proxy:3128", env=env).returncode == 0
    listed = json.loads(run_cli("config", "list", "--json", env=env).stdout)
    by_key = {row["key"]: row for row in listed}
    assert by_key["scraper.proxy_url"]["value"] == "***" and "pw-77" not in json.dumps(listed)
    assert by_key["jobs.lease_seconds"] == {**by_key["jobs.lease_seconds"], "value": 600, "default": False}
    unknown = run_cli("config", "get", "nope", env=env)
    assert unknown.returncode == 1 and "unknown config key 'nope'; declared keys:" in unknown.stderr
    assert run_cli("config", "unset", "jobs.lease_seconds", env=env).returncode == 0
    assert run_cli("config", "get", "jobs.lease_seconds", env=env).stdout.strip() == "300"
