"""Artifact upload and download through the service against raw ``minio`` calls, on a real SeaweedFS.

Starts its own SeaweedFS (``stratlogic.storage.testing``) and a scratch PostgreSQL database, then, with the
same random bytes each time, measures (the order rotates from one repeat to the next, so neither side
always runs first, right after the uploads):

- upload: ``store_artifact`` (sniffing, validation, sha256 while streaming, the row, its metadata and the
  audit rows) against ``Minio.put_object`` with the same part size and parallelism;
- download: ``open_artifact(verify=True)`` read to the end in 1 MiB chunks (``--read=KIB`` for another size;
  size and sha256 checked) against ``Minio.get_object`` read the same way;
- for reference, ``Minio.get_object`` read the same way with ``hashlib.sha256`` updated per chunk: the least
  any reader that checks every byte must do. It is not the goal's baseline (raw minio is).

Both downloads must return the same bytes. Goal: ours >= 0.9x the raw client in MB/s, both ways. Each line
also gives the median CPU per operation of this process (all its threads) and of the server.

Here the server shares the machine's two cores with the client. Raw minio reads at 1-2 GB/s, the speed of
sha256 itself on one core (about 34 ms per 64 MB with SHA-NI), and the server spends 40-50 ms of CPU per
64 MB download: the hashing takes CPU the server needs (docs/storage.md has the measurements). ``--pin``
puts the server on CPU 0 and this process on CPU 1, closer to a store on another host.

    PYTHONPATH=. .venv/bin/python -m benchmarks.storage [MB] [REPEAT] [--pin] [--read=KIB]
"""

from __future__ import annotations

import hashlib
import io
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import scratch_database
from stratlogic.db import Database
from stratlogic.repositories import ConfigRepository, UserRepository
from stratlogic.repositories.jobs import JobRepository
from stratlogic.storage import S3Store, StoredArtifact, open_artifact, store_artifact
from stratlogic.storage.base import CHUNK
from stratlogic.storage.testing import seaweedfs

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
MB = int(ARGS[0]) if ARGS else 64
REPEAT = int(ARGS[1]) if len(ARGS) > 1 else 7
PIN = "--pin" in sys.argv
#: ``--read=KIB``: the size of each read on both download paths (1 MiB unless told).
READ = next((int(a.split("=", 1)[1]) * 1024 for a in sys.argv[1:] if a.startswith("--read=")), CHUNK)
BUCKET = "bench-artifacts"


@dataclass(frozen=True)
class Sample:
    """One timed operation: wall seconds, CPU seconds of this process and of the server."""

    wall: float
    client_cpu: float
    server_cpu: float


def new_job(db: Database, owner: int, name: str) -> int:
    with db.unit_of_work() as uow:
        return JobRepository(uow).create(owner, name, "https://example.com/").id


