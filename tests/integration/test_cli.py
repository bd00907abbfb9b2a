"""The ``stratlogic`` command on real databases: db commands, health, and errors as one clear line."""

from __future__ import annotations

import getpass
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import typer

from stratlogic.cli._common import cli_errors
from stratlogic.db import migrate
from stratlogic.db.errors import NOT_MIGRATED
from tests.cli_helpers import run_cli, run_here


@pytest.fixture
def env(empty_url: str, tmp_path: Path) -> dict[str, str]:
    return {"STRATLOGIC_DATABASE_URL": empty_url, "STRATLOGIC_HOME": str(tmp_path)}


def test_db_lifecycle_through_the_cli(env: dict[str, str]) -> None:
    assert run_here("db", "current", env=env).stdout.strip() == "base"
    upgraded = run_here("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert run_here("db", "current", env=env).stdout.strip() == migrate.heads()[0]
    checked = run_here("db", "check", env=env)
    assert checked.returncode == 0 and "agree" in checked.stdout
    assert "0001" in run_here("db", "history", env=env).stdout
    refused = run_here("db", "upgrade", "0001", env=env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: upgrade to '0001' refused") and "Traceback" not in refused.stderr
    back = run_here("db", "downgrade", "--steps", "1", "--yes", env=env)
    assert back.returncode == 0, back.stderr
    below_head = migrate.script_directory().get_revision(migrate.heads()[0]).down_revision
    assert run_here("db", "current", env=env).stdout.strip() == below_head
    assert run_here("db", "downgrade", "base", "--yes", env=env).returncode == 0
    assert run_here("db", "current", env=env).stdout.strip() == "base"


def test_db_check_exits_1_and_lists_drift(env: dict[str, str]) -> None:
    result = run_here("db", "check", env=env)
    assert result.returncode == 1
    assert "drift" in result.stderr and "not at head" in result.stderr


def test_health_json_on_a_healthy_database(env: dict[str, str]) -> None:
    run_here("db", "upgrade", env=env)
    result = run_here("health", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["current_revision"] == report["head_revision"] == migrate.heads()[0]


@pytest.mark.parametrize("target", ["refused", "silent"])
def test_health_on_a_down_database_is_quick_json_and_exit_1(target: str, silent_port: int, tmp_path: Path) -> None:
    port = 1 if target == "refused" else silent_port
    env = {"STRATLOGIC_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/none",
           "STRATLOGIC_HOME": str(tmp_path)}
    started = time.monotonic()
    result = run_cli("health", "--json", "--timeout", "2", env=env)
    # A silent server would hold the command for good without the connect timeout; the bound is loose so a
    # busy machine's slow start never fails it (../shared/checks/foundation-health-down times it closely).
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert not report["reachable"] and f"127.0.0.1:{port}/none" in report["message"]


def test_a_password_in_the_url_query_never_shows(tmp_path: Path) -> None:
    env = {"STRATLOGIC_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x?password=Sup3rSecretPW",
           "STRATLOGIC_HOME": str(tmp_path)}
    health = run_here("health", "--json", env=env)
    assert health.returncode == 1
    report = json.loads(health.stdout)
    assert report["url"] == "postgresql+psycopg://postgres@127.0.0.1:1/x?password=***"
    listed = run_here("jobs", "list", env=env)
    assert listed.returncode == 1 and listed.stderr.startswith("error: cannot reach the database at")
    for result in (health, listed):
        assert "Sup3rSecretPW" not in result.stdout + result.stderr


def test_a_password_with_an_unescaped_at_sign_is_refused_without_echoing_it(tmp_path: Path) -> None:
    env = {"STRATLOGIC_DATABASE_URL": "postgresql://postgres:Sup3r@SecretPW@127.0.0.1:1/x",
           "STRATLOGIC_HOME": str(tmp_path)}
    for command in (("health", "--json"), ("jobs", "list")):
        result = run_here(*command, env=env)
        assert result.returncode == 1
        assert result.stderr.startswith("error: STRATLOGIC_DATABASE_URL: not a database URL"), result.stderr
        assert "SecretPW" not in result.stdout + result.stderr


def test_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    result = run_here("db", "current", env={"STRATLOGIC_POOL_SIZE": "many", "STRATLOGIC_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: STRATLOGIC_POOL_SIZE: Input should be a valid integer, unable to parse string as an integer "
        "(got 'many')"]


def test_upgrade_sql_prints_sql_without_touching_the_database(env: dict[str, str], backend: str) -> None:
    result = run_here("db", "upgrade", "--sql", env=env)
    if backend == "sqlite":  # table rebuilds need the live database: refused, clearly
        assert result.returncode == 1
        assert result.stderr.startswith("error: --sql is for PostgreSQL") and "Traceback" not in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert "CREATE TABLE users" in result.stdout and "VALIDATE CONSTRAINT" in result.stdout
    assert run_here("db", "current", env=env).stdout.strip() == "base"


def test_config_commands(env: dict[str, str]) -> None:
    run_here("db", "upgrade", env=env)
    assert run_here("config", "get", "jobs.lease_seconds", env=env).stdout.strip() == "300"
    wrong = run_here("config", "set", "jobs.lease_seconds", "ten", env=env)
    assert wrong.returncode == 1
    assert "config 'jobs.lease_seconds' expects int, got 'ten'" in wrong.stderr and "Traceback" not in wrong.stderr
    assert run_here("config", "set", "jobs.lease_seconds", "600", env=env).returncode == 0
    assert run_here("config", "get", "jobs.lease_seconds", env=env).stdout.strip() == "600"
    assert run_here("config", "set", "scraper.proxy_url", "http://u:pw-77@proxy:3128", env=env).returncode == 0
    listed = [json.loads(line) for line in run_here("config", "list", "--json", env=env).stdout.splitlines()]
    by_key = {row["key"]: row for row in listed}
    assert by_key["scraper.proxy_url"]["value"] == "***" and "pw-77" not in json.dumps(listed)
    assert by_key["jobs.lease_seconds"] == {**by_key["jobs.lease_seconds"], "value": 600, "default": False}
    unknown = run_here("config", "get", "nope", env=env)
    assert unknown.returncode == 1 and "unknown config key 'nope'; declared keys:" in unknown.stderr
    assert run_here("config", "unset", "jobs.lease_seconds", env=env).returncode == 0
    assert run_here("config", "get", "jobs.lease_seconds", env=env).stdout.strip() == "300"


@pytest.mark.parametrize(("key", "value", "shown"), [("jobs.lease_seconds", "99999999999999999999999", None),
                                                   ("jobs.backoff_base_seconds", "1e300", "1e+300"),
                                                   ("audit.retention_days", "36501", None)])
def test_config_set_beyond_the_bound_is_one_line_naming_key_and_value(env: dict[str, str], key: str, value: str,
                                                                      shown: str | None) -> None:
    run_here("db", "upgrade", env=env)
    default = run_here("config", "get", key, env=env).stdout
    refused = run_here("config", "set", key, value, env=env)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: config {key!r} expects") and "Traceback" not in refused.stderr
    assert f"got {shown or value}" in refused.stderr
    assert run_here("config", "get", key, env=env).stdout == default


@pytest.mark.parametrize("command", [("config", "list"), ("config", "set", "jobs.lease_seconds", "60"),
                                     ("audit", "list"), ("jobs", "list"), ("jobs", "show", "1"), ("seed",)])
def test_commands_on_an_unmigrated_database_say_to_upgrade(env: dict[str, str], command: tuple[str, ...]) -> None:
    result = run_here(*command, env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {NOT_MIGRATED}"]
    assert run_here("db", "current", env=env).stdout.strip() == "base"  # and nothing was created


def test_an_unexpected_error_is_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRATLOGIC_LOG_LEVEL", raising=False)
    with pytest.raises(typer.Exit) as caught, cli_errors():
        raise KeyError("boom")
    assert caught.value.exit_code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: unexpected KeyError: 'boom' (run with --debug for the traceback)"]


def test_an_unexpected_error_keeps_its_traceback_under_debug_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATLOGIC_LOG_LEVEL", "debug")
    with pytest.raises(KeyError), cli_errors():
        raise KeyError("boom")


def test_audit_commands_verify_checkpoint_and_list(env: dict[str, str], tmp_path: Path) -> None:
    run_here("db", "upgrade", env=env)
    for value in ("600", "700"):
        assert run_here("config", "set", "jobs.lease_seconds", value, env=env).returncode == 0
    listed = [json.loads(line) for line in run_here("audit", "list", "--json", env=env).stdout.splitlines()]
    assert [row["action"] for row in listed] == ["config.set", "config.set"]
    assert listed[1]["details"] == {"old": 600, "new": 700, "cli": {"os_user": getpass.getuser(),
                                                                    "host": socket.gethostname()}}
    point = tmp_path / "checkpoint.json"
    assert run_here("audit", "checkpoint", "--out", str(point), env=env).returncode == 0
    verified = run_here("audit", "verify", "--checkpoint", str(point), "--json", env=env)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    page = run_here("audit", "list", "--limit", "1", "--action", "config.set", env=env)
    assert "more: --cursor " in page.stderr
    cursor = page.stderr.split("--cursor ")[1].split()[0]
    second = run_here("audit", "list", "--limit", "1", "--action", "config.set", "--cursor", cursor, "--json", env=env)
    assert json.loads(second.stdout)["id"] == listed[1]["id"]
    point.write_text("not json")
    broken = run_here("audit", "verify", "--checkpoint", str(point), env=env)
    assert broken.returncode == 1 and "is not a valid audit checkpoint" in broken.stderr


def test_audit_verify_names_a_tampered_row(env: dict[str, str], backend: str) -> None:
    run_here("db", "upgrade", env=env)
    for value in ("600", "700", "800"):
        run_here("config", "set", "jobs.lease_seconds", value, env=env)
    guards = ("DROP TRIGGER audit_logs_no_update_delete ON audit_logs" if backend == "postgres"
              else "DROP TRIGGER audit_logs_no_update")
    from sqlalchemy import create_engine, text

    engine = create_engine(env["STRATLOGIC_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text(guards))
        conn.execute(text("UPDATE audit_logs SET resource_id = 'forged' WHERE id = 2"))
    engine.dispose()
    result = run_here("audit", "verify", env=env)
    assert result.returncode == 1
    assert "row 2: content does not match its hash" in result.stderr


@pytest.mark.s3
def test_audit_checkpoint_round_trips_through_s3(tmp_path: Path, s3_server: Any) -> None:
    """``--out s3://BUCKET/KEY`` and ``--checkpoint s3://BUCKET/KEY``: the checkpoint kept in a bucket."""
    env = {"STRATLOGIC_DATABASE_URL": f"sqlite:///{tmp_path / 'cp.db'}", "STRATLOGIC_HOME": str(tmp_path),
           "STRATLOGIC_S3_ENDPOINT": s3_server.endpoint, "STRATLOGIC_S3_SECURE": "false",
           "STRATLOGIC_S3_ACCESS_KEY": s3_server.access_key, "STRATLOGIC_S3_SECRET_KEY": s3_server.secret_key}
    assert run_here("db", "upgrade", env=env).returncode == 0
    assert run_here("config", "set", "jobs.lease_seconds", "600", env=env).returncode == 0
    url = "s3://audit-checkpoints/nightly/2026-11-25.json"
    written = run_here("audit", "checkpoint", "--out", url, env=env)
    assert written.returncode == 0, written.stderr
    assert url in written.stderr
    stored = json.loads(s3_server.client().get_object("audit-checkpoints", "nightly/2026-11-25.json").read())
    assert stored["format"] == "stratlogic-audit-checkpoint/1" and stored["rows"] == 1
    verified = run_here("audit", "verify", "--checkpoint", url, "--json", env=env)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    missing = run_here("audit", "verify", "--checkpoint", "s3://audit-checkpoints/nope.json", env=env)
    assert missing.returncode != 0 and "nope.json" in missing.stderr
    assert s3_server.secret_key not in missing.stderr + written.stderr + verified.stdout
    no_endpoint = {k: v for k, v in env.items() if k != "STRATLOGIC_S3_ENDPOINT"}
    refused = run_here("audit", "checkpoint", "--out", url, env=no_endpoint)
    assert refused.returncode != 0 and "STRATLOGIC_S3_ENDPOINT" in refused.stderr
