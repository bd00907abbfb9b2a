"""The interactive panel of a report notebook: controls built from its ``parameters`` cell re-run a view in place.

The controls come from the same spec that ``report_parameters`` validates (``Literal`` → a drop-down, ``bool``
→ a check box, lists → tag pickers, ``since``/``until`` → text in the window grammar), and every change goes
through ``ReportParameters.replace``, so a bad value shows the same one-line message a papermill run would
raise. Under papermill or nbval there is no person to drive a widget: :func:`interactive` says so and the
notebook skips the panel, leaving the parameters to drive everything.

Example (a notebook's last cell; it shows the panel in JupyterLab and nothing under papermill)::

    widgets.explore(p, lambda r: charts.volume(wb.stats.job_volume(by=r.by, since=r.since), title="Jobs"))
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from stratlogic.errors import StratLogicError
from stratlogic.reports import _types
from stratlogic.reports.params import Param, ReportParameters, ReportSpec

__all__ = ["FORCE_ENV", "ReportPanel", "explore", "interactive", "panel"]

#: ``1`` shows panels and ``0`` hides them whatever the frontend (tests, a headless JupyterLab).
FORCE_ENV = "STRATLOGIC_WIDGETS"
#: Parameters about where the report's files go, not about what it shows: no control for them.
NOT_SHOWN = frozenset({"output_dir", "export_format"})
_WINDOW_HINT = "-30d, today, 2026-12-01 or an ISO datetime"
View = Callable[[ReportParameters], object]


def interactive() -> bool:
    """Whether a person drives this kernel (JupyterLab, Notebook, VS Code), so widgets are worth showing.

    Frontends that people use allow ``input()``; papermill, nbclient and nbval execute with ``allow_stdin``
    off, which the kernel records for the running cell. ``STRATLOGIC_WIDGETS=1``/``0`` overrides.
    """
    forced = os.environ.get(FORCE_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    return bool(getattr(kernel, "_allow_stdin", False))


class ReportPanel(widgets.VBox):  # type: ignore[misc]
    """The controls, a status line and the view's output; ``rerun()`` is what every change calls."""

    def __init__(self, params: ReportParameters, view: View, controls: Mapping[str, widgets.Widget]) -> None:
        self.params = params
        self.view = view
        self.controls = dict(controls)
        self.status = widgets.HTML()
        self.output = widgets.Output()
        self.seconds: float | None = None
        self.error: str | None = None
        grid = widgets.GridBox([_labelled(name, control) for name, control in self.controls.items()],
                               layout=widgets.Layout(grid_template_columns="repeat(3, minmax(220px, 1fr))"))
        super().__init__([grid, self.status, self.output])
        for control in self.controls.values():
            control.observe(self._changed, names="value")

    def values(self) -> dict[str, Any]:
        """The controls' current values, by parameter name (unvalidated)."""
        return {name: list(control.value) if isinstance(control.value, tuple) else control.value
                for name, control in self.controls.items()}

    def rerun(self) -> bool:
        """Validate the controls' values and re-run the view into the output; False (and a message) if refused.

        A value the view's own calls refuse (an owner nobody has) is shown the same way, as one line; the
        previous output stays until a view succeeds.
        """
        started = time.perf_counter()
        try:
            params = self.params.replace(**self.values())
            shown = list(_flatten(self.view(params)))
        except StratLogicError as exc:
            self.error = str(exc)
            self.status.value = f"<span style='color:#c62828'>{html.escape(self.error)}</span>"
            return False
        with self.output:
            self.output.clear_output(wait=True)
            for item in shown:
                display(item)  # type: ignore[no-untyped-call]
        self.params, self.error = params, None
        self.seconds = time.perf_counter() - started
        self.status.value = f"<span style='color:#616161'>updated in {self.seconds:.2f} s</span>"
        return True

    def _changed(self, _change: Mapping[str, Any]) -> None:
        self.rerun()


def panel(spec: ReportSpec, params: ReportParameters, view: View, *,
          choices: Mapping[str, Sequence[str]] | None = None, run: bool = True) -> ReportPanel:
    """A panel of controls for ``spec``'s parameters, starting at ``params``, that re-runs ``view`` on change.

    Args:
        view: called with the validated parameters; what it returns (one object or a list) is displayed.
        choices: options for list parameters whose values are not a closed set the package knows
            (``{"owners": [...]}``); job statuses and audit actions are offered without being given.
        run: draw the view once straight away.
    """
    given = dict(choices or {})
    controls = {param.name: _control(param, params[param.name], given.get(param.name))
                for param in spec.params if param.name not in NOT_SHOWN}
    built = ReportPanel(params, view, controls)
    if run:
        built.rerun()
    return built


def explore(params: ReportParameters, view: View, *, choices: Mapping[str, Sequence[str]] | None = None
            ) -> ReportPanel | None:
    """The panel for a notebook's last cell: built and returned (so the cell shows it) only when
    :func:`interactive`; None under papermill and nbval, where the parameters alone drive the report."""
    return panel(params.spec, params, view, choices=choices) if interactive() else None


def _control(param: Param, value: Any, options: Sequence[str] | None) -> widgets.Widget:
    """The widget for one parameter's type, labelled with its name and described by its comment."""
    common: dict[str, Any] = {"description": param.name, "tooltip": param.description,
                              "style": {"description_width": "initial"}}
    kind = param.kind
    if kind.base == "literal":
        return widgets.Dropdown(options=list(kind.choices), value=value, **common)
    if kind.base == "bool":
        return widgets.Checkbox(value=bool(value), indent=False, **common)
    if kind.base in ("int", "float") and value is not None:
        maker = widgets.IntText if kind.base == "int" else widgets.FloatText
        return maker(value=value, continuous_update=False, **common)
    if kind.is_list:
        allowed = list(options or _known_choices(param.name))
        return widgets.TagsInput(value=[str(v) for v in value or []], allowed_tags=allowed, allow_duplicates=False,
                                 tooltip=param.description)
    hint = _WINDOW_HINT if param.name in ("since", "until") else param.description
    return widgets.Text(value="" if value is None else str(value), placeholder=hint, continuous_update=False,
                        **common)


def _known_choices(name: str) -> list[str]:
    """The closed sets the parameter checks use (job statuses, audit actions); empty: any tag is accepted."""
    if name in ("status", "statuses"):
        return _types._statuses()
    if name in ("action", "actions"):
        return _types._actions()
    return []


def _labelled(name: str, control: widgets.Widget) -> widgets.Widget:
    """Tag pickers have no description of their own: put the parameter's name beside them."""
    if isinstance(control, widgets.TagsInput):
        return widgets.HBox([widgets.Label(name), control], layout=widgets.Layout(align_items="center"))
    return control


def _flatten(shown: object) -> Iterable[object]:
    if shown is None:
        return []
    if isinstance(shown, list | tuple):
        return [item for item in shown if item is not None]
    return [shown]
