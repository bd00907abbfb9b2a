"""Reconcile finds each kind of drift and fixes only what is safe; the ``stratlogic artifacts`` commands."""

from __future__ import annotations

import io
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.storage import ArtifactStore, DriftKind, reconcile, store_artifact
from stratlogic.storage.local import LocalStore
from stratlogic.storage.testing import SeaweedServer
from tests.cli_helpers import invoke, run_cli
from tests.integration.storage_helpers import BUCKET, new_job

HTML = b"<!doctype html><p>page one</p>"



def drifted(db: Database, store: ArtifactStore) -> dict[str, int]:
    """One artifact of each kind of trouble, plus a healthy one and a healthy twin of the missing one."""
    job, other = new_job(db, "a"), new_job(db, "b")
    ok = store_artifact(db, store, job, HTML, "ok.html")
    missing = store_artifact(db, store, job, b"<html>missing</html>", "missing.html")
    twin = store_artifact(db, store, other, b"<html>missing</html>", "twin.html")
    resized = store_artifact(db, store, job, b"<html>resized</html>", "resized.html")
    tampered = store_artifact(db, store, job, b"<html>tampered</html>", "tampered.html")
    store.delete(missing.object_key)
    store.put(io.BytesIO(b"<html>resized, longer</html>"), resized.object_key, "text/html")
    store.put(io.BytesIO(b"<html>TAMPERED</html>"), tampered.object_key, "text/html")
    store.put(io.BytesIO(b"nobody's"), f"{store.prefix}jobs/{job}/stray/orphan.txt", "text/plain")
    return {"ok": ok.id, "missing": missing.id, "twin": twin.id, "resized": resized.id, "tampered": tampered.id}




def kinds(report: object) -> dict[str, list[int | None]]:
    found: dict[str, list[int | None]] = {}
    for finding in report.findings:  # type: ignore[attr-defined]
        found.setdefault(finding.kind.value, []).append(finding.artifact_id)
    return found


def test_reconcile_finds_each_kind_of_drift(db: Database, store: ArtifactStore) -> None:
    ids = drifted(db, store)
    report = reconcile(db, store)
    assert kinds(report) == {"missing_object": [ids["missing"]], "orphan_object": [None],
                             "size_drift": [ids["resized"]], "checksum_drift": [ids["tampered"]]}
    assert (report.rows_checked, report.objects_checked, report.ok) == (5, 5, False)
    quick = reconcile(db, store, checksums=False)
    assert DriftKind.CHECKSUM_DRIFT not in {f.kind for f in quick.findings} and quick.count(DriftKind.SIZE_DRIFT) == 1


def test_fix_repairs_only_what_is_safe(db: Database, store: ArtifactStore) -> None:
    ids = drifted(db, store)
    before = kinds(reconcile(db, store))
    dry = reconcile(db, store, fix=True, dry_run=True, grace=timedelta(0))
    assert not any(f.fixed for f in dry.findings)
    assert {f.kind: f.action for f in dry.findings}[DriftKind.ORPHAN_OBJECT] == "would delete the orphan object"
    assert kinds(reconcile(db, store)) == before and len(before) == 4  # the dry run changed nothing

    first = reconcile(db, store, fix=True)  # default grace: a young orphan may be an upload in flight
    outcome = {f.kind: (f.fixed, f.action) for f in first.findings}
    assert outcome[DriftKind.ORPHAN_OBJECT][0] is False and "grace" in outcome[DriftKind.ORPHAN_OBJECT][1]
    assert outcome[DriftKind.MISSING_OBJECT] == (True, f"restored from artifact {ids['twin']} (same sha256, verified)")
    assert outcome[DriftKind.SIZE_DRIFT][0] is False and "backup" in outcome[DriftKind.SIZE_DRIFT][1]
    assert outcome[DriftKind.CHECKSUM_DRIFT][0] is False and not first.ok

    second = reconcile(db, store, fix=True, grace=timedelta(0))
    assert {f.kind: (f.fixed, f.action) for f in second.findings}[DriftKind.ORPHAN_OBJECT] == \
        (True, "deleted the orphan object")
    after = reconcile(db, store)
    assert kinds(after) == {"size_drift": [ids["resized"]], "checksum_drift": [ids["tampered"]]}


def test_a_bad_twin_is_never_copied(db: Database, store: ArtifactStore) -> None:
    job, other = new_job(db, "a"), new_job(db, "b")
    lost = store_artifact(db, store, job, HTML, "lost.html")
    twin = store_artifact(db, store, other, HTML, "twin.html")
    store.delete(lost.object_key)
    store.put(io.BytesIO(HTML.upper()), twin.object_key, "text/html")  # same size, wrong bytes
    report = reconcile(db, store, fix=True)
    missing = next(f for f in report.findings if f.kind is DriftKind.MISSING_OBJECT)
    assert not missing.fixed and "no intact copy" in missing.action
    assert not store.exists(lost.object_key)


