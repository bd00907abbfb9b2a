"""A document declared JSON or XML must be one (issue 13 item 14): text could be stored as any text type,
so malformed JSON went in as ``application/json``. Only the sniffed head is read before the upload: a
document longer than that is checked as far as it goes."""

from __future__ import annotations

import pytest

from stratlogic.errors import ArtifactRejectedError
from stratlogic.storage.validation import SNIFF_BYTES, resolve_content_type

LONG = b" " * SNIFF_BYTES  # padding that takes a document past the sniffed head


@pytest.mark.parametrize(("declared", "head", "fragment"), [
    ("application/json", b'{"a": 1,', "not valid JSON (Expecting property name"),
    ("application/json", b'{"a": 1} trailing', "not valid JSON (Expecting value at line 1 column 10)"),
    ("application/json", b"hello", "not valid JSON (Expecting value at line 1 column 1)"),
    ("application/json", b"  \n", "nothing but white space"),
    ("application/json", b"hello" + LONG, "does not begin like JSON"),
    ("application/ld+json", b'{"@id": 1', "not valid JSON"),
    ("application/x-ndjson", b'{"a": 1}\n{"b":\n', "not valid JSON (Expecting value at line 3"),
    ("application/xml", b"plain words", "does not begin with markup"),
    ("application/rss+xml", b"<!-- c --> words", "does not begin with markup"),
])
def test_a_declared_document_must_be_one(declared: str, head: bytes, fragment: str) -> None:
    with pytest.raises(ArtifactRejectedError) as caught:
        resolve_content_type("doc", declared, head)
    assert caught.value.reason == "type_mismatch"
    assert fragment in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


@pytest.mark.parametrize(("declared", "head"), [
    ("application/json", b'{"a": [1, 2], "b": "\xc3\xa9"}'),
    ("application/json", b"42"),                           # any JSON value is a JSON document
    ("application/json", b'\xef\xbb\xbf {"a": 1}\n'),      # a byte order mark and white space
    ("application/json", b'{"a": 1}\n{"b": 2}\n'),         # JSON lines, as the sniffer takes them
    ("application/json", b'[{"a": "' + b"x" * 9000),      # cut off by the end of the head: begins well
    ("application/json", b'"text' + LONG),
    ("application/x-ndjson", b'{"a": 1}\n\n{"b": 2}'),
    ("application/xml", b"\xef\xbb\xbf<!-- generated --> <rss/>"),
    ("text/plain", b'{"a": 1,'),                          # any text may be stored as plain text
])
def test_well_formed_documents_are_stored_as_declared(declared: str, head: bytes) -> None:
    assert resolve_content_type("doc", declared, head) == declared


def test_without_a_declared_type_a_malformed_json_file_is_plain_text() -> None:
    assert resolve_content_type("data.json", None, b'{"a": 1,') == "text/plain"
    assert resolve_content_type("data.json", None, b'{"a": 1}') == "application/json"
    assert resolve_content_type("feed.xml", None, b"no markup here") == "text/plain"
