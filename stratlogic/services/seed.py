"""Seeding: the base rows every installation needs, demo data, starting the embedded database over, and
what a demo seed will write (``stratlogic seed``, ``make demo``).

The generators live in ``stratlogic/seed/``; the rules a person meets live here: demo flags only with the
demo, every value checked before ``reset`` empties anything, a weak admin password refused first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, overload

from stratlogic.db import Database
from stratlogic.db.actor import Actor, as_actor
from stratlogic.errors import ValidationError
from stratlogic.seed import BaseSeedResult, DemoOptions, DemoResult, ResetResult
from stratlogic.seed import reset as reset_database
from stratlogic.seed import seed_defaults as write_defaults
from stratlogic.seed import seed_demo as write_demo
from stratlogic.seed.base import ADMIN_USERNAME, check_admin_password
from stratlogic.seed.demo import check as check_demo
from stratlogic.seed.estimate import Estimate
from stratlogic.seed.estimate import estimate as estimate_demo
from stratlogic.services._base import entry
from stratlogic.storage import LocalStore, store_from_settings
from stratlogic.storage.base import ArtifactStore

#: How errors name the demo options when the caller gives no ``labels`` (the CLI passes its flags).
_OPTIONS = {"demo": "demo=True", "users": "users", "jobs": "jobs", "days": "days", "seed": "seed", "until": "until",
            "objects": "objects=False"}


@dataclass(frozen=True)
class SeedEstimate:
    """About how much a demo seed writes, and into which store."""

    estimate: Estimate
    store: str

    def describe(self) -> str:
        """One line to show before the seed starts."""
        return self.estimate.describe(self.store)


@overload
def demo_options(*, demo: Literal[True] = True, users: int | None = None, jobs: int | None = None,
                 days: int | None = None, seed: int | None = None, until: date | str | None = None,
                 objects: bool = True, labels: Mapping[str, str] | None = None) -> DemoOptions: ...


@overload
def demo_options(*, demo: bool, users: int | None = None, jobs: int | None = None, days: int | None = None,
                 seed: int | None = None, until: date | str | None = None, objects: bool = True,
                 labels: Mapping[str, str] | None = None) -> DemoOptions | None: ...


def demo_options(*, demo: bool = True, users: int | None = None, jobs: int | None = None, days: int | None = None,
                 seed: int | None = None, until: date | str | None = None, objects: bool = True,
                 labels: Mapping[str, str] | None = None) -> DemoOptions | None:
    """The demo's options, checked (None when ``demo`` is False); unset ones keep ``DemoOptions``' defaults.

    Sizes or a window given without ``demo`` are refused naming them, as is a bad value, so nothing is
    emptied or written for a typo. ``until`` may be ``YYYY-MM-DD`` text. ``labels`` names the caller's flags
    (``{"demo": "--demo", "objects": "--no-objects", "users": "--users"}``).
    """
    names = {**_OPTIONS, **(labels or {})}
    chosen: dict[str, Any] = {name: value for name, value in
                              {"users": users, "jobs": jobs, "days": days, "seed": seed, "until": until}.items()
                              if value is not None}
    if not demo:
        extra = [names[name] for name in chosen] + ([names["objects"]] if not objects else [])
        if extra:
            raise ValidationError(f"{', '.join(extra)} only apply with {names['demo']}")
        return None
    if isinstance(chosen.get("until"), str):
        chosen["until"] = _day(chosen["until"], names["until"])
    options = DemoOptions(**chosen, objects=objects)
    check_demo(options)
    return options


def _day(text: str, label: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{label} {text!r} is not a date (YYYY-MM-DD)") from None


@entry("seed.defaults", writes=True)
def seed_defaults(database: Database, *, actor: Actor, interactive: bool = False) -> BaseSeedResult:
    """Create the first admin and write every configuration key at its default, if missing (idempotent).

    The admin's password is ``STRATLOGIC_ADMIN_PASSWORD`` (refused when weak) or generated: returned to show
    once when ``interactive`` (a person at a terminal), else written to this database's 0600 file.
    """
    with as_actor(actor):
        return write_defaults(database, interactive=interactive)


@entry("seed.estimate", writes=False)
def estimate(database: Database, options: DemoOptions, *, actor: Actor) -> SeedEstimate:
    """About how many rows and objects ``options`` will write, and the disk they take in the configured store."""
    with as_actor(actor):
        store = store_from_settings(database.settings)
        return SeedEstimate(estimate_demo(options, folder_store=isinstance(store, LocalStore)), store.describe())


@entry("seed.demo", writes=True)
def seed_demo(database: Database, options: DemoOptions, *, actor: Actor, interactive: bool = False,
              progress: Callable[[int], None] | None = None, store: ArtifactStore | None = None) -> DemoResult:
    """Generate the demo data in one transaction (the base seed first, if missing); nothing when the database
    already holds demo data. ``progress`` is called with the jobs generated so far. On any failure or
    KeyboardInterrupt nothing is committed and the objects written so far are removed. The objects go to
    ``store`` when given (the workbench's), else to the store the settings configure."""
    with as_actor(actor):  # the generator checks the options first
        return write_demo(database, options, interactive=interactive, progress=progress,
                          store=store if store is not None else store_from_settings(database.settings))


@entry("seed.reset", writes=True)
def reset(database: Database, *, actor: Actor, demo: DemoOptions | None = None) -> ResetResult:
    """Start the embedded SQLite database over: delete the file, the objects of the store it owns and its
    password file, then migrate it again (refused on PostgreSQL: its administrator drops a server database).

    What comes next is checked first, so a typo empties nothing: a weak ``STRATLOGIC_ADMIN_PASSWORD`` (the
    admin is made again) and, when given, the ``demo`` options. ``database``'s pooled connections are closed
    (they pointed at the deleted file); it connects to the new one on its next use.
    """
    if demo is not None:
        check_demo(demo)
    check_admin_password(database.settings)
    database.dispose()  # no pooled connection may outlive the file it points at
    try:
        with as_actor(actor):
            return reset_database(database.settings)
    finally:
        database.dispose()


__all__ = ["ADMIN_USERNAME", "BaseSeedResult", "DemoOptions", "DemoResult", "ResetResult", "SeedEstimate",
           "demo_options", "estimate", "reset", "seed_defaults", "seed_demo"]