def pin(pid: int, cpus: set[int]) -> None:
    """Move every thread of ``pid`` to ``cpus`` (Linux)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def process_cpu() -> float:
    """CPU seconds used so far by this process, all threads (user and system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by the threads of ``pid`` (nanosecond schedstat; threads that ended are lost)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def timed(action: Callable[[], object], server_pid: int) -> Sample:
    cpu, served, started = process_cpu(), server_cpu(server_pid), time.perf_counter()
    action()
    wall = time.perf_counter() - started
    return Sample(wall, process_cpu() - cpu, server_cpu(server_pid) - served)


def rotated(actions: list[tuple[str, Callable[[], object]]], turn: int) -> list[tuple[str, Callable[[], object]]]:
    """``actions`` starting at ``turn`` (modulo their number)."""
    turn %= len(actions)
    return actions[turn:] + actions[:turn]


def drain(stream: object) -> str:
    """Read a stream to the end in 1 MiB chunks; return the sha256 of what came out (computed afterwards)."""
    parts = []
    while chunk := stream.read(CHUNK):  # type: ignore[attr-defined]
        parts.append(chunk)
    return hashlib.sha256(b"".join(parts)).hexdigest()


def main() -> None:
    data = b"\x00\x01" + os.urandom(MB * 1024 * 1024 - 2)  # starts with NUL: sniffed as binary
    samples: dict[str, list[Sample]] = {}
    with tempfile.TemporaryDirectory() as folder, seaweedfs(Path(folder)) as server, \
            scratch_database("bench_storage") as (settings, _url):
        if PIN:
            pin(server.pid, {0})
            pin(os.getpid(), {1})
        db = Database.from_settings(settings)
        with db.unit_of_work() as uow:
            ConfigRepository(uow).set("artifacts.allowed_content_types", ["application/octet-stream"])
            owner = UserRepository(uow).create("bench", "bench@example.com", role="operator").id
        store = S3Store.connect(server.endpoint, BUCKET, access_key=server.access_key, secret_key=server.secret_key,
                                secure=False, part_size=settings.s3_part_size_mb * 1024 * 1024)
        client = store.client
        store.put(io.BytesIO(b"warm-up"), "warm-up", "text/plain")  # creates the bucket, fills the pool
        for i in range(REPEAT):
            job = new_job(db, owner, f"bench {i}")  # a new job each time: the same bytes would be de-duplicated
            stored: list[StoredArtifact] = []
            uploads: list[tuple[str, Callable[[], object]]] = [
                ("upload ours", lambda j=job, out=stored: out.append(store_artifact(db, store, j, data, "blob.bin"))),
                ("upload raw", lambda k=f"raw/{i}": client.put_object(
                    BUCKET, k, io.BytesIO(data), len(data), content_type="application/octet-stream",
                    part_size=store.part_size, num_parallel_uploads=store.parallel_uploads)),
            ]
            for name, action in rotated(uploads, i):
                samples.setdefault(name, []).append(timed(action, server.pid))
            artifact = stored[0]
            assert artifact.size_bytes == len(data) and artifact.sha256 == hashlib.sha256(data).hexdigest()

            def ours(a: int = artifact.id) -> None:
                with open_artifact(db, store, a, verify=True) as reader:
                    while reader.read(READ):
                        pass
                    assert reader.verified

            def raw(k: str = f"raw/{i}", expected: str = artifact.sha256, hashing: bool = False) -> None:
                digest = hashlib.sha256()
                response = client.get_object(BUCKET, k)
                try:
                    while chunk := response.read(READ):
                        if hashing:
                            digest.update(chunk)
                finally:
                    response.close()
                    response.release_conn()
                assert not hashing or digest.hexdigest() == expected

            downloads: list[tuple[str, Callable[[], object]]] = [
                ("download ours", ours), ("download raw", raw), ("download raw+sha256", lambda: raw(hashing=True))]
            for name, action in rotated(downloads, i):
                samples.setdefault(name, []).append(timed(action, server.pid))
        with open_artifact(db, store, artifact.id) as reader:
            response = client.get_object(BUCKET, f"raw/{REPEAT - 1}")
            assert drain(reader) == drain(response), "the two paths returned different bytes"
            response.close()
            response.release_conn()
        db.dispose()
    report("upload", samples["upload ours"], samples["upload raw"])
    report("download", samples["download ours"], samples["download raw"], samples["download raw+sha256"])


def speed(samples: list[Sample]) -> float:
    return MB / statistics.median(s.wall for s in samples)


def cpu(samples: list[Sample]) -> str:
    client = statistics.median(s.client_cpu for s in samples) * 1000
    server = statistics.median(s.server_cpu for s in samples) * 1000
    return f"client {client:4.0f} ms, server {server:4.0f} ms"


def report(label: str, ours: list[Sample], raw: list[Sample], hashed: list[Sample] | None = None) -> None:
    mine, base = speed(ours), speed(raw)
    where = "server on CPU 0, client on CPU 1" if PIN else "shared CPUs"
    if label == "download" and READ != CHUNK:
        where += f", reads of {READ // 1024} KiB"
    print(f"{label:<9} {MB} MB x{REPEAT} ({where}): service {mine:7.1f} MB/s | raw minio {base:7.1f} MB/s | "
          f"ratio {mine / base:.2f}x (goal >= 0.90x)", flush=True)
    print(f"{'':<9} CPU per {label}: service {cpu(ours)} | raw minio {cpu(raw)}", flush=True)
    if hashed:
        floor = speed(hashed)
        print(f"{'':<9} raw minio + sha256 per chunk {floor:7.1f} MB/s ({floor / base:.2f}x raw; CPU {cpu(hashed)}): "
              f"service at {mine / floor:.2f}x of it", flush=True)


if __name__ == "__main__":
    main()
