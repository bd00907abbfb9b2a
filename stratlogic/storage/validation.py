"""What an artifact must be before it is stored: a safe filename, an allowed size and content type, and
content that is what it claims to be.

The content type is sniffed from the first bytes (magic numbers for binary formats; markup, JSON or
plain text for text: UTF-8, or a legacy 8-bit encoding such as windows-1252). A declared type must agree
with the sniffed one: a PDF declared as ``image/png``, or HTML declared as ``application/json``, is
refused. Without a declared type the filename's extension is used when it agrees with the content (and
names no compression, as ``.tar.gz`` does), else the sniffed type.
"""

from __future__ import annotations

import fnmatch
import json
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass

from stratlogic.errors import ArtifactRejectedError

#: How many leading bytes the sniffer looks at (read before anything is uploaded).
SNIFF_BYTES = 8192
OCTET_STREAM = "application/octet-stream"
_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
]
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "text/xml": "application/xml",
            "application/x-gzip": "application/gzip", "application/x-zip-compressed": "application/zip"}
#: Container formats whose own magic number may begin other declared types (a .docx is a zip).
_CONTAINERS = {"application/zip", "application/gzip"}
_HTML = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<meta|<title|<div|<p[\s>])", re.I)
_XML = re.compile(rb"^\s*<\?xml", re.I)
#: Leading comments are skipped before markup is classified: both HTML and XML may start with one.
_COMMENTS = re.compile(rb"^(\s*<!--.*?-->)+", re.S)
#: How a JSON document cut off by the end of the sniffed head must at least begin.
_JSON_START = re.compile(r'^(\{\s*["}]|\[\s*([-\d"\[\]{]|true\b|false\b|null\b))')
#: Bytes that do not occur in text (NUL and the C0 controls other than tab, newlines, form feed, escape).
_CONTROL = bytes(sorted(set(range(32)) - set(b"\t\n\r\f\x1b"))) + b"\x7f"
_ASCII = bytes(range(128))
_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_TEXT_APPS = {"application/json", "application/xml", "application/javascript", "application/x-ndjson",
              "application/xhtml+xml", "application/x-yaml", "application/yaml", "application/sql"}


def normalise(content_type: str) -> str:
    """``Text/HTML; charset=utf-8`` -> ``text/html``; aliases (``image/jpg``) -> their standard name."""
    base = content_type.split(";", 1)[0].strip().lower()
    base = _ALIASES.get(base, base)
    if not _TYPE.match(base):
        raise ArtifactRejectedError("content_type", f"{content_type!r} is not a content type (type/subtype)")
    return base


def is_textual(content_type: str) -> bool:
    """Whether a (normalised) type is text: ``text/*``, JSON, XML and their ``+json``/``+xml`` kin."""
    return (content_type.startswith("text/") or content_type in _TEXT_APPS
            or content_type.endswith(("+json", "+xml")))


def sniff(head: bytes) -> str:
    """The content type the first bytes show: a magic number, HTML, XML, JSON, plain text, else binary.

    ``head`` is the start of the content (``SNIFF_BYTES`` long, or all of it when shorter).
    """
    for magic, found in _MAGIC:
        if head.startswith(magic):
            return found
    body = head.removeprefix(b"\xef\xbb\xbf")
    if b"\x00" in body:
        return OCTET_STREAM
    utf8 = _is_utf8(body)
    if not utf8 and not _looks_like_8bit_text(body):
        return OCTET_STREAM
    markup = body[comments.end():] if (comments := _COMMENTS.match(body)) else body
    if _XML.match(markup):
        return "application/xml"
    if _HTML.match(markup):
        return "text/html"
    if utf8 and _looks_like_json(body.decode("utf-8", "ignore"), complete=len(head) < SNIFF_BYTES):
        return "application/json"  # JSON is UTF-8 (RFC 8259)
    return "text/plain"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"  # cut mid-character
    return True


