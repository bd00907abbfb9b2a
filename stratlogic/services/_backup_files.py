"""A backup's files: ``manifest.json`` and one Parquet file per table (``tables/NAME.parquet``), optionally the
artifact objects (``objects/KEY``), in a local folder or under ``s3://bucket/prefix`` (``pyarrow.fs``, as the
export writes).

The manifest is written last and names every file with its size and sha256: a folder without it is not a
backup. Locally everything is written in a hidden folder beside the final one, which is renamed into place
when complete; on S3, which has no rename, the files go to their final keys and the manifest last.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from stratlogic.config import Settings
from stratlogic.errors import StorageError, ValidationError
from stratlogic.repositories.tables import ColumnSpec, Kind, TableSpec
from stratlogic.storage.locations import Target, discard, resolve, storage_errors

FORMAT = "stratlogic-backup/1"
MANIFEST = "manifest.json"
_CHUNK = 8 * 2**20
_KINDS: frozenset[str] = frozenset({"int32", "int64", "bool", "text", "time", "json"})


@dataclass
class TableEntry:
    """One table's file: where it is, its size and sha256, its rows and their content hash, its columns."""

    name: str
    file: str
    rows: int
    bytes: int
    sha256: str
    content_hash: str
    key: list[str]
    columns: list[dict[str, Any]]

    @property
    def spec(self) -> TableSpec:
        """The table as the backup holds it."""
        return TableSpec(self.name, tuple(self.key), tuple(
            ColumnSpec(str(c["name"]), _kind(self.name, c.get("kind")), c.get("length")) for c in self.columns))


def _kind(table: str, value: object) -> Kind:
    if value not in _KINDS:
        raise ValidationError(f"manifest.json: table {table}: unknown column kind {value!r}")
    return value  # type: ignore[return-value]


@dataclass
class Manifest:
    """What a backup holds; written last, so its presence means the backup is complete."""

    created_at: str
    package_version: str
    dialect: str
    revision: str | None
    installation_id: str | None
    audit_tail: dict[str, Any] | None
    tables: list[TableEntry]
    objects: dict[str, Any] | None = None
    format: str = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """The manifest as written (indented JSON, UTF-8)."""
        return (json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n").encode()

    def table(self, name: str) -> TableEntry:
        """The entry of one table."""
        for entry in self.tables:
            if entry.name == name:
                return entry
        raise ValidationError(f"the backup holds no table {name!r}")

    @classmethod
    def parse(cls, data: bytes, shown: str) -> Manifest:
        """Read a manifest; anything that is not one is refused naming the file."""
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r} is not {FORMAT!r}")
            tables = [TableEntry(**t) for t in raw["tables"]]
            objects = raw.get("objects")
            if objects is not None and not isinstance(objects, dict):
                raise ValueError("objects is not an object")
            return cls(raw["created_at"], raw["package_version"], raw["dialect"], raw["revision"],
                       raw["installation_id"], raw["audit_tail"], tables, objects, raw["format"], raw.get("extra", {}))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValidationError(f"{shown} is not a stratlogic backup manifest: {exc}") from None


def location(text: str, settings: Settings) -> Target:
    """A backup's place: a local folder, or ``s3://bucket/prefix`` on the configured S3 endpoint."""
    return resolve(text, settings, label="backup location")


def is_empty(target: Target) -> bool:
    """Whether nothing is at the location (a missing folder, an empty folder, an unused prefix)."""
    with storage_errors(target, "read"):
        info = target.fs.get_file_info(target.path)
        if info.type == pafs.FileType.NotFound:
            return True
        if info.type == pafs.FileType.File:
            return False
        return not target.fs.get_file_info(pafs.FileSelector(target.path, recursive=False, allow_not_found=True))


def staging(final: Target) -> Target:
    """Where a backup is written before it is complete: a hidden folder beside a local one; S3 writes in place."""
    return final if final.is_s3 else final.temporary()


