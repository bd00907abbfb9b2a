"""The artifact store contract, shared by the local folder and S3, and the rules every key obeys.

Keys are checked the same way by every store, so a key that works on a laptop (``file:``) works in
production (``s3://``) and a key that could escape a folder is refused everywhere, not only where it
would be dangerous.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol, runtime_checkable

from stratlogic.errors import InvalidKeyError, ValidationError

#: S3 caps keys at 1024 bytes of UTF-8.
MAX_KEY_BYTES = 1024
#: S3 refuses presigned URLs that live longer than seven days.
MAX_URL_EXPIRY = timedelta(days=7)
MIN_URL_EXPIRY = timedelta(seconds=1)
#: User metadata travels in HTTP headers: ASCII only, and S3 allows 2 KB in all.
MAX_METADATA_BYTES = 2048
_METADATA_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Size of the chunks streamed between stores, files and hashes: large enough to amortise each call.
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """What a store knows about one object. ``content_type`` is None when a listing did not say."""

    key: str
    size: int
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    last_modified: datetime | None = None
    etag: str | None = None


class Readable(Protocol):
    """Anything with ``read(size) -> bytes``: a file, a response body, a hashing or verifying reader."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; fewer only at the end; ``b""`` after it."""
        ...


@runtime_checkable
class ArtifactStore(Protocol):
    """Where artifact bytes live. Rows in ``artifacts`` record ``bucket`` and the key of each object."""

    #: Recorded in each artifact row: the S3 bucket, or ``local`` for a folder.
    bucket: str
    #: Keys the artifact service writes start with this (``""`` or ``"some/prefix/"``).
    prefix: str

    def describe(self) -> str:
        """Where this store is, for messages (never with credentials)."""
        ...

    def put(self, stream: Readable, key: str, content_type: str, metadata: Mapping[str, str] | None = None,
            *, length: int = -1) -> StoredObject:
        """Write ``stream`` to ``key`` as a whole: readers see the old object or the new one, never a part.

        ``length`` is the exact size when known (-1: read to the end). An exception raised by
        ``stream.read`` aborts the write and leaves nothing behind.
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """A stream of the object's bytes (close it when done); ObjectNotFoundError when missing."""
        ...

    def stat(self, key: str) -> StoredObject:
        """Size, content type, metadata and time of one object; ObjectNotFoundError when missing."""
        ...

    def exists(self, key: str) -> bool:
        """Whether the object exists."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under ``prefix``, read lazily (in the server's listing order; byte order locally)."""
        ...

    def iter_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object under ``prefix`` with size and time (no content type or metadata), read lazily."""
        ...

    def presigned_url(self, key: str, expires: timedelta = timedelta(hours=1)) -> str:
        """A URL that reads the object without credentials until ``expires`` has passed."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` when every store can hold it safely; raise InvalidKeyError saying why not.

    Refused: empty keys, keys that are not valid UTF-8 (lone surrogates) or longer than 1024 bytes of it,
    absolute paths (``/x``, ``C:x``), backslashes, NUL and other control characters,
    empty segments (``a//b``), and segments starting with a dot (``..``, ``.``, hidden names, which the
    local store also uses for its temporary files).
    """
    if not isinstance(key, str) or not key:
        raise InvalidKeyError(str(key), "a key must be a non-empty string")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKeyError(key, "is not valid Unicode (a lone surrogate cannot be UTF-8 encoded)") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidKeyError(key[:60] + "…", f"longer than {MAX_KEY_BYTES} bytes")
    if "\x00" in key:
        raise InvalidKeyError(key, "contains NUL")
    if "\\" in key:
        raise InvalidKeyError(key, "contains a backslash (use '/' between segments)")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise InvalidKeyError(key, "contains a control character")
    if key.startswith("/") or _DRIVE.match(key):
        raise InvalidKeyError(key, "is absolute (keys are relative to the store)")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKeyError(key, "has an empty segment ('//' or a trailing '/')")
        if segment.startswith("."):
            raise InvalidKeyError(key, f"segment {segment!r} starts with a dot ('..' could escape the store)")
    return key


def check_prefix(prefix: str) -> str:
    """Return a listing prefix (``""``, ``jobs/``, ``jobs/1``) after the same checks as keys."""
    if prefix:
        check_key(prefix.rstrip("/") or "/")
    return prefix


def check_expiry(expires: timedelta) -> timedelta:
    """Return ``expires`` when it is between one second and seven days; raise ValidationError otherwise."""
    if not MIN_URL_EXPIRY <= expires <= MAX_URL_EXPIRY:
        raise ValidationError(f"URL expiry {expires} is out of range: between 1 second and 7 days")
    return expires


def check_user_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Object user metadata as headers allow it: ``a-z0-9-`` keys, printable ASCII values, 2 KB in all."""
    checked: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not _METADATA_KEY.match(key):
            raise ValidationError(f"object metadata key {key!r} is not valid: use 1-64 of a-z, 0-9, '-'")
        if not isinstance(value, str) or not value.isascii() or not value.isprintable():
            raise ValidationError(f"object metadata {key!r}: value must be printable ASCII text, got {value!r}")
        checked[key] = value
    if sum(len(k) + len(v) for k, v in checked.items()) > MAX_METADATA_BYTES:
        raise ValidationError(f"object metadata is larger than {MAX_METADATA_BYTES} bytes")
    return checked


__all__ = ["CHUNK", "MAX_URL_EXPIRY", "ArtifactStore", "Readable", "StoredObject", "check_expiry", "check_key",
           "check_prefix", "check_user_metadata"]
