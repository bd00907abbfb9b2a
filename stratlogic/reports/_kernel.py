"""The kernel every report runs in: this interpreter's ipykernel, whatever kernelspec the notebook names.

A notebook saved on a laptop may name ``python3``, ``stratlogic`` or a conda kernel that does not exist
here, or exists but runs another Python without the package. papermill passes its engine options on to
nbclient, whose ``kernel_manager_class`` we replace by one whose kernel spec is always ``sys.executable -m
ipykernel_launcher`` with the environment the run chooses (the database, home and notebooks folder).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The name papermill records in the executed notebook's metadata.
KERNEL_NAME = "stratlogic-report"


def kernel_manager_class(env: Mapping[str, str], log: Path | None = None) -> type[Any]:
    """A jupyter_client ``AsyncKernelManager`` starting this interpreter's kernel with ``env`` added.

    ``log``: where the kernel process's own stdout/stderr go (its start-up warnings, a crash's last words)
    instead of the terminal or a cron mail; a notebook's outputs are in the notebook as usual.
    """
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    spec = KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                      display_name="StratLogic report (this interpreter)", language="python", env=dict(env))

    class HereKernelManager(AsyncKernelManager):
        """Ignores the kernel name: always this interpreter."""

        @property
        def kernel_spec(self) -> KernelSpec:
            return spec

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if log is None:
                await super()._async_launch_kernel(kernel_cmd, **kw)
                return
            with log.open("ab") as stream:  # the child keeps its own copy of the descriptor
                await super()._async_launch_kernel(kernel_cmd, **{"stdout": stream, "stderr": stream, **kw})

    return HereKernelManager


__all__ = ["KERNEL_NAME", "kernel_manager_class"]
