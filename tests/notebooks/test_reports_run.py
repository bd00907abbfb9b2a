"""``stratlogic reports run`` and ``reports verify`` as a scheduler calls them (the real console script, real
kernels, real databases), over tiny purpose-made notebooks in ``fixtures/`` and, when the analytics exist, the
real report notebooks: the manifest's every field is present and true (hashes recomputed), the HTML is offline
with no code and a picture per chart, failures and timeouts end one report only, bad parameters are refused
before any kernel starts, verify catches an edited output, manifest or audit row, and no secret is written."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select, text

from stratlogic import analytics
from stratlogic.config import load_settings
from stratlogic.db import Database, migrate
from stratlogic.models import AuditLog
from stratlogic.seed import DemoOptions, seed_demo
from tests.cli_helpers import run_cli
from tests.conftest import pg_url
from tests.notebooks.conftest import NOTEBOOKS

pytestmark = [pytest.mark.slow]
FIXTURES = Path(__file__).parent / "fixtures"
ADMIN_PASSWORD = "Reports-Run-Passphrase-6620"
PG_PASSWORD = "Rr-Secret-Passw0rd-9174"
TINY_PARAMS = ["since", "until", "tz", "statuses", "limit", "export_format", "output_dir"]


@dataclass(frozen=True)
class Site:
    """A database with demo data and the environment a scheduler's ``stratlogic`` would run with."""

    folder: Path
    url: str

    @property
    def env(self) -> dict[str, str]:
        return {"STRATLOGIC_DATABASE_URL": self.url, "STRATLOGIC_HOME": str(self.folder),
                "STRATLOGIC_ARTIFACT_STORE": f"file:{self.folder / 'artifacts'}",
                "STRATLOGIC_ADMIN_PASSWORD": ADMIN_PASSWORD}

    def database(self) -> Database:
        return Database.from_settings(load_settings(home=self.folder, database_url=self.url,
                                                    artifact_store=f"file:{self.folder / 'artifacts'}",
                                                    admin_password=ADMIN_PASSWORD))

    def run(self, out: Path, *args: str, timeout: float = 300, cwd: Path | None = None) -> Any:
        return run_cli("reports", "run", "--out", str(out), *args, env=self.env, timeout=timeout, cwd=cwd)

    def verify(self, folder: Path) -> Any:
        return run_cli("reports", "verify", str(folder), env=self.env)


