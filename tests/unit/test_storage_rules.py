"""Key, filename and content-type rules of the artifact store (no server, no database)."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import pytest

from stratlogic.config import load_settings
from stratlogic.errors import ArtifactRejectedError, ConfigError, InvalidKeyError, ValidationError
from stratlogic.storage._streams import HashingReader, VerifyingReader
from stratlogic.storage.base import check_expiry, check_key, check_user_metadata
from stratlogic.storage.s3 import parse_endpoint
from stratlogic.storage.validation import ArtifactPolicy, check_filename, resolve_content_type, sniff

PNG = b"\x89PNG\r\n\x1a\n\x00\x00"


@pytest.mark.parametrize(("key", "problem"), [
    ("../x", "starts with a dot"), ("a/../b", "starts with a dot"), ("/abs", "absolute"), ("C:/x", "absolute"),
    ("a\\b", "backslash"), ("a\x00b", "NUL"), ("a\nb", "control character"), ("a//b", "empty segment"),
    ("a/", "empty segment"), ("", "non-empty"), ("x" * 1025, "longer than 1024 bytes"),
])
def test_bad_keys_are_refused_naming_the_problem(key: str, problem: str) -> None:
    with pytest.raises(InvalidKeyError, match=problem):
        check_key(key)


@pytest.mark.parametrize("key", ["a", "jobs/1/0af3/page.html", "ünïcode/ключ.txt", "a b/c+d=e"])
def test_good_keys_pass(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(("head", "expected"), [
    (PNG, "image/png"), (b"\xff\xd8\xff\xe0", "image/jpeg"), (b"%PDF-1.7", "application/pdf"),
    (b"GIF89a", "image/gif"), (b"PK\x03\x04", "application/zip"), (b"\x00\x01\x02", "application/octet-stream"),
    (b"  <!DOCTYPE html><html>", "text/html"), (b"\xef\xbb\xbf<?xml version='1.0'?>", "application/xml"),
    (b' {"a": 1}', "application/json"), (b"a,b\n1,2\n", "text/plain"), ("é".encode()[:1], "text/plain"),
    (b"\xff\xfe\xfd", "application/octet-stream"),
    ("<p>caf\xe9</p>".encode("latin-1"), "text/html"), ("caf\xe9 cr\xe8me".encode("cp1252"), "text/plain"),
    (b"<!-- a -->\n<rss/>", "text/plain"), (b"<!-- a --><!doctype html>", "text/html"),
    (b"[link](https://x)", "text/plain"), (b'{"a": 1}\n{"b": 2}\n', "application/json"),
    (b'[{"a": "' + b"x" * 9000, "application/json"),  # cut off by the end of the sniffed head
])
def test_sniffing(head: bytes, expected: str) -> None:
    assert sniff(head) == expected


@pytest.mark.parametrize(("filename", "declared", "head", "expected"), [
    ("a.png", None, PNG, "image/png"),
    ("a.csv", None, b"a,b\n", "text/csv"),
    ("a.csv", "text/csv; charset=utf-8", b"a,b\n", "text/csv"),
    ("a.JPG", "image/jpg", b"\xff\xd8\xff", "image/jpeg"),
    ("a.html", "text/plain", b"<html>", "text/plain"),
    ("report", None, b"%PDF-1.4", "application/pdf"),
    ("a.png", None, b"<html>", "text/html"),  # the extension lies: the content decides
    ("a.docx", None, b"PK\x03\x04", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("data.json", None, b"42", "application/json"),
])
def test_content_type_resolution(filename: str, declared: str | None, head: bytes, expected: str) -> None:
    assert resolve_content_type(filename, declared, head) == expected


@pytest.mark.parametrize(("declared", "head"), [
    ("image/png", b"%PDF-1.4"), ("text/html", PNG), ("application/json", b"<html>"), ("image/png", b"plain"),
    ("text/csv", b"\x00\x01binary"), ("application/pdf", b"PK\x03\x04"),
])
def test_declared_type_must_match_the_content(declared: str, head: bytes) -> None:
    with pytest.raises(ArtifactRejectedError, match=f"declared {declared} but its content looks like") as caught:
        resolve_content_type("file", declared, head)
    assert caught.value.reason == "type_mismatch"


def test_not_a_content_type_is_refused() -> None:
    with pytest.raises(ArtifactRejectedError, match="not a content type"):
        resolve_content_type("f", "html", b"<html>")


def test_policy_checks_size_and_patterns() -> None:
    policy = ArtifactPolicy(10, ("text/*", "image/png"))
    policy.check_type("text/csv", "a.csv")
    policy.check_type("image/png", "a.png")
    with pytest.raises(ArtifactRejectedError, match=r"image/gif, which is not allowed; allowed .*text/\*, image/png"):
        policy.check_type("image/gif", "a.gif")
    with pytest.raises(ArtifactRejectedError, match="empty"):
        policy.check_size(0, "a")
    with pytest.raises(ArtifactRejectedError, match="larger than the limit of 10 bytes"):
        policy.check_size(11, "a")
    policy.check_size(10, "a")


@pytest.mark.parametrize("name", ["", "  ", "a/b", "a\\b", "..", ".", "nul\x00", "x" * 256, "tab\t"])
def test_bad_filenames_are_refused(name: str) -> None:
    with pytest.raises(ArtifactRejectedError) as caught:
        check_filename(name)
    assert caught.value.reason == "filename"


def test_expiry_and_object_metadata_bounds() -> None:
    assert check_expiry(timedelta(days=7)) == timedelta(days=7)
    for bad in (timedelta(seconds=0), timedelta(days=7, seconds=1), timedelta(seconds=-5)):
        with pytest.raises(ValidationError):
            check_expiry(bad)
    assert check_user_metadata({"job-id": "1"}) == {"job-id": "1"}
    for bad in ({"Job": "1"}, {"k": "ünï"}, {"k": "a\nb"}, {"k": "x" * 2100}):
        with pytest.raises(ValidationError):
            check_user_metadata(bad)


@pytest.mark.parametrize(("endpoint", "secure", "expected"), [
    ("minio:9000", True, ("minio:9000", True)), ("http://127.0.0.1:9000", True, ("127.0.0.1:9000", False)),
    ("https://s3.example.com/", False, ("s3.example.com", True)),
])
def test_endpoint_forms(endpoint: str, secure: bool, expected: tuple[str, bool]) -> None:
    assert parse_endpoint(endpoint, secure) == expected


@pytest.mark.parametrize("endpoint", ["ftp://x", "http://user:pw@host:9000", "http://host/path"])
def test_bad_endpoints_are_refused_without_echoing_credentials(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="STRATLOGIC_S3_ENDPOINT") as caught:
        parse_endpoint(endpoint, True)
    assert "pw@" not in str(caught.value)


def test_hashing_reader_counts_hashes_and_stops_at_the_limit() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB: large enough for the hashing thread
    reader = HashingReader(data[:10], io.BytesIO(data[10:]), len(data), lambda: ValueError("limit"))
    assert b"".join(iter(lambda: reader.read(300_001), b"")) == data
    assert (reader.size, reader.hexdigest()) == (len(data), hashlib.sha256(data).hexdigest())
    over = HashingReader(b"", io.BytesIO(data), len(data) - 1, lambda: ValueError("limit"))
    with pytest.raises(ValueError, match="limit"):
        while over.read(65536):
            pass
    over.close()


def test_verifying_reader_raises_at_the_end_only_on_mismatch() -> None:
    data = b"x" * 1000
    good = VerifyingReader(io.BytesIO(data), 1000, hashlib.sha256(data).hexdigest(), lambda e, a: ValueError(a))
    assert good.read() == data and good.verified
    short = VerifyingReader(io.BytesIO(data[:-1]), 1000, hashlib.sha256(data).hexdigest(), lambda e, a: ValueError(a))
    with pytest.raises(ValueError, match="999 bytes"):
        short.read()
    longer = VerifyingReader(io.BytesIO(data + b"!"), 1000, hashlib.sha256(data).hexdigest(),
                             lambda e, a: ValueError(a))
    with pytest.raises(ValueError, match="more than 1000 bytes"):
        longer.read()


def test_s3_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STRATLOGIC_S3_SECRET_KEY: set both S3 keys or neither"):
        load_settings(home=tmp_path, s3_access_key="AKIDEXAMPLE")
    with pytest.raises(ConfigError, match="STRATLOGIC_S3_PART_SIZE_MB"):
        load_settings(home=tmp_path, s3_part_size_mb=4)
    settings = load_settings(home=tmp_path)
    assert (settings.s3_create_bucket, settings.s3_part_size_mb) == (True, 8)
