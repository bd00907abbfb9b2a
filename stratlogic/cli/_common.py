"""What every command shares: the consoles, error handling, and the one Database per process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from stratlogic.config import Settings, get_settings
from stratlogic.db import Database
from stratlogic.errors import StratLogicError
from stratlogic.logs import configure_logging

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
state = {"debug": False}


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn a StratLogicError into one red line on stderr and exit code 1 (``--debug``: traceback)."""
    try:
        yield
    except StratLogicError as exc:
        if state["debug"]:
            raise
        err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True)  # '[draft] a.html' is not markup
        raise typer.Exit(1) from None


def settings() -> Settings:
    """The process settings, with logging configured from them."""
    loaded = get_settings()
    configure_logging(loaded)
    return loaded


def database() -> Database:
    """A Database for the configured URL."""
    return Database.from_settings(settings())


__all__ = ["cli_errors", "database", "err", "out", "settings", "state"]
