"""The production store: one bucket on MinIO or any S3 server, through the ``minio`` client.

Uploads stream in parts of ``part_size`` (one request for a small object, a multipart upload for a
large one, aborted if the stream raises), downloads stream from the response, and errors are translated
once, here, into ``stratlogic.errors`` types naming the endpoint, bucket and key. Credentials are never
put in a message: messages are built from codes and names only, and pass through the log redactor.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util import Retry, Timeout

from stratlogic.errors import (
    ConfigError,
    ObjectNotFoundError,
    StorageAuthError,
    StorageError,
    StorageUnavailableError,
)
from stratlogic.logs import redact, register_secret
from stratlogic.storage.base import Readable, StoredObject, check_expiry, check_key, check_prefix, check_user_metadata

MIB = 1024 * 1024
_AUTH_CODES = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken",
               "ExpiredToken", "AuthorizationHeaderMalformed", "InvalidSecurity"}
_MISSING_KEY_CODES = {"NoSuchKey", "NoSuchObject", "NoSuchVersion"}
_META = "x-amz-meta-"


def parse_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """``host:port`` as the minio client wants it, and whether to use TLS (a URL scheme decides)."""
    if "@" in endpoint:  # checked first: the value is then never echoed, credentials and all
        raise ConfigError("STRATLOGIC_S3_ENDPOINT", "must not carry credentials: use STRATLOGIC_S3_ACCESS_KEY / "
                                                    "STRATLOGIC_S3_SECRET_KEY")
    if "://" not in endpoint:
        host, is_secure = endpoint, secure
    else:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ConfigError("STRATLOGIC_S3_ENDPOINT", f"expected host:port or http(s)://host:port, got {endpoint!r}")
        host, is_secure = parts.netloc, parts.scheme == "https"
    return host.rstrip("/"), is_secure


def http_client(connect_timeout: float, read_timeout: float = 120.0) -> urllib3.PoolManager:
    """A connection pool that gives up on a refused or silent server in seconds, not minutes."""
    return urllib3.PoolManager(
        timeout=Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=Retry(total=3, connect=2, read=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


class S3Store:
    """Objects in one bucket. The bucket is created on first write when ``create_bucket`` allows."""

    def __init__(self, client: Minio, bucket: str, *, endpoint: str, prefix: str = "", create_bucket: bool = True,
                 part_size: int = 8 * MIB, parallel_uploads: int = 3, secrets: tuple[str, ...] = ()) -> None:
        if part_size < 5 * MIB:
            raise StorageError(f"S3 part size {part_size} is below the 5 MiB S3 minimum")
        self.client, self.bucket, self.endpoint = client, bucket, endpoint
        self.prefix = check_prefix(prefix)
        #: An upload holds about (2 x parallel_uploads + 1) parts in memory, whatever the file's size.
        self.create_bucket, self.part_size, self.parallel_uploads = create_bucket, part_size, parallel_uploads
        self._secrets = tuple(s for s in secrets if s)
        self._bucket_ready = False

    @classmethod
    def connect(cls, endpoint: str, bucket: str, *, access_key: str | None, secret_key: str | None,
                secure: bool = True, prefix: str = "", create_bucket: bool = True, part_size: int = 8 * MIB,
                parallel_uploads: int = 3, connect_timeout: float = 5.0) -> S3Store:
        """Build the client for ``endpoint`` (``host:port`` or a URL; a scheme overrides ``secure``)."""
        host, is_secure = parse_endpoint(endpoint, secure)
        for secret in (access_key, secret_key):
            register_secret(secret)
        client = Minio(host, access_key=access_key, secret_key=secret_key, secure=is_secure,
                       http_client=http_client(connect_timeout))
        shown = f"{'https' if is_secure else 'http'}://{host}"
        return cls(client, bucket, endpoint=shown, prefix=prefix, create_bucket=create_bucket, part_size=part_size,
                   parallel_uploads=parallel_uploads, secrets=(access_key or "", secret_key or ""))

    def __repr__(self) -> str:
        return f"S3Store({self.describe()!r})"

    def describe(self) -> str:
        """``s3://bucket/prefix at endpoint`` (never the keys)."""
        return f"s3://{self.bucket}/{self.prefix} at {self.endpoint}"

    # ----- errors ------------------------------------------------------------------------------------
    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return redact(text)

    @contextmanager
    def _translated(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn minio and urllib3 errors into StorageError types naming endpoint, bucket and key."""
        where = f"bucket {self.bucket!r}" + (f", key {key!r}" if key is not None else "") + f" at {self.endpoint}"
        try:
            yield
        except S3Error as exc:
            code = exc.code or "error"
            if code in _AUTH_CODES:
                raise StorageAuthError(self._clean(
                    f"S3 refused the request to {action} ({code}) for {where}: check STRATLOGIC_S3_ACCESS_KEY "
                    "and STRATLOGIC_S3_SECRET_KEY, and that this user may use the bucket")) from None
            if code in _MISSING_KEY_CODES:
                raise ObjectNotFoundError(self._clean(f"object {key!r} not found in {self.describe()}")) from None
            if code == "NoSuchBucket":
                raise StorageError(self._clean(f"bucket {self.bucket!r} does not exist at {self.endpoint}")) from None
            raise StorageError(self._clean(f"S3 could not {action} ({code}: {exc.message}) for {where}")) from None
        except ServerError as exc:
            raise StorageUnavailableError(self._clean(
                f"S3 server error {exc.status_code} while trying to {action} for {where}")) from None
        except InvalidResponseError as exc:
            raise StorageError(self._clean(f"S3 gave an unreadable answer while trying to {action} for {where}: "
                                           f"{str(exc)[:200]}")) from None
        except (Urllib3Error, ConnectionError, TimeoutError) as exc:
            raise StorageUnavailableError(self._clean(
                f"S3 endpoint unreachable while trying to {action} for {where}: {type(exc).__name__}: "
                f"{_reason(exc)}")) from None
        except MinioException as exc:
            raise StorageError(self._clean(f"S3 client error while trying to {action} for {where}: {exc}")) from None
        except OSError as exc:  # the stream being uploaded failed, or ended before its announced length
            raise StorageError(self._clean(f"could not {action} for {where}: {exc}")) from exc

    def ensure_bucket(self) -> None:
        """Create the bucket when missing and allowed (before reading a key that a first write would make)."""
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._translated("check the bucket"):
            if not self.client.bucket_exists(self.bucket):
                if not self.create_bucket:
                    raise StorageError(f"bucket {self.bucket!r} does not exist at {self.endpoint} and creating it "
                                       "is not allowed (STRATLOGIC_S3_CREATE_BUCKET=false)")
                try:
                    self.client.make_bucket(self.bucket)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
        self._bucket_ready = True

    # ----- writes ------------------------------------------------------------------------------------
    def put(self, stream: Readable, key: str, content_type: str, metadata: Mapping[str, str] | None = None,
            *, length: int = -1) -> StoredObject:
        """Upload ``stream`` (multipart above ``part_size``; aborted when ``stream.read`` raises, or when the
        stream holds more than ``length`` bytes)."""
        check_key(key)
        user = check_user_metadata(metadata)
        self._ensure_bucket()
        counted = _Counting(stream, length, key)
        # minio never stops its upload threads when an upload is abandoned midway (three threads left per
        # abandoned upload). A stream of unknown length is the one abandoned on purpose (over the size limit),
        # so it is sent one part at a time.
        parallel = self.parallel_uploads if length >= 0 else 1
        with self._translated("upload", key):
            result = self.client.put_object(self.bucket, key, counted, length,  # type: ignore[arg-type]
                                            content_type=content_type, metadata=dict(user), part_size=self.part_size,
                                            num_parallel_uploads=parallel)
        return StoredObject(key, counted.size, content_type, user, etag=(result.etag or "").strip('"') or None)

    def delete(self, key: str) -> None:
        """Remove the object (S3 treats removing a missing object as success)."""
        check_key(key)
        with self._translated("delete", key):
            self.client.remove_object(self.bucket, key)

    # ----- reads -------------------------------------------------------------------------------------
    def open(self, key: str) -> BinaryIO:
        """The response body as a stream; closing it returns the connection to the pool."""
        check_key(key)
        with self._translated("download", key):
            response = self.client.get_object(self.bucket, key)
        return _Body(response, self, key)  # type: ignore[return-value]

    def stat(self, key: str) -> StoredObject:
        """HEAD the object: size, content type, user metadata (``x-amz-meta-`` stripped), time, ETag."""
        check_key(key)
        with self._translated("stat", key):
            found = self.client.stat_object(self.bucket, key)
        user = {name.lower().removeprefix(_META): value for name, value in (found.metadata or {}).items()
                if name.lower().startswith(_META)}
        return StoredObject(key, int(found.size or 0), found.content_type, user, found.last_modified,
                            (found.etag or "").strip('"') or None)

    def exists(self, key: str) -> bool:
        """Whether the object exists (a HEAD request)."""
        try:
            self.stat(key)
        except ObjectNotFoundError:
            return False
        return True

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, a listing page at a time (S3 lists in byte order; SeaweedFS folder by folder)."""
        for found in self.iter_objects(prefix):
            yield found.key

    def iter_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Objects under ``prefix`` with size and time, a listing page at a time."""
        check_prefix(prefix)
        with self._translated("list objects"):
            for item in self.client.list_objects(self.bucket, prefix=prefix or None, recursive=True):
                if item.object_name and not item.is_dir:
                    yield StoredObject(item.object_name, int(item.size or 0), last_modified=item.last_modified,
                                       etag=(item.etag or "").strip('"') or None)

    def presigned_url(self, key: str, expires: timedelta = timedelta(hours=1)) -> str:
        """A presigned GET URL valid for ``expires`` (1 s to 7 days); the object must exist."""
        check_expiry(expires)
        self.stat(key)
        with self._translated("sign a URL", key):
            return str(self.client.presigned_get_object(self.bucket, key, expires=expires))


class _Body:
    """A GET response as a read-only stream whose errors are translated like the store's."""

    def __init__(self, response: Any, store: S3Store, key: str) -> None:
        self._response, self._store, self._key = response, store, key
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        with self._store._translated("download", self._key):
            data: bytes = self._response.read(None if size is None or size < 0 else size)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._response.close()
            self._response.release_conn()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Counting:
    """Counts what the client read from the stream, so ``put`` knows the size of a stream of unknown length.

    With a known ``length`` the client stops reading there; one more byte is read to refuse a longer stream
    (raising from ``read`` aborts the upload), as the local store does, instead of storing a truncated object.
    """

    def __init__(self, stream: Readable, length: int = -1, key: str = "") -> None:
        self._stream, self._length, self._key, self.size = stream, length, key, 0
        self._checked = False

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.size += len(data)
        if 0 <= self._length <= self.size and not self._checked:
            self._checked = True
            if self.size > self._length or self._stream.read(1):
                raise StorageError(f"stream for {self._key!r} is longer than the {self._length} bytes announced; "
                                   "the upload was abandoned")
        return data


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason)[:200]


__all__ = ["S3Store", "http_client", "parse_endpoint"]
