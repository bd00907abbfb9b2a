"""Artifact upload and download through the service against raw ``minio`` calls, on a real SeaweedFS.

Starts its own SeaweedFS (``stratlogic.storage.testing``) and a scratch PostgreSQL database, then, with the
same random bytes each time, alternates:

- upload: ``store_artifact`` (sniffing, validation, sha256 while streaming, the row, its metadata and the
  audit rows) against ``Minio.put_object`` with the same part size and parallelism;
- download: ``open_artifact(verify=True)`` read to the end in 1 MiB chunks (size and sha256 checked)
  against ``Minio.get_object`` read the same way.

Both downloads must return the same bytes. Goal: ours >= 0.9x the raw client in MB/s, both ways.

Here the server shares the machine's cores with the client, so the client's extra CPU work (sha256, about
45 ms per 64 MB at 1.4 GB/s) competes with the server. ``--pin`` puts the server on CPU 0 and this process
on CPU 1, closer to a store on another host, where hashing overlaps the network.

    PYTHONPATH=. .venv/bin/python -m benchmarks.storage [MB] [REPEAT] [--pin]
"""

from __future__ import annotations

import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
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
BUCKET = "bench-artifacts"


def new_job(db: Database, owner: int, name: str) -> int:
    with db.unit_of_work() as uow:
        return JobRepository(uow).create(owner, name, "https://example.com/").id


def pin(pid: int, cpus: set[int]) -> None:
    """Move every thread of ``pid`` to ``cpus`` (Linux)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def drain(stream: object) -> str:
    """Read a stream to the end in 1 MiB chunks; return the sha256 of what came out (computed afterwards)."""
    parts = []
    while chunk := stream.read(CHUNK):  # type: ignore[attr-defined]
        parts.append(chunk)
    return hashlib.sha256(b"".join(parts)).hexdigest()


def main() -> None:
    data = b"\x00\x01" + os.urandom(MB * 1024 * 1024 - 2)  # starts with NUL: sniffed as binary
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
        ours_up, raw_up, ours_down, raw_down = [], [], [], []
        for i in range(REPEAT):
            job = new_job(db, owner, f"bench {i}")  # a new job each time: the same bytes would be de-duplicated
            stored: list[StoredArtifact] = []
            ours_up.append(timed(lambda j=job, out=stored: out.append(store_artifact(db, store, j, data, "blob.bin"))))
            raw_up.append(timed(lambda k=f"raw/{i}": client.put_object(
                BUCKET, k, io.BytesIO(data), len(data), content_type="application/octet-stream",
                part_size=store.part_size, num_parallel_uploads=store.parallel_uploads)))
            artifact = stored[0]
            assert artifact.size_bytes == len(data) and artifact.sha256 == hashlib.sha256(data).hexdigest()

            def ours(a: int = artifact.id) -> None:
                with open_artifact(db, store, a, verify=True) as reader:
                    while reader.read(CHUNK):
                        pass
                    assert reader.verified

            def raw(k: str = f"raw/{i}") -> None:
                response = client.get_object(BUCKET, k)
                try:
                    while response.read(CHUNK):
                        pass
                finally:
                    response.close()
                    response.release_conn()

            ours_down.append(timed(ours))
            raw_down.append(timed(raw))
        with open_artifact(db, store, artifact.id) as reader:
            response = client.get_object(BUCKET, f"raw/{REPEAT - 1}")
            assert drain(reader) == drain(response), "the two paths returned different bytes"
            response.close()
            response.release_conn()
        db.dispose()
    report("upload", ours_up, raw_up)
    report("download", ours_down, raw_down)


def report(label: str, ours: list[float], raw: list[float]) -> None:
    mine, base = MB / statistics.median(ours), MB / statistics.median(raw)
    where = "server on CPU 0, client on CPU 1" if PIN else "shared CPUs"
    print(f"{label:<9} {MB} MB x{REPEAT} ({where}): service {mine:7.1f} MB/s | raw minio {base:7.1f} MB/s | "
          f"ratio {mine / base:.2f}x (goal >= 0.90x)", flush=True)


if __name__ == "__main__":
    main()
