"""nbval (``--nbval-lax``) over every notebook, each against a fresh database: nothing raises, top to bottom.

nbval runs in a pytest of its own (a subprocess) so its kernels get the temporary database through their
environment while this process keeps its own; ``nbval_sanitize.cfg`` masks times, ids, hashes and memory
addresses. The data-changing notebooks (01_migrate, 02_seed) run in order on an empty database of their own;
the reports run on the seeded one. What the reports show is checked in test_notebooks_execute.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.notebooks.conftest import NOTEBOOKS, REPORTS, ROOT, Place, new_place, python

pytestmark = [pytest.mark.sqlite, pytest.mark.slow]
SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def nbval(place: Place, names: list[str]) -> subprocess.CompletedProcess[str]:
    """Run nbval on the named notebooks with the place's environment; returns the finished process."""
    command = [python(), "-m", "pytest", "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=240",
               "--nbval-sanitize-with", str(SANITIZE),
               "-p", "no:cacheprovider", "-q", "-o", "addopts=", "--rootdir", str(ROOT),
               *[str(NOTEBOOKS / f"{name}.ipynb") for name in names]]
    return subprocess.run(command, cwd=place.folder, env=place.env, capture_output=True, text=True, timeout=600,
                          check=False)


def test_nbval_runs_the_report_notebooks_on_the_seeded_database(seeded: Place) -> None:
    done = nbval(seeded, REPORTS)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_nbval_runs_migrate_then_seed_on_a_database_of_their_own(tmp_path: Path) -> None:
    place = new_place(tmp_path / "own")
    done = nbval(place, ["01_migrate", "02_seed"])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert (place.folder / "stratlogic.db").is_file()
