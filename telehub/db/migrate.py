"""Numbered SQL migrations, each applied once in its own transaction.

Files are `migrations/NNNN_name.sql`. A file whose first line is
`-- requires-extension: NAME` is applied only where PostgreSQL can install that
extension (`pg_available_extensions`, and preloaded where it must be); elsewhere it is
recorded as skipped, so the TimescaleDB path and the plain-PostgreSQL path share one
numbering.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import psycopg

logger = logging.getLogger(__name__)

_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_REQUIRES = re.compile(r"--\s*requires-extension:\s*(\w+)")
# Any fixed number will do: it only has to be the same for every migrator.
_LOCK_KEY = 7_205_118_001

# The table recording what was applied; a backup carries it, so a restore can compare.
MIGRATIONS_TABLE = "schema_migrations"
_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    skipped     boolean NOT NULL DEFAULT false,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class Migration:
    """One numbered migration file."""

    version: int
    name: str
    sql: str

    @property
    def required_extension(self) -> str | None:
        """The extension this migration needs, if its first line names one."""
        match = _REQUIRES.match(self.sql.lstrip())
        return match.group(1) if match else None


@dataclass(frozen=True)
class SchemaState:
    """Recorded migrations (version -> name) against the code's, as `NNNN_name` labels."""

    unknown: tuple[str, ...]   # recorded but not in this code: made by a newer Telehub
    pending: tuple[str, ...]   # in this code but not recorded: `telehub migrate` applies them

    @property
    def newest(self) -> str | None:
        """The newest recorded-but-unknown migration, when there is one."""
        return self.unknown[-1] if self.unknown else None


def compare_state(recorded: Mapping[int, str]) -> SchemaState:
    """How migrations recorded somewhere (a database, a backup) compare with this code's."""
    shipped = {m.version: m.name for m in load_migrations()}
    unknown = tuple(f"{v:04d}_{recorded[v]}" for v in sorted(recorded)
                    if shipped.get(v) != recorded[v])
    pending = tuple(f"{v:04d}_{shipped[v]}" for v in sorted(shipped)
                    if recorded.get(v) != shipped[v])
    return SchemaState(unknown, pending)


def load_migrations() -> list[Migration]:
    """All migrations shipped in telehub/migrations, in order."""
    found = []
    for entry in resources.files("telehub.db.migrations").iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


# Extensions whose library the server must load at start (`shared_preload_libraries`):
# installed but not preloaded, CREATE EXTENSION fails, so their migrations are skipped.
_NEEDS_PRELOAD = frozenset({"timescaledb"})


def _extension_available(conn: psycopg.Connection, name: str) -> bool:
    """True when `name` can be created here: installed on the server, and preloaded if it
    must be."""
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,)).fetchone()
    if row is None:
        return False
    return name not in _NEEDS_PRELOAD or name in preloaded_libraries(conn)


def preloaded_libraries(conn: psycopg.Connection) -> frozenset[str]:
    """The libraries the server loaded at start (`shared_preload_libraries`)."""
    row = conn.execute("SELECT current_setting('shared_preload_libraries') AS libs").fetchone()
    text = (row["libs"] if isinstance(row, dict) else row[0]) if row else ""
    return frozenset(part.strip().strip('"') for part in str(text).split(",") if part.strip())


def migrate(conn: psycopg.Connection, *, through: int | None = None) -> list[str]:
    """Apply pending migrations (those numbered up to `through`, when given); returns what
    was done, one line each. Safe to run twice."""
    done: list[str] = []
    conn.autocommit = True
    conn.execute(_CREATE_TABLE)
    # One migrator at a time, even when several processes start together.
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        applied = {r[0] if isinstance(r, tuple) else r["version"]
                   for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        for migration in load_migrations():
            if migration.version in applied or (through is not None
                                                 and migration.version > through):
                continue
            extension = migration.required_extension
            skip = extension is not None and not _extension_available(conn, extension)
            with conn.transaction():
                if not skip:
                    conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, skipped) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, skip),
                )
            verb = f"skipped ({extension} not available)" if skip else "applied"
            logger.info("migration %04d_%s %s", migration.version, migration.name, verb)
            done.append(f"{migration.version:04d}_{migration.name}: {verb}")
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done
