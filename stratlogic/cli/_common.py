"""What every command shares: the consoles, error handling, and the one Database per process."""

from __future__ import annotations

import atexit
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperOption

from stratlogic.errors import StratLogicError, ValidationError
from stratlogic.logs import configure_logging, redact

if TYPE_CHECKING:  # settings and databases load pydantic and SQLAlchemy: imported when a command needs them
    from stratlogic.config import Settings
    from stratlogic.db import Database
    from stratlogic.db.actor import Actor

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
state = {"debug": False}
#: The Databases of the running command with the settings that built them (one per process in a real run;
#: an in-process test invocation with other settings gets its own). Disposed when the command ends.
_databases: list[tuple[Settings, Database]] = []
#: The root command's context while it runs: the CLI actor is entered on it when a Database is first needed.
_command: list[typer.Context] = []


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
    from stratlogic.config import get_settings

    loaded = get_settings()
    configure_logging(loaded)
    return loaded


def actor() -> Actor:
    """The CLI's actor: nobody is authenticated, so the OS user and host are recorded as the origin."""
    from stratlogic.db.actor import Actor, Origin

    return Actor(origin=Origin.of_this_process("cli"))


def begin(ctx: typer.Context) -> None:
    """Called by the root command: what :func:`database` opens is closed when the command ends."""
    _command[:] = [ctx]
    ctx.call_on_close(close)


def database() -> Database:
    """The one Database of this command for the configured settings, built on first use.

    Building it once keeps one connection pool per process (each command used to build its own). The
    first one also records the CLI actor for the rest of the command, as every CLI change always did;
    nothing of this is imported for ``--help``.
    """
    loaded = settings()
    for built_with, found in _databases:
        if built_with == loaded:  # every field compared, secrets included (SecretStr compares its value)
            return found
    from stratlogic.db import Database
    from stratlogic.db.actor import as_actor

    if not _databases and _command:
        _command[0].with_resource(as_actor(actor()))
    found = Database.from_settings(loaded)
    _databases.append((loaded, found))
    return found


def close() -> None:
    """Dispose every Database the command opened (its pooled connections) and forget them."""
    _command.clear()
    while _databases:
        _, opened = _databases.pop()
        opened.dispose()


atexit.register(close)  # a Database used outside a command (a test, a script) is disposed at exit


#: A duration: a whole number and a unit, no sign (``90s``, ``15m``, ``12h``, ``7d``, ``2w``): the window
#: grammar's relative moments (``-7d``) without their minus.
_DURATION = re.compile(r"^(\d{1,7})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, flag: str, *, shortest: timedelta = timedelta(seconds=1),
                   longest: timedelta | None = None) -> timedelta:
    """A duration given to ``flag``: ``90s``, ``15m``, ``12h``, ``7d`` or ``2w``, from ``shortest`` to
    ``longest``; anything else is refused in one line naming the flag and the value."""
    value = text.strip().lower()
    match = _DURATION.match(value)
    if not match:
        sign = " (a duration has no sign)" if value.startswith(("-", "+")) else ""
        raise ValidationError(f"{flag} {text!r} is not a duration{sign}; use e.g. 90s, 15m, 12h, 7d or 2w")
    duration = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if duration < shortest or (longest is not None and duration > longest):
        most = f" up to {_shown(longest)}" if longest is not None else " or more"
        raise ValidationError(f"{flag} {text!r} is out of range: give {_shown(shortest)}{most}")
    return duration


def _shown(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_age_or_moment(text: str, flag: str, now: datetime | None = None) -> datetime:
    """A cut given to ``flag`` (``--older-than``): an age (``30d``: that long ago) or a moment of the window
    grammar (``-30d``, ``yesterday``, ``2026-01-01``, an ISO date-time)."""
    from stratlogic.analytics.window import parse_moment  # the analytics package loads pandas: not for --help

    value = text.strip()
    if not _DURATION.match(value.lower()):
        return parse_moment(value, param=flag, now=now)
    try:
        return (now or datetime.now(UTC)) - parse_duration(value, flag)
    except OverflowError:
        raise ValidationError(f"{flag} {text!r} reaches back before the year 1") from None


def parse_range(since: str | None, until: str | None, *, now: datetime | None = None,
                flags: tuple[str, str] = ("--since", "--until")) -> tuple[datetime | None, datetime | None]:
    """``--since``/``--until`` in the window grammar (either may be left open), checked as a window is:
    ``--since`` not in the future, before ``--until``, at most 100 years apart; errors name the flags."""
    from stratlogic.analytics.window import MAX_SPAN, parse_moment  # loads pandas: not for --help

    reference = now or datetime.now(UTC)
    start = parse_moment(since, param=flags[0], now=reference) if since is not None else None
    end = parse_moment(until, param=flags[1], now=reference) if until is not None else None
    if start is not None and start > reference:
        raise ValidationError(f"{flags[0]} {since!r} is in the future ({start.isoformat()}); nothing can match")
    if start is not None and end is not None:
        if start >= end:
            raise ValidationError(f"{flags[0]} {since!r} is not before {flags[1]} {until!r} "
                                  f"({start.isoformat()} >= {end.isoformat()}); nothing can match")
        if end - start > MAX_SPAN:
            raise ValidationError(f"{flags[0]} {since!r} to {flags[1]} {until!r} spans {(end - start).days} "
                                  "days; a window spans at most 100 years")
    return start, end


#: ``context_settings`` of a command whose arguments may be negative numbers: ``-5`` reaches the command as a
#: value (and is refused there, naming it) instead of click's "No such option: -5".
NEGATIVE_VALUES: dict[str, Any] = {"ignore_unknown_options": True}


def lowered(values: list[str] | None) -> list[str] | None:
    """Enumerated values (statuses) as typed in any case: ``FAILED`` means ``failed``."""
    return None if values is None else [value.strip().lower() for value in values]


def given(**filters: Any) -> dict[str, Any]:
    """The filters a command was given: None means not given; 0, ``""`` and ``False`` are values."""
    return {key: value for key, value in filters.items() if value is not None}


def _flags_show_no_type() -> None:
    """Typer's rich help prints ``<bool>`` beside every flag (``--help`` included), which reads as if the
    flag took a value (``seed --demo true`` then fails). A flag takes none: show no type for it."""
    shown = TyperOption.display_type_rich
    if getattr(shown, "_stratlogic", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag and not self.count else shown(self, ctx)

    display_type_rich._stratlogic = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()

__all__ = ["NEGATIVE_VALUES", "actor", "begin", "cli_errors", "close", "database", "err", "given", "lowered", "out",
           "parse_age_or_moment", "parse_duration", "parse_range", "settings", "state"]
