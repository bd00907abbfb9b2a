"""The embedded default store: a folder (``file:var/artifacts``).

Writes go to a temporary file under ``ROOT/.tmp`` and are renamed into place, so a reader never sees
half an object and a crash leaves at most a temporary file. Content type and user metadata live in a
JSON sidecar under ``ROOT/.meta``: key ``a/b/c`` has ``.meta/a/b/.c.json``. Key segments never start with a
dot, so a sidecar cannot collide with the folder of another key (``x`` and ``x.json/y`` coexist). Sidecars
of the earlier layout (``.meta/KEY.json``) are still read. Keys are checked by ``check_key`` and the
resolved path must stay inside the root (a symlinked folder pointing elsewhere is refused too).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO

from stratlogic.errors import InvalidKeyError, ObjectNotFoundError, StorageError
from stratlogic.storage.base import (
    CHUNK,
    Readable,
    StoredObject,
    check_expiry,
    check_key,
    check_prefix,
    check_user_metadata,
)

LOCAL_BUCKET = "local"
_TMP, _META = ".tmp", ".meta"
#: The longest last key segment, in bytes: file names hold 255, and its sidecar adds a dot and ".json".
_MAX_NAME_BYTES = 249


class LocalStore:
    """Objects as files under ``root``; the ``bucket`` recorded in rows is ``local``."""

    bucket = LOCAL_BUCKET

    def __init__(self, root: Path, *, prefix: str = "", fsync: bool = True) -> None:
        self.root = Path(root).expanduser().resolve()
        self.prefix = check_prefix(prefix)
        self.fsync = fsync

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def describe(self) -> str:
        """The folder, as ``file:/abs/path``."""
        return f"file:{self.root}"

    # ----- paths -------------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        path = self.root / check_key(key)
        name = key.rpartition("/")[2]
        if len(name.encode()) > _MAX_NAME_BYTES:  # its sidecar (".NAME.json") must fit a 255-byte file name
            raise InvalidKeyError(key, f"its last segment is {len(name.encode())} bytes; a folder store holds "
                                       f"at most {_MAX_NAME_BYTES}")
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):  # a symlink inside the root that points out of it
            raise InvalidKeyError(key, f"resolves outside the store root {self.root}")
        return path

    def _sidecar(self, key: str) -> Path:
        folder, _, name = key.rpartition("/")
        return (self.root / _META / folder if folder else self.root / _META) / f".{name}.json"

    def _legacy_sidecar(self, key: str) -> Path:
        """Where sidecars used to be (``.meta/KEY.json``), which collided with folders of other keys."""
        return self.root / _META / f"{key}.json"

    def _temp(self) -> Path:
        folder = self.root / _TMP
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{uuid.uuid4().hex}.part"

    # ----- writes ------------------------------------------------------------------------------------
    def put(self, stream: Readable, key: str, content_type: str, metadata: Mapping[str, str] | None = None,
            *, length: int = -1) -> StoredObject:
        """Copy ``stream`` into a temporary file, then rename it over ``key`` (atomic on one filesystem).

        The sidecar is renamed in only after the data, so a failed write leaves the old object and its old
        sidecar; temporary files are removed on every failure.
        """
        target = self._path(key)
        user = check_user_metadata(metadata)
        temp, sidecar_temp = self._temp(), self._temp()
        try:
            size = self._write(stream, temp, length, key)
            with sidecar_temp.open("w", encoding="utf-8") as out:
                out.write(json.dumps({"content_type": content_type, "metadata": user}))
                self._sync(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            sidecar = self._sidecar(key)
            sidecar.parent.mkdir(parents=True, exist_ok=True)
            temp.replace(target)
            try:
                sidecar_temp.replace(sidecar)
            except OSError:
                sidecar.unlink(missing_ok=True)  # new data: the old sidecar would describe it wrongly
                raise
            self._sync_folder(target.parent)  # the renames themselves survive a power cut
            self._sync_folder(sidecar.parent)
        except OSError as exc:  # the source stream or the disk failed
            raise StorageError(f"could not write {key!r} to {self.describe()}: {exc}") from exc
        finally:
            temp.unlink(missing_ok=True)
            sidecar_temp.unlink(missing_ok=True)
        return StoredObject(key, size, content_type, user, _mtime(target))

    def _write(self, stream: Readable, temp: Path, length: int, key: str) -> int:
        size = 0
        with temp.open("wb") as out:
            while chunk := stream.read(CHUNK if length < 0 else min(CHUNK, length - size) or 1):
                out.write(chunk)
                size += len(chunk)
                if 0 <= length < size:
                    raise StorageError(f"stream for {key!r} is longer than the {length} bytes announced")
            if 0 <= length != size:
                raise StorageError(f"stream for {key!r} ended after {size} of the {length} bytes announced")
            self._sync(out)
        return size

    def _sync(self, out: IO[Any]) -> None:
        if self.fsync:
            out.flush()
            os.fsync(out.fileno())

    def _sync_folder(self, folder: Path) -> None:
        """fsync a folder, so a rename into it is on disk (POSIX; a no-op where folders cannot be opened)."""
        if not self.fsync or not hasattr(os, "O_DIRECTORY"):
            return
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def delete(self, key: str) -> None:
        """Remove the file and its sidecar; empty folders are left (harmless, and racing writers need them).
        A key that is a folder of other keys here holds no object: nothing to delete, as on S3."""
        path = self._path(key)
        if path.is_dir():
            return
        path.unlink(missing_ok=True)
        self._sidecar(key).unlink(missing_ok=True)
        legacy = self._legacy_sidecar(key)
        if legacy.is_file():
            legacy.unlink(missing_ok=True)

    # ----- reads -------------------------------------------------------------------------------------
    def open(self, key: str) -> BinaryIO:
        """The file, opened for reading."""
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFoundError(f"object {key!r} not found in {self.describe()}") from None

    def stat(self, key: str) -> StoredObject:
        """Size and time from the file, content type and metadata from its sidecar."""
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"object {key!r} not found in {self.describe()}")
        document: dict[str, Any] = {}
        for sidecar in (self._sidecar(key), self._legacy_sidecar(key)):
            try:
                document = json.loads(sidecar.read_text(encoding="utf-8"))
                break
            except (OSError, json.JSONDecodeError):  # missing, or a folder of the earlier layout's key
                continue
        info = path.stat()
        return StoredObject(key, info.st_size, document.get("content_type"), document.get("metadata", {}),
                            datetime.fromtimestamp(info.st_mtime, UTC))

    def exists(self, key: str) -> bool:
        """Whether a file exists at the key."""
        return self._path(key).is_file()

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix`` in byte order (as S3 lists them); temporary files and sidecars are not keys."""
        for found in self.iter_objects(prefix):
            yield found.key

    def iter_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Objects under ``prefix`` in key order, walking only the folders the prefix can reach."""
        check_prefix(prefix)
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root / folder if folder else self.root
        if start.is_dir():
            yield from self._walk(start, prefix)

    def _walk(self, folder: Path, prefix: str) -> Iterator[StoredObject]:
        with os.scandir(folder) as entries:  # a folder sorts as "name/", so keys come out in S3's order
            children = sorted(entries, key=lambda e: e.name + "/" if e.is_dir(follow_symlinks=False) else e.name)
        for entry in children:
            if entry.name.startswith("."):
                continue
            key = Path(entry.path).relative_to(self.root).as_posix()
            if entry.is_dir(follow_symlinks=False):
                if key.startswith(prefix) or prefix.startswith(key + "/"):
                    yield from self._walk(Path(entry.path), prefix)
            elif entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                info = entry.stat()
                yield StoredObject(key, info.st_size, last_modified=datetime.fromtimestamp(info.st_mtime, UTC))

    def presigned_url(self, key: str, expires: timedelta = timedelta(hours=1)) -> str:
        """A ``file://`` URL: a folder cannot sign URLs, so ``expires`` is only checked, never enforced."""
        check_expiry(expires)
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(f"object {key!r} not found in {self.describe()}")
        return path.as_uri()

    def clear_temporary(self, older_than: timedelta) -> list[str]:
        """Remove temporary files a crashed writer left behind (older than ``older_than``); return their names."""
        folder = self.root / _TMP
        if not folder.is_dir():
            return []
        cut = datetime.now(UTC) - older_than
        removed = []
        for path in sorted(folder.iterdir()):
            if _mtime(path) < cut:
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path.name)
        return removed


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


__all__ = ["LOCAL_BUCKET", "LocalStore"]
