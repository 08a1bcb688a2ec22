"""Backups of the whole database with pg_dump's custom format, and their careful restore.

A dump carries `schema_migrations`, so a restore knows which Telehub made it: it refuses a
dump from a newer Telehub, and a database that already holds tables unless told to replace
them (docs/operations/backup-and-restore.md).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from telehub.db.migrate import MIGRATIONS_TABLE, SchemaState, compare_state
from telehub.db.pgtools import Connection, Tool, find_tool, last_lines, run_tool, split_url
from telehub.db.pool import connect
from telehub.errors import BackupError

logger = logging.getLogger(__name__)

_TABLES = """
SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname
"""
# Tables, views and sequences of any schema but the system's and an extension's own (an
# extension created ahead of a restore, as TimescaleDB's must be, leaves a database empty).
_OCCUPIED = """
SELECT n.nspname || '.' || c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""
_OTHER_SESSIONS = """
SELECT coalesce(nullif(application_name, ''), 'unnamed') AS app, count(*) AS n
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
GROUP BY 1 ORDER BY 1
"""
_HAS_MIGRATIONS = "SELECT to_regclass('public.schema_migrations') IS NOT NULL AS present"
_RECORDED = "SELECT version, name FROM schema_migrations ORDER BY version"
_AVAILABLE = "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)"
# Extensions PostgreSQL ships in every database; the dump's own plpgsql needs no check.
_BUILT_IN = frozenset({"plpgsql"})
_TOC_EXTENSION = re.compile(r"^\d+;\s+\d+\s+\d+\s+EXTENSION\s+-\s+(\S+)", re.M)
_TOC_HEADER = re.compile(r"^;\s+(Archive created at|dbname|Dumped from database version):\s*(.*)$",
                         re.M)


@dataclass(frozen=True)
class BackupResult:
    """What `take_backup` wrote."""

    path: Path
    size: int
    counts: dict[str, int]
    schema: SchemaState
    consistent: bool       # counts from the dump's own snapshot (False: just before it)


@dataclass(frozen=True)
class DumpInfo:
    """What a dump says about itself without restoring it."""

    recorded: dict[int, str]         # its schema_migrations: version -> name
    extensions: tuple[str, ...]
    header: dict[str, str]           # "Archive created at", "dbname", server version

    @property
    def schema(self) -> SchemaState:
        """The dump's migrations against this code's."""
        return compare_state(self.recorded)


@dataclass(frozen=True)
class RestoreResult:
    """What `restore_backup` did."""

    where: str
    counts: dict[str, int]
    schema: SchemaState
    replaced: bool


def server_major(conn: psycopg.Connection[Any]) -> int:
    """The server's major version (15 for 15.4)."""
    return conn.info.server_version // 10_000


def table_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows in each table of the public schema."""
    names = [str(_col(r, "name")) for r in conn.execute(_TABLES).fetchall()]
    return {name: int(_col(conn.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(
        sql.Identifier(name))).fetchone(), "n")) for name in names}


def take_backup(url: str, out: Path, *, force: bool = False) -> BackupResult:
    """Dump the database at `url` to `out` (custom format, mode 0600), atomically: a partial
    file never has `out`'s name. Refuses an existing `out` unless `force`."""
    out = out.resolve()
    if out.exists() and not force:
        raise BackupError(f"{out} already exists; give --force to replace it.")
    if not out.parent.is_dir():
        raise BackupError(f"the directory {out.parent} does not exist.")
    target = split_url(url)
    with connect(url) as conn:
        tool = find_tool("pg_dump", server_major(conn))
        # Count inside the snapshot pg_dump then dumps, so the counts are the dump's own.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        try:
            snapshot: str | None = str(_col(conn.execute(
                "SELECT pg_export_snapshot() AS s").fetchone(), "s"))
        except psycopg.Error:   # e.g. a standby that cannot export one
            conn.rollback()
            snapshot = None
        counts = table_counts(conn)
        recorded = _recorded(conn)
        if recorded is None:
            raise BackupError(f"{target.where} has no {MIGRATIONS_TABLE} table: it is not a "
                              "Telehub database (run `telehub migrate` on a new one).")
        args = ["--format=custom", "--no-password", f"--dbname={target.conninfo}"]
        if snapshot:
            args.append(f"--snapshot={snapshot}")
        size = _dump_to(tool, args, target, out, force=force)
        conn.rollback()
    logger.info("backup written: %d bytes, %d tables", size, len(counts))
    return BackupResult(out, size, counts, compare_state(recorded), snapshot is not None)


def _dump_to(tool: Tool, args: list[str], target: Connection, out: Path, *, force: bool) -> int:
    """Run pg_dump into a private temporary file beside `out`, then give it `out`'s name."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as sink:
            done = run_tool(tool, args, target, stdout=sink.fileno())
            if done.returncode != 0:
                raise BackupError(f"pg_dump failed (exit {done.returncode}):\n"
                                  f"{last_lines(done.stderr)}")
            sink.flush()
            os.fsync(sink.fileno())
        _publish(tmp, out, force=force)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(out.parent)
    return out.stat().st_size


def _publish(tmp: Path, out: Path, *, force: bool) -> None:
    """Give the finished dump its name: replace only with `force`, else link (which fails if
    `out` appeared meanwhile)."""
    if force:
        os.replace(tmp, out)
        return
    try:
        os.link(tmp, out)
    except FileExistsError as err:
        raise BackupError(f"{out} appeared while the dump ran; give --force to replace it."
                          ) from err


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_dump(path: Path, tool: Tool) -> DumpInfo:
    """The migration state, extensions and header of a custom-format dump."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist or is not a file.")
    toc = run_tool(tool, ["--list", str(path)])
    if toc.returncode != 0:
        raise BackupError(f"{path} is not a dump pg_restore can read "
                          f"(is it from `telehub backup`?):\n{last_lines(toc.stderr)}")
    data = run_tool(tool, ["--data-only", f"--table={MIGRATIONS_TABLE}", "--file=-",
                           str(path)])
    if data.returncode != 0:
        raise BackupError(f"cannot read {MIGRATIONS_TABLE} from {path}:\n"
                          f"{last_lines(data.stderr)}")
    recorded = _copy_rows(data.stdout)
    if not recorded:
        raise BackupError(f"{path} holds no {MIGRATIONS_TABLE} rows: it is not a backup of "
                          "a Telehub database.")
    return DumpInfo(recorded, tuple(_TOC_EXTENSION.findall(toc.stdout)),
                    {k: v.strip() for k, v in _TOC_HEADER.findall(toc.stdout)})


