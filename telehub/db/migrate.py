"""Numbered SQL migrations, each applied once in its own transaction.

Files are `migrations/NNNN_name.sql`. A file whose first line is
`-- requires-extension: NAME` is applied only where PostgreSQL can install that
extension (`pg_available_extensions`); elsewhere it is recorded as skipped, so
the TimescaleDB path and the plain-PostgreSQL path share one numbering.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

logger = logging.getLogger(__name__)

_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_REQUIRES = re.compile(r"--\s*requires-extension:\s*(\w+)")
# Any fixed number will do: it only has to be the same for every migrator.
_LOCK_KEY = 7_205_118_001

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


def load_migrations() -> list[Migration]:
    """All migrations shipped in telehub/migrations, in order."""
    found = []
    for entry in resources.files("telehub.db.migrations").iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def _extension_available(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,)).fetchone()
    return row is not None


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations; returns what was done, one line each. Safe to run twice."""
    done: list[str] = []
    conn.autocommit = True
    conn.execute(_CREATE_TABLE)
    # One migrator at a time, even when several processes start together.
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        applied = {r[0] if isinstance(r, tuple) else r["version"]
                   for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        for migration in load_migrations():
            if migration.version in applied:
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
