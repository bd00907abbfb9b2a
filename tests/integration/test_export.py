"""Exports on both engines: round trips per format, Excel safety, the snapshot's row count, partitions, errors.

Planted values (formulas, a tab, a carriage return, quotes, a newline, non-ASCII text) go through every
format; raw CSV and Parquet must give them back exactly, the Excel-safe formats with a leading quote on
exactly the cells a spreadsheet would run.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import threading
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select, text, update

from stratlogic.analytics import _export_read, _export_write
from stratlogic.analytics._export_sources import SOURCES
from stratlogic.analytics.export import export
from stratlogic.db import Database
from stratlogic.errors import ConflictError, DatabaseError, InvalidFilterError, StorageError, ValidationError
from stratlogic.models import AuditLog, ScrapingJob
from stratlogic.repositories import UserRepository
from stratlogic.repositories.jobs import JobRepository

PLANTED = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR", "plain", "'quoted", "a=b",
           "naïve ünïcode ✓", 'say "hi", ok\nnext line', " leading space"]
RISKY = {value for value in PLANTED if value[:1] in ("=", "+", "-", "@", "\t", "\r")}


def seed(db: Database, names: list[str] = PLANTED) -> int:
    """An owner and one job per name (each job also writes audit rows); the owner's id."""
    with db.unit_of_work() as uow:
        owner = UserRepository(uow).create("owner", "owner@example.com", role="operator")
        jobs = JobRepository(uow)
        for i, name in enumerate(names):
            jobs.create(owner.id, name, f"https://site{i % 3}.example.com/p/{i}", kind="scrape" if i % 2 else "crawl",
                        options={"depth": i, "label": name, "ratio": 0.1 * i})
        return int(owner.id)


def stored_jobs(db: Database) -> dict[int, ScrapingJob]:
    with db.unit_of_work(readonly=True) as uow:
        return {job.id: job for job in uow.session.scalars(select(ScrapingJob))}


def stored_audit(db: Database) -> list[AuditLog]:
    with db.unit_of_work(readonly=True) as uow:
        return list(uow.session.scalars(select(AuditLog).order_by(AuditLog.id)))


def sidecar(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.with_name(path.name + ".meta.json").read_text()))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv(path: Path, kind: Literal["audit", "jobs", "artifacts"] = "jobs") -> pa.Table:
    """A CSV export read back exactly: quoted empty text is '', an unquoted empty field is null."""
    types = {f.name: pa.string() if pa.types.is_timestamp(f.type) else f.type for f in SOURCES[kind].schema}
    options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False)
    return pacsv.read_csv(path, convert_options=options)


def test_parquet_round_trip_and_sidecar(db: Database, tmp_path: Path) -> None:
    seed(db)
    out = tmp_path / "audit.parquet"
    result = export(db, "audit", out, since="-1d")
    rows = stored_audit(db)
    table = pq.read_table(out).sort_by("id")
    assert table.schema == SOURCES["audit"].schema
    assert result.rows == len(rows) == table.num_rows > len(PLANTED)
    assert table.column("id").to_pylist() == [r.id for r in rows]
    assert table.column("occurred_at").to_pylist() == [r.occurred_at for r in rows]
    assert [json.loads(d) for d in table.column("details").to_pylist()] == [r.details for r in rows]
    assert table.column("hash").to_pylist() == [r.hash for r in rows]
    meta = sidecar(out)
    assert meta["rows"] == len(rows) and meta["kind"] == "audit" and meta["format"] == "parquet"
    assert meta["files"] == [{"path": "audit.parquet", "rows": len(rows), "bytes": out.stat().st_size,
                              "sha256": sha256(out)}]
    assert meta["audit_chain_tail"] == {"id": rows[-1].id, "hash": rows[-1].hash}
    assert [f["name"] for f in meta["schema"]] == SOURCES["audit"].schema.names
    assert pa.ipc.read_schema(pa.py_buffer(base64.b64decode(meta["arrow_schema"]))) == table.schema
    assert meta["window"]["since"] == result.since.isoformat() if result.since else False
    assert meta["package_version"] and meta["database"] == db.dialect


