"""Exports to ``s3://`` on a real S3 server (SeaweedFS): a partitioned dataset, ``--force`` there, a single file.

The database side is the same on both engines (tests/integration/test_export.py); these run on SQLite.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from stratlogic.analytics.export import export
from stratlogic.config import Settings
from stratlogic.db import Database
from stratlogic.errors import ConflictError
from stratlogic.storage.testing import SeaweedServer
from tests.integration.storage_helpers import settings_on_s3
from tests.integration.test_export import PLANTED, read_csv, seed, spread_over_days

pytestmark = [pytest.mark.s3, pytest.mark.sqlite]
BUCKET = "stratlogic-exports"


@pytest.fixture
def backend() -> str:
    """SQLite only: the S3 side is what these tests are about."""
    return "sqlite"


@pytest.fixture
def s3_settings(s3_server: SeaweedServer, settings: Settings) -> Settings:
    return settings_on_s3(settings, s3_server, BUCKET)


def s3fs(server: SeaweedServer) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(access_key=server.access_key, secret_key=server.secret_key,
                             endpoint_override=server.endpoint, scheme="http")


def keys(fs: pafs.S3FileSystem, prefix: str) -> dict[str, str]:
    """Every object under the prefix with its sha256."""
    found = {}
    for info in fs.get_file_info(pafs.FileSelector(prefix, recursive=True)):
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(info.path) as stream:
                found[info.path.removeprefix(prefix + "/")] = hashlib.sha256(stream.read()).hexdigest()
    return found


def test_partitioned_export_to_s3_adds_replaces_and_reads_back(db: Database, s3_settings: Settings,
                                                              s3_server: SeaweedServer) -> None:
    seed(db)
    spread_over_days(db, 6)
    prefix = f"{BUCKET}/t-{uuid.uuid4().hex[:8]}/jobs"
    result = export(db, "jobs", f"s3://{prefix}", since="-10d", partition="day", store_settings=s3_settings)
    fs = s3fs(s3_server)
    stored = keys(fs, prefix)
    data = {k: v for k, v in stored.items() if k.startswith("day=")}
    assert len(data) == 6 and all(k.endswith("/part-0.parquet") for k in data)
    [meta_key] = [k for k in stored if k.startswith("_meta-jobs-")]
    with fs.open_input_stream(f"{prefix}/{meta_key}") as stream:
        meta = json.loads(stream.read())
    assert meta["rows"] == result.rows == len(PLANTED)
    assert {f["path"]: f["sha256"] for f in meta["files"]} == data  # the sidecar's hashes are the objects'
    with pytest.raises(ConflictError, match="already holds 6 partition"):
        export(db, "jobs", f"s3://{prefix}", since="-10d", partition="day", store_settings=s3_settings)
    again = export(db, "jobs", f"s3://{prefix}", since="-10d", partition="day", force=True,
                   store_settings=s3_settings)
    assert len(again.replaced) == 6
    assert set(keys(fs, prefix)) == set(stored)  # the same objects, no temporary one left
    dataset = ds.dataset(prefix, filesystem=fs, format="parquet", partitioning="hive")
    assert dataset.count_rows() == len(PLANTED)
    assert duckdb.execute("select count(distinct day), count(*) from dataset").fetchall() == [(6, len(PLANTED))]


def test_single_csv_to_s3_with_its_sidecar(db: Database, s3_settings: Settings, s3_server: SeaweedServer,
                                           tmp_path: Path) -> None:
    seed(db)
    key = f"{BUCKET}/t-{uuid.uuid4().hex[:8]}/jobs.csv"
    result = export(db, "jobs", f"s3://{key}", fmt="csv", since="-1d", csv_raw=True, store_settings=s3_settings)
    fs = s3fs(s3_server)
    local = tmp_path / "jobs.csv"
    with fs.open_input_stream(key) as stream:
        local.write_bytes(stream.read())
    assert sorted(read_csv(local).column("name").to_pylist()) == sorted(PLANTED)
    with fs.open_input_stream(key + ".meta.json") as stream:
        meta = json.loads(stream.read())
    assert meta["files"][0]["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest() == result.files[0].sha256
    with pytest.raises(ConflictError, match="already exists"):
        export(db, "jobs", f"s3://{key}", fmt="xlsx", since="-1d", store_settings=s3_settings)
    export(db, "jobs", f"s3://{key}", fmt="xlsx", since="-1d", store_settings=s3_settings, force=True)
    assert sorted(keys(fs, key.rsplit("/", 1)[0])) == ["jobs.csv", "jobs.csv.meta.json"]
