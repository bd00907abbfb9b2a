"""``stratlogic reports``: list report notebooks, show their parameters, run them, verify a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from stratlogic.cli._common import actor, cli_errors, database, err, out, settings
from stratlogic.cli._output import AsCsv, AsJson, emit, output_format

app = typer.Typer(help="Report notebooks: list, parameters, scheduled runs (papermill), verify a run.",
                  no_args_is_help=True)

NotebooksOption = Annotated[Path | None, typer.Option(
    "--notebooks", help="Folder of the notebooks (default: $STRATLOGIC_NOTEBOOKS, else STRATLOGIC_HOME/notebooks).")]


def _folder(notebooks: Path | None) -> Path:
    from stratlogic.services.reports import notebooks_folder

    settings()  # logging configured, settings checked
    return notebooks_folder(notebooks)


def _refuse(message: str) -> NoReturn:
    """Usage errors (unknown parameter, unparsable value): one line and exit 2, before any kernel starts."""
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(2)


@app.command("list")
def list_reports(notebooks: NotebooksOption = None, as_json: AsJson = False, as_csv: AsCsv = False) -> None:
    """List the notebooks, which run by default, and their parameters.

    Example: stratlogic reports list
    """
    from stratlogic.services import reports as service

    with cli_errors():
        fmt = output_format(as_json, as_csv)
        found = service.list_reports(_folder(notebooks), actor=actor())
    if fmt == "table":
        shown = [{"notebook": r.name, "runs by default": "yes" if r.runs_by_default else "no (changes data: --only)",
                  "parameters": ", ".join(r.parameters)} for r in found]
        emit(shown, fmt=fmt, columns=["notebook", "runs by default", "parameters"], empty="no report notebooks")
        return
    emit(({"notebook": r.name, "runs_by_default": r.runs_by_default, "parameters": list(r.parameters)}
          for r in found), fmt=fmt, columns=["notebook"])


@app.command("params")
def params(name: Annotated[str, typer.Argument(help="Notebook name, e.g. 05_audit_report.")],
           notebooks: NotebooksOption = None, as_json: AsJson = False, as_csv: AsCsv = False) -> None:
    """Show a notebook's parameters: name, type, default and description.

    Example: stratlogic reports params 05_audit_report
    """
    from stratlogic.services import reports as service

    with cli_errors():
        fmt = output_format(as_json, as_csv)
        spec = service.params(name, _folder(notebooks), actor=actor())
    rows = [{"parameter": p.name, "type": p.type_text,
             "default": repr(p.default) if fmt == "table" else _plain(p.default), "description": p.description}
            for p in spec.params]
    emit(rows, fmt=fmt, columns=["parameter", "type", "default", "description"], title=spec.name,
         empty=f"{spec.name} declares no parameters")


def _plain(value: Any) -> Any:
    """A default as JSON and CSV carry it: JSON's own types as they are, anything else as its repr."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(item, bool | int | float | str) for item in value):
        return list(value)
    return repr(value)


def _pairs(pairs: list[str]) -> dict[str, str]:
    """Each ``-p KEY=VALUE`` (a later one wins); the values are parsed by the notebook's declared types."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            _refuse(f"-p {pair!r}: expected KEY=VALUE (e.g. -p since=-7d)")
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
    from rich.markup import escape

    from stratlogic.services import reports as service

    with cli_errors():
        values = _pairs(param or [])
        try:
            result = service.run(database(), _folder(notebooks), out_dir, actor=actor(), only=only or [],
                                 values=values, params_file=params_file, timeout=timeout, keep=keep)
        except service.ParameterError as exc:
            _refuse(str(exc))
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
    from rich.markup import escape

    from stratlogic.services import reports as service

    with cli_errors():
        result = service.verify(database(), folder, actor=actor())
    (out if result.ok else err).print(escape(result.message))
    if not result.ok:
        raise typer.Exit(1)


__all__ = ["app"]
