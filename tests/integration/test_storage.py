"""The two artifact stores pass the same tests: a local folder, and S3 on a real SeaweedFS server.

Then each store's own edge cases, each guarding against one bug found in review (the comment above the test
names the bug, now fixed).
"""

from __future__ import annotations

import errno
import io
import os
import stat
import time
import traceback
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import urllib3

from stratlogic.config import load_settings
from stratlogic.errors import (
    ConfigError,
    InvalidKeyError,
    ObjectNotFoundError,
    StorageAuthError,
    StorageError,
    StorageUnavailableError,
    ValidationError,
)
from stratlogic.storage import ArtifactStore, LocalStore, S3Store, store_from_settings
from stratlogic.storage.base import check_key
from stratlogic.storage.s3 import parse_endpoint
from stratlogic.storage.testing import SeaweedServer, free_ports
from tests.integration.storage_helpers import BUCKET, MIB, everything, s3_store


class Exploding:
    """A stream that fails after ``after`` bytes (a client that disconnects, a disk that errors)."""

    def __init__(self, after: int) -> None:
        self.left = after

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError("source broke")
        take = min(self.left, MIB if size < 0 else min(size, MIB))
        self.left -= take
        return b"x" * take


def test_put_stat_open_delete_round_trip(store: ArtifactStore) -> None:
    key = f"{store.prefix}jobs/1/a.html"
    written = store.put(io.BytesIO(b"<html>hi</html>"), key, "text/html", {"job-id": "1"})
    assert (written.key, written.size) == (key, 15)
    found = store.stat(key)
    assert (found.size, found.content_type, dict(found.metadata)) == (15, "text/html", {"job-id": "1"})
    assert found.last_modified is not None
    with store.open(key) as body:
        assert body.read() == b"<html>hi</html>"
    assert store.exists(key)
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # deleting again is not an error
    assert everything(store) == []


def test_overwrite_replaces_the_whole_object(store: ArtifactStore) -> None:
    key = f"{store.prefix}k"
    store.put(io.BytesIO(b"first version, long"), key, "text/plain")
    store.put(io.BytesIO(b"second"), key, "text/plain", length=6)
    with store.open(key) as body:
        assert body.read() == b"second"
    assert store.stat(key).size == 6


def test_listing_is_scoped_to_the_prefix(store: ArtifactStore) -> None:
    for name in ["b/2", "a/1", "a/10", "c", "a-b"]:
        store.put(io.BytesIO(name.encode()), f"{store.prefix}{name}", "text/plain")
    assert list(store.iter_keys(f"{store.prefix}a/")) == [f"{store.prefix}a/1", f"{store.prefix}a/10"]
    assert list(store.iter_keys(f"{store.prefix}a/1")) == [f"{store.prefix}a/1", f"{store.prefix}a/10"]
    listed = sorted((o.key.removeprefix(store.prefix), o.size) for o in store.iter_objects(store.prefix))
    assert listed == [("a-b", 3), ("a/1", 3), ("a/10", 4), ("b/2", 3), ("c", 1)]


@pytest.mark.parametrize("stream_length", [-1, 12 * MIB])
def test_a_stream_that_fails_mid_upload_leaves_nothing(store: ArtifactStore, stream_length: int) -> None:
    """12 MiB with 5 MiB parts: on S3 two parts are uploaded before the failure, then the upload is aborted."""
    key = f"{store.prefix}broken"
    with pytest.raises(StorageError, match="source broke"):
        store.put(Exploding(11 * MIB), key, "application/octet-stream", length=stream_length)  # type: ignore[arg-type]
    assert not store.exists(key)
    assert everything(store) == []


def test_a_stream_shorter_than_announced_is_refused(store: ArtifactStore) -> None:
    key = f"{store.prefix}short"
    with pytest.raises(StorageError):
        store.put(io.BytesIO(b"abc"), key, "text/plain", length=10)
    assert not store.exists(key)


BAD_KEYS = ["../escape", "a/../../escape", "/etc/passwd", "a\\b", "a\x00b", "", "a//b", ".hidden", "a/./b",
            "C:evil", "a/b/", "tab\there"]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_keys_that_could_escape_are_refused_everywhere(store: ArtifactStore, key: str, tmp_path: Path) -> None:
    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    with pytest.raises(InvalidKeyError) as caught:
        store.put(io.BytesIO(b"data"), key, "text/plain")
    assert repr(key)[1:-1][:20] in str(caught.value)
    for action in (store.open, store.stat, store.exists, store.delete, store.presigned_url):
        with pytest.raises(InvalidKeyError):
            action(key)
    assert everything(store) == []
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == before


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    store = LocalStore(tmp_path / "root")
    store.root.mkdir()
    (store.root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidKeyError, match="outside the store root"):
        store.put(io.BytesIO(b"x"), "link/file", "text/plain")
    assert list(outside.iterdir()) == []


def test_missing_objects_are_named(store: ArtifactStore) -> None:
    key = f"{store.prefix}nothing/here"
    for action in (store.open, store.stat, store.presigned_url):
        with pytest.raises(ObjectNotFoundError, match="nothing/here"):
            action(key)
    assert store.exists(key) is False


