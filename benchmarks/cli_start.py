"""How long the ``stratlogic`` command takes to start: its help, and the help of some subcommands.

Each line is the median wall time of REPEAT fresh processes, beside two baselines measured in the same run:
``python -c pass`` (the interpreter alone) and ``python -c "import typer"`` (the CLI library alone). Goal:
``stratlogic --help`` and a subcommand's ``--help`` in <= 0.3 s. The machine is shared: read the ratios.

    PYTHONPATH=. .venv/bin/python -m benchmarks.cli_start [REPEAT]
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

from benchmarks._common import median_seconds

REPEAT = int(sys.argv[1]) if len(sys.argv) > 1 else 7
GOAL = 0.3
PYTHON = sys.executable
STRATLOGIC = str(Path(PYTHON).parent / "stratlogic")
RUNS = {
    "python -c pass (baseline)": [PYTHON, "-c", "pass"],
    "python -c 'import typer'": [PYTHON, "-c", "import typer"],
    "stratlogic --help": [STRATLOGIC, "--help"],
    "stratlogic jobs list --help": [STRATLOGIC, "jobs", "list", "--help"],
    "stratlogic export audit --help": [STRATLOGIC, "export", "audit", "--help"],
    "stratlogic db upgrade --help": [STRATLOGIC, "db", "upgrade", "--help"],
    "stratlogic artifacts put --help": [STRATLOGIC, "artifacts", "put", "--help"],
    "stratlogic health --help": [STRATLOGIC, "health", "--help"],
}
#: No STRATLOGIC_* variable of the caller changes what is measured.
ENV = {name: value for name, value in os.environ.items() if not name.startswith("STRATLOGIC_")}


def run(command: list[str]) -> None:
    """One fresh process; a failing command is a broken benchmark, not a figure."""
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)


def main() -> None:
    for command in RUNS.values():  # warm the file cache: the first start of anything reads it from disk
        run(command)
    baseline = median_seconds(partial(run, RUNS["python -c pass (baseline)"]), REPEAT)
    print(f"median of {REPEAT} runs; goal: stratlogic commands' help <= {GOAL:.1f} s")
    for label, command in RUNS.items():
        seconds = baseline if "baseline" in label else median_seconds(partial(run, command), REPEAT)
        verdict = "" if not label.startswith("stratlogic") else ("  ok" if seconds <= GOAL else "  over the goal")
        print(f"{label:<34} {seconds:6.3f} s  {seconds / baseline:5.1f}x baseline{verdict}")


if __name__ == "__main__":
    main()
