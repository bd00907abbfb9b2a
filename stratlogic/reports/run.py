"""``stratlogic reports run``: every chosen notebook through papermill, each in its own kernel.

Order of events: all parameters are resolved and checked first (nothing starts when one is bad); then each
report runs in a fresh kernel of this interpreter (``_kernel``), its executed notebook saved after every
cell, under a wall-clock budget covering the whole report; a failure, a timeout or a dead kernel ends that
report only. Each report's HTML is rendered offline (``_html``); then ``index.html``, ``manifest.json``
and one ``report.run`` audit row holding the manifest's hash. ``DIR/<run id>/`` per run, ``DIR/latest``
points at the newest, ``keep`` prunes older runs.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stratlogic.db import Database
from stratlogic.logs import redact
from stratlogic.reports import manifest as manifests
from stratlogic.reports._index import write_index
from stratlogic.reports._kernel import KERNEL_NAME, kernel_manager_class
from stratlogic.reports.manifest import ReportOutcome
from stratlogic.reports.params import NOTEBOOKS_ENV, ParameterError, ReportParameters, ReportSpec, load_spec, resolve

#: Notebooks that change data: they run only when named with ``--only``.
DATA_CHANGING = ("01_migrate", "02_seed")
RUN_ID = re.compile(r"^\d{8}T\d{6}Z(-\d{2})?$")
_START_TIMEOUT = 120


@dataclass(frozen=True)
class Planned:
    """A report ready to run: its spec and its checked parameters."""

    spec: ReportSpec
    parameters: ReportParameters
    given: frozenset[str] = frozenset()


@dataclass
class RunResult:
    """Where the run went and how each report ended."""

    run_id: str
    folder: Path
    manifest: Path
    manifest_sha256: str
    reports: list[ReportOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every report succeeded."""
        return all(report.status == "ok" for report in self.reports)


def report_names(folder: Path) -> list[str]:
    """Every notebook in ``folder`` (sorted), the data-changing ones included."""
    return sorted(path.stem for path in folder.glob("*.ipynb") if not path.name.startswith("."))


def default_reports(folder: Path) -> list[str]:
    """The notebooks ``reports run`` runs when none is named: all but the data-changing ones."""
    return [name for name in report_names(folder) if name not in DATA_CHANGING]


def plan(folder: Path, only: Sequence[str], values: Mapping[str, Any]) -> list[Planned]:
    """Resolve and check every chosen report's parameters; ParameterError before anything runs.

    A name given in ``values`` applies to each chosen notebook declaring it; a name none declares is refused,
    listing the real parameters of each.
    """
    chosen: dict[str, ReportSpec] = {}
    for name in only or default_reports(folder):
        spec = load_spec(name, folder)
        chosen.setdefault(spec.name, spec)  # `--only X --only X.ipynb` is one report: one folder
    specs = list(chosen.values())
    if not specs:
        raise ParameterError(f"no report notebooks in {folder}")
    for name in values:
        if not any(name in spec.names for spec in specs):
            listing = "; ".join(f"{spec.name}: {', '.join(spec.names) or 'none'}" for spec in specs)
            raise ParameterError(f"unknown parameter {name!r}; parameters: {listing}")
    _check_output_dir(values)
    return [Planned(spec, resolve(spec, {k: v for k, v in values.items() if k in spec.names}),
                    frozenset(k for k in values if k in spec.names)) for spec in specs]


def _check_output_dir(values: Mapping[str, Any]) -> None:
    """A given ``output_dir`` must stay inside the report's ``data/`` folder: files written elsewhere would be
    missing from the manifest (and ``export_format`` overwrites what is there)."""
    given = values.get("output_dir")
    if given is None:
        return
    path = Path(str(given))
    if path.is_absolute() or ".." in path.parts:
        raise ParameterError(f"parameter 'output_dir': {str(given)!r} is outside the run folder, where the manifest "
                             "cannot keep its files; use a folder inside <report>/data (e.g. exports) or leave it out")