def _copy_rows(script: str) -> dict[int, str]:
    """version -> name from the COPY block pg_restore prints for schema_migrations."""
    rows: dict[int, str] = {}
    inside = False
    for line in script.splitlines():
        if line.startswith(f"COPY public.{MIGRATIONS_TABLE} "):
            inside = True
        elif inside and line == "\\.":
            break
        elif inside:
            version, name, *_ = line.split("\t")
            rows[int(version)] = name
    return rows


def restore_backup(url: str, path: Path, *, into_existing: bool = False) -> RestoreResult:
    """Restore the dump at `path` into the database at `url` in one transaction (all or
    nothing). Refuses a dump from a newer Telehub; refuses a database holding tables unless
    `into_existing`, which replaces the dump's objects there (pg_restore --clean)."""
    target = split_url(url)
    with connect(url, autocommit=True) as conn:
        tool = find_tool("pg_restore", server_major(conn))
        info = read_dump(path, tool)
        _check_dump(info, conn, path)
        _check_target(conn, target, info, into_existing=into_existing)
        timescale = "timescaledb" in info.extensions
        if timescale:       # TimescaleDB's documented procedure around pg_restore
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute("SELECT timescaledb_pre_restore()")
    args = ["--single-transaction", "--exit-on-error", "--no-owner", "--no-password",
            f"--dbname={target.conninfo}"]
    if into_existing:
        args += ["--clean", "--if-exists"]
    done = run_tool(tool, [*args, str(path)], target)
    with connect(url, autocommit=True) as conn:
        if timescale:
            conn.execute("SELECT timescaledb_post_restore()")
        if done.returncode != 0:
            raise BackupError(f"pg_restore failed (exit {done.returncode}); nothing was "
                              f"restored:\n{last_lines(done.stderr)}")
        counts = table_counts(conn)
        recorded = _recorded(conn) or {}
    logger.info("backup restored: %d tables", len(counts))
    return RestoreResult(target.where, counts, compare_state(recorded), into_existing)


def _check_dump(info: DumpInfo, conn: psycopg.Connection[Any], path: Path) -> None:
    """Refuse a dump this code cannot run on, or whose extensions the server lacks."""
    if info.schema.unknown:
        raise BackupError(
            f"{path} is from a newer Telehub: its database has migration(s) "
            f"{', '.join(info.schema.unknown)} that this version does not know. Restore it "
            "with that Telehub version (or newer); this one would run on a schema it does not "
            "understand.")
    wanted = [e for e in info.extensions if e not in _BUILT_IN]
    if wanted:
        have = {str(_col(r, "name")) for r in conn.execute(_AVAILABLE, (wanted,)).fetchall()}
        missing = [e for e in wanted if e not in have]
        if missing:
            raise BackupError(f"{path} needs the PostgreSQL extension(s) {', '.join(missing)}, "
                              "which this server does not have; install them first.")


def _check_target(conn: psycopg.Connection[Any], target: Connection, info: DumpInfo, *,
                  into_existing: bool) -> None:
    """Refuse a database in use, or holding tables (unless `into_existing`, and then one
    whose schema is newer than the dump's)."""
    others = conn.execute(_OTHER_SESSIONS).fetchall()
    if others:
        who = ", ".join(f"{_col(r, 'app')} ({_col(r, 'n')})" for r in others)
        raise BackupError(f"{target.where} has other sessions open: {who}. Stop the hub, "
                          "the API and the dashboard before restoring.")
    occupied = [str(_col(r, "name")) for r in conn.execute(_OCCUPIED).fetchall()]
    if not occupied:
        return
    if not into_existing:
        shown = ", ".join(occupied[:5]) + (" …" if len(occupied) > 5 else "")
        raise BackupError(
            f"{target.where} is not empty ({len(occupied)} tables, views or sequences: "
            f"{shown}). Restore into a new empty database (createdb, then point "
            "TELEHUB_DATABASE_URL at it), or give --into-existing to replace this "
            "database's Telehub tables with the backup's.")
    recorded = _recorded(conn) or {}
    ahead = sorted(set(recorded) - set(info.recorded))
    if ahead:
        raise BackupError(
            f"{target.where} has migration(s) {', '.join(f'{v:04d}' for v in ahead)} that "
            "the backup lacks; replacing its tables would leave theirs behind. Restore into "
            "a new empty database instead.")


def _recorded(conn: psycopg.Connection[Any]) -> dict[int, str] | None:
    """version -> name from the database's schema_migrations (None: there is none)."""
    if not _col(conn.execute(_HAS_MIGRATIONS).fetchone(), "present"):
        return None
    return {int(_col(r, "version")): str(_col(r, "name"))
            for r in conn.execute(_RECORDED).fetchall()}


def _col(row: Any, name: str) -> Any:
    if row is None:
        raise BackupError("the database returned no row")
    return row[name]
