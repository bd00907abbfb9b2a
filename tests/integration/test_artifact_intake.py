"""What the artifact service accepts and how it records it: filenames, content types, piped sources, uploads
refused midway.

Each test guards against one bug found in review (the comment above it names the bug, now fixed). Most run on
SQLite with the local store only, where the bug does not depend on the engine or the store; the S3 ones use
the session's SeaweedFS server.
"""


from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from stratlogic.db import Database
from stratlogic.errors import (
    ArtifactRejectedError,
)
from stratlogic.repositories import ConfigRepository
from stratlogic.storage import (
    LocalStore,
    store_artifact,
)
from stratlogic.storage.testing import SeaweedServer
from tests.integration.storage_helpers import MIB, SQLITE, Pattern, everything, new_job, s3_store

HTML = b"<!doctype html><html><body><p>hello</p></body></html>"


def configure(db: Database, **values: object) -> None:
    with db.unit_of_work() as uow:
        for key, value in values.items():
            ConfigRepository(uow).set(key, value)


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