def new_run_folder(out: Path, now: datetime | None = None) -> tuple[str, Path]:
    """``out/<UTC timestamp>Z`` (``-02``.. if that second is taken), created."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 100):
        run_id = stamp if attempt == 1 else f"{stamp}-{attempt:02d}"
        try:
            (out / run_id).mkdir()
        except FileExistsError:
            continue
        return run_id, out / run_id
    raise ParameterError(f"too many runs in one second under {out}")


def kernel_env(db: Database, folder: Path) -> dict[str, str]:
    """What the kernels need to open the same database and find the notebooks' specs."""
    settings = db.settings
    return {NOTEBOOKS_ENV: str(folder), "STRATLOGIC_HOME": str(settings.home),
            "STRATLOGIC_DATABASE_URL": settings.database_url, "STRATLOGIC_ARTIFACT_STORE": settings.artifact_store,
            "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _input_notebook(spec: ReportSpec, folder: Path) -> Path:
    """papermill reads ``.ipynb``; a lone jupytext ``.py`` is converted first."""
    if spec.path.suffix == ".ipynb":
        return spec.path
    import jupytext

    converted = folder / f".{spec.name}.input.ipynb"
    jupytext.write(jupytext.read(spec.path), converted)
    return converted


def run_report(planned: Planned, run_folder: Path, env: Mapping[str, str], timeout: float | None) -> ReportOutcome:
    """Run one report: executed notebook, HTML and data files in ``run_folder/<name>/``."""
    spec = planned.spec
    folder = run_folder / spec.name
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    values = planned.parameters.as_dict()
    if "output_dir" in values and "output_dir" not in planned.given:
        values["output_dir"] = str(data)
    outcome = ReportOutcome(spec.name, spec.path.name, manifests.sha256_file(spec.path), values, _now())
    executed = folder / f"{spec.name}.ipynb"
    started = time.monotonic()
    outcome.status, outcome.error = _execute(_input_notebook(spec, folder), executed, values, data, env, timeout)
    outcome.duration_seconds = round(time.monotonic() - started, 3)
    outcome.finished_at = _now()
    for leftover in folder.glob(".*.input.ipynb"):
        leftover.unlink()
    if executed.is_file():
        _render_html(executed, folder / f"{spec.name}.html", outcome)
    outcome.outputs = manifests.outputs_of(folder, run_folder)
    return outcome


def _render_html(executed: Path, target: Path, outcome: ReportOutcome) -> None:
    from stratlogic.reports._html import render

    try:
        render(executed, target)
    except Exception as exc:  # a broken notebook must not cost the other reports their HTML
        outcome.status = "failed"
        outcome.error = outcome.error or {"line": redact(f"HTML rendering failed: {type(exc).__name__}: {exc}")}
        return
    outcome.html = target.relative_to(target.parent.parent).as_posix()


def cell_budget(timeout: float | None) -> Callable[[Any], int | None]:
    """nbclient's ``timeout_func``: each cell gets what is left of the report's budget (whole seconds, as
    nbclient takes them); once it is spent the next cell is not waited for: TimeoutError ends the report.
    (Giving it "at least 1 s" instead let a notebook of many short cells run on far past ``--timeout``.)"""
    if timeout is None:
        return lambda _cell: None
    deadline = time.monotonic() + timeout

    def remaining(_cell: Any) -> int:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the report's {timeout:g} s budget is spent")
        return max(1, math.ceil(left))

    return remaining


def _execute(notebook: Path, executed: Path, values: Mapping[str, Any], cwd: Path, env: Mapping[str, str],
             timeout: float | None) -> tuple[str, dict[str, Any] | None]:
    """papermill in this process, the kernel in its own; returns (status, error)."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    logging.getLogger("papermill").setLevel(logging.ERROR)  # its "unknown parameter" warning cannot apply here
    budget = cell_budget(timeout)
    try:
        papermill.execute_notebook(str(notebook), str(executed), parameters=dict(values),
                                   kernel_name=KERNEL_NAME, language="python", request_save_on_cell_execute=True,
                                   progress_bar=False, log_output=False, cwd=str(cwd),
                                   start_timeout=int(min(timeout or _START_TIMEOUT, _START_TIMEOUT)),
                                   kernel_manager_class=kernel_manager_class(env, executed.with_suffix(".kernel.log")),
                                   timeout_func=budget)
    except PapermillExecutionError as exc:
        index = _errored_cell(executed)  # papermill's cell_index predates the error banner it inserts at the top
        return "failed", _cell_error(exc.cell_index if index is None else index, exc.exec_count, exc.source,
                                     f"{exc.ename}: {exc.evalue}")
    except (CellTimeoutError, TimeoutError) as exc:
        why = f"timed out after {timeout:g} s (--timeout)" if timeout else f"timed out: {exc}"
        return "timeout", _partial_error(executed, why)
    except DeadKernelError:
        return "failed", _partial_error(executed, "the kernel died (out of memory, or killed)")
    except Exception as exc:  # papermill/nbclient raise many types; the report fails, the run goes on
        return "failed", _partial_error(executed, f"{type(exc).__name__}: {exc}")
    return "ok", None


def _first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return redact(lines[0][:300]) if lines else ""


def _cell_error(index: int | None, count: int | None, source: str | None, line: str) -> dict[str, Any]:
    return {"cell": index, "execution_count": count, "source": _first_line(source or ""), "line": _first_line(line)}


def _read(executed: Path) -> Any:
    import nbformat

    return nbformat.read(executed, as_version=4) if executed.is_file() else None  # type: ignore[no-untyped-call]


def _errored_cell(executed: Path) -> int | None:
    """The index, in the saved notebook, of the first cell whose output is an error."""
    notebook = _read(executed)
    for number, cell in enumerate(notebook.cells if notebook else []):
        if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
            return number
    return None


def _partial_error(executed: Path, line: str) -> dict[str, Any]:
    """The error of a report that stopped outside a cell's own exception: the last cell that started."""
    index, source = None, ""
    notebook = _read(executed)
    for number, cell in enumerate(notebook.cells if notebook else []):
        if cell.get("metadata", {}).get("papermill", {}).get("start_time"):
            index, source = number, cell.source
    return _cell_error(index, None, source, line)


def run(db: Database, planned: Sequence[Planned], out: Path, *, notebooks: Path, timeout: float | None = None,
        keep: int | None = None, actor: int | None = None) -> RunResult:
    """Run ``planned`` reports into ``out/<run id>/`` and record the run; see the module docstring."""
    lineage = manifests.lineage(db)  # first: an unreachable or unmigrated database leaves no empty run folder
    out = out.absolute()  # kernels run in their report's folder: a relative path would point elsewhere there
    run_id, folder = new_run_folder(out)
    started = _now()
    env = kernel_env(db, notebooks)
    outcomes = [run_report(item, folder, env, timeout) for item in planned]
    index = write_index(folder, run_id, lineage, outcomes)
    document = manifests.build(run_id, started, _now(), lineage, manifests.describe(index, folder), outcomes)
    path, digest = manifests.write(document, folder)
    manifests.record_run(db, run_id, digest, outcomes, actor)
    point_latest(out, run_id)
    if keep is not None:
        prune(out, keep)
    return RunResult(run_id, folder, path, digest, outcomes)


def point_latest(out: Path, run_id: str) -> None:
    """Make ``out/latest`` a relative symlink to the run (replaced atomically)."""
    partial = out / ".latest.partial"
    partial.unlink(missing_ok=True)
    partial.symlink_to(run_id)
    partial.replace(out / "latest")


def runs(out: Path) -> list[Path]:
    """The run folders under ``out``, oldest first (only names of the run-id form)."""
    return sorted(path for path in out.iterdir() if path.is_dir() and not path.is_symlink() and RUN_ID.match(path.name))


def prune(out: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` run folders; returns what was deleted."""
    if keep < 1:
        raise ParameterError(f"--keep {keep} would delete the run just made; use 1 or more")
    doomed = runs(out)[:-keep]
    for folder in doomed:
        shutil.rmtree(folder)
    return doomed


__all__ = ["DATA_CHANGING", "Planned", "RunResult", "cell_budget", "default_reports", "plan", "point_latest", "prune",
           "report_names", "run", "run_report", "runs"]
