"""Typed report parameters: read from a notebook's ``parameters`` cell with ``ast``, coerced and validated.

papermill only *warns* about an unknown parameter and injects whatever it is given; its ``--help-notebook``
loses the types. Here every name in the cell carries an annotation, so one spec serves ``reports params``,
the pre-kernel check of ``reports run``, the notebook's own first call and the widget panel:

    # %% tags=["parameters"]
    since: str = "-7d"            # start of the window (-7d, today, 2026-12-01, ISO datetime)
    statuses: list[str] = []      # job statuses to keep (empty: all)
    export_format: Literal["parquet", "csv", "xlsx", "none"] = "none"  # data file to keep

    p = stratlogic.report_parameters("03_job_stats", globals())   # the next cell
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratlogic.config import default_home
from stratlogic.errors import ValidationError
from stratlogic.reports import _types
from stratlogic.reports._types import ParamType

#: Environment variable naming the notebooks folder (``reports run --notebooks`` sets it for its kernels).
NOTEBOOKS_ENV = "STRATLOGIC_NOTEBOOKS"


_FROM_TEXT = ParamType("")  # Param's default kind: parse it from the annotation text


class ParameterError(ValidationError):
    """A report parameter is unknown or its value does not parse as its declared type."""


@dataclass(frozen=True)
class Param:
    """One declared parameter: its name, annotation as written, default value and ``# comment``."""

    name: str
    type_text: str
    default: Any
    description: str
    kind: ParamType = _FROM_TEXT  # parsed from ``type_text`` when not given

    def __post_init__(self) -> None:
        if self.kind is _FROM_TEXT:
            try:
                node = ast.parse(self.type_text, mode="eval").body
                parsed = _types.parse_annotation(node, f"parameter {self.name!r}")
            except SyntaxError:
                raise ParameterError(f"parameter {self.name!r}: {self.type_text!r} is not a type") from None
            except ValidationError as exc:
                raise ParameterError(str(exc)) from None
            object.__setattr__(self, "kind", parsed)

    def coerce(self, value: Any) -> Any:
        """``value`` as this parameter's type (strings are parsed); ParameterError naming it otherwise."""
        try:
            return _types.coerce(self.name, self.kind, value)
        except ValidationError as exc:
            raise ParameterError(_types.named(self.name, exc)) from None


@dataclass(frozen=True)
class ReportSpec:
    """A notebook's parameters, in the order the ``parameters`` cell declares them."""

    name: str
    path: Path
    params: tuple[Param, ...]

    @property
    def names(self) -> list[str]:
        """The declared names."""
        return [param.name for param in self.params]

    def get(self, name: str) -> Param:
        """The parameter ``name``; ParameterError listing the real ones when there is none."""
        for param in self.params:
            if param.name == name:
                return param
        raise ParameterError(f"unknown parameter {name!r} for {self.name}; its parameters: "
                             f"{', '.join(self.names) or 'none'}")

    def defaults(self) -> dict[str, Any]:
        """Every parameter's default."""
        return {param.name: param.default for param in self.params}


def notebooks_dir() -> Path:
    """Where the notebooks live: ``$STRATLOGIC_NOTEBOOKS``, else ``notebooks/`` in ``STRATLOGIC_HOME``."""
    explicit = os.environ.get(NOTEBOOKS_ENV)
    return Path(explicit).expanduser().resolve() if explicit else default_home() / "notebooks"


def find_notebook(name_or_path: str | Path, folder: Path | None = None) -> Path:
    """The notebook file for a name (``03_job_stats``, ``03_job_stats.ipynb``) or a path: in ``folder``, else in
    ``notebooks_dir()`` or the working folder."""
    given = Path(name_or_path)
    if given.suffix in (".ipynb", ".py") and given.is_file():
        return given.resolve()
    where = folder or notebooks_dir()
    stem = given.name.removesuffix(".ipynb").removesuffix(".py")
    # then the working folder: a JupyterLab kernel runs in the notebook's own folder
    places = [where] if folder is not None else [where, Path.cwd()]
    for candidate in (place / f"{stem}{suffix}" for place in places for suffix in (".ipynb", ".py")):
        if candidate.is_file():
            return candidate.resolve()
    known = ", ".join(p.stem for p in sorted(where.glob("*.ipynb"))) or "none"
    raise ParameterError(f"no notebook {str(name_or_path)!r} in {where}; notebooks there: {known}")


def load_spec(name_or_path: str | Path, folder: Path | None = None) -> ReportSpec:
    """Parse the notebook's single ``parameters`` cell (``.ipynb``, or a jupytext ``py:percent`` file)."""
    path = find_notebook(name_or_path, folder)
    source = _parameters_source(path)
    return ReportSpec(path.stem, path, tuple(_params(source, path)))


def _parameters_source(path: Path) -> str:
    cells = list(_ipynb_cells(path) if path.suffix == ".ipynb" else _percent_cells(path))
    tagged = [source for tags, source in cells if "parameters" in tags]
    if len(tagged) != 1:
        raise ParameterError(f"{path.name}: expected exactly one cell tagged 'parameters', found {len(tagged)}")
    return tagged[0]


def _ipynb_cells(path: Path) -> Iterator[tuple[list[str], str]]:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            source = cell.get("source", "")
            yield list(cell.get("metadata", {}).get("tags", [])), "".join(source) if isinstance(source, list) \
                else str(source)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ParameterError(f"{path}: not a readable notebook ({type(exc).__name__})") from None