def _looks_like_8bit_text(data: bytes) -> bool:
    """Text in a legacy 8-bit encoding (latin-1, windows-1252…): no control bytes, and markup or mostly ASCII."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or len(data.translate(None, _CONTROL)) != len(data):
        return False  # UTF-16 (whose ASCII has NULs anyway) or binary
    if _XML.match(data) or _HTML.match(data) or _COMMENTS.match(data):
        return True
    return len(data.translate(None, _ASCII)) * 4 <= len(data)


def _looks_like_json(text: str, *, complete: bool) -> bool:
    """An object or array that parses (the first of several, as in NDJSON), or, cut off by the end of the
    head, at least begins like one; ``[link](url)`` or ``{{ template }}`` text is not JSON."""
    text = text.strip()
    if text[:1] not in ("{", "["):
        return False
    try:
        json.JSONDecoder().raw_decode(text)
    except ValueError:
        return not complete and _JSON_START.match(text) is not None
    return True


_MAGIC_TYPES = {found for _, found in _MAGIC} - _CONTAINERS
#: Text sniffed as the key may also be declared as one of the values.
_TEXT_FAMILY = {"text/html": {"application/xhtml+xml"}, "application/xml": {"application/xhtml+xml", "text/html"},
                "application/json": {"application/x-ndjson"}}


def _agrees(declared: str, sniffed: str) -> bool:
    """Whether content sniffed as ``sniffed`` may be stored as ``declared``."""
    if declared == sniffed:
        return True
    if sniffed in _MAGIC_TYPES:
        return False  # a PNG, JPEG, GIF or PDF must be declared as itself
    if sniffed in _CONTAINERS or sniffed == OCTET_STREAM:
        # zip/gzip wrap many formats (docx, xlsx, tar.gz) and unknown binary could be anything binary,
        # but not text and not a format whose magic number would have been seen
        return not is_textual(declared) and declared not in _MAGIC_TYPES
    if not is_textual(declared):
        return False  # text declared as a binary type
    if "text/plain" in (declared, sniffed):
        return True  # any text may be stored as plain text; plain text may be CSV, JSON scalars, YAML...
    return (declared in _TEXT_FAMILY.get(sniffed, set())
            or (declared.endswith("+xml") and sniffed == "application/xml")
            or (declared.endswith("+json") and sniffed == "application/json"))


def resolve_content_type(filename: str, declared: str | None, head: bytes) -> str:
    """The content type to store: the declared one if the content agrees, else refused.

    Without a declared type: the filename's extension when the content agrees with it, else the sniffed type.
    Text that may be stored as plain text may still not be stored as JSON or XML: a document declared
    JSON must parse as JSON (or begin like it, where the sniffed head ends before the content does), and
    one declared XML must begin with markup.
    """
    sniffed = sniff(head)
    if declared is not None:
        wanted = normalise(declared)
        if not _agrees(wanted, sniffed):
            raise ArtifactRejectedError("type_mismatch", f"{filename!r} is declared {wanted} but its content "
                                                         f"looks like {sniffed}")
        if problem := _not_a_document_of(wanted, head):
            raise ArtifactRejectedError("type_mismatch", f"{filename!r} is declared {wanted} but {problem}")
        return wanted
    guessed, encoding = mimetypes.guess_type(filename, strict=False)
    if guessed and encoding is None:  # "a.tar.gz" is (x-tar, gzip): the bytes are gzip, as sniffed
        guessed = normalise(guessed)
        if _agrees(guessed, sniffed) and not _not_a_document_of(guessed, head):
            return guessed
    return sniffed


def _not_a_document_of(content_type: str, head: bytes) -> str | None:
    """Why ``head`` cannot be the start of a JSON, NDJSON or XML document of ``content_type`` (None: it
    can, or the type is another one). Only the head is read before the upload: a document longer than
    ``SNIFF_BYTES`` is checked as far as the head goes."""
    json_like = content_type in ("application/json", "application/x-ndjson") or content_type.endswith("+json")
    xml_like = content_type == "application/xml" or content_type.endswith("+xml")
    if not json_like and not xml_like:
        return None
    complete = len(head) < SNIFF_BYTES
    body = head.removeprefix(b"\xef\xbb\xbf")
    if xml_like:
        markup = body[comments.end():] if (comments := _COMMENTS.match(body)) else body
        return None if markup.lstrip()[:1] == b"<" else "its content does not begin with markup ('<')"
    try:
        text = body.decode("utf-8") if complete else body.decode("utf-8", "ignore")
    except UnicodeDecodeError:
        return "its content is not UTF-8 (JSON is UTF-8, RFC 8259)"
    if not complete:  # the document runs past the head: it can only be seen to begin well
        return None if _begins_like_json(text) else "its content does not begin like JSON"
    return _json_values_problem(text)


def _json_values_problem(text: str) -> str | None:
    """Why ``text`` is not one JSON value, or several separated by white space (NDJSON, or JSON lines
    stored as ``application/json``, as the sniffer takes them); None when it is."""
    decoder, position, values = json.JSONDecoder(), 0, 0
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position == len(text):
            return None if values else "its content is not valid JSON (nothing but white space)"
        try:
            _, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            return f"its content is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        values += 1


#: How any JSON value may begin: an object or array (as ``_JSON_START`` has it), a string, a number, a literal.
_JSON_VALUE_START = re.compile(r'^\s*("|-?\d|true\b|false\b|null\b)')


def _begins_like_json(text: str) -> bool:
    stripped = text.strip()
    return bool(_JSON_START.match(stripped) or _JSON_VALUE_START.match(stripped))


@dataclass(frozen=True)
class ArtifactPolicy:
    """The limits from system config (``artifacts.max_size_bytes``, ``artifacts.allowed_content_types``)."""

    max_size_bytes: int
    allowed_content_types: tuple[str, ...]

    def check_size(self, size: int, filename: str) -> None:
        """Refuse empty files and files over the limit."""
        if size == 0:
            raise ArtifactRejectedError("empty", f"{filename!r} is empty; empty artifacts are not stored")
        if size > self.max_size_bytes:
            raise ArtifactRejectedError("too_large", f"{filename!r} is larger than the limit of "
                                                     f"{self.max_size_bytes} bytes (artifacts.max_size_bytes)")

    def check_type(self, content_type: str, filename: str) -> None:
        """Refuse a type the allowed list does not match (entries may be patterns such as ``image/*``)."""
        if not any(fnmatch.fnmatchcase(content_type, pattern.lower()) for pattern in self.allowed_content_types):
            raise ArtifactRejectedError("content_type", f"{filename!r} has content type {content_type}, which is "
                                                        "not allowed; allowed (artifacts.allowed_content_types): "
                                                        f"{', '.join(self.allowed_content_types)}")


def check_filename(filename: str) -> str:
    """Return ``filename`` when it is a plain name: 1-255 characters, no path separators or control characters,
    valid Unicode (a name read from disk that was not UTF-8 carries lone surrogates)."""
    if not isinstance(filename, str) or not filename.strip():
        raise ArtifactRejectedError("filename", "a filename is required")
    if len(filename) > 255:
        raise ArtifactRejectedError("filename", f"filename {filename[:40]!r}… is longer than 255 characters")
    if "/" in filename or "\\" in filename or filename in (".", ".."):
        raise ArtifactRejectedError("filename", f"filename {filename!r} is a path; give the name alone")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in filename):
        raise ArtifactRejectedError("filename", f"filename {filename!r} contains a control character")
    try:
        filename.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a file name that was not UTF-8 on disk
        raise ArtifactRejectedError("filename", f"filename {filename!r} is not valid Unicode (not UTF-8 on "
                                                "disk?); rename the file or give another name") from None
    return filename


def allowed_list(values: Iterable[str]) -> tuple[str, ...]:
    """The configured allowed types, normalised (patterns kept as given, lower-cased)."""
    return tuple(value.strip().lower() for value in values if value.strip())


__all__ = ["OCTET_STREAM", "SNIFF_BYTES", "ArtifactPolicy", "allowed_list", "check_filename", "is_textual",
           "normalise", "resolve_content_type", "sniff"]
