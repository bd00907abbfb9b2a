"""The soak test runs only when asked for (``-m soak``, ``make soak``): it takes minutes and eight processes.

Deselected here, not skipped, whatever other ``-m`` expression a run uses (``-m postgres`` included), so a
default or a backend-filtered run neither runs it nor reports it as a pass.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "soak" in (config.getoption("markexpr") or ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        items[:] = [item for item in items if not item.get_closest_marker("soak")]
        config.hook.pytest_deselected(items=soak)
