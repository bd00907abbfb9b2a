"""Shared by the storage tests: the two stores built the same way, and what a store holds."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.repositories import UserRepository
from stratlogic.repositories.jobs import JobRepository
from stratlogic.storage import ArtifactStore, LocalStore, S3Store
from stratlogic.storage.identity import MARKER
from stratlogic.storage.testing import SeaweedServer

BUCKET = "stratlogic-test"
MIB = 1024 * 1024


def s3_store(server: SeaweedServer, *, bucket: str = BUCKET, secret_key: str | None = None,
             create_bucket: bool = True, parallel_uploads: int = 3) -> S3Store:
    """A store on the test server under a prefix of its own (tests share the bucket, never their keys)."""
    return S3Store.connect(server.endpoint, bucket, access_key=server.access_key,
                           secret_key=secret_key or server.secret_key, secure=False,
                           prefix=f"t-{uuid.uuid4().hex[:12]}/", create_bucket=create_bucket, part_size=5 * MIB,
                           parallel_uploads=parallel_uploads, connect_timeout=3)


def everything(store: ArtifactStore) -> list[str]:
    """Every file a local store has (temporary files and sidecars included), or every key under the S3 prefix
    and every unfinished multipart upload there (parts that were sent but never completed or aborted).

    The store's marker (which database owns it, written at the first write) is no leftover and is left out."""
    marker = {f"{store.prefix}{MARKER}", f".meta/.{MARKER}.json"}
    if isinstance(store, LocalStore):
        if not store.root.exists():
            return []
        return sorted(p.relative_to(store.root).as_posix() for p in store.root.rglob("*")
                      if p.is_file() and p.relative_to(store.root).as_posix() not in marker)
    assert isinstance(store, S3Store)
    pending = store.client._list_multipart_uploads(store.bucket, prefix=store.prefix).uploads
    keys = [k for k in store.iter_keys(store.prefix) if k not in marker]
    return keys + [f"multipart:{u.object_name}" for u in pending]


def new_job(db: Database, name: str = "job") -> int:
    """A user (once) and a job owned by it; returns the job's id."""
    with db.unit_of_work() as uow:
        users = UserRepository(uow)
        found = users.list({"username": "owner"}, limit=1)
        owner = found[0] if found else users.create("owner", "owner@example.com", role="operator")
        return JobRepository(uow).create(owner.id, name, "https://example.com/").id


class Pattern:
    """A stream of ``size`` deterministic bytes made on the fly (never held whole), in reads of at most 1 MiB.

    The bytes depend only on their position, so any sequence of read sizes yields the same content.
    """

    def __init__(self, size: int, seed: int = 1) -> None:
        block = (bytes([0, 1]) + hashlib.sha256(str(seed).encode()).digest() * (MIB // 32))[:MIB]
        self._twice, self.remaining, self._position = block * 2, size, 0

    def read(self, size: int = -1) -> bytes:
        take = min(self.remaining, MIB if size is None or size < 0 else min(size, MIB))
        start = self._position % MIB
        self.remaining -= take
        self._position += take
        return self._twice[start:start + take]

    @staticmethod
    def sha256(size: int, seed: int = 1) -> str:
        stream, digest = Pattern(size, seed), hashlib.sha256()
        while chunk := stream.read(MIB):
            digest.update(chunk)
        return digest.hexdigest()


def local_root(tmp_path: Path) -> Path:
    """Where the local store of a test lives (the same place ``make_settings`` points at)."""
    return tmp_path / "artifacts"


def settings_on_s3(settings: Settings, server: SeaweedServer, bucket: str) -> Settings:
    """``settings`` pointed at the test S3 server, with ``bucket`` made if missing (exports and backups to s3://)."""
    client = server.client()
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    return settings.model_copy(update={"s3_endpoint": server.endpoint, "s3_secure": False,
                                       "s3_access_key": SecretStr(server.access_key),
                                       "s3_secret_key": SecretStr(server.secret_key)})


#: Run a test on SQLite only: for behaviour that does not depend on the engine.
SQLITE = pytest.mark.parametrize("backend", [pytest.param("sqlite", marks=pytest.mark.sqlite)])
