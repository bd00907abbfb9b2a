"""The ``stratlogic`` command: a thin face over the services (each command calls one entry point).

The commands are listed in :data:`COMMANDS` and a command's module is imported only when that command runs
or its help is asked: ``stratlogic --help`` names them all from the registry without importing any, so the
CLI starts without loading SQLAlchemy, pandas or Alembic (click's documented lazy-group pattern).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

import typer
import typer.main
from typer._click import Command, Context, HelpFormatter  # typer's own (vendored) click: its classes
from typer.core import TyperCommand, TyperGroup, TyperOption
from typer.models import CommandInfo, DefaultPlaceholder, TyperInfo

from stratlogic.cli import _common

#: Every command: name -> ("module:attribute", its one-line help). The attribute is a ``typer.Typer`` (a group
#: of commands) or a function (one command). The help is what ``stratlogic --help`` shows without importing the
#: module; tests/unit/test_cli_start.py checks that it equals the command's own first help line.
COMMANDS: dict[str, tuple[str, str]] = {
    "seed": ("stratlogic.cli.seed:seed",
             "Create the first admin and the default configuration (idempotent); --demo adds demo data."),
    "health": ("stratlogic.cli.health:health",
               "Check the database, its pool, the artifact store, the audit chain, the job queue and the disk."),
    "db": ("stratlogic.cli.db:app", "Migrate the database schema and check it against the models."),
    "docs": ("stratlogic.cli.docs:app", "Generate documentation from the code."),
    "config": ("stratlogic.cli.config:app", "Read and change typed system configuration."),
    "audit": ("stratlogic.cli.audit:app", "Verify and read the hash-chained audit trail."),
    "jobs": ("stratlogic.cli.jobs:app", "List, inspect and steer scraping jobs."),
    "artifacts": ("stratlogic.cli.artifacts:app",
                  "Store, fetch, list and share artifacts; reconcile rows with stored objects."),
    "export": ("stratlogic.cli.export:app",
               "Export audit rows, jobs or artifacts (Parquet, CSV, XLSX) with a sidecar."),
    "reports": ("stratlogic.cli.reports:app",
                "Report notebooks: list, parameters, scheduled runs (papermill), verify a run."),
    "backup": ("stratlogic.cli.backup:app",
               "Back the database up (Parquet per table + a manifest), or check a backup."),
    "restore": ("stratlogic.cli.backup:restore",
                "Restore a backup into an empty database (either engine), checking every file before writing "
                "anything."),
}
#: Typer's own options of the root command (``--install-completion``, ``--show-completion``).
_COMPLETION_FLAGS = ("install_completion", "show_completion")


def load(name: str) -> Command:
    """The click command of registry entry ``name``, importing its module (Typer's own conversion, as
    ``add_typer``/``command`` would have done at start-up)."""
    module, _, attribute = COMMANDS[name][0].partition(":")
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        chosen = QuickGroup if isinstance(target.info.cls, DefaultPlaceholder) else target.info.cls
        return typer.main.get_group_from_info(TyperInfo(target, name=name, cls=chosen), pretty_exceptions_short=True,
                                              rich_markup_mode=target.rich_markup_mode,
                                              suggest_commands=True)
    return typer.main.get_command_from_info(CommandInfo(name=name, callback=target), pretty_exceptions_short=True,
                                            rich_markup_mode=typer.core.DEFAULT_MARKUP_MODE)


class _Commands(MutableMapping[str, Command]):
    """A group's commands: the registry's names, each loaded on first access (``add_command`` still works)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = load(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*COMMANDS, *(name for name in self._loaded if name not in COMMANDS)])

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self._loaded))


class QuickGroup(TyperGroup):
    """A group whose ``--help`` flag, when not given, is False rather than None.

    Typer checks every flag's value and, for a value that is not a bool (None), builds a pydantic validator:
    importing pydantic for each ``stratlogic GROUP COMMAND --help`` cost 0.2 s or more. False is what None meant.
    """

    def get_help_option(self, ctx: Context) -> TyperOption | None:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option


class LazyGroup(QuickGroup):
    """The root group: commands come from :data:`COMMANDS`, imported when run; its help lists them unloaded."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands()
        self._listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if self._listing and cmd_name in COMMANDS:  # the root help: a stand-in carrying the registry's line
            return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name][1])
        return self.commands.get(cmd_name)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        for param in self.params:  # Typer's completion flags default to None too (see QuickGroup)
            if param.name in _COMPLETION_FLAGS and param.default is None:
                param.default = False
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(cls=LazyGroup, help="StratLogic Workbench: data layer and analyst workbench.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def _root(ctx: typer.Context,
          debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    _common.state["debug"] = debug
    # Nothing authenticates a CLI user yet: every change records the OS user and host (cli/_common.actor),
    # entered with the command's one Database, which is disposed when the command ends.
    _common.begin(ctx)


def main() -> None:
    """Entry point of the ``stratlogic`` console script."""
    app()


__all__ = ["COMMANDS", "LazyGroup", "QuickGroup", "app", "load", "main"]
