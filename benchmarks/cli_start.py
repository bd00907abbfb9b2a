"""How long the ``stratlogic`` command takes to start: its help, and the help of some subcommands.

Each line is the median wall time of REPEAT fresh processes, and the median CPU time they used (user +
system: less disturbed than wall time when other processes share the machine), beside two baselines measured
in the same run: ``python -c pass`` (the interpreter alone) and ``python -c "import typer"`` (the CLI library
alone). Goal: ``stratlogic --help`` and a subcommand's ``--help`` in <= 0.3 s. Read the ratios.

    PYTHONPATH=. .venv/bin/python -m benchmarks.cli_start [REPEAT]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

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


def run(command: list[str]) -> tuple[float, float]:
    """One fresh process: its wall time and CPU time. A failing command is a broken benchmark, not a figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def medians(command: list[str]) -> tuple[float, float]:
    """Median wall and CPU seconds of REPEAT runs."""
    runs = [run(command) for _ in range(REPEAT)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> None:
    for command in RUNS.values():  # warm the file cache: the first start of anything reads it from disk
        run(command)
    figures = {label: medians(command) for label, command in RUNS.items()}
    wall0, cpu0 = figures["python -c pass (baseline)"]
    print(f"median of {REPEAT} runs; goal: stratlogic commands' help <= {GOAL:.1f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'':<34} {'wall':>8} {'ratio':>6}  {'cpu':>8} {'ratio':>6}")
    for label, (wall, cpu) in figures.items():
        verdict = "" if not label.startswith("stratlogic") else ("  ok" if wall <= GOAL else "  over the goal")
        print(f"{label:<34} {wall:6.3f} s {wall / wall0:5.1f}x  {cpu:6.3f} s {cpu / cpu0:5.1f}x{verdict}")


if __name__ == "__main__":
    main()