def _percent_cells(path: Path) -> Iterator[tuple[list[str], str]]:
    tags: list[str] = []
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            yield tags, "\n".join(lines)
            header = line.partition("tags=")[2].strip()
            tags = json.loads(header.split("]")[0] + "]") if header.startswith("[") else []
            lines = []
        else:
            lines.append(line)
    yield tags, "\n".join(lines)


def _params(source: str, path: Path) -> Iterator[Param]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"{path.name}: parameters cell does not parse: {exc.msg} (line {exc.lineno})") from None
    lines = source.splitlines()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):  # `from typing import Literal` may sit here
            continue
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.target, ast.Name) or node.value is None:
            raise ParameterError(f"{path.name}: parameters cell line {getattr(node, 'lineno', '?')}: every "
                                 "statement must be 'name: type = default  # description' (or an import)")
        name, type_text = node.target.id, ast.unparse(node.annotation)
        try:
            kind = _types.parse_annotation(node.annotation, f"{path.name}: parameter {name!r}")
        except ValidationError as exc:
            raise ParameterError(str(exc)) from None
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(f"{path.name}: parameter {name!r}: default must be a literal") from None
        param = Param(name, type_text, default, _comment(lines, node), kind)
        param.coerce(default)  # a default that does not pass its own type is the notebook's bug: say so now
        yield param


def _comment(lines: list[str], node: ast.AnnAssign) -> str:
    """The trailing ``# comment`` on the statement's last line."""
    last = lines[(node.end_lineno or node.lineno) - 1]
    return last[node.end_col_offset or 0:].partition("#")[2].strip()


class ReportParameters(Mapping[str, Any]):
    """Resolved parameters of one report: attribute access (``p.since``), frozen, plus ``p.window``."""

    __slots__ = ("_spec", "_values")
    _spec: ReportSpec
    _values: dict[str, Any]

    def __init__(self, spec: ReportSpec, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        values: dict[str, Any] = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        spec: ReportSpec = object.__getattribute__(self, "_spec")
        raise AttributeError(f"{spec.name} has no parameter {name!r}; its parameters: {', '.join(values)}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("report parameters are frozen: change them in the parameters cell or with -p")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"ReportParameters({self._spec.name}: {shown})"

    @property
    def spec(self) -> ReportSpec:
        """The notebook's declared parameters."""
        return self._spec

    @property
    def window(self) -> Any:
        """The analytics window (``since``/``until``/``tz``) resolved once, as ``analytics.window.Window``."""
        from stratlogic.analytics.window import parse_window

        if "since" not in self._values:
            raise AttributeError(f"{self._spec.name} has no 'since' parameter, so no window")
        return parse_window(self._values["since"], self._values.get("until", "now"),
                            tz=self._values.get("tz", "UTC"))

    def as_dict(self) -> dict[str, Any]:
        """A plain dict copy (JSON-ready: what the manifest records)."""
        return dict(self._values)

    def replace(self, **changes: Any) -> ReportParameters:
        """A copy with some values changed, each coerced and validated (the widget panel uses this)."""
        return resolve(self._spec, {**self._values, **changes})


def resolve(spec: ReportSpec, values: Mapping[str, Any], *, strict: bool = True) -> ReportParameters:
    """Every declared parameter, from ``values`` or its default, coerced and checked together.

    Args:
        strict: refuse names in ``values`` the notebook does not declare (the CLI); False reads only the
            declared names (a kernel's ``globals()`` holds much else).
    """
    if strict:
        for name in values:
            spec.get(name)
    resolved = {p.name: p.coerce(values[p.name]) if p.name in values else p.default for p in spec.params}
    _check_window(resolved)
    return ReportParameters(spec, resolved)


def _check_window(values: Mapping[str, Any]) -> None:
    """``since`` before ``until`` (each already parsed alone): the window as a whole must make sense."""
    if "since" not in values:
        return
    from stratlogic.analytics.window import parse_window

    try:
        parse_window(values["since"], values.get("until", "now"), tz=values.get("tz", "UTC"))
    except ValidationError as exc:
        culprit = next((n for n in ("until", "tz") if str(exc).startswith(f"{n}: ")), "since")
        raise ParameterError(_types.named(culprit, exc)) from None


def read_params_file(path: Path) -> dict[str, Any]:
    """A ``--params-file`` YAML mapping, dates and times kept as written (``since: 2026-12-01`` is the string the
    CLI's ``-p since=2026-12-01`` gives; a date YAML cannot build, such as 2026-13-45, is then refused naming it)."""
    import yaml

    class _Loader(yaml.SafeLoader):
        """SafeLoader without the implicit timestamp type."""

    _Loader.yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506  # a SafeLoader
    except (OSError, UnicodeError, yaml.YAMLError) as exc:
        raise ParameterError(f"--params-file {path}: cannot read it ({type(exc).__name__})") from None
    if not isinstance(loaded, dict | None):
        raise ParameterError(f"--params-file {path}: expected a mapping of parameter: value")
    return {str(key): value for key, value in (loaded or {}).items()}


def report_parameters(name: str, values: Mapping[str, Any]) -> ReportParameters:
    """Validate a notebook's parameters in its second cell: ``p = report_parameters("05_audit_report", globals())``.

    Reads the spec of notebook ``name`` (its ``parameters`` cell), takes each declared name's value from
    ``values`` (papermill may have injected strings), coerces and validates it, and returns a frozen object
    with attribute access. A bad value raises ``ValidationError`` ("parameter 'since': ...").
    """
    return resolve(load_spec(name), values, strict=False)


__all__ = ["NOTEBOOKS_ENV", "Param", "ParameterError", "ReportParameters", "ReportSpec", "find_notebook",
           "load_spec", "notebooks_dir", "read_params_file", "report_parameters", "resolve"]
