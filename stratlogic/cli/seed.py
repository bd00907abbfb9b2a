"""``stratlogic seed``: the first admin and default configuration; ``--demo`` adds realistic demo data."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from stratlogic.cli._common import actor, cli_errors, database, err, out

if TYPE_CHECKING:
    from stratlogic.services.seed import BaseSeedResult, DemoResult, ResetResult

#: Runs with at least this many jobs show progress: a bar on a terminal, else a line every PROGRESS_EVERY s.
PROGRESS_FROM = 20_000
PROGRESS_EVERY = 5.0


def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Also generate users, jobs, artifacts, audit rows.")] = False,
    users: Annotated[int | None, typer.Option(help="Demo users (default 20).")] = None,
    jobs: Annotated[int | None, typer.Option(help="Demo jobs (default 2000).")] = None,
    days: Annotated[int | None, typer.Option(help="Days the demo covers, ending at --until (default 30).")] = None,
    seed_value: Annotated[int | None, typer.Option("--seed", help="Random seed: same seed, same data (default 1).")]
    = None,
    until: Annotated[str | None, typer.Option(help="End of the window (that midnight UTC), YYYY-MM-DD; default today.")]
    = None,
    no_objects: Annotated[bool, typer.Option("--no-objects", help="Demo artifact rows only, no objects.")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Empty the embedded SQLite database (and the objects of "
                                                         "its store) first.")] = False,
) -> None:
    """Create the first admin and the default configuration (idempotent); --demo adds demo data.

    The admin's password comes from STRATLOGIC_ADMIN_PASSWORD, or is generated: shown once on a terminal,
    otherwise written to a new file (mode 0600: var/admin-password.txt for the default SQLite database,
    var/admin-password-NAME-HASH.txt for others; never over an existing one) and only the path printed.

    Example: stratlogic seed --demo --users 200 --jobs 100000 --days 365 --seed 1 --no-objects
    """
    from stratlogic.services import seed as seeding

    interactive = sys.stdout.isatty()
    with cli_errors():
        options = seeding.demo_options(demo=demo, users=users, jobs=jobs, days=days, seed=seed_value, until=until,
                                       objects=not no_objects, labels=_FLAGS)  # every value checked before --reset
        target, who = database(), actor()
        if reset:
            _report_reset(seeding.reset(target, actor=who, demo=options))
        if options is None:
            _report_base(seeding.seed_defaults(target, actor=who, interactive=interactive))
            return
        err.print(seeding.estimate(target, options, actor=who).describe(), markup=False)
        with _interruptible() as stopped, _progress(options.jobs) as progress:
            try:
                result = seeding.seed_demo(target, options, actor=who, interactive=interactive, progress=progress)
            except KeyboardInterrupt:
                err.print(f"interrupted ({stopped.name}): nothing was committed, and the objects written so far "
                          "were removed (`stratlogic artifacts reconcile --fix` removes any left)", markup=False)
                raise typer.Exit(128 + stopped.value) from None
    _report_demo(result)


#: How the seed service's refusals name this command's flags.
_FLAGS = {"demo": "--demo", "users": "--users", "jobs": "--jobs", "days": "--days", "seed": "--seed",
          "until": "--until", "objects": "--no-objects"}


@contextmanager
def _interruptible() -> Iterator[_Stopped]:
    """SIGTERM raises KeyboardInterrupt like Ctrl-C does, so the seed's clean-up runs for both.

    Yields a holder naming the signal that stopped the run (SIGINT unless SIGTERM came).
    """
    stopped = _Stopped()

    def terminate(signum: int, frame: object) -> None:
        stopped.signal = signal.Signals(signum)
        raise KeyboardInterrupt(stopped.name)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stopped:
    """Which signal stopped the run."""

    signal = signal.SIGINT

    @property
    def name(self) -> str:
        return self.signal.name

    @property
    def value(self) -> int:
        return int(self.signal)


@contextmanager
def _progress(jobs: int) -> Iterator[Callable[[int], None] | None]:
    """A bar on a terminal; elsewhere (a log, CI) a line every few seconds; nothing for small runs."""
    if jobs < PROGRESS_FROM:
        yield None
    elif err.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("jobs"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True) as bar:
            task = bar.add_task("seeding", total=jobs)
            yield lambda done: bar.update(task, completed=done)
    else:
        yield ProgressLines(jobs, err.print)


class ProgressLines:
    """Progress as plain lines, at most one every ``every`` seconds (and one at the end)."""

    def __init__(self, total: int, say: Callable[[str], None], every: float = PROGRESS_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.say, self.every, self.clock = total, say, every, clock
        self.started = self.last = clock()

    def __call__(self, done: int) -> None:
        now = self.clock()
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        elapsed = now - self.started
        left = f", about {elapsed * (self.total - done) / done:.0f} s left" if 0 < done < self.total else ""
        self.say(f"seeding: {done:,} of {self.total:,} jobs ({done / self.total:.0%}) after {elapsed:.0f} s{left}")


def _report_reset(result: ResetResult) -> None:
    if result.other_owner is not None:
        err.print(f"database emptied; store {result.store} left alone: it belongs to {result.other_owner}",
                  markup=False)
    else:
        err.print(f"database emptied; {result.objects_removed:,} object(s) removed from {result.store}"
                  + (" and its marker with them" if result.owned else ""), markup=False)
    if result.password_file is not None:
        err.print(f"removed {result.password_file}: its admin is gone", markup=False)


def _report_base(result: BaseSeedResult) -> None:
    if result.nothing_to_do:
        err.print("nothing to do: the admin and the default configuration are already there")
        return
    if result.admin_created:
        _report_admin(result)
    if result.config_keys:
        err.print(f"default configuration: {len(result.config_keys)} key(s) set ({', '.join(result.config_keys)})")


def _report_admin(result: BaseSeedResult) -> None:
    """Say where the admin's password is; print a generated one only to a person at a terminal, once."""
    from stratlogic.services.seed import ADMIN_USERNAME

    if not result.generated:
        err.print(f"admin {ADMIN_USERNAME!r} created with the password from STRATLOGIC_ADMIN_PASSWORD")
    elif result.password is not None:
        out.print(f"admin {ADMIN_USERNAME!r} created with a generated password, shown this once only; "
                  "store it in a password manager now:", markup=False)
        out.print(f"    {result.password.get_secret_value()}", markup=False, highlight=False)
    else:
        err.print(f"admin {ADMIN_USERNAME!r} created; its generated password is in {result.password_file} "
                  "(readable by you only): store it elsewhere, then delete the file", markup=False)


def _report_demo(result: DemoResult) -> None:
    if not result.created:
        err.print("nothing to do: the database already holds demo data (on SQLite, --reset starts over)")
        return
    if result.base is not None and not result.base.nothing_to_do:
        _report_base(result.base)
    from rich.table import Table

    table = Table("table", "rows", title=f"demo data {result.start:%Y-%m-%d} .. {result.end:%Y-%m-%d} (UTC)")
    for name, count in sorted(result.rows.items()):
        table.add_row(name, f"{count:,}")
    table.add_row("[bold]total", f"[bold]{result.total_rows:,}")
    err.print(table)
    rate = result.total_rows / result.seconds if result.seconds else 0.0
    err.print(f"{result.total_rows:,} rows and {result.objects:,} objects in {result.seconds:.1f}s "
              f"({rate:,.0f} rows/s)")


__all__ = ["seed"]
