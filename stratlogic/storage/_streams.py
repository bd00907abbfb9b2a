"""Streams that hash what passes through them, so an artifact is read once: for upload and checksum together.

sha256 runs on a second thread once a stream is large (``hashlib`` releases the GIL on big buffers), so
hashing overlaps the network instead of adding to it. A verifying reader fetches at least ``CHUNK`` bytes
at a time, so a caller's small reads cost neither one HTTP read each nor inline hashing.
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

from stratlogic.storage.base import CHUNK

#: Buffers smaller than this are hashed inline; a thread would cost more than it saves.
_INLINE = 256 * 1024
#: A verifying reader asks its source for at least this much at once and serves smaller reads from it.
_BLOCK = CHUNK


class BackgroundSha256:
    """sha256 whose updates may run on a helper thread; ``hexdigest()`` waits for them in order."""

    def __init__(self, depth: int = 2) -> None:
        self._hash = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._thread: threading.Thread | None = None
        self._digest: str | None = None

    def update(self, data: bytes, *, last: bool = False) -> None:
        """Add ``data`` (bytes are immutable, so the caller may pass on the same object).

        ``last``: nothing follows, so a thread that is not running yet would have nothing to overlap with.
        """
        if not data:
            return
        if self._thread is None and (last or len(data) < _INLINE):
            self._hash.update(data)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
            self._thread.start()
        self._queue.put(data)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self._hash.update(data)

    def hexdigest(self) -> str:
        """The digest of everything added; the helper thread is finished first."""
        if self._digest is None:
            self.close()
            self._digest = self._hash.hexdigest()
        return self._digest

    def close(self) -> None:
        """Stop the helper thread (safe to call more than once)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


class HashingReader:
    """Serves ``head`` then ``source``, counting and hashing every byte and refusing more than ``limit``."""

    def __init__(self, head: bytes, source: BinaryIO, limit: int, on_limit: Callable[[], Exception]) -> None:
        self._head, self._source, self._limit, self._on_limit = head, source, limit, on_limit
        self._hash = BackgroundSha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, as few calls to the source as possible; a short read means the end."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        parts: list[bytes] = []
        wanted = size
        if self._head:
            parts.append(self._head[:wanted])
            self._head = self._head[wanted:]
            wanted -= len(parts[0])
        while wanted > 0:
            chunk = self._source.read(wanted)
            if not chunk:
                break
            parts.append(chunk)
            wanted -= len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)  # one copy at most: the client concatenates
        self.size += len(data)
        if self.size > self._limit:
            raise self._on_limit()
        self._hash.update(data)
        return data

    def hexdigest(self) -> str:
        """The sha256 of everything read."""
        return self._hash.hexdigest()

    def close(self) -> None:
        """Stop the hashing thread (after a failed upload)."""
        self._hash.close()


class VerifyingReader(io.RawIOBase):
    """Reads a stored object and, when asked, checks size and sha256 at the end of it.

    ``on_mismatch(expected, actual)`` builds the exception raised by the read that fetches the bytes reaching
    the recorded size or the end (or going past the size), before any of those bytes is returned, so a caller
    who reads it all never gets bad bytes without an error. Reads smaller than ``CHUNK`` are served from a
    block fetched (and hashed) ahead; a read may then return fewer bytes than asked, never ``b""`` before the end.
    """

    def __init__(self, body: BinaryIO, size: int, sha256: str | None,
                 on_mismatch: Callable[[str, str], Exception]) -> None:
        super().__init__()
        self._body, self._expected_size, self._expected_sha = body, size, sha256
        self._on_mismatch = on_mismatch
        self._hash = BackgroundSha256(depth=4) if sha256 else None
        self._size = 0
        self._block, self._offset = b"", 0  # fetched and checked, served from _offset on
        self.verified = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        if self._offset < len(self._block):
            return self._serve(size)
        if size >= _BLOCK:
            return self._fetch(size)  # large reads go straight through: no copy
        self._block, self._offset = self._fetch(_BLOCK), 0
        return self._serve(size)

    def readall(self) -> bytes:
        return b"".join(self.iter_chunks())

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def iter_chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The remaining bytes in chunks of up to ``size``; verified when the last is read."""
        while data := self.read(size):
            yield data

    def _serve(self, size: int) -> bytes:
        """Up to ``size`` bytes of the block fetched ahead (the whole block without a copy)."""
        start = self._offset
        self._offset = min(start + size, len(self._block))
        data = self._block[start:self._offset]
        if self._offset == len(self._block):
            self._block, self._offset = b"", 0  # let it go now, not at the next fetch
        return data

    def _fetch(self, size: int) -> bytes:
        data = self._body.read(size)
        self._seen(data, at_end=size > 0 and not data)
        return data

    def _seen(self, data: bytes, *, at_end: bool) -> None:
        if self._hash is None:
            return
        self._size += len(data)
        if self._size > self._expected_size:
            raise self._on_mismatch(f"{self._expected_size} bytes", f"more than {self._expected_size} bytes")
        complete = self._size == self._expected_size
        self._hash.update(data, last=complete)
        # Check as soon as the recorded size is reached (a reader that stops at the known length never
        # sees the empty read), and at an early end.
        if (at_end or complete) and not self.verified:
            actual = self._hash.hexdigest()
            if self._size != self._expected_size or actual != self._expected_sha:
                raise self._on_mismatch(f"{self._expected_size} bytes, sha256 {self._expected_sha}",
                                        f"{self._size} bytes, sha256 {actual}")
            self.verified = True

    def close(self) -> None:
        if not self.closed:
            self._block = b""
            try:
                self._body.close()
            finally:
                if self._hash is not None:
                    self._hash.close()
                super().close()


__all__ = ["BackgroundSha256", "HashingReader", "VerifyingReader"]
