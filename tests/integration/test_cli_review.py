"""What a new user hit in the CLI (issue 13 items 5, 8, 11, 12, 15, 16 and issue 14's one window grammar):
who made a change, which database ``health`` checked, negative numbers, any-case statuses, impossible
filters refused by flag name, 0 as a value, durations, and help that shows no ``<bool>``."""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from stratlogic.audit import verify
from stratlogic.cli import app
from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.db.actor import Origin, acting_as
from stratlogic.repositories import AuditRepository, ConfigRepository, JobRepository, UserRepository
from stratlogic.storage import store_artifact
from stratlogic.storage.local import LocalStore
from tests.cli_helpers import invoke


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {"STRATLOGIC_DATABASE_URL": settings.database_url, "STRATLOGIC_HOME": str(tmp_path),
            "STRATLOGIC_ARTIFACT_STORE": settings.artifact_store}


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database.from_settings(settings)
    yield database
    database.dispose()




def refused(env: dict[str, str], *args: str) -> str:
    """Run a command that must fail with one line (exit 1, no traceback); that line."""
    result = invoke(env, *args)
    assert result.exit_code == 1, (args, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def failed_job(db: Database) -> int:
    """A job that ran once and failed for good (max_retries 0): listed as ``1 of 1``."""
    with db.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com").id
        jobs = JobRepository(uow)
        job = jobs.create(owner, "once", "https://example.com/", max_retries=0).id
        jobs.claim("w")
        jobs.fail(job, "Timeout", "too slow", "w")
        return job


# --- item 5: who ran a CLI change ------------------------------------------------------------------------

def test_cli_changes_record_the_os_user_and_host_and_the_chain_verifies(env: dict[str, str], db: Database) -> None:
    assert invoke(env, "config", "set", "jobs.lease_seconds", "600").exit_code == 0
    with db.unit_of_work(readonly=True) as uow:
        (row,) = AuditRepository(uow).list({"action": "config.set"})
    expected = {"os_user": getpass.getuser(), "host": socket.gethostname()}
    assert row.actor_id is None and row.details["cli"] == expected
    assert row.details["new"] == 600
    assert verify(db).ok


def test_an_origin_is_kept_by_nested_actors_and_verifies(db: Database) -> None:
    origin = Origin("cli", "ada", "host-\u00e9\"1")  # a host name JSON escapes
    with acting_as(None, origin=origin), db.unit_of_work() as uow:
        admin = UserRepository(uow).create("admin", "admin@example.com")
        with acting_as(admin):
            ConfigRepository(uow).set("jobs.lease_seconds", 90)
    with db.unit_of_work() as uow:  # outside the block: no origin
        ConfigRepository(uow).set("jobs.lease_seconds", 91)
    with db.unit_of_work(readonly=True) as uow:
        rows = AuditRepository(uow).list()
    assert [row.details.get("cli") for row in rows] == [{"os_user": "ada", "host": "host-\u00e9\"1"}] * 2 + [None]
    assert rows[1].actor_id is not None
    assert verify(db).ok


# --- item 8: health names the database and stray variables ---------------------------------------------

def test_health_names_the_database_and_warns_about_stray_variables(env: dict[str, str], settings: Settings) -> None:
    typo = {**env, "STRATLOGIC_DATABSE_URL": "sqlite:///elsewhere.db", "STRATLOGIC_TEST_PG": "postgresql://x",
            "STRATLOGIC_BENCH_1M": "postgresql://y", "STRATLOGIC_TOKEN": "abc"}
    result = invoke(typo, "health")
    assert result.exit_code == 0, result.output
    assert f"database: {settings.safe_url}" in result.stdout
    assert "did you mean STRATLOGIC_DATABASE_URL?" in result.stderr
    assert "STRATLOGIC_TEST_PG" not in result.stderr and "BENCH" not in result.stderr  # tests', benchmarks
    assert "STRATLOGIC_TOKEN (environment) is not read yet" in result.stderr and "abc" not in result.output
    report = json.loads(invoke(typo, "health", "--json").stdout)
    assert any("STRATLOGIC_DATABSE_URL" in warning for warning in report["warnings"])
    (Path(env["STRATLOGIC_HOME"]) / ".env").write_text("STRATLOGIC_LOG_LEVLE=DEBUG\n")
    assert "did you mean STRATLOGIC_LOG_LEVEL?" in invoke(env, "health").stderr


# --- items 11, 12, 15, 16: values, filters, durations ---------------------------------------------------

def test_negative_numbers_are_values(env: dict[str, str]) -> None:
    line = refused(env, "config", "set", "jobs.lease_seconds", "-5")
    assert "'jobs.lease_seconds'" in line and "-5" in line and "greater than or equal to 1" in line
    assert "-5" in refused(env, "config", "set", "jobs.lease_seconds", "--", "-5")
    for command in (("jobs", "show"), ("jobs", "cancel"), ("artifacts", "url")):
        assert "-1 not found" in refused(env, *command, "-1")  # a value, not "No such option: -1"


def test_job_filters_take_any_case_and_refuse_the_impossible_by_flag(env: dict[str, str], db: Database) -> None:
    job = failed_job(db)
    listed = invoke(env, "jobs", "list", "--status", "FAILED", "--json")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [job]
    bogus = refused(env, "jobs", "list", "--status", "Exploded")
    assert bogus.startswith("error: --status: 'exploded'") and "status__in" not in bogus and "failed" in bogus
    assert invoke(env, "jobs", "list", "--owner", "0", "--json").stdout.strip() == ""  # 0 filters: no job has it
    assert "--owner -3" in refused(env, "jobs", "list", "--owner", "-3")
    empty_type = invoke(env, "jobs", "retry", "--error-type", "")  # "" is a value (no failed job has it)
    assert empty_type.exit_code == 0 and "re-queued 0 job(s)" in empty_type.stderr, empty_type.output
    inverted = refused(env, "jobs", "list", "--since", "-1d", "--until", "-2d")
    assert "--since '-1d' is not before --until '-2d'" in inverted
    assert "--since '2999-01-01' is in the future" in refused(env, "jobs", "list", "--since", "2999-01-01")
    assert "--until: 'soon' is not a moment" in refused(env, "jobs", "list", "--until", "soon")
    recent = invoke(env, "jobs", "list", "--since", "-1h", "--until", "now", "--json").stdout.splitlines()
    assert [json.loads(line)["id"] for line in recent] == [job]
    assert invoke(env, "jobs", "list", "--since", "2000-01-01", "--until", "2000-01-02", "--json").stdout == ""


def test_jobs_list_shows_attempts_as_people_count_them(env: dict[str, str], db: Database) -> None:
    job = failed_job(db)
    shown = invoke(env, "jobs", "list").stdout
    assert "1 of 1" in shown and "1/0" not in shown
    assert "attempts: 1 of 1" in invoke(env, "jobs", "show", str(job)).stdout


def test_cleanup_refuses_a_future_cut_and_takes_ages_and_moments(env: dict[str, str], db: Database) -> None:
    failed_job(db)
    line = refused(env, "jobs", "cleanup", "--older-than", "2999-01-01", "--yes")
    assert "--older-than '2999-01-01' is in the future" in line
    for cut in ("30d", "-30d", "yesterday", "2026-01-01"):
        result = invoke(env, "jobs", "cleanup", "--older-than", cut, "--dry-run")
        assert result.exit_code == 0 and "0 job(s) finished before" in result.stderr, (cut, result.output)
    assert "--status:" in refused(env, "jobs", "cleanup", "--older-than", "30d", "--status", "QUEUED")
    assert invoke(env, "jobs", "cleanup", "--older-than", "30d", "--status", "FAILED", "--dry-run").exit_code == 0


def test_audit_list_reads_the_window_grammar(env: dict[str, str], db: Database) -> None:
    failed_job(db)
    rows = invoke(env, "audit", "list", "--since", "-1h", "--json").stdout.splitlines()
    assert len(rows) >= 4 and all(json.loads(row)["action"] for row in rows)
    assert "--since 'yesterday' is not before --until '2000-01-01'" in refused(
        env, "audit", "list", "--since", "yesterday", "--until", "2000-01-01")
    assert "--actor -1" in refused(env, "audit", "list", "--actor", "-1")


def test_url_expiry_is_a_duration_with_a_clear_error(env: dict[str, str], db: Database, settings: Settings) -> None:
    job = failed_job(db)
    store = LocalStore(settings.artifact_path)  # type: ignore[arg-type]
    artifact = store_artifact(db, store, job, b"<html><body>hi</body></html>", "p.html").id
    assert "--expires '30d' is out of range: give 1s up to 7d" in refused(
        env, "artifacts", "url", str(artifact), "--expires", "30d")
    assert "no sign" in refused(env, "artifacts", "url", str(artifact), "--expires", "-1h")
    assert invoke(env, "artifacts", "url", str(artifact), "--expires", "7d").stdout.startswith("file://")


def test_config_refuses_a_blank_user_agent_and_says_what_reads_each_key(env: dict[str, str]) -> None:
    assert "must not be empty" in refused(env, "config", "set", "scraper.user_agent", "")
    assert invoke(env, "config", "set", "scraper.user_agent", "123").exit_code == 0  # text stays text
    assert json.loads(invoke(env, "config", "get", "scraper.user_agent").stdout) == "123"
    rows = {row["key"]: row for row in map(json.loads, invoke(env, "config", "list", "--json").stdout.splitlines())}
    assert "scraper" in rows["scraper.user_agent"]["read_by"]
    assert rows["audit.retention_days"]["read_by"].startswith("nothing yet")
    assert rows["reports.default_window_days"]["read_by"].startswith("nothing yet")
    assert all(row["read_by"] for row in rows.values())


def _commands(group: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    for name, command in sorted(group.commands.items()):
        found += _commands(command, f"{prefix}{name} ") if hasattr(command, "commands") else [f"{prefix}{name}"]
    return found


@pytest.mark.parametrize("command", ["", *_commands(typer.main.get_command(app))])
def test_help_shows_no_value_for_flags(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "--help" in result.output


def test_artifacts_put_refuses_malformed_json_declared_as_json(env: dict[str, str], db: Database,
                                                               tmp_path: Path) -> None:
    job = failed_job(db)
    broken = tmp_path / "broken.json"
    broken.write_bytes(b'{"items": [1, 2,}')
    line = refused(env, "artifacts", "put", str(job), str(broken), "--type", "application/json")
    assert "'broken.json' is declared application/json but its content is not valid JSON" in line
    assert invoke(env, "artifacts", "ls", "--json").stdout == ""  # nothing stored
    broken.write_bytes(b'{"items": [1, 2]}')
    assert invoke(env, "artifacts", "put", str(job), str(broken), "--type", "application/json").exit_code == 0


def test_the_cli_starts_without_the_analytics_package() -> None:
    """The window grammar lives in analytics, whose package loads pandas: the CLI imports it only when a
    command parses a time, so --help answers at once."""
    import subprocess
    import sys

    code = "import sys, stratlogic.cli; print(sorted({'pandas', 'stratlogic.analytics'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"


# --- a second review: the artifact commands' ids, filters and --out ----------------------------------------

def test_artifact_commands_take_negative_ids_as_values_and_refuse_a_negative_job(env: dict[str, str],
                                                                                 tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("<html><body>hi</body></html>")
    for command in (("artifacts", "get"), ("artifacts", "rm")):
        assert "artifact -1 not found" in refused(env, *command, "-1")  # not click's "No such option: -1"
    assert "job -1 not found" in refused(env, "artifacts", "put", "-1", str(page))
    assert "--job -1 is not a job id" in refused(env, "artifacts", "ls", "--job", "-1")
    assert "a filename is required" in refused(env, "artifacts", "put", "1", str(page), "--name", "")


def test_artifacts_ls_type_in_any_case_and_get_makes_a_folder_named_with_a_slash(env: dict[str, str], db: Database,
                                                                        settings: Settings, tmp_path: Path) -> None:
    job = failed_job(db)
    store = LocalStore(settings.artifact_path)  # type: ignore[arg-type]
    artifact = store_artifact(db, store, job, b"<html><body>hi</body></html>", "p.html").id
    listed = invoke(env, "artifacts", "ls", "--type", "TEXT/HTML", "--json").stdout.splitlines()
    assert [json.loads(line)["id"] for line in listed] == [artifact]
    missing = tmp_path / "downloads" / "today"
    assert invoke(env, "artifacts", "get", str(artifact), "--out", f"{missing}/").exit_code == 0
    assert (missing / "p.html").read_text() == "<html><body>hi</body></html>"  # a folder, not a file 'today'
    (tmp_path / "plain").write_text("a file")
    assert "--out" in refused(env, "artifacts", "get", str(artifact), "--out", f"{tmp_path / 'plain'}/x/")


def test_audit_list_action_in_any_case_and_an_unknown_one_refused(env: dict[str, str], db: Database) -> None:
    assert invoke(env, "config", "set", "jobs.lease_seconds", "600").exit_code == 0
    rows = invoke(env, "audit", "list", "--action", "CONFIG.SET", "--json").stdout.splitlines()
    assert [json.loads(row)["resource_id"] for row in rows] == ["jobs.lease_seconds"]
    line = refused(env, "audit", "list", "--action", "config.sett")
    assert line.startswith("error: --action 'config.sett' is not an audit action") and "config.set," in line


def test_the_base_seed_records_who_ran_it(env: dict[str, str], db: Database) -> None:
    """``stratlogic seed`` creates the admin: its audit row names the OS user and host like any CLI change."""
    seeded = invoke({**env, "STRATLOGIC_ADMIN_PASSWORD": "Correct-Horse-Battery-Staple-42"}, "seed")
    assert seeded.exit_code == 0, seeded.output
    with db.unit_of_work(readonly=True) as uow:
        (row,) = AuditRepository(uow).list({"action": "user.created"})
    assert row.details["cli"] == {"os_user": getpass.getuser(), "host": socket.gethostname()}
    assert row.details["values"]["username"] == "admin" and verify(db).ok
