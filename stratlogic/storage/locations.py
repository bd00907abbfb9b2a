"""Where files go that are not artifacts (exports, backups): a local path or ``s3://bucket/prefix`` on the
configured S3 endpoint (through ``pyarrow.fs``), and how files are put in place there.

Every file is written under a temporary name that Hive-style readers skip (a leading ``.``, a suffix other
than ``.parquet``), then moved to its final name: a rename on a local disk; on S3, which has no rename, a
server-side copy (the new object replaces the old one whole) followed by deleting the temporary object.
A failed export deletes its temporary files, so no partial file ever carries a final name.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from stratlogic.config import Settings
from stratlogic.errors import StorageError, ValidationError


@dataclass(frozen=True)
class Target:
    """An output location: the filesystem, the path inside it, and how to show it to people."""

    fs: pafs.FileSystem
    path: str
    shown: str

    @property
    def is_s3(self) -> bool:
        """Whether the location is on S3."""
        return isinstance(self.fs, pafs.S3FileSystem)

    def child(self, *parts: str) -> Target:
        """A path below this one."""
        return Target(self.fs, posixpath.join(self.path, *parts), posixpath.join(self.shown, *parts))

    def sibling(self, name: str) -> Target:
        """A path beside this one."""
        return Target(self.fs, posixpath.join(posixpath.dirname(self.path), name),
                      posixpath.join(posixpath.dirname(self.shown), name))

    @property
    def name(self) -> str:
        """The last part of the path."""
        return posixpath.basename(self.path)

    def temporary(self) -> Target:
        """A hidden name beside this path for the file while it is written."""
        return self.sibling(f".{self.name}.tmp-{secrets.token_hex(4)}")


def resolve(out: str | Path, settings: Settings, *, label: str = "out") -> Target:
    """Parse a location: ``s3://bucket/key`` on the configured S3 endpoint, anything else a local path.

    ``label`` names the location in errors (``out``, ``backup location``).
    """
    text = str(out)
    if not text.strip():
        raise ValidationError(f"{label}: give a local path or s3://bucket/prefix")
    if not text.startswith("s3://"):
        path = Path(text).expanduser()
        path = path if path.is_absolute() else Path.cwd() / path
        return Target(pafs.LocalFileSystem(), path.as_posix(), str(path))
    bucket_key = text.removeprefix("s3://").strip("/")
    if "/" not in bucket_key:
        raise ValidationError(f"{label} {text!r}: give s3://bucket/prefix, not a bare bucket")
    return Target(_s3(settings, text, label), bucket_key, f"s3://{bucket_key}")


def _s3(settings: Settings, shown: str, label: str) -> pafs.S3FileSystem:
    from stratlogic.storage.s3 import parse_endpoint  # the minio client's module: only S3 users import it

    if not settings.s3_endpoint:
        raise ValidationError(f"{label} {shown!r}: no S3 endpoint configured (set STRATLOGIC_S3_ENDPOINT)")
    host, secure = parse_endpoint(settings.s3_endpoint, settings.s3_secure)
    keys: dict[str, Any] = {}
    if settings.s3_access_key and settings.s3_secret_key:
        keys = {"access_key": settings.s3_access_key.get_secret_value(),
                "secret_key": settings.s3_secret_key.get_secret_value()}
    else:
        keys = {"anonymous": True}
    return pafs.S3FileSystem(endpoint_override=host, scheme="https" if secure else "http",
                             connect_timeout=settings.connect_timeout, request_timeout=120, **keys)


@contextlib.contextmanager
def storage_errors(target: Target, action: str) -> Iterator[None]:
    """An OS or S3 failure as one StorageError line naming the location (never credentials)."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot {action} {target.shown}: {reason}") from exc


def prepare_parent(target: Target) -> None:
    """Create the folder a file goes into (S3 needs none); a file in the way is an error naming it."""
    if target.is_s3:
        return
    with storage_errors(target, "write"):
        target.fs.create_dir(posixpath.dirname(target.path), recursive=True)


def exists(target: Target) -> bool:
    """Whether something is at the path."""
    with storage_errors(target, "read"):
        return bool(target.fs.get_file_info(target.path).type != pafs.FileType.NotFound)


def is_dir(target: Target) -> bool:
    """Whether the path is a folder (on S3: a prefix with objects below it)."""
    with storage_errors(target, "read"):
        return bool(target.fs.get_file_info(target.path).type == pafs.FileType.Directory)


def listing(target: Target) -> list[pafs.FileInfo]:
    """Files directly below a folder; an absent folder has none."""
    with storage_errors(target, "list"):
        if target.fs.get_file_info(target.path).type == pafs.FileType.NotFound:
            return []
        return list(target.fs.get_file_info(pafs.FileSelector(target.path, recursive=False, allow_not_found=True)))


def move(source: Target, final: Target) -> None:
    """Put a finished file in place (replacing what was there: whole, never partly)."""
    with storage_errors(final, "write"):
        if final.is_s3:
            source.fs.copy_file(source.path, final.path)
            source.fs.delete_file(source.path)
        else:
            source.fs.move(source.path, final.path)


def discard(target: Target) -> None:
    """Delete a temporary file if it is there; a failure to delete never hides the error that led here."""
    with contextlib.suppress(OSError, pa.ArrowException):
        if target.fs.get_file_info(target.path).type == pafs.FileType.File:
            target.fs.delete_file(target.path)


def delete(target: Target) -> None:
    """Delete a file that an export replaces."""
    with storage_errors(target, "delete"):
        target.fs.delete_file(target.path)


def write_json(final: Target, document: dict[str, Any]) -> None:
    """Write a small JSON document under a temporary name, then move it to ``final``."""
    temporary = final.temporary()
    data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
    try:
        with storage_errors(final, "write"), temporary.fs.open_output_stream(temporary.path) as stream:
            stream.write(data)
        move(temporary, final)
    except BaseException:
        discard(temporary)
        raise


def upload(local: Path, final: Target) -> None:
    """Copy a finished local file to ``final`` (S3) under a temporary name, then move it in place."""
    temporary = final.temporary()
    try:
        with storage_errors(final, "write"), local.open("rb") as source, \
                temporary.fs.open_output_stream(temporary.path) as stream:
            while chunk := source.read(8 * 2**20):
                stream.write(chunk)
        move(temporary, final)
    except BaseException:
        discard(temporary)
        raise


__all__ = ["Target", "delete", "discard", "exists", "is_dir", "listing", "move", "prepare_parent", "resolve",
           "storage_errors", "upload", "write_json"]
