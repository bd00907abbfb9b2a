"""An artifact's life after it is stored: stored again (after loss, in another store), downloaded, given metadata
in bulk, deleted with its object, removed with its job, reconciled with its store.

Each test guards against one bug found in review (the comment above it names the bug, now fixed). Most run on
SQLite with the local store only, where the bug does not depend on the engine or the store; the S3 ones use
the session's SeaweedFS server.
"""


from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from stratlogic.audit import verify
from stratlogic.db import Database
from stratlogic.errors import (
    NotFoundError,
    StorageError,
    ValidationError,
)
from stratlogic.jobs import cleanup
from stratlogic.models import Artifact, ArtifactMetadata, AuditLog, ScrapingJob, utcnow
from stratlogic.repositories import ArtifactRepository
from stratlogic.repositories.jobs import JobRepository
from stratlogic.storage import (
    LocalStore,
    MetadataManager,
    delete_artifact,
    download_artifact,
    open_artifact,
    reconcile,
    store_artifact,
)
from stratlogic.storage.testing import SeaweedServer
from tests.cli_helpers import invoke
from tests.integration.storage_helpers import SQLITE, new_job, s3_store

HTML = b"<!doctype html><html><body><p>hello</p></body></html>"


# Was: artifacts.py _record: dedupe returned the existing row even when its object was gone, and deleted the
# only intact copy just uploaded
@SQLITE
def test_storing_again_after_the_object_was_lost_keeps_a_readable_copy(db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    job = new_job(db)
    first = store_artifact(db, store, job, HTML, "index.html")
    store.delete(first.object_key)  # lost (disk, a bad reconcile, a person)
    again = store_artifact(db, store, job, HTML, "index.html")
    with open_artifact(db, store, again.id) as reader:
        assert reader.read() == HTML


# Was: artifacts.py _record: the duplicate check ignored the bucket, so content already stored in another store
# (the local folder, before moving to S3) was "found" and the new upload deleted: unreachable through S3
@pytest.mark.s3
@SQLITE
def test_content_already_in_another_store_is_stored_again_in_this_one(db: Database, tmp_path: Path,
                                                                    s3_server: SeaweedServer) -> None:
    job, s3 = new_job(db), s3_store(s3_server)
    first = store_artifact(db, LocalStore(tmp_path / "artifacts"), job, HTML, "index.html")
    second = store_artifact(db, s3, job, HTML, "index.html")
    assert (first.bucket, second.bucket, second.created) == ("local", s3.bucket, True)
    with open_artifact(db, s3, second.id) as reader:
        assert reader.read() == HTML
    s3.delete(second.object_key)


# Was: artifacts.py download_artifact: the temporary name added 15 bytes to the target's, so a long (accepted)
# filename could not be downloaded into a folder (raw OSError)
@SQLITE
def test_a_long_filename_downloads_into_a_folder_or_says_why_not(db: Database, tmp_path: Path) -> None:
    store, job = LocalStore(tmp_path / "artifacts"), new_job(db)
    near_limit = store_artifact(db, store, job, HTML, "页" * 84 + ".html")  # 257 bytes: over 255
    fits = store_artifact(db, store, job, HTML + b" ", "页" * 83 + ".html")  # 254 bytes
    out = tmp_path / "out"
    out.mkdir()
    assert download_artifact(db, store, fits.id, out).read_bytes() == HTML + b" "
    with pytest.raises(ValidationError, match="257 bytes"):
        download_artifact(db, store, near_limit.id, out)
    assert download_artifact(db, store, near_limit.id, out / "page.html").read_bytes() == HTML


# Was: metadata.py set_bulk: the existence check listed with limit=len(ids), so more than 10,000 artifacts
# failed
@SQLITE
def test_set_bulk_on_more_than_10000_artifacts(db: Database) -> None:
    job = new_job(db)
    with db.unit_of_work() as uow:
        uow.session.execute(insert(Artifact), [
            {"job_id": job, "bucket": "local", "object_key": f"jobs/{job}/{i}", "filename": f"{i}.txt",
             "content_type": "text/plain", "size_bytes": 1, "sha256": f"{i:064x}"} for i in range(10_001)])
        ids = [a for (a,) in uow.session.execute(Artifact.__table__.select().with_only_columns(Artifact.id))]
    assert MetadataManager(db).set_bulk({i: {"batch": 1} for i in ids}) == 10_001


# Was: no way to delete an artifact with its object: ArtifactRepository.delete and a job's clean-up removed rows
# and left every object behind as an orphan
@SQLITE
def test_deleting_an_artifact_removes_its_row_metadata_and_object(settings: object, db: Database,
                                                                  tmp_path: Path) -> None:
    store, job = LocalStore(tmp_path / "artifacts"), new_job(db)
    kept = store_artifact(db, store, job, HTML, "kept.html")
    doomed = store_artifact(db, store, job, HTML + b"!", "doomed.html", metadata={"http_status": 200})
    foreign = LocalStore(tmp_path / "artifacts")
    foreign.bucket = "elsewhere"
    with pytest.raises(StorageError, match="nothing was deleted"):
        delete_artifact(db, foreign, doomed.id)
    assert store.exists(doomed.object_key)
    gone = delete_artifact(db, store, doomed.id)
    assert gone.id == doomed.id and not store.exists(doomed.object_key) and store.exists(kept.object_key)
    with pytest.raises(NotFoundError), db.unit_of_work(readonly=True) as uow:
        ArtifactRepository(uow).get(doomed.id)
    with db.unit_of_work(readonly=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(ArtifactMetadata)) == 0
        [row] = uow.session.scalars(select(AuditLog).where(AuditLog.action == "artifact.deleted"))
        assert row.resource_id == str(doomed.id)
    assert verify(db).ok
    env = {"STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_DATABASE_URL": settings.database_url,  # type: ignore[attr-defined]
           "STRATLOGIC_ARTIFACT_STORE": f"file:{store.root}"}
    removed = invoke(env, "artifacts", "rm", str(kept.id))
    assert removed.exit_code == 0 and not store.exists(kept.object_key), removed.output
    assert invoke(env, "artifacts", "rm", str(kept.id)).exit_code == 1  # already gone: named, exit 1


# Was: jobs.cleanup deleted the artifacts' rows with their jobs and left their objects behind
@SQLITE
def test_cleaning_up_jobs_removes_their_artifacts_objects(db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    with_store, without_store = new_job(db, "a"), new_job(db, "b")
    objects = {job: store_artifact(db, store, job, HTML + str(job).encode(), "p.html").object_key
               for job in (with_store, without_store)}
    with db.unit_of_work() as uow:
        for job in (with_store, without_store):
            JobRepository(uow).cancel(job)
    later = utcnow() + timedelta(days=1)
    with db.unit_of_work() as uow:
        uow.session.execute(update(ScrapingJob).where(ScrapingJob.id == without_store)
                            .values(finished_at=later + timedelta(days=1)))  # not old enough for the first pass
    assert cleanup(db, later, dry_run=False, store=store).total == 1
    assert not store.exists(objects[with_store]) and store.exists(objects[without_store])
    assert cleanup(db, later + timedelta(days=2), dry_run=False).total == 1  # no store: the object stays
    assert store.exists(objects[without_store])


# Was: reconcile.py: --fix deleted every row-less object under the store prefix, not only keys the service
# writes (PREFIX jobs/...)
@SQLITE
def test_reconcile_fix_leaves_objects_the_service_never_wrote(db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    store_artifact(db, store, new_job(db), HTML, "index.html")
    store.put(io.BytesIO(b'{"last_id": 1}'), "checkpoints/audit.json", "application/json")
    reconcile(db, store, fix=True, grace=timedelta(0))
    assert store.exists("checkpoints/audit.json")


@SQLITE
def test_reconcile_restores_a_drifted_object_from_a_twin_and_keeps_sidecars(db: Database, tmp_path: Path) -> None:
    """Correct today: a checksum-drifted object is restored from a verified twin, content type kept."""
    store = LocalStore(tmp_path / "artifacts")
    a = store_artifact(db, store, new_job(db, "a"), HTML, "a.html")
    b = store_artifact(db, store, new_job(db, "b"), HTML, "b.html")
    store.put(io.BytesIO(HTML.replace(b"hello", b"HELLO")), a.object_key, "text/plain")
    report = reconcile(db, store, fix=True)
    assert [(f.kind.value, f.artifact_id, f.fixed) for f in report.findings] == [("checksum_drift", a.id, True)]
    with open_artifact(db, store, a.id) as reader:
        assert reader.read() == HTML
    assert store.stat(a.object_key).content_type == "text/html" and b.id != a.id


# Was: reconcile.py _repair: an object under the prefix that is not a valid key (".DS_Store") made --fix raise,
# so no report came out and real orphans next to it stayed
@pytest.mark.s3
@SQLITE
def test_reconcile_fix_leaves_a_foreign_object_alone_and_goes_on(db: Database, s3_server: SeaweedServer) -> None:
    store = s3_store(s3_server)
    foreign, orphan = f"{store.prefix}jobs/9/.DS_Store", f"{store.prefix}jobs/9/old/page.html"
    store.client.put_object(store.bucket, foreign, io.BytesIO(b"x"), 1)
    store.put(io.BytesIO(b"orphan"), orphan, "text/html")
    report = reconcile(db, store, fix=True, grace=timedelta(0))
    actions = {finding.key: (finding.fixed, finding.action) for finding in report.findings}
    assert actions[orphan] == (True, "deleted the orphan object")
    assert not actions[foreign][0] and actions[foreign][1].startswith("left alone")
    store.client.remove_object(store.bucket, foreign)
