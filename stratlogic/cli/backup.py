"""``stratlogic backup --out DIR|s3://bucket/prefix``, ``stratlogic backup verify DIR`` and ``stratlogic restore DIR
--into URL``: the verified, engine-independent copy of a database (docs/operations.md#backup-and-restore)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stratlogic.cli._common import cli_errors, database, out, settings
from stratlogic.errors import ValidationError

if TYPE_CHECKING:
    from stratlogic.db import Database
    from stratlogic.db.actor import Actor

app = typer.Typer(no_args_is_help=False, invoke_without_command=True)

AsJson = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]


@app.callback(invoke_without_command=True)
def backup(
    ctx: typer.Context,
    out_: Annotated[str | None, typer.Option("--out", help="A new (or empty) folder, or s3://bucket/prefix on the "
                                                           "configured S3 endpoint.")] = None,
    objects: Annotated[bool, typer.Option("--objects", help="Copy the artifact store's objects too (each checked "
                                                            "against its sha256).")] = False,
    as_json: AsJson = False,
) -> None:
    """Back the database up (Parquet per table + a manifest), or check a backup.

    One snapshot; a Parquet file per table, and manifest.json written last. Writers go on meanwhile.
    A failed backup leaves nothing that looks complete.
    Audit rows: backup.started before the snapshot (the backup holds it), backup.completed after it.

    Example: stratlogic backup --out backups/2026-12-06 (then: stratlogic backup verify backups/2026-12-06)
    """
    if ctx.invoked_subcommand is not None:
        return
    with cli_errors():
        if out_ is None:
            raise ValidationError("--out: give the folder or s3://bucket/prefix to write the backup to")
        from stratlogic.services.backup import backup as run_backup

        result = run_backup(database(), out_, actor=_actor(), objects=objects)
    if as_json:
        _json(asdict(result))
        return
    total = sum(result.rows.values())
    out.print(f"backed up {total} rows of {len(result.rows)} tables to {result.location} "
              f"({result.bytes} bytes, revision {result.revision})", markup=False)
    if result.objects is not None:
        out.print(f"objects copied: {result.objects}", markup=False)
    out.print(f"manifest sha256: {result.manifest_sha256}", markup=False)


@app.command("verify")
def verify(
    location: Annotated[str, typer.Argument(help="The backup folder or s3://bucket/prefix.")],
    as_json: AsJson = False,
) -> None:
    """Check a backup without restoring it: sizes and sha256 of every file, rows and content hashes, objects.

    Exit 1 naming the first file that does not match its manifest.

    Example: stratlogic backup verify backups/2026-12-06
    """
    with cli_errors():
        from stratlogic.services.backup import verify_backup

        result = verify_backup(location, actor=_actor(), database=None)
    if as_json:
        _json(asdict(result))
        return
    out.print(f"ok: {result.location} holds {sum(result.rows.values())} rows of {len(result.rows)} tables, "
              f"revision {result.revision}, made {result.created_at}", markup=False)
    for name, rows in result.rows.items():
        out.print(f"  {name}: {rows} rows", markup=False)
    if result.objects is not None:
        out.print(f"  objects: {result.objects}", markup=False)


def restore(
    location: Annotated[str, typer.Argument(help="The backup folder or s3://bucket/prefix.")],
    into: Annotated[str, typer.Option("--into", help="The target database URL (sqlite:///FILE or "
                                                     "postgresql://...); must be empty unless --force.")],
    force: Annotated[bool, typer.Option("--force", help="Drop and recreate a non-empty target's schema (its rows "
                                                        "are lost).")] = False,
    upgrade: Annotated[bool, typer.Option("--upgrade", help="Migrate the restored database to head afterwards.")]
    = False,
    new_identity: Annotated[bool, typer.Option("--new-identity", help="Give the copy an installation id of its own "
                                                                      "(an independent copy with its own store).")]
    = False,
    as_json: AsJson = False,
) -> None:
    """Restore a backup into an empty database (either engine), checking every file before writing anything.

    Builds the backup's revision, loads every table in one transaction, then checks rows and content hashes.
    The store identity travels: stop the old database writing to its store (or use --new-identity).

    Example: stratlogic restore backups/2026-12-06 --into postgresql://app@db.example/stratlogic --upgrade
    """
    with cli_errors():
        from stratlogic.services.backup import restore as run_restore

        target = _target(into)
        try:
            result = run_restore(location, target, actor=_actor(), force=force, upgrade=upgrade,
                                 new_identity=new_identity)
        finally:
            target.dispose()
    if as_json:
        _json(asdict(result))
        return
    out.print(f"restored {sum(result.rows.values())} rows of {len(result.rows)} tables into {result.target} "
              f"(revision {result.revision})", markup=False)
    for note in result.notes:
        out.print(f"note: {note}", markup=False)


def _target(url: str) -> Database:
    """A Database for ``--into`` (the configured settings with that URL); a bad URL names --into."""
    from stratlogic.config import load_settings
    from stratlogic.db import Database
    from stratlogic.errors import ConfigError

    if not url.strip():
        raise ValidationError("--into: give the target database URL")
    base = settings()
    try:
        chosen = load_settings(home=base.home, database_url=url)
    except ConfigError as exc:
        raise ValidationError(f"--into {_masked(url)}: {exc}") from None
    return Database.from_settings(chosen)


def _masked(url: str) -> str:
    from stratlogic.config import display_url

    try:
        return display_url(url)
    except Exception:  # an unparsable URL is shown without anything after the scheme
        return url.split("://", 1)[0] + "://…"


def _actor() -> Actor:
    """The CLI's actor: nobody authenticated, the OS user and host recorded as the origin."""
    from stratlogic.cli import _common

    shared = getattr(_common, "actor", None)
    if callable(shared):
        return shared()  # type: ignore[no-any-return]
    from stratlogic.db.actor import Actor, Origin

    return Actor(origin=Origin.of_this_process("cli"))


def _json(document: dict[str, Any]) -> None:
    out.print(json.dumps(document, indent=2, default=str), markup=False)


__all__ = ["app", "restore"]
