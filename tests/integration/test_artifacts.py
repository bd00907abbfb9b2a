"""The artifact service on both databases and both stores: validation, checksums, consistency, metadata."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from stratlogic.db import Database
from stratlogic.errors import (
    ArtifactRejectedError,
    ChecksumMismatchError,
    NotFoundError,
    StorageAuthError,
    ValidationError,
)
from stratlogic.models import Artifact
from stratlogic.repositories import ArtifactRepository, ConfigRepository
from stratlogic.repositories.audit import AuditRepository
from stratlogic.storage import (
    ArtifactStore,
    LocalStore,
    MetadataManager,
    S3Store,
    StoredArtifact,
    download_artifact,
    open_artifact,
    store_artifact,
)
from stratlogic.storage.testing import SeaweedServer
from tests.integration.storage_helpers import MIB, Pattern, everything, new_job, s3_store

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
HTML = b"<!doctype html><html><body>hello</body></html>"



def configure(db: Database, **values: object) -> None:
    with db.unit_of_work() as uow:
        for key, value in values.items():
            ConfigRepository(uow).set(key, value)


def counts(db: Database) -> tuple[int, int]:
    """Artifact rows, and audit rows about artifacts or their metadata."""
    with db.unit_of_work(readonly=True) as uow:
        audit = AuditRepository(uow).count({"resource_type__in": ["artifact", "artifact_metadata"]})
        return ArtifactRepository(uow).count(), audit


def test_store_and_read_back_with_checksum_metadata_and_audit(db: Database, store: ArtifactStore) -> None:
    job = new_job(db)
    stored = store_artifact(db, store, job, HTML, "index.html", metadata={"url": "https://example.com/", "pages": 3})
    assert stored.created and stored.job_id == job and stored.bucket == store.bucket
    assert (stored.size_bytes, stored.sha256) == (len(HTML), hashlib.sha256(HTML).hexdigest())
    assert stored.content_type == "text/html" and stored.object_key.startswith(f"{store.prefix}jobs/{job}/")
    assert store.stat(stored.object_key).content_type == "text/html"
    with open_artifact(db, store, stored.id) as reader:
        assert reader.read() == HTML
        assert reader.verified
    with db.unit_of_work(readonly=True) as uow:
        assert ArtifactRepository(uow).metadata(stored.id) == {"url": "https://example.com/", "pages": 3}
        trail = AuditRepository(uow).trail("artifact", stored.id)
        assert [a.action for a in trail] == ["artifact.created"]
        assert trail[0].details["values"]["sha256"] == stored.sha256
    assert counts(db) == (1, 3)  # the row and its two metadata keys, each audited


def test_same_content_twice_for_a_job_is_stored_once(db: Database, store: ArtifactStore) -> None:
    job, other = new_job(db, "a"), new_job(db, "b")
    first = store_artifact(db, store, job, HTML, "index.html")
    again = store_artifact(db, store, job, io.BytesIO(HTML), "copy.html", "text/html")
    assert (again.id, again.created, again.filename) == (first.id, False, "index.html")
    assert [k for k in everything(store) if not k.startswith(".meta/")] == [first.object_key]
    elsewhere = store_artifact(db, store, other, HTML, "index.html")
    assert elsewhere.created and elsewhere.id != first.id
    assert counts(db)[0] == 2


class OneWay:
    """A stream that cannot seek or tell its size (a socket, a pipe)."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)

    def seekable(self) -> bool:
        return False


REFUSED = [  # sources are made per test: a stream is used up by the first test that reads it
    pytest.param(b"", "empty.html", None, "empty", id="empty"),
    pytest.param(lambda: OneWay(b""), "empty.html", None, "empty", id="empty-stream"),
    pytest.param(b"a" * 2001, "big.txt", None, "too_large", id="too-large"),
    pytest.param(lambda: OneWay(b"a" * 2001), "big.txt", None, "too_large", id="too-large-stream"),
    pytest.param(PNG, "pic.png", "text/html", "type_mismatch", id="png-declared-html"),
    pytest.param(HTML, "page.json", "application/json", "type_mismatch", id="html-declared-json"),
    pytest.param(b"%PDF-1.7 ...", "doc.pdf", None, "content_type", id="type-not-allowed"),
    pytest.param(HTML, "../../etc/passwd", None, "filename", id="dotdot-filename"),
    pytest.param(HTML, "a/b.html", None, "filename", id="slash-filename"),
    pytest.param(HTML, "a\\b.html", None, "filename", id="backslash-filename"),
    pytest.param(HTML, "nul\x00.html", None, "filename", id="nul-filename"),
]