def test_presigned_url_reads_the_object_and_expiry_is_bounded(store: ArtifactStore) -> None:
    key = f"{store.prefix}shared.txt"
    store.put(io.BytesIO(b"shared bytes"), key, "text/plain")
    url = store.presigned_url(key, timedelta(minutes=5))
    if isinstance(store, LocalStore):
        assert url.startswith("file://")
        assert Path(urllib.request.url2pathname(url.removeprefix("file://"))).read_bytes() == b"shared bytes"
    else:
        response = urllib3.request("GET", url)
        assert (response.status, response.data) == (200, b"shared bytes")
    for bad in (timedelta(0), timedelta(days=8)):
        with pytest.raises(ValidationError, match="between 1 second and 7 days"):
            store.presigned_url(key, bad)


@pytest.mark.s3
def test_presigned_url_stops_working_when_it_expires(s3_server: SeaweedServer) -> None:
    store = s3_store(s3_server)
    key = f"{store.prefix}short-lived"
    store.put(io.BytesIO(b"soon gone"), key, "text/plain")
    url = store.presigned_url(key, timedelta(seconds=1))
    time.sleep(2.2)
    assert urllib3.request("GET", url).status == 403


@pytest.mark.s3
def test_wrong_credentials_are_refused_clearly_and_never_shown(s3_server: SeaweedServer) -> None:
    wrong_secret = "not-the-secret-" + "x" * 16
    store = s3_store(s3_server, secret_key=wrong_secret)
    with pytest.raises(StorageAuthError) as caught:
        store.put(io.BytesIO(b"data"), f"{store.prefix}x", "text/plain")
    message = str(caught.value)
    assert "STRATLOGIC_S3_SECRET_KEY" in message and BUCKET in message and s3_server.endpoint in message
    shown = "".join(traceback.format_exception(caught.value))
    assert wrong_secret not in shown and s3_server.access_key not in shown and s3_server.secret_key not in shown
    with pytest.raises(StorageAuthError):
        store.stat(f"{store.prefix}x")


@pytest.mark.s3
def test_unreachable_endpoint_fails_fast_naming_it() -> None:
    port = free_ports(1)[0]
    store = S3Store.connect(f"127.0.0.1:{port}", BUCKET, access_key="AKIDEXAMPLE", secret_key="secret-example-1",
                            secure=False, connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError, match=f"unreachable.*127.0.0.1:{port}") as caught:
        store.stat("some/key")
    assert time.monotonic() - started < 10
    assert "secret-example-1" not in "".join(traceback.format_exception(caught.value))


@pytest.mark.s3
def test_bucket_is_created_only_when_allowed(s3_server: SeaweedServer) -> None:
    refused = s3_store(s3_server, bucket="stratlogic-fresh", create_bucket=False)
    with pytest.raises(StorageError, match=r"'stratlogic-fresh' does not exist.*not allowed"):
        refused.put(io.BytesIO(b"x"), f"{refused.prefix}x", "text/plain")
    assert not s3_server.client().bucket_exists("stratlogic-fresh")
    allowed = s3_store(s3_server, bucket="stratlogic-fresh")
    allowed.put(io.BytesIO(b"x"), f"{allowed.prefix}x", "text/plain")
    assert s3_server.client().bucket_exists("stratlogic-fresh")


@pytest.mark.s3
def test_store_from_settings_builds_each_kind(s3_server: SeaweedServer, tmp_path: Path) -> None:
    local = store_from_settings(load_settings(home=tmp_path, artifact_store="file:var/blobs"))
    assert isinstance(local, LocalStore) and local.root == tmp_path / "var/blobs"
    remote = store_from_settings(load_settings(
        home=tmp_path, artifact_store=f"s3://{BUCKET}/from-settings", s3_endpoint=f"http://{s3_server.endpoint}",
        s3_access_key=s3_server.access_key, s3_secret_key=s3_server.secret_key))
    assert isinstance(remote, S3Store) and remote.prefix == "from-settings/" and remote.bucket == BUCKET
    remote.put(io.BytesIO(b"via settings"), "from-settings/probe", "text/plain")
    assert remote.stat("from-settings/probe").size == 12
    assert s3_server.secret_key not in repr(remote) + remote.describe()


def test_local_temporary_files_are_cleared(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "artifacts")
    with pytest.raises(StorageError):
        store.put(Exploding(10), "k", "text/plain")  # type: ignore[arg-type]
    assert everything(store) == []  # the failed write removed its own temporary file
    (store.root / ".tmp").mkdir(parents=True, exist_ok=True)
    (store.root / ".tmp" / "crashed.part").write_bytes(b"partial")
    assert store.clear_temporary(timedelta(hours=1)) == []
    assert store.clear_temporary(timedelta(0)) == ["crashed.part"]
    assert everything(store) == []


# ----- each store's edge cases (from review) ---------------------------------------------------------------


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


# Was: base.py check_key accepted lone surrogates, which S3 (and any UTF-8 path) cannot hold
def test_check_key_refuses_lone_surrogates() -> None:
    with pytest.raises(InvalidKeyError):
        check_key("jobs/caf\udce9.html")


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


# Was: s3.py parse_endpoint echoed an endpoint holding credentials before refusing it
def test_an_s3_endpoint_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_endpoint("https://AKIAEXAMPLE:VerySecretKey123@s3.example.com/bucket", True)
    assert "VerySecretKey123" not in str(caught.value) and "AKIAEXAMPLE" not in str(caught.value)
