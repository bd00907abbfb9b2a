"""Review of the artifact storage layer: each test guards against one bug found in review (the comment above it
names the bug, now fixed).

Most tests run on SQLite with the local store only, where the bug does not depend on the engine or the store;
the S3 ones use the session's SeaweedFS server.
"""

from __future__ import annotations

import errno
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from stratlogic.db import Database
from stratlogic.errors import ArtifactRejectedError, InvalidKeyError, StorageError
from stratlogic.models import Artifact
from stratlogic.repositories import ConfigRepository
from stratlogic.storage import LocalStore, MetadataManager, open_artifact, reconcile, store_artifact
from stratlogic.storage.base import check_key
from stratlogic.storage.testing import SeaweedServer
from tests.integration.storage_helpers import everything, new_job, s3_store
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