def test_jobs_parquet_keeps_types_and_json(db: Database, tmp_path: Path) -> None:
    seed(db)
    out = tmp_path / "jobs.parquet"
    export(db, "jobs", out, since="-1d", compression="snappy")
    table = pq.read_table(out)
    jobs = stored_jobs(db)
    assert table.schema.field("priority").type == pa.int32() and table.schema.field("created_at").type.tz == "UTC"
    for row in table.to_pylist():
        job = jobs[row["id"]]
        assert row["name"] == job.name and row["created_at"] == job.created_at
        assert json.loads(row["options"]) == job.options
        assert row["target_domain"] == job.target_domain


def test_csv_raw_round_trip_is_exact(db: Database, tmp_path: Path) -> None:
    seed(db)
    out = tmp_path / "jobs.csv"
    export(db, "jobs", out, fmt="csv", since="-1d", csv_raw=True)
    jobs = stored_jobs(db)
    table = read_csv(out)
    assert table.num_rows == len(jobs)
    for row in table.to_pylist():
        job = jobs[row["id"]]
        assert row["name"] == job.name
        assert row["dedupe_key"] is None and row["error_message"] is None
        assert datetime.fromisoformat(row["created_at"]) == job.created_at
        assert row["created_at"].endswith("+00:00")
        assert json.loads(row["options"]) == job.options
    assert sorted(r for r in table.column("name").to_pylist()) == sorted(PLANTED)
    assert sidecar(out)["csv_mode"] == "raw" and sidecar(out)["excel_safe"] is False


def test_csv_neutralises_exactly_the_risky_cells(db: Database, tmp_path: Path) -> None:
    seed(db)
    out = tmp_path / "jobs.csv"
    export(db, "jobs", out, fmt="csv", since="-1d")
    names = read_csv(out).column("name").to_pylist()
    assert sorted(names) == sorted(f"'{v}" if v in RISKY else v for v in PLANTED)
    with out.open(newline="") as handle:  # a plain CSV reader sees the same cells
        assert sorted(row["name"] for row in csv.DictReader(handle)) == sorted(names)
    labels = [json.loads(t)["label"] for t in read_csv(out).column("options").to_pylist()]
    assert sorted(labels) == sorted(PLANTED)  # JSON text starts with '{': never changed
    assert sidecar(out)["csv_mode"] == "excel-safe"


