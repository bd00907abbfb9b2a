"""Run the real ``stratlogic`` console script in a subprocess with a chosen environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "stratlogic"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``stratlogic ARGS`` (in ``cwd``) with STRATLOGIC_* from the caller's environment removed, then ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STRATLOGIC_")}
    clean.update(env or {})
    return subprocess.run([str(BIN), *args], env=clean, capture_output=True, text=True, timeout=timeout,
                          check=False, cwd=cwd)
