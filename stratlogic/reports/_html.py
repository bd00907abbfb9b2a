"""HTML of an executed notebook: no code cells or tracebacks, charts inline, and nothing fetched from the network.

nbconvert's lab template loads MathJax, require.js and mermaid (a script ``import("https://cdnjs...")``,
in every page even without a diagram) from a CDN unless their URLs are emptied; any other
``http(s)://`` reference left (a link in a markdown cell) is neutralised: a ``src`` is dropped, an ``href``
becomes the link's ``title``, so the file opens the same with no network and loads nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stratlogic.logs import redact

_EXTERNAL = re.compile(r"""\b(src|href)(\s*=\s*)(["'])(https?://[^"']*)\3""", re.IGNORECASE)
#: Any reference that would fetch or point at the network: an attribute, a script import, a CSS url()/@import.
EXTERNAL_REFERENCE = re.compile(r"""(?:(?:src|href)\s*=\s*|\bimport\s*\(\s*|url\(\s*|@import\s+)["']?https?://""",
                                re.IGNORECASE)


def _neutralise(match: re.Match[str]) -> str:
    attribute, quote, url = match.group(1).lower(), match.group(3), match.group(4)
    if attribute == "href":
        return f"title={quote}{url}{quote}"
    return "data-offline=\"\""


def offline(document: str) -> str:
    """``document`` with every external ``src``/``href`` neutralised."""
    return _EXTERNAL.sub(_neutralise, document)


def _shorten_errors(node: Any) -> None:
    """An error output shows its one line (``ValueError: ...``, secrets redacted), not the traceback: that is
    code, and the executed notebook beside the HTML keeps it whole."""
    for cell in node.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                line = redact(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
                output["traceback"], output["evalue"] = [line], line.partition(": ")[2]


def render(notebook: Path, target: Path) -> Path:
    """Write ``notebook`` as self-contained HTML without code cells or prompts."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,  # type: ignore[no-untyped-call]
                            exclude_output_prompt=True, mathjax_url="", require_js_url="",
                            mermaid_js_url="", mermaid_layout_elk_js_url="")
    node = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    _shorten_errors(node)
    body, _resources = exporter.from_notebook_node(node)
    target.write_text(offline(body), encoding="utf-8")
    return target


__all__ = ["EXTERNAL_REFERENCE", "offline", "render"]
