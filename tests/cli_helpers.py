"""Run the ``stratlogic`` command with a chosen environment: the real console script in a subprocess, or the
Typer app in this process (a console script start costs seconds on a busy machine)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from typer.testing import CliRunner, Result

from stratlogic import logs
from stratlogic.cli import _common, app
from stratlogic.config import get_settings

BIN = Path(sys.executable).parent / "stratlogic"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``stratlogic ARGS`` (in ``cwd``) with STRATLOGIC_* from the caller's environment removed, then ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STRATLOGIC_")}
    clean.update(env or {})
    return subprocess.run([str(BIN), *args], env=clean, capture_output=True, text=True, timeout=timeout,
                          check=False, cwd=cwd)


def invoke(env: Mapping[str, str | None], *args: str) -> Result:
    """Run ``stratlogic ARGS`` in this process with ``env``.

    The command configures logging onto the runner's captured stderr: put the logger back afterwards. Its
    Database is disposed when the command ends; closing again here makes sure none outlives the invocation.
    """
    logger = logging.getLogger("stratlogic")
    handlers, level, propagate, configured = list(logger.handlers), logger.level, logger.propagate, logs._configured
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env=env)
    finally:
        _common.close()
        get_settings.cache_clear()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logs._configured = propagate, configured


def run_here(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``run_cli`` in this process: the same environment rules (the caller's STRATLOGIC_* removed, then
    ``env``) and the same result shape, without a process start per command (about a second each on a busy
    machine). An exception that escapes the command is raised here rather than turned into exit code 1, so a
    test never mistakes a crash for a refusal."""
    cleared: dict[str, str | None] = {key: None for key in os.environ if key.startswith("STRATLOGIC_")}
    result = invoke({**cleared, **(env or {})}, *args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["stratlogic", *args], result.exit_code, result.stdout, result.stderr)