def xlsx_sheets(path: Path) -> list[list[dict[str, Any]]]:
    """Each sheet as a list of rows {column letter: value} (inline strings decoded, numbers as floats)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    sheets = []
    with zipfile.ZipFile(path) as book:
        names = sorted((n for n in book.namelist() if re.match(r"xl/worksheets/sheet\d+\.xml$", n)),
                       key=lambda n: int(re.findall(r"\d+", n)[0]))
        for name in names:
            root = ElementTree.fromstring(book.read(name))
            rows = []
            for row in root.iterfind(".//m:sheetData/m:row", ns):
                cells: dict[str, Any] = {}
                for cell in row.iterfind("m:c", ns):
                    column = re.sub(r"\d", "", cell.get("r", ""))
                    if cell.get("t") == "inlineStr":
                        raw = "".join(cell.find("m:is", ns).itertext())  # type: ignore[union-attr]
                        cells[column] = re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), raw)
                    elif (value := cell.find("m:v", ns)) is not None:
                        cells[column] = float(value.text or "nan")
                rows.append(cells)
            sheets.append(rows)
    return sheets


def test_xlsx_is_excel_safe_in_utc_with_the_header_saying_so(db: Database, tmp_path: Path) -> None:
    seed(db)
    out = tmp_path / "jobs.xlsx"
    result = export(db, "jobs", out, fmt="xlsx", since="-1d")
    [sheet] = xlsx_sheets(out)
    header = {letter: label for letter, label in sheet[0].items()}
    column = {label: letter for letter, label in header.items()}
    assert "created_at (UTC)" in column and "name" in column
    jobs = stored_jobs(db)
    assert len(sheet) - 1 == result.rows == len(jobs)
    for row in sheet[1:]:
        job = jobs[int(row[column["id"]])]
        assert row[column["name"]] == (f"'{job.name}" if job.name in RISKY else job.name)
        moment = datetime(1899, 12, 30, tzinfo=UTC) + timedelta(days=row[column["created_at (UTC)"]])
        assert abs(moment - job.created_at) < timedelta(milliseconds=1)
    assert sidecar(out)["excel_safe"] is True


def test_xlsx_continues_on_further_sheets(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db)
    monkeypatch.setattr(_export_write, "SHEET_ROWS", 4)
    out = tmp_path / "audit.xlsx"
    result = export(db, "audit", out, fmt="xlsx", since="-1d")
    sheets = xlsx_sheets(out)
    assert len(sheets) == -(-result.rows // 4) > 1
    assert all(sheet[0] == sheets[0][0] for sheet in sheets)  # every sheet has the header
    ids = [int(row["A"]) for sheet in sheets for row in sheet[1:]]
    assert sorted(ids) == [r.id for r in stored_audit(db)]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "xlsx"])
def test_empty_window_writes_the_schema_and_says_so(db: Database, tmp_path: Path, fmt: str) -> None:
    seed(db)
    out = tmp_path / f"none.{fmt}"
    result = export(db, "artifacts", out, fmt=fmt, since="2020-01-01", until="2020-02-01")  # type: ignore[arg-type]
    assert result.empty and result.rows == 0 and sidecar(out)["empty"] is True
    if fmt == "parquet":
        assert pq.read_table(out).schema == SOURCES["artifacts"].schema
    elif fmt == "csv":
        assert out.read_text().strip() == ",".join(f'"{n}"' for n in SOURCES["artifacts"].schema.names)
    else:
        [sheet] = xlsx_sheets(out)
        names = [*SOURCES["artifacts"].schema.names[:-1], "created_at (UTC)"]
        assert sheet == [dict(zip("ABCDEFGHI", names, strict=True))]


def test_filters_by_name_and_username(db: Database, tmp_path: Path) -> None:
    owner = seed(db)
    out = tmp_path / "a.parquet"
    result = export(db, "audit", out, since="-1d", filters={"action": ["job.created"], "actor": "OWNER"})
    with db.unit_of_work(readonly=True) as uow:
        expected = uow.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "job.created", AuditLog.actor_id == owner))
    table = pq.read_table(out)
    assert result.rows == table.num_rows == expected
    assert set(table.column("action").to_pylist()) <= {"job.created"}
    assert sidecar(out)["filters"] == {"action": ["job.created"], "actor": [owner]}
    jobs = export(db, "jobs", tmp_path / "j.parquet", since="-1d", filters={"kind": "crawl", "status": ["queued"]})
    assert jobs.rows == sum(1 for j in stored_jobs(db).values() if j.kind == "crawl")


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"fmt": "txt"}, ValidationError, "unknown format 'txt'; use one of parquet, csv, xlsx"),
    ({"filters": {"colour": "red"}}, InvalidFilterError, "unknown filter 'colour' for audit exports"),
    ({"filters": {"resource_type": ["a"] * 10_001}}, ValidationError, "resource_type: 10001 values, more than"),
    ({"filters": {"actor": 1.5}}, ValidationError, "actor: [1.5] is not a username or a user id"),
    ({"filters": {"actor": "nobody"}}, ValidationError, "no user named 'nobody'"),
    ({"filters": {"actor": [-3]}}, ValidationError, "actor: -3 is not a user id"),
    ({"filters": {"actor": "-3"}}, ValidationError, "actor: -3 is not a user id"),
    ({"filters": {"actor": "x\x00y"}}, ValidationError, "cannot hold NUL"),
    ({"partition": "day", "fmt": "csv"}, ValidationError, "format 'csv' cannot be partitioned"),
    ({"partition": "hour"}, ValidationError, "partition 'hour' is not supported"),
    ({"compression": "lz4"}, ValidationError, "unknown compression 'lz4'"),
    ({"since": "-2d", "until": "-3d"}, ValidationError, "until"),
])
def test_bad_input_is_one_clear_error(db: Database, tmp_path: Path, kwargs: dict[str, Any], error: type[Exception],
                                      message: str) -> None:
    seed(db)
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(error, match=re.escape(message)):
        export(db, "audit", folder / "a.out", **{"since": "-1d", **kwargs})
    assert list(folder.iterdir()) == []


def test_unwritable_out_and_existing_file(db: Database, tmp_path: Path) -> None:
    seed(db)
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match=r"cannot write .*file/a\.parquet"):
        export(db, "audit", blocker / "a.parquet", since="-1d")
    out = tmp_path / "a.parquet"
    first = export(db, "audit", out, since="-1d")
    with pytest.raises(ConflictError, match="already exists; use --force"):
        export(db, "audit", out, since="-1d")
    with pytest.raises(ValidationError, match="is a folder"):
        export(db, "audit", tmp_path, since="-1d")
    again = export(db, "audit", out, since="-1d", force=True)
    assert again.rows == first.rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "a.parquet.meta.json", "file"]


def _commit_users_from_another_thread(db: Database, count: int) -> None:
    def write() -> None:
        with db.unit_of_work() as uow:
            for i in range(count):
                UserRepository(uow).create(f"late{i}", f"late{i}@example.com")

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_row_count_is_the_snapshot_s_while_another_writer_commits(db: Database, tmp_path: Path, fmt: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db)
    monkeypatch.setattr(_export_read, "BATCH_BYTES", 256)
    monkeypatch.setattr(_export_read, "SQLITE_ROWS", 3)
    before = stored_audit(db)
    calls: list[int] = []

    def progress(rows: int) -> None:
        if not calls:  # mid-export: more rows committed while this one still streams
            _commit_users_from_another_thread(db, 5)
        calls.append(rows)

    out = tmp_path / f"audit.{fmt}"
    result = export(db, "audit", out, fmt=fmt, since="-1d", progress=progress)  # type: ignore[arg-type]
    assert len(calls) > 1 and calls[-1] == result.rows
    assert len(stored_audit(db)) >= len(before) + 5
    assert result.rows == len(before)
    assert sidecar(out)["audit_chain_tail"] == {"id": before[-1].id, "hash": before[-1].hash}


def spread_over_days(db: Database, days: int) -> None:
    """Move job i's creation i days back (jobs may be updated; the audit trail may not)."""
    with db.unit_of_work() as uow:
        ids = sorted(uow.session.scalars(select(ScrapingJob.id)))
        now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        for i, job_id in enumerate(ids):
            uow.session.execute(update(ScrapingJob).where(ScrapingJob.id == job_id)
                                .values(created_at=now - timedelta(days=i % days))
                                .execution_options(synchronize_session=False))


