"""What every command shares: the consoles, error handling, and the one Database per process."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from stratlogic.config import Settings, get_settings
from stratlogic.db import Database
from stratlogic.errors import StratLogicError
from stratlogic.logs import configure_logging, redact

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
state = {"debug": False}


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn a StratLogicError into one red line on stderr and exit code 1 (``--debug``: traceback).

    Anything else is a bug, still reported as one line (``error: unexpected …``) rather than a traceback
    that may quote SQL and values; ``--debug`` or STRATLOGIC_LOG_LEVEL=DEBUG shows the traceback.
    """
    try:
        yield
    except (typer.Exit, typer.Abort, typer.exceptions.TyperException):
        raise  # the command's own exit codes and usage errors
    except StratLogicError as exc:
        if state["debug"]:
            raise
        _fail(str(exc))
    except Exception as exc:
        if _debugging():
            raise
        _fail(f"unexpected {type(exc).__name__}: {_first_line(exc)} (run with --debug for the traceback)")


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True)  # '[draft] a.html' is not markup
    raise typer.Exit(1) from None


def _first_line(exc: BaseException) -> str:
    """The first line of an unexpected error, with anything that looks secret masked as in the logs."""
    lines = str(exc).strip().splitlines()
    return redact(lines[0]) if lines else "no details"


def _debugging() -> bool:
    """Whether tracebacks are wanted: ``--debug``, or DEBUG logging (configured or asked for)."""
    asked = os.environ.get("STRATLOGIC_LOG_LEVEL", "").strip().upper() == "DEBUG"
    return state["debug"] or asked or logging.getLogger("stratlogic").isEnabledFor(logging.DEBUG)


def settings() -> Settings:
    """The process settings, with logging configured from them."""
    loaded = get_settings()
    configure_logging(loaded)
    return loaded


def database() -> Database:
    """A Database for the configured URL."""
    return Database.from_settings(settings())


__all__ = ["cli_errors", "database", "err", "out", "settings", "state"]
