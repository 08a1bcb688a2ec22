"""`telehub backup` and `telehub restore`: the database to one pg_dump file and back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from telehub.cli import fail
from telehub.config import get_settings
from telehub.db.migrate import SchemaState
from telehub.errors import TelehubError


def backup_command(
    out: Annotated[Path, typer.Option("--out", help="The dump file to write (custom format).")],
    force: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Dump the whole database (schema, data and migration state) to one file, atomically."""
    from telehub.db.backup import take_backup
    from telehub.db.pgtools import split_url

    try:
        url = get_settings().require_database_url()
        done = take_backup(url, out, force=force)
    except TelehubError as err:
        raise fail(str(err)) from err
    typer.echo(f"backup written: {done.path} ({_size(done.size)})")
    typer.echo(f"  database: {split_url(url).where}")
    typer.echo(f"  schema:   {_schema(done.schema)}")
    when = "in the dump's snapshot" if done.consistent else "just before the dump"
    typer.echo(f"  rows ({when}):")
    _echo_counts(done.counts)


def restore_command(
    file: Annotated[Path, typer.Argument(help="A dump written by `telehub backup`.")],
    into_existing: Annotated[bool, typer.Option(
        "--into-existing",
        help="Restore into a database that already has tables: every table, sequence and type "
             "the backup holds is dropped and recreated from it, in one transaction. Rows "
             "written since the backup are lost; take a backup of this database first.")
    ] = False,
) -> None:
    """Restore a backup into the configured database, which must be empty (no tables)."""
    from telehub.db.backup import restore_backup

    try:
        url = get_settings().require_database_url()
        done = restore_backup(url, file.resolve(), into_existing=into_existing)
    except TelehubError as err:
        raise fail(str(err)) from err
    how = " (its Telehub tables replaced)" if done.replaced else ""
    typer.echo(f"restored {file} into {done.where}{how}")
    typer.echo(f"  schema:   {_schema(done.schema)}")
    typer.echo("  rows:")
    _echo_counts(done.counts)
    if done.schema.pending:
        typer.echo("The backup is from an older Telehub: run `telehub migrate` before starting "
                   "the service.")


def _schema(state: SchemaState) -> str:
    if state.pending:
        return f"{len(state.pending)} migration(s) behind this Telehub ({state.pending[0]} …)"
    return "matches this Telehub's migrations"


def _echo_counts(counts: dict[str, int]) -> None:
    width = max((len(name) for name in counts), default=0)
    for name, n in counts.items():
        typer.echo(f"    {name:<{width}}  {n:>10,}")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    size, unit = float(n), "bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):  # noqa: B007 (the last unit is the one shown)
        size /= 1024
        if size < 1024:
            break
    return f"{size:.1f} {unit}, {n:,} bytes"


def register(app: typer.Typer) -> None:
    """Add `telehub backup` and `telehub restore` to the `telehub` command."""
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