def make_site(folder: Path, url: str | None = None, *, jobs: int = 200) -> Site:
    folder.mkdir(parents=True, exist_ok=True)
    site = Site(folder, url or f"sqlite:///{folder / 'stratlogic.db'}")
    migrate.upgrade(load_settings(home=folder, database_url=site.url), "head")
    database = site.database()
    try:
        seed_demo(database, DemoOptions(users=4, jobs=jobs, days=10, seed=3, objects=False))
    finally:
        database.dispose()
    return site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return make_site(tmp_path_factory.mktemp("site"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def only(*names: str) -> list[str]:
    return ["--notebooks", str(FIXTURES), *[arg for name in names for arg in ("--only", name)]]


def latest(out: Path) -> Path:
    folder = (out / "latest").resolve()
    assert folder.parent == out.resolve() and (folder / "manifest.json").is_file()
    return folder


@pytest.fixture(scope="module")
def mixed(site: Site, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, dict[str, Any]]:
    """One run: a failing notebook, a kernel that dies, then a good report (it must still run)."""
    out = tmp_path_factory.mktemp("mixed")
    result = site.run(out, *only("20_fails", "40_dies", "10_tiny"), "-p", "statuses=failed,completed")
    folder = latest(out)
    return result, folder, json.loads((folder / "manifest.json").read_text())


def test_one_failure_does_not_stop_the_others_and_the_exit_code_says_so(mixed: tuple[Any, Path, Any]) -> None:
    result, _folder, manifest = mixed
    assert result.returncode == 1
    assert [(r["name"], r["status"]) for r in manifest["reports"]] == [
        ("20_fails", "failed"), ("40_dies", "failed"), ("10_tiny", "ok")]
    assert "20_fails: failed" in result.stderr and "10_tiny: ok" in result.stdout


def test_the_failing_cell_and_error_line_are_recorded_and_the_partial_notebook_kept(
        mixed: tuple[Any, Path, Any]) -> None:
    _result, folder, manifest = mixed
    fails, dies = manifest["reports"][0], manifest["reports"][1]
    executed = json.loads((folder / "20_fails" / "20_fails.ipynb").read_text())
    cell = executed["cells"][fails["error"]["cell"]]
    assert "".join(cell["source"]).startswith("raise RuntimeError")
    assert fails["error"]["line"] == "RuntimeError: deliberate failure with 3 rows"
    assert fails["error"]["source"].startswith("raise RuntimeError")
    printed = [o.get("text", "") for c in executed["cells"] for o in c.get("outputs", [])]
    assert any("before" in "".join(t) for t in printed) and not any("never" in "".join(t) for t in printed)
    assert "kernel died" in dies["error"]["line"]
    died = json.loads((folder / "40_dies" / "40_dies.ipynb").read_text())
    assert "os.kill" in "".join(died["cells"][dies["error"]["cell"]]["source"])


def test_the_manifest_has_every_field_and_every_hash_is_true(mixed: tuple[Any, Path, Any], site: Site) -> None:
    _result, folder, manifest = mixed
    assert manifest["run_id"] == folder.name and re.fullmatch(r"\d{8}T\d{6}Z(-\d\d)?", folder.name)
    lineage = manifest["lineage"]
    assert lineage["backend"] == "sqlite" and lineage["schema_revision"] == migrate.heads()[0]
    assert re.fullmatch(r"[0-9a-f]{40}", lineage["git_commit"]) and isinstance(lineage["git_dirty"], bool)
    assert lineage["package_version"] and lineage["python"] and lineage["database"] == site.url
    database = site.database()
    try:
        with database.unit_of_work(readonly=True) as uow:
            tail_hash = uow.session.scalar(select(AuditLog.hash).where(AuditLog.id == lineage["audit_tail"]["id"]))
            run_row = uow.session.execute(select(AuditLog.id, AuditLog.details).where(
                AuditLog.action == "report.run", AuditLog.resource_id == manifest["run_id"])).one()
    finally:
        database.dispose()
    assert tail_hash == lineage["audit_tail"]["hash"] and run_row.id > lineage["audit_tail"]["id"]
    assert run_row.details["manifest_sha256"] == sha256(folder / "manifest.json")
    assert run_row.details["failed"] == ["20_fails", "40_dies"]
    assert manifest["index"] == {"path": "index.html", "bytes": (folder / "index.html").stat().st_size,
                                 "sha256": sha256(folder / "index.html")}
    for report in manifest["reports"]:
        assert report["notebook_sha256"] == sha256(FIXTURES / report["notebook"])
        assert report["started_at"] <= report["finished_at"] and report["duration_seconds"] > 0
        listed = {o["path"] for o in report["outputs"]}
        on_disk = {p.relative_to(folder).as_posix() for p in (folder / report["name"]).rglob("*") if p.is_file()}
        assert listed == on_disk
        for output in report["outputs"]:
            path = folder / output["path"]
            assert (output["bytes"], output["sha256"]) == (path.stat().st_size, sha256(path))
    tiny = manifest["reports"][2]
    assert tiny["parameters"]["statuses"] == ["failed", "completed"] and tiny["parameters"]["limit"] == 5
    assert tiny["parameters"]["output_dir"] == str(folder / "10_tiny" / "data")
    csv = next(o for o in tiny["outputs"] if o["path"].endswith("jobs.csv"))
    assert csv["rows"] == len((folder / csv["path"]).read_text().strip().splitlines()) - 1 == 5


class Page(HTMLParser):
    """Every tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(path: Path) -> Page:
    from stratlogic.reports._html import EXTERNAL_REFERENCE

    source = path.read_text(encoding="utf-8")
    found = EXTERNAL_REFERENCE.search(source)
    assert found is None, f"{path.name}: external reference {source[found.start():found.end() + 40]!r}"
    page = Page()
    page.feed(source)
    return page


def assert_offline_without_code(page: Page) -> None:
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            assert not re.match(r"\s*https?://", attrs.get(name) or ""), f"<{tag} {name}={attrs.get(name)}>"
        classes = attrs.get("class") or ""
        assert not re.search(r"(?<![\w-])(jp-InputArea-editor|input_area|jp-InputPrompt)(?![\w-])", classes), \
            f"code shown: {classes}"
    assert "Traceback" not in "".join(page.text)


def test_html_is_offline_without_code_cells_and_shows_each_chart(mixed: tuple[Any, Path, Any]) -> None:
    _result, folder, manifest = mixed
    page = parsed(folder / "10_tiny" / "10_tiny.html")
    assert_offline_without_code(page)
    failed = parsed(folder / "20_fails" / "20_fails.html")  # its error line, not the traceback
    assert_offline_without_code(failed)
    assert "RuntimeError: deliberate failure" in "".join(failed.text)
    assert sum(tag == "img" for tag, _ in page.tags) == 2
    assert any(attrs.get("title") == "https://example.com/docs" for _, attrs in page.tags)  # the link, defused
    assert "jobs: " in "".join(page.text)
    index = parsed(folder / "index.html")
    links = {attrs["href"] for tag, attrs in index.tags if tag == "a" and attrs.get("href")}
    assert links == {r["name"] + "/" + r["name"] + ".html" for r in manifest["reports"]}
    assert_offline_without_code(index)
    assert all(status in "".join(index.text) for status in ("failed", "ok"))


def test_list_and_params_show_each_notebook_and_its_typed_parameters(site: Site) -> None:
    listed = run_cli("reports", "list", "--notebooks", str(FIXTURES), env=site.env)
    assert listed.returncode == 0, listed.stderr
    assert all(name in listed.stdout for name in ("10_tiny", "20_fails", "30_sleeps", "40_dies"))
    shown = run_cli("reports", "params", "10_tiny", "--notebooks", str(FIXTURES), env={**site.env, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    line = next(row for row in shown.stdout.splitlines() if "export_format" in row)
    assert "Literal['csv', 'none']" in line and "'csv'" in line and "data file to keep" in line
    missing = run_cli("reports", "params", "99_nothing", "--notebooks", str(FIXTURES), env=site.env)
    assert missing.returncode == 1 and "no notebook '99_nothing'" in missing.stderr


def test_unknown_parameters_and_bad_values_are_refused_before_any_kernel(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    unknown = site.run(out, *only("10_tiny"), "-p", "sinse=-7d")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == f"error: unknown parameter 'sinse'; parameters: 10_tiny: {', '.join(TINY_PARAMS)}"
    bad = site.run(out, *only("10_tiny"), "-p", "limit=ten")
    assert (bad.returncode, bad.stderr.strip()) == (2, "error: parameter 'limit': 'ten' is not an integer")
    listed = site.run(out, *only("10_tiny"), "-p", "statuses=failed,exploded")
    assert listed.returncode == 2 and "parameter 'statuses': 'exploded' is not a job status" in listed.stderr
    (tmp_path / "p.yaml").write_text("since: -1d\nlimit: [3]\n")
    from_file = site.run(out, *only("10_tiny"), "--params-file", str(tmp_path / "p.yaml"))
    assert from_file.returncode == 2 and "parameter 'limit'" in from_file.stderr
    assert not out.exists(), "a run folder was made before the parameters were checked"


def test_params_file_and_p_agree_and_runs_rotate_under_keep(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "nightly"
    first = site.run(out, *only("10_tiny"), "-p", "statuses=failed,cancelled", "-p", "limit=2", "-p", "since=-7d")
    assert first.returncode == 0, first.stderr
    first_folder = latest(out)
    (tmp_path / "p.yaml").write_text("statuses: [failed, cancelled]\nlimit: 2\nsince: -7d\n")
    second = site.run(out, *only("10_tiny"), "--params-file", str(tmp_path / "p.yaml"), "--keep", "1")
    assert second.returncode == 0, second.stderr
    second_folder = latest(out)
    assert second_folder != first_folder and not first_folder.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted([second_folder.name, "latest"])
    parameters = json.loads((second_folder / "manifest.json").read_text())["reports"][0]["parameters"]
    assert {k: parameters[k] for k in ("statuses", "limit", "since")} == {
        "statuses": ["failed", "cancelled"], "limit": 2, "since": "-7d"}


def test_a_relative_out_is_taken_from_the_working_directory(site: Site, tmp_path: Path) -> None:
    result = site.run(Path("var/reports"), *only("10_tiny"), cwd=tmp_path)  # as make demo runs it
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((latest(tmp_path / "var/reports") / "manifest.json").read_text())
    assert [report["status"] for report in manifest["reports"]] == ["ok"]


def test_a_report_over_its_time_budget_is_ended_and_kept(site: Site, tmp_path: Path) -> None:
    result = site.run(tmp_path / "out", *only("30_sleeps", "10_tiny"), "--timeout", "25")
    assert result.returncode == 1
    manifest = json.loads((latest(tmp_path / "out") / "manifest.json").read_text())
    sleeps, tiny = manifest["reports"]
    assert (sleeps["status"], tiny["status"]) == ("timeout", "ok")
    assert sleeps["duration_seconds"] < 55 and "timed out after 25 s" in sleeps["error"]["line"]
    assert sleeps["error"]["source"] == "time.sleep(seconds)"
    kept = (latest(tmp_path / "out") / "30_sleeps" / "30_sleeps.ipynb").read_text()
    assert "sleeping" in kept


GUARD_DROPS = ("DROP TRIGGER audit_logs_no_update", "DROP TRIGGER audit_logs_no_delete")


@pytest.fixture
def tamper_site(tmp_path: Path) -> Site:
    return make_site(tmp_path / "tamper", jobs=30)


def test_verify_passes_on_a_fresh_run_and_names_an_altered_output_manifest_or_audit_row(tamper_site: Site,
                                                                                        tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert tamper_site.run(out, *only("10_tiny")).returncode == 0
    folder = latest(out)
    fresh = tamper_site.verify(out / "latest")
    assert fresh.returncode == 0 and "files match the manifest" in fresh.stdout, fresh.stderr
    data, manifest_path = folder / "10_tiny" / "data" / "jobs.csv", folder / "manifest.json"
    original_data, original_manifest = data.read_bytes(), manifest_path.read_bytes()
    data.write_bytes(original_data + b"1,forged\n")
    edited = tamper_site.verify(folder)
    assert edited.returncode == 1 and "output 10_tiny/data/jobs.csv: changed since the run" in edited.stderr
    manifest = json.loads(original_manifest)
    entry = next(o for o in manifest["reports"][0]["outputs"] if o["path"].endswith("jobs.csv"))
    entry.update(bytes=data.stat().st_size, sha256=sha256(data))
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    rehashed = tamper_site.verify(folder)
    assert rehashed.returncode == 1
    assert "manifest.json: its sha256 differs from the one recorded in audit row" in rehashed.stderr
    data.write_bytes(original_data)
    manifest_path.write_bytes(original_manifest)
    assert tamper_site.verify(folder).returncode == 0
    tail = manifest["lineage"]["audit_tail"]["id"]
    database = tamper_site.database()
    try:
        with database.unit_of_work() as uow:
            for statement in GUARD_DROPS:
                uow.session.execute(text(statement))
            uow.session.execute(text("UPDATE audit_logs SET resource_id = 'forged' WHERE id = :id"), {"id": tail - 3})
    finally:
        database.dispose()
    altered = tamper_site.verify(folder)
    assert altered.returncode == 1
    assert f"audit chain: row {tail - 3}: content does not match its hash" in altered.stderr


def test_verify_falls_back_to_the_prune_anchor_when_retention_cut_the_tail(tamper_site: Site,
                                                                            tmp_path: Path) -> None:
    from stratlogic.audit.prune import prune_before

    out = tmp_path / "out"
    assert tamper_site.run(out, *only("10_tiny")).returncode == 0
    tail = json.loads((latest(out) / "manifest.json").read_text())["lineage"]["audit_tail"]["id"]
    database = tamper_site.database()
    try:
        with database.unit_of_work() as uow:
            assert prune_before(uow, tail + 1).last_id == tail
    finally:
        database.dispose()
    pruned = tamper_site.verify(out)  # the --out folder: its latest run
    assert pruned.returncode == 0, pruned.stderr


@pytest.fixture
def pg_site(pg_template: str, pg_database: Any, tmp_path: Path) -> Site:
    name = pg_database(pg_template).rsplit("/", 1)[1]
    url = pg_url(name).replace("postgres@", f"postgres:{PG_PASSWORD}@")
    return make_site(tmp_path / "pg", url, jobs=30)


@pytest.mark.postgres
def test_no_password_or_unmasked_url_reaches_any_file_of_a_run(pg_site: Site, tmp_path: Path) -> None:
    out, real = tmp_path / "out", tmp_path / "real"
    result = pg_site.run(out, *only("10_tiny", "20_fails"))
    assert result.returncode == 1 and "10_tiny: ok" in result.stdout, result.stderr
    files = [p for p in latest(out).rglob("*") if p.is_file()]
    printed = result.stdout + result.stderr
    if hasattr(analytics, "audit_volume"):  # the real audit report shows the workbench (its masked URL)
        shown = pg_site.run(real, "--notebooks", str(NOTEBOOKS), "--only", "05_audit_report")
        assert shown.returncode == 0, shown.stderr
        files += [p for p in latest(real).rglob("*") if p.is_file()]
        printed += shown.stdout + shown.stderr
        assert "postgres:***@" in (latest(real) / "05_audit_report" / "05_audit_report.ipynb").read_text()
    assert len(files) >= 8
    for path in files:
        content = path.read_text(encoding="utf-8", errors="replace")
        assert PG_PASSWORD not in content, path
        assert pg_site.url not in content and pg_site.url.replace("+psycopg", "") not in content, path
    assert "postgres:***@" in (latest(out) / "manifest.json").read_text()
    assert PG_PASSWORD not in printed


@pytest.fixture(scope="module")
def real_run(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    if not all(hasattr(analytics, name) for name in ("job_summary", "artifact_size_percentiles", "audit_volume")):
        pytest.skip("the analytics functions the report notebooks call are not there yet")
    out = tmp_path_factory.mktemp("real")
    result = run_cli("reports", "run", "--out", str(out), "--notebooks", str(NOTEBOOKS), env=site.env, timeout=600)
    yield result, out


def test_the_three_report_notebooks_run_offline_with_charts_and_verify(real_run: tuple[Any, Path],
                                                                        site: Site) -> None:
    result, out = real_run
    assert result.returncode == 0, result.stderr
    folder = latest(out)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [r["name"] for r in manifest["reports"]] == ["03_job_stats", "04_artifact_metadata", "05_audit_report"]
    for report in manifest["reports"]:
        page = parsed(folder / report["name"] / f"{report['name']}.html")
        assert_offline_without_code(page)
        assert sum(tag in ("img", "svg") for tag, _ in page.tags) >= 2, report["name"]
        assert yaml.safe_dump(report["parameters"])  # JSON-ready, as the manifest promises
    assert site.verify(folder).returncode == 0
