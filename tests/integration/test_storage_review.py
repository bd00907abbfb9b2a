"""Review of the artifact storage layer: each test guards against one bug found in review (the comment above it
names the bug, now fixed).

Most tests run on SQLite with the local store only, where the bug does not depend on the engine or the store;
the S3 ones use the session's SeaweedFS server.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from stratlogic.audit import verify
from stratlogic.db import Database
from stratlogic.errors import (
    ArtifactRejectedError,
    ConfigError,
    InvalidKeyError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from stratlogic.jobs import cleanup
from stratlogic.models import Artifact, ArtifactMetadata, AuditLog, ScrapingJob, utcnow
from stratlogic.repositories import ArtifactRepository, ConfigRepository
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
from stratlogic.storage.base import check_key
from stratlogic.storage.s3 import parse_endpoint
from stratlogic.storage.testing import SeaweedServer
from tests.integration.storage_helpers import MIB, Pattern, everything, new_job, s3_store
from tests.integration.test_reconcile import invoke

SQLITE = pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite)])
HTML = b"<!doctype html><html><body><p>hello</p></body></html>"


def configure(db: Database, **values: object) -> None:
    with db.unit_of_work() as uow:
        for key, value in values.items():
            ConfigRepository(uow).set(key, value)


# ----- LocalStore ------------------------------------------------------------------------------------------


# Was: local.py _sidecar: sidecar of key 'x' (.meta/x.json) collided with the folder of 'x.json/y'
def test_local_keys_x_and_x_json_slash_y_can_coexist(tmp_path: Path) -> None:
    """S3 holds both keys, so the local store must too (it refused whichever came second)."""
    store = LocalStore(tmp_path / "artifacts")
    store.put(io.BytesIO(b"part"), "report.json/part1", "text/plain")
    store.put(io.BytesIO(b"whole"), "report", "text/plain")
    assert store.stat("report").size == 5 and store.stat("report.json/part1").size == 4


# Was: local.py put: sidecar was renamed in before the data; a failed rename left the old object with the new
# content type and metadata
def test_local_failed_overwrite_keeps_the_old_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path / "artifacts")
    store.put(io.BytesIO(b"old"), "a/b.txt", "text/plain", {"v": "1"})
    target, real_replace = store.root / "a" / "b.txt", Path.replace

    def replace(self: Path, dest: str | Path) -> Path:
        if Path(dest) == target:
            raise PermissionError(errno.EACCES, "injected: folder not writable", str(dest))
        return real_replace(self, dest)

    monkeypatch.setattr(Path, "replace", replace)
    with pytest.raises(StorageError):
        store.put(io.BytesIO(b"new!"), "a/b.txt", "text/html", {"v": "2"})
    monkeypatch.undo()
    found = store.stat("a/b.txt")
    with store.open("a/b.txt") as body:
        assert body.read() == b"old"
    assert (found.content_type, dict(found.metadata)) == ("text/plain", {"v": "1"})


# Was: local.py put: a put that failed at the rename left its sidecar behind
def test_local_failed_put_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    store.put(io.BytesIO(b"x"), "jobs/1", "text/plain")
    before = everything(store)
    with pytest.raises(StorageError):
        store.put(io.BytesIO(b"y"), "jobs", "text/plain")  # a folder is in the way
    assert everything(store) == before


# Was: base.py check_key accepted lone surrogates, which S3 (and any UTF-8 path) cannot hold
def test_check_key_refuses_lone_surrogates() -> None:
    with pytest.raises(InvalidKeyError):
        check_key("jobs/caf\udce9.html")


# ----- S3Store ---------------------------------------------------------------------------------------------


# Was: s3.py put: a stream longer than `length` was silently truncated (LocalStore refuses it)
@pytest.mark.s3
def test_s3_stream_longer_than_announced_is_refused(s3_server: SeaweedServer, tmp_path: Path) -> None:
    local = LocalStore(tmp_path / "artifacts")
    with pytest.raises(StorageError, match="longer than"):
        local.put(io.BytesIO(b"abcdef"), "k", "text/plain", length=3)
    store = s3_store(s3_server)
    key = f"{store.prefix}k"
    try:
        with pytest.raises(StorageError):
            store.put(io.BytesIO(b"abcdef"), key, "text/plain", length=3)
    finally:
        store.delete(key)


# ----- the artifact service --------------------------------------------------------------------------------


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


# Was: validation.py check_filename accepted surrogate-escaped (non-UTF-8) names; quote() then raised a raw
# UnicodeEncodeError
@SQLITE
def test_non_utf8_filename_is_refused_as_filename(db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    with pytest.raises(ArtifactRejectedError) as caught:
        store_artifact(db, store, new_job(db), HTML, "caf\udce9.html")  # Path(b"caf\xe9.html").name on Linux
    assert caught.value.reason == "filename"


# Was: artifacts.py _upload: quote(filename) in object metadata exceeded 2 KB for long non-ASCII names
# check_filename allows
@SQLITE
def test_long_cjk_filename_is_stored(db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    name = "\u6587" * 240 + ".html"  # 245 characters: a valid filename
    stored = store_artifact(db, store, new_job(db), HTML, name)
    assert stored.filename == name


# Was: validation.py sniff: text that is not UTF-8 (windows-1252/latin-1 HTML) was sniffed as binary, so a page
# declared text/html was refused
@SQLITE
def test_latin1_html_page_is_stored_as_html(db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    page = '<!doctype html><meta charset="iso-8859-1"><p>caf\xe9 cr\xe8me</p>'.encode("latin-1")
    assert store_artifact(db, store, new_job(db), page, "page.html", "text/html").content_type == "text/html"


# Was: validation.py _HTML treated a leading '<!--' as HTML, so XML starting with a comment declared
# application/xml was refused
@SQLITE
def test_xml_starting_with_a_comment_is_xml(db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    feed = b"<!-- generated -->\n<rss version='2.0'><channel/></rss>"
    assert store_artifact(db, store, new_job(db), feed, "feed.xml", "application/xml").content_type == "application/xml"


# Was: validation.py sniff: any text starting with '[' or '{' was JSON, so markdown opening with a link declared
# text/markdown was refused
@SQLITE
def test_markdown_starting_with_a_link_is_markdown(db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    configure(db, **{"artifacts.allowed_content_types": ["text/*"]})
    readme = b"[![build](https://ci.example/badge.svg)](https://ci.example)\n\n# Project\n"
    assert store_artifact(db, store, new_job(db), readme, "README.md", "text/markdown").content_type == "text/markdown"


# Was: validation.py resolve_content_type ignored mimetypes' encoding: gzip bytes named .tar.gz were recorded as
# application/x-tar
@SQLITE
def test_tar_gz_is_recorded_as_gzip(db: Database, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    configure(db, **{"artifacts.allowed_content_types": ["*/*"]})
    gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\x01" * 40
    assert store_artifact(db, store, new_job(db), gz, "site.tar.gz").content_type == "application/gzip"


# ----- metadata --------------------------------------------------------------------------------------------


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


# ----- reconcile -------------------------------------------------------------------------------------------


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


# ----- the CLI ---------------------------------------------------------------------------------------------


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


# ----- second review ---------------------------------------------------------------------------------------


# Was: local.py: a key whose last segment fit a file name but not its sidecar's (".NAME.json") was written,
# then the put failed and left the new object in place
def test_local_key_whose_sidecar_cannot_fit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    key = "jobs/1/" + "n" * 252
    with pytest.raises(InvalidKeyError, match="252 bytes"):
        store.put(io.BytesIO(b"new content"), key, "text/plain")
    assert everything(store) == []
    store.put(io.BytesIO(b"fits"), "jobs/1/" + "n" * 249, "text/plain")  # the longest that fits


# Was: local.py delete of a key that is a folder of other keys raised a raw IsADirectoryError (S3: no-op)
def test_local_delete_of_a_folder_key_deletes_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    store.put(io.BytesIO(b"y"), "x/y", "text/plain")
    store.delete("x")
    assert store.exists("x/y")


# Was: local.py: only the temporary file was fsynced; the folders holding the renamed object and sidecar never
# were, so after a power cut a committed row could point at nothing
def test_local_put_syncs_the_folders_it_renamed_into(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(descriptor).st_mode))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    LocalStore(tmp_path / "artifacts").put(io.BytesIO(b"z"), "jobs/1/page.html", "text/html")
    assert synced.count(False) == 2 and synced.count(True) == 2  # data and sidecar files; their two folders


# Was: artifacts.py _opened: a source's size came from st_size, which is 0 for a pipe, so piped content was
# refused as empty
@SQLITE
def test_a_piped_source_is_stored_whole(db: Database, tmp_path: Path) -> None:
    fifo = tmp_path / "page.html"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(HTML,))
    writer.start()
    stored = store_artifact(db, LocalStore(tmp_path / "artifacts"), new_job(db), fifo, "page.html")
    writer.join()
    assert stored.size_bytes == len(HTML)


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


# Was: s3.py parse_endpoint echoed an endpoint holding credentials before refusing it
def test_an_s3_endpoint_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_endpoint("https://AKIAEXAMPLE:VerySecretKey123@s3.example.com/bucket", True)
    assert "VerySecretKey123" not in str(caught.value) and "AKIAEXAMPLE" not in str(caught.value)


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


# Was: s3.py put: minio never stops its three upload threads when an upload is abandoned midway, as one over
# the size limit is; every refused upload of unknown length left three threads behind
@pytest.mark.s3
@SQLITE
def test_refused_uploads_of_unknown_length_leave_no_threads_behind(db: Database, s3_server: SeaweedServer) -> None:
    store, job = s3_store(s3_server), new_job(db)
    configure(db, **{"artifacts.max_size_bytes": 11 * MIB, "artifacts.allowed_content_types": ["*/*"]})
    store_threads = threading.active_count()
    for _ in range(3):
        with pytest.raises(ArtifactRejectedError, match="larger than the limit"):
            store_artifact(db, store, job, Pattern(12 * MIB), "big.bin")  # type: ignore[arg-type]
    assert threading.active_count() == store_threads
    assert everything(store) == []


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
