"""Notebook tests: a freshly migrated and seeded SQLite database, and helpers to execute notebooks against it.

The kernels get the database through their environment (``STRATLOGIC_DATABASE_URL``, ``…_ARTIFACT_STORE``,
``…_ADMIN_PASSWORD``, ``…_HOME``, ``…_NOTEBOOKS``), handed to each kernel process only: this process's own
environment is never changed, so the rest of the suite sees its usual settings. Executed notebooks are
cached per session: each report notebook runs once with papermill, and several tests read the result.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest

from stratlogic.config import Settings
from stratlogic.db import Database, migrate
from stratlogic.seed import DemoOptions, seed_demo
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
REPORTS = ["03_job_stats", "04_artifact_metadata", "05_audit_report"]
#: Strong enough for the password policy; a test value, never a default anywhere.
ADMIN_PASSWORD = "Notebook-Tests-Passphrase-7319"
DEMO = DemoOptions(users=6, jobs=300, days=14, seed=7)


@dataclass(frozen=True)
class Place:
    """One temporary installation: its folder, database URL and the environment its kernels get."""

    folder: Path
    url: str

    @property
    def env(self) -> dict[str, str]:
        """The kernel environment: this one plus the place's settings (widgets off, as under a scheduler)."""
        ours = {"STRATLOGIC_DATABASE_URL": self.url, "STRATLOGIC_ARTIFACT_STORE": f"file:{self.folder / 'artifacts'}",
                "STRATLOGIC_ADMIN_PASSWORD": ADMIN_PASSWORD, "STRATLOGIC_HOME": str(self.folder),
                "STRATLOGIC_NOTEBOOKS": str(NOTEBOOKS), "STRATLOGIC_WIDGETS": "0", "MPLBACKEND": "agg"}
        return {**{k: v for k, v in os.environ.items() if not k.startswith("STRATLOGIC_")}, **ours}

    def settings(self) -> Settings:
        """The same settings, given explicitly (this process's environment is left alone)."""
        return make_settings(self.url, self.folder, admin_password=ADMIN_PASSWORD)

    def database(self) -> Database:
        """A Database on the place (close it with ``dispose()``)."""
        return Database.from_settings(self.settings())


def new_place(folder: Path) -> Place:
    """An empty place: no database file yet."""
    folder.mkdir(parents=True, exist_ok=True)
    return Place(folder, f"sqlite:///{folder / 'stratlogic.db'}")


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Place:
    """A SQLite database migrated to head and seeded with a small demo (shared by the read-only reports)."""
    place = new_place(tmp_path_factory.mktemp("seeded"))
    migrate.upgrade(place.settings(), "head")
    database = place.database()
    try:
        seed_demo(database, DEMO)
    finally:
        database.dispose()
    return place


@pytest.fixture
def seeded_db(seeded: Place) -> Iterator[Database]:
    """The seeded database, for computing what the notebooks should show."""
    database = seeded.database()
    yield database
    database.dispose()


def execute(name: str, place: Place, out: Path, parameters: Mapping[str, Any] | None = None, *,
            env: Mapping[str, str] | None = None) -> Any:
    """Run ``notebooks/NAME.ipynb`` with papermill in a kernel of this interpreter with the place's environment
    (plus ``env``)."""
    import papermill

    from stratlogic.reports._kernel import kernel_manager_class

    out.parent.mkdir(parents=True, exist_ok=True)
    manager = kernel_manager_class({**place.env, **(env or {})})
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=dict(parameters or {}),
                               cwd=str(place.folder), kernel_manager_class=manager, progress_bar=False,
                               log_output=False, execution_timeout=240)
    return nbformat.read(out, as_version=4)


@pytest.fixture(scope="session")
def executed(seeded: Place, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each report notebook executed once on the seeded database with its defaults, by name."""
    out = tmp_path_factory.mktemp("executed")
    return {name: execute(name, seeded, out / f"{name}.ipynb") for name in REPORTS}


def tagged(notebook: Any, tag: str) -> Any:
    """The one cell carrying ``tag``."""
    found = [cell for cell in notebook.cells if tag in cell.get("metadata", {}).get("tags", [])]
    assert len(found) == 1, f"{len(found)} cells tagged {tag!r}"
    return found[0]


class _Rows(HTMLParser):
    """(header, value) pairs of a two-column HTML table body, as a Styler renders the KPI table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str]] = []
        self._cell: str | None = None
        self._row: list[str] = []
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag in ("th", "td") and self._in_body:
            self._cell = ""

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._in_body:
            if len(self._row) == 2:
                self.rows.append((self._row[0], self._row[1]))
            self._row = []


def shown_rows(cell: Any) -> list[tuple[str, str]]:
    """The (label, value) rows of the HTML table a cell displayed."""
    htmls = [o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]
    assert len(htmls) == 1, cell.outputs
    parser = _Rows()
    parser.feed(htmls[0])
    return parser.rows


def python() -> str:
    """This interpreter (the venv's), for subprocesses."""
    return sys.executable