@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite)])  # refused before any write
@pytest.mark.parametrize(("source", "filename", "declared", "reason"), REFUSED)
def test_refused_inputs_write_nothing_anywhere(db: Database, store: ArtifactStore, source: object, filename: str,
                                               declared: str | None, reason: str) -> None:
    configure(db, **{"artifacts.max_size_bytes": 2000,
                     "artifacts.allowed_content_types": ["text/*", "image/png", "application/json"]})
    job = new_job(db)
    before = counts(db)
    with pytest.raises(ArtifactRejectedError) as caught:
        store_artifact(db, store, job, source() if callable(source) else source, filename, declared)  # type: ignore[arg-type]
    assert caught.value.reason == reason
    assert counts(db) == before
    assert everything(store) == []


@pytest.mark.s3
@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite)])
def test_a_stream_over_the_limit_is_abandoned_mid_upload(db: Database, s3_server: SeaweedServer) -> None:
    """12 MB of unknown length, limit 11 MB, 5 MiB parts: two parts go up before the limit is hit, then abort."""
    store = s3_store(s3_server)
    configure(db, **{"artifacts.max_size_bytes": 11 * MIB, "artifacts.allowed_content_types": ["*/*"]})
    with pytest.raises(ArtifactRejectedError, match="abandoned") as caught:
        store_artifact(db, store, new_job(db), Pattern(12 * MIB), "big.bin")  # type: ignore[arg-type]
    assert caught.value.reason == "too_large"
    assert everything(store) == [] and counts(db)[0] == 0