def data_files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_partitioned_dataset_adds_days_and_replaces_only_with_force(db: Database, tmp_path: Path) -> None:
    seed(db)
    spread_over_days(db, 12)
    out = tmp_path / "jobs"
    recent = export(db, "jobs", out, since="-5d", partition="day")
    files_before = data_files(out)
    assert all(re.fullmatch(r"day=\d{4}-\d{2}-\d{2}/part-0\.parquet|_meta-jobs-\d{8}-\d{8}\.json", name)
               for name in files_before)
    assert recent.rows == sum(1 for n in files_before if n.startswith("day=")) == 6
    with pytest.raises(ConflictError, match=r"already holds 6 partition\(s\) of this window .*use --force"):
        export(db, "jobs", out, since="-5d", partition="day")
    assert data_files(out) == files_before
    older = export(db, "jobs", out, since="-20d", until="-6d", partition="day")
    assert older.replaced == () and older.rows == len(PLANTED) - 6 + 0 * older.rows
    after = data_files(out)
    assert {k: v for k, v in after.items() if k in files_before} == files_before  # untouched
    again = export(db, "jobs", out, since="-5d", partition="day", force=True)
    assert len(again.replaced) == 6 and again.rows == recent.rows
    assert set(data_files(out)) == set(after)
    assert not [p for p in out.rglob(".*")]  # no temporary file left
    total = len(PLANTED)
    glob = f"{out}/**/*.parquet"
    counted = duckdb.execute(f"select count(*), count(distinct day) from read_parquet('{glob}', "
                             "hive_partitioning=true)").fetchall()
    assert counted == [(total, 12)]
    frame = pl.scan_parquet(glob, hive_partitioning=True).select(pl.len(), pl.col("day").n_unique()).collect()
    assert frame.row(0) == (total, 12)
    dataset = ds.dataset(out, format="parquet", partitioning="hive")  # skips _meta-*.json and dot files
    assert dataset.count_rows() == total


