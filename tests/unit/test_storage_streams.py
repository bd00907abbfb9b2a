"""The verifying reader's block read-ahead: small reads, short reads from the source, chunk boundaries, and
that a mismatch is still raised before any byte of the offending block is returned."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from stratlogic.storage._streams import _BLOCK, BackgroundSha256, VerifyingReader

DATA = os.urandom(2 * _BLOCK + 12_345)  # two full blocks and a bit: every boundary is crossed


class Mismatch(Exception):
    """What ``on_mismatch`` raises in these tests."""


class Trickle(io.RawIOBase):
    """A body that returns at most ``step`` bytes per read, as a socket may, and counts its reads."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__()
        self._data, self._step, self._at, self.reads = data, step, 0, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        wanted = self._step if size is None or size < 0 else min(size, self._step)
        chunk = self._data[self._at:self._at + wanted]
        self._at += len(chunk)
        return chunk


def reader(body: bytes | io.RawIOBase, expected: bytes = DATA, *, verify: bool = True) -> VerifyingReader:
    stream = io.BytesIO(body) if isinstance(body, bytes) else body
    return VerifyingReader(stream, len(expected), hashlib.sha256(expected).hexdigest() if verify else None,  # type: ignore[arg-type]
                           lambda want, got: Mismatch(f"expected {want}, got {got}"))


def drain(source: VerifyingReader, size: int) -> bytes:
    return b"".join(iter(lambda: source.read(size), b""))


@pytest.mark.parametrize("size", [1, 8192, 65_536, 300_001, _BLOCK - 1, _BLOCK, _BLOCK + 1, 5 * _BLOCK])
def test_any_read_size_returns_every_byte_and_verifies(size: int) -> None:
    source = reader(DATA)
    assert drain(source, size) == DATA
    assert source.verified


def test_small_reads_fetch_whole_blocks_from_the_body() -> None:
    body = Trickle(DATA, step=len(DATA))
    source = reader(body)
    assert drain(source, 8192) == DATA and source.verified
    assert body.reads <= 4  # three blocks and the empty read, not one read per 8 KiB


def test_a_body_that_returns_short_reads_is_served_whole() -> None:
    source = reader(Trickle(DATA, step=70_001))
    assert drain(source, 4096) == DATA and source.verified
    source = reader(Trickle(DATA, step=70_001))
    assert drain(source, 3 * _BLOCK) == DATA and source.verified


def test_a_small_read_then_a_large_one_returns_the_rest_of_the_block_first() -> None:
    source = reader(DATA)
    assert source.read(10) == DATA[:10]
    assert source.read(2 * _BLOCK) == DATA[10:_BLOCK]  # a short read, never empty before the end
    assert source.read(2 * _BLOCK) == DATA[_BLOCK:]
    assert source.verified and source.read(10) == b""


def test_read_zero_fetches_nothing() -> None:
    body = Trickle(DATA, step=len(DATA))
    source = reader(body)
    assert source.read(0) == b"" and body.reads == 0


def test_readinto_through_a_buffered_reader_verifies() -> None:
    source = reader(DATA)
    with io.BufferedReader(source, buffer_size=8192) as buffered:
        assert b"".join(iter(lambda: buffered.read(5000), b"")) == DATA
    assert source.verified


@pytest.mark.parametrize("size", [8192, _BLOCK, 3 * _BLOCK])
def test_a_corrupt_last_block_raises_before_any_of_it_is_returned(size: int) -> None:
    corrupt = DATA[:-1] + bytes([DATA[-1] ^ 1])  # same size, last byte differs
    source = reader(corrupt)
    served = bytearray()
    with pytest.raises(Mismatch, match="sha256"):
        while chunk := source.read(size):
            served += chunk
    assert len(served) <= 2 * _BLOCK and DATA.startswith(bytes(served))  # nothing of the last block got out
    assert not source.verified


@pytest.mark.parametrize("size", [8192, _BLOCK])
def test_a_short_object_raises_at_its_end(size: int) -> None:
    with pytest.raises(Mismatch, match=f"got {len(DATA) - 100} bytes"):
        drain(reader(DATA[:-100]), size)


@pytest.mark.parametrize("size", [8192, _BLOCK])
def test_a_longer_object_raises(size: int) -> None:
    with pytest.raises(Mismatch, match="more than"):
        drain(reader(DATA + b"!"), size)


def test_a_small_object_is_checked_on_its_first_read() -> None:
    data = b"<html>hello</html>"
    assert reader(data, data).read(5) == b"<html"
    with pytest.raises(Mismatch):
        reader(b"<html>HELLO</html>", data).read(5)


def test_without_verification_small_reads_pass_anything_through() -> None:
    tampered = DATA[:-1]
    source = reader(tampered, verify=False)
    assert drain(source, 8192) == tampered and not source.verified


def test_the_last_update_is_hashed_inline_without_a_thread() -> None:
    digest = BackgroundSha256()
    digest.update(DATA, last=True)
    assert digest._thread is None
    assert digest.hexdigest() == hashlib.sha256(DATA).hexdigest()


def test_updates_after_a_thread_started_stay_in_order() -> None:
    digest = BackgroundSha256()
    digest.update(DATA[:_BLOCK])  # large: the thread starts
    digest.update(DATA[_BLOCK:], last=True)  # queued behind it, not hashed inline out of order
    assert digest.hexdigest() == hashlib.sha256(DATA).hexdigest()