@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite)])
def test_cli_put_ls_get_url_and_reconcile(settings: Settings, db: Database, tmp_path: Path) -> None:
    env = {"STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_DATABASE_URL": settings.database_url,
           "STRATLOGIC_ARTIFACT_STORE": settings.artifact_store}
    job = new_job(db)
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    stored = run_cli("artifacts", "put", str(job), str(page), "--meta", "pages=3", "--meta", "lang=en", env=env)
    assert stored.returncode == 0, stored.stderr
    row = json.loads(stored.stdout)
    assert (row["filename"], row["size_bytes"], row["content_type"]) == ("page.html", len(HTML), "text/html")
    again = invoke(env, "artifacts", "put", str(job), str(page))
    assert json.loads(again.stdout)["id"] == row["id"] and "nothing stored" in again.stderr

    listed = invoke(env, "artifacts", "ls", "--job", str(job), "--json")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [row["id"]]
    (tmp_path / "out").mkdir()
    got = invoke(env, "artifacts", "get", str(row["id"]), "--out", str(tmp_path / "out"))
    assert got.exit_code == 0, got.output
    assert (tmp_path / "out" / "page.html").read_bytes() == HTML
    link = invoke(env, "artifacts", "url", str(row["id"]), "--expires", "15m")
    assert link.stdout.strip().startswith("file://") and link.stdout.strip().endswith("page.html")
    assert "not a duration" in invoke(env, "artifacts", "url", str(row["id"]), "--expires", "soon").stderr

    clean = invoke(env, "artifacts", "reconcile")
    assert clean.exit_code == 0 and "0 finding(s), ok" in clean.stderr
    (Path(settings.artifact_path or "") / row["object_key"]).unlink()
    broken = invoke(env, "artifacts", "reconcile", "--fix", "--dry-run", "--json")
    assert broken.exit_code == 1
    report = json.loads(broken.stdout)
    assert [f["kind"] for f in report["findings"]] == ["missing_object"] and report["dry_run"] is True


@pytest.mark.s3
@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite)])
def test_cli_refuses_clearly(settings: Settings, db: Database, tmp_path: Path, s3_server: SeaweedServer) -> None:
    env = {"STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_DATABASE_URL": settings.database_url,
           "STRATLOGIC_ARTIFACT_STORE": f"s3://{BUCKET}/cli", "STRATLOGIC_S3_ENDPOINT": s3_server.endpoint,
           "STRATLOGIC_S3_SECURE": "false", "STRATLOGIC_S3_ACCESS_KEY": s3_server.access_key,
           "STRATLOGIC_S3_SECRET_KEY": "definitely-wrong-secret"}
    page = tmp_path / "page.html"
    page.write_bytes(HTML)
    job = str(new_job(db))
    denied = run_cli("artifacts", "put", job, str(page), env=env)
    assert denied.returncode == 1 and "refused the request" in denied.stderr
    assert "definitely-wrong-secret" not in denied.stderr + denied.stdout
    env["STRATLOGIC_S3_SECRET_KEY"] = s3_server.secret_key
    fake = tmp_path / "fake.png"
    fake.write_bytes(HTML)
    wrong = invoke(env, "artifacts", "put", job, str(fake), "--type", "image/png")
    assert wrong.exit_code == 1 and "declared image/png but its content looks like text/html" in wrong.stderr
    stored = invoke(env, "artifacts", "put", job, str(page))
    assert stored.exit_code == 0, stored.output
    link = invoke(env, "artifacts", "url", str(json.loads(stored.stdout)["id"])).stdout.strip()
    assert link.startswith(f"http://{s3_server.endpoint}/{BUCKET}/cli/jobs/") and "X-Amz-Signature" in link


def test_fix_removes_temporary_files_a_killed_writer_left(db: Database, tmp_path: Path) -> None:
    """A write killed mid-file (SIGKILL) leaves ``.tmp/NAME.part``: fix removes it once an hour old, never younger."""
    store = LocalStore(tmp_path / "store")
    store_artifact(db, store, new_job(db), b"<html><body>kept</body></html>", "p.html")
    folder = store.root / ".tmp"
    folder.mkdir(exist_ok=True)
    (folder / "killed.part").write_bytes(b"half an obj")
    (folder / "writing.part").write_bytes(b"in flight")
    two_hours_ago = time.time() - 7200
    os.utime(folder / "killed.part", (two_hours_ago, two_hours_ago))
    assert reconcile(db, store).temporaries_removed == []  # no fix: nothing removed
    assert reconcile(db, store, fix=True, dry_run=True).temporaries_removed == []
    report = reconcile(db, store, fix=True, grace=timedelta(0))  # grace 0 still spares a write in flight
    assert report.temporaries_removed == ["killed.part"] and report.ok
    assert sorted(p.name for p in folder.iterdir()) == ["writing.part"]