def test_partition_days_hold_their_rows_only(db: Database, tmp_path: Path) -> None:
    seed(db)
    spread_over_days(db, 3)
    out = tmp_path / "jobs"
    export(db, "jobs", out, since="-4d", partition="day")
    for part in out.glob("day=*/part-0.parquet"):
        day = part.parent.name.removeprefix("day=")
        days = {t.date().isoformat() for t in pq.read_table(part).column("created_at").to_pylist()}
        assert days == {day}


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])  # kills a backend
def test_a_dropped_connection_leaves_no_file(backend: str, db: Database, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import kill_backend

    with db.unit_of_work() as uow:  # enough rows that the server is still sending when it is killed
        uow.session.execute(text(
            "INSERT INTO audit_logs (occurred_at, action, resource_type, details, prev_hash, hash) "
            "SELECT now(), 'job.created', 'job', jsonb_build_object('pad', repeat('x', 400), 'i', g), "
            "repeat('0', 64), repeat('1', 64) FROM generate_series(1, 60000) g"))
    monkeypatch.setattr(_export_read, "BATCH_BYTES", 64 * 1024)
    killed: list[int] = []

    def progress(rows: int) -> None:
        if killed:
            return
        with db.engine.connect() as conn:
            pid = conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE '%SELECT id, occurred_at, actor_id%'")).scalar_one()
        kill_backend(pid)
        killed.append(pid)

    folder = tmp_path / "out"
    with pytest.raises(DatabaseError, match="reading the audit rows failed"):
        export(db, "audit", folder / "audit.parquet", since="-1d", progress=progress)
    assert killed and list(folder.iterdir()) == []


def test_cli_exports_and_errors_in_one_line(settings: Any, db: Database, tmp_path: Path) -> None:
    from tests.cli_helpers import run_cli

    seed(db)
    env = {"STRATLOGIC_DATABASE_URL": settings.database_url, "STRATLOGIC_ARTIFACT_STORE": settings.artifact_store,
           "STRATLOGIC_HOME": str(tmp_path)}
    out = tmp_path / "a.csv"
    done = run_cli("export", "audit", "--since", "-1d", "--format", "csv", "--out", str(out), "--action",
                   "job.created", env=env)
    assert done.returncode == 0, done.stderr
    assert f"exported {len(PLANTED)} audit rows to {out}" in done.stdout and "\x1b" not in done.stderr
    for args, message in [(["--format", "txt"], "error: unknown format 'txt'"),
                          (["--out", str(out)], "already exists; use --force"),
                          (["--status", "x"], "No such option"),
                          (["--since", "2020-01-01", "--until", "2020-01-02", "--out", str(tmp_path / "e.parquet")],
                           "note: the window holds no rows")]:
        ran = run_cli("export", "audit", "--out", str(tmp_path / "b.csv"), *args, env=env)
        assert message in ran.stderr, (args, ran.stderr)
        assert ran.returncode == (0 if "note" in message else 2 if "No such" in message else 1)
        if "error" in message:
            assert len(ran.stderr.strip().splitlines()) == 1