def publish(staged: Target, final: Target) -> None:
    """Put a complete local backup folder in place (one rename)."""
    if staged.path == final.path:
        return
    with storage_errors(final, "write"):
        if not is_empty(final):
            raise StorageError(f"{final.shown} appeared while the backup was written; the backup is left in "
                               f"{staged.shown}")
        if final.fs.get_file_info(final.path).type != pafs.FileType.NotFound:
            final.fs.delete_dir(final.path)  # the empty folder given as --out
        final.fs.move(staged.path, final.path)


def remove(staged: Target, final: Target) -> None:
    """After a failure: nothing that looks like a backup stays (the staging folder, or on S3 the files written)."""
    try:
        if staged.path != final.path:
            staged.fs.delete_dir(staged.path)
        else:
            discard(final.child(MANIFEST))
            for name in ("tables", "objects"):
                if staged.fs.get_file_info(staged.child(name).path).type == pafs.FileType.Directory:
                    staged.fs.delete_dir(staged.child(name).path)
    except (OSError, pa.ArrowException):
        pass  # the error that led here is the one to report


def prepare(staged: Target) -> None:
    """Create the staging folder (S3 needs none)."""
    if not staged.is_s3:
        with storage_errors(staged, "write"):
            staged.fs.create_dir(staged.path, recursive=True)


class TableWriter:
    """One table's Parquet file, written a batch (a row group) at a time."""

    def __init__(self, target: Target, spec: TableSpec) -> None:
        self.target = target
        if not target.is_s3:
            with storage_errors(target, "write"):
                target.fs.create_dir(posixpath.dirname(target.path), recursive=True)
        with storage_errors(target, "write"):
            self._stream = target.fs.open_output_stream(target.path)
            self._writer = pq.ParquetWriter(self._stream, spec.schema, compression="zstd", compression_level=1,
                                            write_statistics=False, use_dictionary=False)

    def write(self, batch: pa.RecordBatch) -> None:
        """Append a batch as a row group."""
        with storage_errors(self.target, "write"):
            self._writer.write_batch(batch)

    def close(self) -> None:
        """Finish the file."""
        with storage_errors(self.target, "write"):
            self._writer.close()
            self._stream.close()


def exists_file(target: Target) -> bool:
    """Whether a file is at the path."""
    with storage_errors(target, "read"):
        return bool(target.fs.get_file_info(target.path).type == pafs.FileType.File)


def file_digest(target: Target) -> tuple[int, str]:
    """Size and sha256 of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with storage_errors(target, "read"), target.fs.open_input_stream(target.path) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def read_batches(target: Target, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """A table file's row groups as batches (only ``columns``, when given)."""
    with storage_errors(target, "read"), target.fs.open_input_file(target.path) as handle:
        reader = pq.ParquetFile(handle)
        for group in range(reader.num_row_groups):
            table = reader.read_row_group(group, columns=columns)
            yield from table.to_batches()


def row_count(target: Target) -> int:
    """Rows in a table file, from its Parquet footer."""
    with storage_errors(target, "read"), target.fs.open_input_file(target.path) as handle:
        return int(pq.ParquetFile(handle).metadata.num_rows)


def read_manifest(where: Target) -> tuple[Manifest, str]:
    """The manifest of a backup and the sha256 of its bytes; a folder without one is refused."""
    target = where.child(MANIFEST)
    with storage_errors(target, "read"):
        if where.fs.get_file_info(target.path).type != pafs.FileType.File:
            raise ValidationError(f"{where.shown} is not a complete backup: {MANIFEST} is missing (a backup writes "
                                  "it last; a folder without it was cut off)")
        with where.fs.open_input_stream(target.path) as stream:
            data = stream.read()
    return Manifest.parse(data, target.shown), hashlib.sha256(data).hexdigest()


def write_bytes(target: Target, data: bytes) -> None:
    """Write a small file whole."""
    with storage_errors(target, "write"), target.fs.open_output_stream(target.path) as stream:
        stream.write(data)


__all__ = ["FORMAT", "MANIFEST", "Manifest", "TableEntry", "TableWriter", "Target", "exists_file", "file_digest",
           "is_empty", "location", "prepare", "publish", "read_batches", "read_manifest", "remove", "row_count",
           "staging", "write_bytes"]