def test_failure_between_upload_and_row_leaves_no_orphan(db: Database, store: ArtifactStore,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    job = new_job(db)
    before = counts(db)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("injected: the database went away after the upload")

    monkeypatch.setattr(ArtifactRepository, "set_metadata", broken)
    with pytest.raises(RuntimeError, match="injected"):
        store_artifact(db, store, job, HTML, "index.html", metadata={"k": 1})
    assert counts(db) == before  # the row and its audit row were rolled back together
    assert everything(store) == []  # and the uploaded object was removed


@pytest.mark.s3
def test_failed_upload_writes_no_row(db: Database, s3_server: SeaweedServer, caplog: pytest.LogCaptureFixture) -> None:
    store = s3_store(s3_server, secret_key="wrong-secret-key-0123456789")
    before = counts(db)
    caplog.set_level(logging.DEBUG)  # urllib3 and minio log requests at DEBUG: none may carry the keys
    with pytest.raises(StorageAuthError):
        store_artifact(db, store, new_job(db), HTML, "index.html")
    assert counts(db) == before
    assert caplog.records and "wrong-secret-key" not in caplog.text and s3_server.access_key not in caplog.text


def test_unknown_job_is_refused_before_upload(db: Database, store: ArtifactStore) -> None:
    with pytest.raises(NotFoundError, match="999999"):
        store_artifact(db, store, 999999, HTML, "index.html")
    assert everything(store) == []


def test_checksum_mismatch_is_raised_on_read(db: Database, store: ArtifactStore, tmp_path: Path) -> None:
    stored = store_artifact(db, store, new_job(db), HTML, "index.html")
    tampered = HTML.replace(b"hello", b"HELLO")
    store.put(io.BytesIO(tampered), stored.object_key, "text/html")
    with open_artifact(db, store, stored.id) as reader, pytest.raises(ChecksumMismatchError, match="corrupt"):
        reader.read()
    with open_artifact(db, store, stored.id, verify=False) as reader:
        assert reader.read() == tampered
    target = tmp_path / "out.html"
    with pytest.raises(ChecksumMismatchError):
        download_artifact(db, store, stored.id, target)
    assert not target.exists() and list(tmp_path.glob(".out.html*")) == []
    store.put(io.BytesIO(HTML + b"extra"), stored.object_key, "text/html")
    with open_artifact(db, store, stored.id) as reader, pytest.raises(ChecksumMismatchError):
        reader.read()


def test_download_writes_the_verified_file(db: Database, store: ArtifactStore, tmp_path: Path) -> None:
    stored = store_artifact(db, store, new_job(db), HTML, "index.html")
    (tmp_path / "out").mkdir()
    assert download_artifact(db, store, stored.id, tmp_path / "out").read_bytes() == HTML
    assert (tmp_path / "out" / "index.html").exists()


def _file(path: Path, size: int, seed: int) -> Path:
    with path.open("wb") as out:
        stream = Pattern(size, seed)
        while chunk := stream.read(MIB):
            out.write(chunk)
    return path


def _peak(action: Callable[[], object]) -> float:
    """Peak Python memory (MiB) while ``action`` runs."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite)])
def test_50_mb_round_trip_in_flat_memory(db: Database, store: ArtifactStore, tmp_path: Path) -> None:
    """Neither direction holds the file: peak memory for 50 MB is that of 10 MB, and far below 50 MB.

    S3 uploads hold about (2 x parallel uploads + 1) parts; one upload at a time makes the bound tight.
    """
    if isinstance(store, S3Store):
        store.parallel_uploads = 1
    configure(db, **{"artifacts.allowed_content_types": ["application/octet-stream"]})
    job = new_job(db)
    small, big = _file(tmp_path / "small.bin", 10 * MIB, 1), _file(tmp_path / "big.bin", 50 * MIB, 2)
    stored = {}

    def upload(path: Path) -> None:
        stored[path.name] = store_artifact(db, store, job, path, path.name)

    def download(name: str) -> None:
        digest = hashlib.sha256()
        with open_artifact(db, store, stored[name].id) as reader:
            for chunk in reader.iter_chunks():
                digest.update(chunk)
            assert reader.verified
        assert digest.hexdigest() == stored[name].sha256

    up_small, up_big = _peak(lambda: upload(small)), _peak(lambda: upload(big))
    down_small, down_big = _peak(lambda: download("small.bin")), _peak(lambda: download("big.bin"))
    assert (stored["big.bin"].size_bytes, stored["big.bin"].sha256) == (50 * MIB, Pattern.sha256(50 * MIB, 2))
    assert up_big < up_small + 4 and up_big < 20, f"upload peak {up_big:.1f} MiB (10 MB: {up_small:.1f} MiB)"
    assert down_big < 10, f"download peak {down_big:.1f} MiB (10 MB: {down_small:.1f} MiB)"


def test_metadata_manager_keeps_types(db: Database, store: ArtifactStore) -> None:
    job = new_job(db)
    a = store_artifact(db, store, job, HTML, "a.html").id
    b = store_artifact(db, store, job, b"plain text", "b.txt").id
    meta = MetadataManager(db)
    meta.set_many(a, {"pages": 3, "ratio": 0.5, "ok": True, "tags": ["x", "y"], "note": None})
    meta.set(a, "pages", 4)
    assert meta.all(a) == {"note": None, "ok": True, "pages": 4, "ratio": 0.5, "tags": ["x", "y"]}
    assert type(meta.get(a, "pages")) is int and type(meta.get(a, "ok")) is bool
    assert meta.get(a, "ratio", expect=float) == 0.5
    with pytest.raises(ValidationError, match=r"'ok' of artifact .* is bool True, expected int"):
        meta.get(a, "ok", expect=int)
    with pytest.raises(NotFoundError, match="no metadata key 'missing'"):
        meta.get(a, "missing")
    assert meta.get(a, "missing", "fallback") == "fallback"
    assert meta.set_bulk({a: {"source": "crawl"}, b: {"source": "crawl", "pages": "3"}}) == 3
    assert [x.id for x in meta.find("source", "crawl")] == [a, b]
    assert [x.id for x in meta.find("pages", 4)] == [a]
    assert meta.find("pages", "3")[0].id == b and meta.find("pages", 3) == []
    with pytest.raises(NotFoundError, match="424242"):
        meta.set_bulk({a: {"late": 1}, 424242: {"late": 1}})
    assert "late" not in meta.all(a)
    assert meta.delete(a, "note", "absent") == 1
    with pytest.raises(ValidationError, match="metadata key 'Bad Key'"):
        meta.set(a, "Bad Key", 1)
    with db.unit_of_work(readonly=True) as uow:
        actions = {row.action for row in AuditRepository(uow).list({"resource_type": "artifact_metadata"}, limit=100)}
    assert actions == {"artifact.metadata_set", "artifact.metadata_deleted"}


def test_rows_record_the_store_bucket(db: Database, store: ArtifactStore) -> None:
    stored = store_artifact(db, store, new_job(db), HTML, "index.html")
    with db.unit_of_work(readonly=True) as uow:
        row = uow.session.get(Artifact, stored.id)
        assert row is not None and (row.bucket, row.object_key) == (store.bucket, stored.object_key)


def test_concurrent_uploads_of_the_same_content_store_it_once(db: Database, tmp_path: Path) -> None:
    """The dedupe check and the insert run under the one-writer lock: two racing uploads cannot both insert."""
    store = LocalStore(tmp_path / "artifacts")
    job = new_job(db)
    start = threading.Barrier(3)
    results: list[StoredArtifact] = []

    def upload(name: str) -> None:
        start.wait()
        results.append(store_artifact(db, store, job, HTML, name))

    threads = [threading.Thread(target=upload, args=(f"{i}.html",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.id for r in results}) == 1 and sorted(r.created for r in results) == [False, False, True]
    assert list(store.iter_keys("jobs/")) == [results[0].object_key] and counts(db)[0] == 1
