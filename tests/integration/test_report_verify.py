"""``reports verify`` in-process on a run written by the run's own manifest code (no kernel): a fresh run passes,
an edited output, an edited output with its hash edited in the manifest, and a file added afterwards fail,
each named; a run on an unmigrated database makes no folder. On both engines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from stratlogic.db import Database
from stratlogic.reports import manifest as manifests
from stratlogic.reports._index import write_index
from stratlogic.reports.verify import verify_run


def make_run(db: Database, folder: Path) -> Path:
    """A run folder as ``reports.run`` writes it: one report with an HTML page and a data file."""
    report = folder / "03_job_stats"
    (report / "data").mkdir(parents=True)
    (report / "03_job_stats.html").write_text("<html><body>jobs: 5</body></html>\n")
    (report / "data" / "jobs.csv").write_text("id,status\n1,failed\n2,completed\n")
    lineage = manifests.lineage(db)
    outcome = manifests.ReportOutcome("03_job_stats", "03_job_stats.ipynb", "0" * 64, {"since": "-7d"},
                                      "2026-12-06T00:00:00Z", "2026-12-06T00:00:01Z", 1.0)
    outcome.outputs = manifests.outputs_of(report, folder)
    index = write_index(folder, folder.name, lineage, [outcome])
    document = manifests.build(folder.name, "a", "b", lineage, manifests.describe(index, folder), [outcome])
    _path, digest = manifests.write(document, folder)
    manifests.record_run(db, folder.name, digest, [outcome])
    return folder


def test_verify_names_an_edited_output_an_edited_manifest_and_an_added_file(db: Database, tmp_path: Path) -> None:
    run = make_run(db, tmp_path / "20261206T000000Z")
    fresh = verify_run(db, run)
    assert fresh.ok, fresh.message
    assert fresh.files_checked == 3 and fresh.audit_rows_checked >= 1
    data = run / "03_job_stats" / "data" / "jobs.csv"
    original = data.read_bytes()
    data.write_bytes(original + b"3,failed\n")
    assert verify_run(db, run).message == ("output 03_job_stats/data/jobs.csv: changed since the run "
                                           "(size or sha256 differs from the manifest)")
    manifest_path = run / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = next(o for o in manifest["reports"][0]["outputs"] if o["path"].endswith("jobs.csv"))
    entry.update(bytes=data.stat().st_size, sha256=hashlib.sha256(data.read_bytes()).hexdigest())
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    edited = verify_run(db, run)
    assert not edited.ok and edited.message.startswith("manifest.json: its sha256 differs from the one recorded")
    data.write_bytes(original)
    make_run(db, tmp_path / "20261206T000001Z")
    again = tmp_path / "20261206T000001Z"
    checkpoints = again / "03_job_stats" / ".ipynb_checkpoints"  # JupyterLab's, on opening a notebook there
    checkpoints.mkdir()
    (checkpoints / "03_job_stats-checkpoint.ipynb").write_text("{}")
    assert verify_run(db, again).ok
    (again / "03_job_stats" / "data" / "extra.csv").write_text("id\n9\n")
    planted = verify_run(db, again)
    assert not planted.ok
    assert planted.message == ("file 03_job_stats/data/extra.csv: not in the manifest "
                               "(added to the run folder after the run)")


def test_two_runs_started_in_the_same_second_into_two_folders_both_verify(db: Database, tmp_path: Path) -> None:
    """Run ids are timestamps, unique per --out folder only: verify compared against the first such audit row."""
    first = make_run(db, tmp_path / "nightly" / "20261206T020000Z")
    second = make_run(db, tmp_path / "weekly" / "20261206T020000Z")  # another manifest: the audit tail moved
    assert (first / "manifest.json").read_bytes() != (second / "manifest.json").read_bytes()
    assert verify_run(db, first).ok and verify_run(db, second).ok


def test_a_run_on_an_unmigrated_database_leaves_no_empty_run_folder(empty_url: str, tmp_path: Path) -> None:
    """The lineage is read before the run folder is made (an empty folder counted as a run for --keep)."""
    from stratlogic.config import load_settings
    from stratlogic.errors import StratLogicError
    from stratlogic.reports.run import plan, run

    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    db = Database.from_settings(load_settings(home=tmp_path, database_url=empty_url))
    try:
        with pytest.raises(StratLogicError, match="not migrated"):
            run(db, plan(notebooks, ["05_audit_report"], {}), tmp_path / "out", notebooks=notebooks)
    finally:
        db.dispose()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
