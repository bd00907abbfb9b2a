"""Report notebooks: list them, show their parameters, run them (papermill) and verify a run.

    service.run(db, folder, Path("var/reports"), values={"since": "-7d"}, keep=14, actor=actor)

Parameters are checked before any kernel starts (``ParameterError``, a ``ValidationError``: the CLI exits 2
on it); a run appends one ``report.run`` audit row naming the caller's actor. Papermill and nbconvert are
imported only by ``run`` and ``verify``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratlogic.db import Database
from stratlogic.db.actor import Actor, as_actor
from stratlogic.reports.params import ParameterError, ReportSpec, load_spec, notebooks_dir, read_params_file
from stratlogic.services._base import entry

if TYPE_CHECKING:
    from stratlogic.reports.run import RunResult
    from stratlogic.reports.verify import RunVerification


@dataclass(frozen=True)
class ReportInfo:
    """One notebook: its name, whether ``run`` runs it when none is named, and its parameters' names."""

    name: str
    runs_by_default: bool
    parameters: tuple[str, ...]


def notebooks_folder(given: Path | None = None) -> Path:
    """The notebooks' folder: ``given``, else ``$STRATLOGIC_NOTEBOOKS``, else ``STRATLOGIC_HOME/notebooks``."""
    return (given or notebooks_dir()).resolve()


@entry("reports.list", writes=False)
def list_reports(folder: Path, *, actor: Actor) -> list[ReportInfo]:
    """Every notebook in ``folder`` (sorted) with its parameters; the data-changing ones run only when named.

    A folder that does not exist is refused naming it (a mistyped ``--notebooks`` listed nothing, silently).
    """
    from stratlogic.reports.run import DATA_CHANGING, report_names

    if not folder.is_dir():
        raise ParameterError(f"notebooks folder {str(folder)!r} does not exist or is not a folder")
    with as_actor(actor):
        return [ReportInfo(name, name not in DATA_CHANGING, tuple(load_spec(name, folder).names))
                for name in report_names(folder)]


@entry("reports.params", writes=False)
def params(name: str, folder: Path, *, actor: Actor) -> ReportSpec:
    """A notebook's parameters (name, type, default, description); ParameterError naming an unknown notebook."""
    with as_actor(actor):
        return load_spec(name, folder)


def given_values(values: Mapping[str, Any] | None = None, params_file: Path | None = None) -> dict[str, Any]:
    """The values a run was given: the ``params_file`` YAML mapping, then ``values`` over it."""
    chosen: dict[str, Any] = {}
    if params_file is not None:
        chosen.update(read_params_file(params_file))
    chosen.update(values or {})
    return chosen


@entry("reports.run", writes=True)
def run(database: Database, folder: Path, out: Path, *, actor: Actor, only: Sequence[str] = (),
        values: Mapping[str, Any] | None = None, params_file: Path | None = None, timeout: float | None = None,
        keep: int | None = None) -> RunResult:
    """Run the chosen notebooks (all but the data-changing ones when ``only`` is empty) into ``out/<run id>/``.

    Every parameter is checked first: an unknown name or a bad value raises ParameterError before a kernel
    starts or a folder is made. A failed report does not stop the others (``RunResult.ok`` says).
    """
    from stratlogic.reports import run as runner  # papermill, nbconvert: only a run pays for them

    planned = runner.plan(folder, only, given_values(values, params_file))
    with as_actor(actor):
        return runner.run(database, planned, out, notebooks=folder, timeout=timeout, keep=keep, actor=actor.user_id)


@entry("reports.verify", writes=False)
def verify(database: Database, folder: Path, *, actor: Actor) -> RunVerification:
    """Check a run folder: its files against the manifest, the manifest against its audit row, the chain."""
    from stratlogic.reports.verify import verify_run

    with as_actor(actor):
        return verify_run(database, folder)


__all__ = ["ParameterError", "ReportInfo", "given_values", "list_reports", "notebooks_folder", "params", "run",
           "verify"]
