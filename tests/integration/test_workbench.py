"""``stratlogic.open()`` on real databases: what its repr shows (never a secret), the facades, the acting user
carried into each write, read-only workbenches refused at the facade and at the database, no transaction left
open between calls, ``wb.stats`` bound to the analytics functions, and audit verify not forking a kernel."""

from __future__ import annotations

import getpass
import importlib
import inspect
import socket
import sys
import types
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

import stratlogic
from stratlogic import analytics
from stratlogic.config import display_url
from stratlogic.db import migrate
from stratlogic.errors import NotFoundError, StratLogicError
from stratlogic.workbench import ReadOnlyWorkbenchError, Workbench
from tests.conftest import PG_ADMIN

PASSWORD = "Wb-Secret-Passw0rd-5521"
audit_verify = importlib.import_module("stratlogic.audit.verify")  # the module (the package exports the function)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings other than the URL come from a clean environment rooted in the test's folder."""
    for name in [n for n in list(__import__("os").environ) if n.startswith("STRATLOGIC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("STRATLOGIC_HOME", str(tmp_path))
    monkeypatch.setenv("STRATLOGIC_ARTIFACT_STORE", f"file:{tmp_path / 'artifacts'}")
    return tmp_path


@pytest.fixture
def url(migrated_url: str, backend: str) -> str:
    """The test database's URL; on PostgreSQL with a password (the server trusts, so any password works)."""
    return migrated_url.replace("postgres@", f"postgres:{PASSWORD}@") if backend == "postgres" else migrated_url


@pytest.fixture
def wb(url: str, home: Path) -> Any:
    with stratlogic.open(url) as workbench:
        yield workbench


def test_repr_and_html_say_what_it_is_connected_to_and_never_the_password(wb: Workbench, url: str) -> None:
    wb.users.create("ada", "ada@example.com")
    shown, page = repr(wb), wb._repr_html_()
    masked = display_url(make_url(url))
    for text_ in (shown, page):
        assert masked in text_
        assert wb.db.dialect in text_
        assert migrate.heads()[0] in text_
        assert PASSWORD not in text_
        if wb.db.dialect == "postgresql":
            assert url not in text_ and url.replace("+psycopg", "") not in text_
    assert "users=" in shown and "audit rows=" in shown and "actor=system" in shown


def test_an_unreachable_database_is_described_not_raised(home: Path) -> None:
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/nothing"
    workbench = stratlogic.open(url)
    try:
        shown = repr(workbench)
    finally:
        workbench.close()
    assert "unreachable" in shown and PASSWORD not in shown


def test_facades_read_what_was_written(wb: Workbench) -> None:
    ada = wb.users.create("ada", "ada@example.com", role="analyst")
    job = wb.jobs.create(ada.id, "crawl", "https://example.com/")
    assert wb.users.by_username("ADA").id == ada.id
    assert wb.users.count() == 1 and [u.username for u in wb.users.list()] == ["ada"]
    assert wb.jobs.get(job.id).status == "queued"
    assert wb.jobs.frame({"status": "queued"})["id"].tolist() == [job.id]
    assert wb.stats.queue_health()["queued"].item() == 1  # statistics live in analytics (wb.stats)
    assert wb.jobs.cancel(job.id).status == "cancelled"
    wb.config.set("jobs.lease_seconds", 120)
    assert wb.config.value("jobs.lease_seconds") == 120
    tail = wb.audit.tail()
    assert tail is not None and wb.audit.get(tail["id"]).action == "config.set"
    trail = [row.action for row in wb.audit.trail("job", job.id)]
    assert trail == ["job.created", "job.status_changed", "job.status_changed"]
    assert wb.audit.verify().ok
    assert wb.health().ok
    with pytest.raises(NotFoundError):
        wb.jobs.get(job.id + 1000)


def test_download_to_a_folder_named_with_a_slash_writes_the_file_inside_it(wb: Workbench, tmp_path: Path) -> None:
    """``download(7, "out/")`` (the docstring's example) wrote a file named ``out`` when the folder was missing."""
    ada = wb.users.create("ada", "ada@example.com")
    job = wb.jobs.create(ada.id, "crawl", "https://example.com/")
    stored = wb.artifacts.store(job.id, b"<html>hello</html>", "page.html", content_type="text/html")
    written = wb.artifacts.download(stored.id, f"{tmp_path / 'out'}/")
    assert written == tmp_path / "out" / "page.html"
    assert written.read_bytes() == b"<html>hello</html>"


def _open_transactions(wb: Workbench) -> int:
    """Connections of this database sitting inside a transaction (PostgreSQL's own view of it)."""
    name = make_url(str(wb.db.engine.url)).database
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND xact_start IS NOT NULL",
                           (name,)).fetchone()
    return int(row[0]) if row else 0


def test_nothing_holds_a_transaction_open_between_calls(wb: Workbench) -> None:
    ada = wb.users.create("ada", "ada@example.com")
    wb.users.get(ada.id), wb.users.frame(), wb.config.entries(), wb.audit.tail(), repr(wb)
    assert not wb.db.in_unit_of_work()
    if wb.db.dialect == "postgresql":
        assert _open_transactions(wb) == 0


def test_each_write_records_the_workbench_actor(wb: Workbench, url: str, home: Path) -> None:
    ada = wb.users.create("ada", "ada@example.com", role="admin")
    with stratlogic.open(url, actor="ada") as as_ada:
        assert as_ada.actor == ada.id and "actor=ada" in repr(as_ada)
        bob = as_ada.users.create("bob", "bob@example.com")
        wb.users.deactivate(bob.id)  # the system workbench, between two of ada's writes
        as_ada.users.activate(bob.id)
    actors = [(row.action, row.actor_id) for row in wb.audit.trail("user", bob.id)]
    assert actors == [("user.created", ada.id), ("user.deactivated", None), ("user.activated", ada.id)]
    created = wb.audit.trail("user", bob.id)[0].details
    assert created["workbench"] == {"os_user": getpass.getuser(), "host": socket.gethostname()}
    with pytest.raises(NotFoundError):
        stratlogic.open(url, actor="nobody")


def test_a_read_only_workbench_refuses_writes_in_the_facades_and_in_the_database(url: str, home: Path) -> None:
    with stratlogic.open(url) as writer:
        writer.users.create("ada", "ada@example.com")
    with stratlogic.open(url, readonly=True) as reader:
        for attempt in (lambda: reader.users.create("bob", "bob@example.com"), lambda: reader.users.deactivate(1),
                        lambda: reader.config.set("jobs.lease_seconds", 60), reader.migrate,
                        lambda: reader.seed_demo(users=1, jobs=1, days=1)):
            with pytest.raises(ReadOnlyWorkbenchError, match="read-only"):
                attempt()
        refused = (StratLogicError, SQLAlchemyError)
        with pytest.raises(refused, match=r"(?i)read-only|readonly"), reader.db.unit_of_work() as uow:
            uow.session.execute(text("UPDATE users SET full_name = 'x'"))
        assert reader.users.count() == 1 and "read-only" in repr(reader)
        assert reader.users.by_username("ada").full_name is None


def test_a_read_only_workbench_still_describes_its_database_and_its_health(url: str, home: Path) -> None:
    """Its connections refuse writes; SQLite's default BEGIN IMMEDIATE is one (the repr said 'unreachable')."""
    with stratlogic.open(url) as writer:
        writer.users.create("ada", "ada@example.com")
    with stratlogic.open(url, readonly=True) as reader:
        shown, page = repr(reader), reader._repr_html_()
        assert "unreachable" not in shown + page and "problem" not in page
        assert f"revision {migrate.heads()[0]}" in shown and "users=" in shown and "audit rows=" in shown
        health = reader.health()
        assert health.ok and health.reachable and health.current_revision == migrate.heads()[0], health.message


def test_stats_binds_every_analytics_function_with_its_doc_and_signature(wb: Workbench,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def sample_stat(db: Any, *, since: str = "-30d", limit: int = 10) -> Any:
        """A statistic added after the workbench was opened."""
        return db, since, limit

    monkeypatch.setattr(analytics, "sample_stat", sample_stat, raising=False)
    monkeypatch.setattr(analytics, "__all__", [*analytics.__all__, "sample_stat"])
    assert wb.stats.sample_stat(limit=3) == (wb.db, "-30d", 3)
    assert wb.stats.sample_stat.__doc__ == sample_stat.__doc__
    assert list(inspect.signature(wb.stats.sample_stat).parameters) == ["since", "limit"]
    expected = {name for name in analytics.__all__ if inspect.isfunction(getattr(analytics, name))
                and next(iter(inspect.signature(getattr(analytics, name)).parameters), None) in ("db", "database")}
    assert set(dir(wb.stats)) == expected and "parse_window" not in dir(wb.stats)
    with pytest.raises(AttributeError, match=r"wb.stats has no 'parse_window'; available: .*sample_stat"):
        _ = wb.stats.parse_window


def test_export_through_the_workbench(wb: Workbench, tmp_path: Path) -> None:
    pytest.importorskip("stratlogic.analytics.export")
    for n in range(3):
        wb.users.create(f"user{n}", f"user{n}@example.com")
    result = wb.export("audit", tmp_path / "audit.csv", fmt="csv", since="-1d")
    assert result.rows == wb.audit.count() == 3
    assert (tmp_path / "audit.csv").read_text().count("user.created") == 3


@pytest.mark.sqlite
def test_seed_demo_through_the_workbench(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATLOGIC_ADMIN_PASSWORD", "Workbench-Test-Passphrase-3391")
    with stratlogic.open(f"sqlite:///{tmp_path / 'fresh.db'}") as fresh:
        assert "not migrated" in repr(fresh)
        fresh.migrate()
        result = fresh.seed_demo(users=2, jobs=20, days=2, objects=False)
        assert result.created and fresh.jobs.count() == 20 == result.rows["scraping_jobs"]
        assert fresh.audit.verify().ok


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])  # SQLite: one pass
def test_audit_verify_inside_a_kernel_spawns_and_keeps_the_callers_engine(wb: Workbench,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(6):
        wb.users.create(f"user{n}", f"user{n}@example.com")
    kernelapp = types.ModuleType("ipykernel.kernelapp")  # as inside a running Jupyter kernel
    kernelapp.IPKernelApp = types.SimpleNamespace(initialized=lambda: True)  # type: ignore[attr-defined]
    assert audit_verify.start_method() == "fork"
    monkeypatch.setitem(sys.modules, "ipykernel.kernelapp", kernelapp)
    monkeypatch.setattr(audit_verify, "PARALLEL_FROM", 2)
    monkeypatch.setattr(audit_verify, "MIN_SEGMENT", 2)
    assert audit_verify.start_method() == "spawn"
    pool = wb.db.engine.pool
    report = wb.audit.verify(workers=2)
    assert report.ok and report.rows == 6
    assert wb.db.engine.pool is pool, "the caller's engine was disposed"


def test_every_kind_of_write_names_the_workbench_actor_and_origin(wb: Workbench, url: str, home: Path) -> None:
    """Each facade write goes through a service with ``wb.acting``: the audit row names the workbench's user
    and carries its origin, whichever service (jobs, artifacts, users, config) made it."""
    ada = wb.users.create("ada", "ada@example.com", role="admin")
    before = wb.audit.tail()
    assert before is not None
    with stratlogic.open(url, actor="ada") as as_ada:
        job = as_ada.jobs.create(ada.id, "crawl", "https://example.com/")
        stored = as_ada.artifacts.store(job.id, b"<html>hi</html>", "page.html", content_type="text/html")
        as_ada.artifacts.set_metadata(stored.id, {"source": "test"})
        as_ada.jobs.cancel(job.id)
        as_ada.users.update(ada.id, full_name="Ada Lovelace")
        as_ada.config.set("jobs.lease_seconds", 90)
    rows = wb.audit.list({"id__gt": before["id"]}, sort="id", limit=100)
    assert {row.resource_type for row in rows} >= {"job", "artifact", "user", "config"}
    assert [row.actor_id for row in rows] == [ada.id] * len(rows)
    assert all(row.details["workbench"] == {"os_user": getpass.getuser(), "host": socket.gethostname()}
               for row in rows)
    assert wb.audit.count({"id__gt": before["id"]}) == len(rows) and wb.audit.verify().ok


def test_stats_take_positional_arguments_and_their_own_actor_filter(wb: Workbench) -> None:
    ada = wb.users.create("ada", "ada@example.com")
    job = wb.jobs.create(ada.id, "crawl", "https://example.com/")
    stored = wb.artifacts.store(job.id, b"<html>hi</html>", "page.html", content_type="text/html")
    wb.artifacts.set_metadata(stored.id, {"source": "feed"})
    top = wb.stats.metadata_top_values("source", since="-1d")  # ``key`` given by position
    assert top.to_dict("records") == [{"value": '"feed"', "artifacts": 1}]
    assert wb.stats.top_actors(actor="ada", since="-1d").empty  # the statistic's filter, not the acting user
    with pytest.raises(TypeError, match="multiple values for argument 'key'"):
        wb.stats.metadata_top_values("source", key="source")


def test_a_retry_must_say_which_jobs_as_on_the_command_line(wb: Workbench) -> None:
    ada = wb.users.create("ada", "ada@example.com")
    job = wb.jobs.create(ada.id, "crawl", "https://example.com/")
    with pytest.raises(StratLogicError, match=r"^say which failed jobs to retry: .*, or all_failed"):
        wb.jobs.retry()
    assert wb.jobs.retry(all_failed=True) == [] and wb.jobs.retry({"id": job.id}) == []
    assert wb.jobs.get(job.id).status == "queued"


def test_a_store_given_by_name_or_object_is_the_one_the_artifacts_go_to(url: str, home: Path, tmp_path: Path) -> None:
    from stratlogic.storage.local import LocalStore

    named, given = tmp_path / "named-store", LocalStore(tmp_path / "given-store")
    for n, (store, folder) in enumerate(((f"file:{named}", named), (given, tmp_path / "given-store"))):
        with stratlogic.open(url, store=store) as wb:
            ada = wb.users.create(f"ada{n}", f"ada{n}@example.com")
            job = wb.jobs.create(ada.id, "crawl", "https://example.com/")
            stored = wb.artifacts.store(job.id, b"<html>kept</html>", "page.html", content_type="text/html")
            assert wb.store.describe() == LocalStore(folder).describe()
            assert _holds(folder, b"<html>kept</html>")
            assert not _holds(home / "artifacts", b"<html>kept</html>")  # not in the settings' store
            assert wb.artifacts.download(stored.id, f"{tmp_path / 'out'}/").read_bytes() == b"<html>kept</html>"
            if n == 1:  # the demo's objects follow a store given as an object too, not only by name
                wb.seed_demo(users=3, jobs=20, days=3, seed=2)
                demo = wb.artifacts.frame({"job_id__gt": job.id})
                assert len(demo) and wb.artifacts.download(int(demo["id"].iloc[0]), f"{tmp_path / 'demo'}/")
                assert not (home / "artifacts").exists() or not any((home / "artifacts").rglob("*.html"))


def _holds(folder: Path, content: bytes) -> bool:
    return folder.is_dir() and any(p.is_file() and p.read_bytes() == content for p in folder.rglob("*"))
