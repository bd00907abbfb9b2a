"""``stratlogic reports``: list report notebooks, show their parameters, run them, verify a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from stratlogic.cli._common import cli_errors, database, err, out, settings
from stratlogic.reports.params import ParameterError, load_spec, notebooks_dir, read_params_file

app = typer.Typer(help="Report notebooks: list, parameters, scheduled runs (papermill), verify a run.",
                  no_args_is_help=True)

NotebooksOption = Annotated[Path | None, typer.Option(
    "--notebooks", help="Folder of the notebooks (default: $STRATLOGIC_NOTEBOOKS, else STRATLOGIC_HOME/notebooks).")]


def _folder(notebooks: Path | None) -> Path:
    settings()  # logging configured, settings checked
    return (notebooks or notebooks_dir()).resolve()


def _refuse(message: str) -> None:
    """Usage errors (unknown parameter, unparsable value): one line and exit 2, before any kernel starts."""
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(2)


@app.command("list")
def list_reports(notebooks: NotebooksOption = None) -> None:
    """List the notebooks, which run by default, and their parameters.

    Example: stratlogic reports list
    """
    from stratlogic.reports.run import DATA_CHANGING, report_names

    with cli_errors():
        folder = _folder(notebooks)
        table = Table("notebook", "runs by default", "parameters")
        for name in report_names(folder):
            spec = load_spec(name, folder)
            table.add_row(name, "no (changes data: --only)" if name in DATA_CHANGING else "yes", ", ".join(spec.names))
        out.print(table)


@app.command("params")
def params(name: Annotated[str, typer.Argument(help="Notebook name, e.g. 05_audit_report.")],
           notebooks: NotebooksOption = None) -> None:
    """Show a notebook's parameters: name, type, default and description.

    Example: stratlogic reports params 05_audit_report
    """
    with cli_errors():
        spec = load_spec(name, _folder(notebooks))
        table = Table("parameter", "type", "default", "description", title=spec.name)
        for param in spec.params:
            table.add_row(param.name, escape(param.type_text), escape(repr(param.default)), escape(param.description))
        out.print(table)


def _given(pairs: list[str], params_file: Path | None) -> dict[str, Any]:
    """``--params-file`` YAML, then each ``-p KEY=VALUE`` over it."""
    values: dict[str, Any] = {}
    if params_file is not None:
        values.update(read_params_file(params_file))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"-p {pair!r}: expected KEY=VALUE (e.g. -p since=-7d)")
        values[key.strip()] = value
    return values


@app.command("run")
def run(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for runs: each run writes OUT/<run id>/, OUT/latest.")],
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this notebook (repeatable); "
                                                   "01_migrate and 02_seed run only when named.")] = None,
    param: Annotated[list[str] | None, typer.Option("-p", "--param", help="KEY=VALUE, e.g. -p since=-7d, "
                                                    "-p statuses=failed,cancelled (repeatable).")] = None,
    params_file: Annotated[Path | None, typer.Option("--params-file", help="YAML mapping of parameters.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=1, help="Seconds per report (whole notebook).")]
    = None,
    keep: Annotated[int | None, typer.Option("--keep", min=1, help="Keep only the newest N runs in OUT.")] = None,
    notebooks: NotebooksOption = None,
) -> None:
    """Run report notebooks with papermill: executed notebooks, offline HTML, data files, manifest.

    Parameters are checked before any kernel starts (exit 2 on an unknown name or a bad value); exit 1
    when any report failed. Example: stratlogic reports run --out var/reports -p since=-7d --keep 14
    """
    from stratlogic.reports import run as runner

    with cli_errors():
        folder = _folder(notebooks)
        try:
            planned = runner.plan(folder, only or [], _given(param or [], params_file))
        except ParameterError as exc:
            _refuse(str(exc))
        result = runner.run(database(), planned, out_dir, notebooks=folder, timeout=timeout, keep=keep)
    for report in result.reports:
        line = f"{report.name}: {report.status} ({report.duration_seconds:.1f} s)"
        if report.error:
            line += f": {report.error.get('line', '')}"
        (out if report.status == "ok" else err).print(escape(line))
    out.print(f"index: {escape(str(result.folder / 'index.html'))}")
    if not result.ok:
        raise typer.Exit(1)


@app.command("verify")
def verify(folder: Annotated[Path, typer.Argument(help="A run folder (OUT/<run id>, or OUT/latest).")]) -> None:
    """Check a run: outputs against the manifest, the manifest against its audit row, the audit chain.

    Exit 1 naming the first bad file or row. Example: stratlogic reports verify var/reports/latest
    """
    from stratlogic.reports.verify import verify_run

    with cli_errors():
        result = verify_run(database(), folder)
    (out if result.ok else err).print(escape(result.message))
    if not result.ok:
        raise typer.Exit(1)


__all__ = ["app"]
