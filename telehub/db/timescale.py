"""TimescaleDB: whether a database has it, and whether it holds the readings as a hypertable.

Every caller keeps a plain-PostgreSQL path beside the TimescaleDB one; these checks say
which to take.
"""

from __future__ import annotations

from typing import Any

import psycopg

_HAS_SQL = "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
_HYPERTABLE_SQL = """
SELECT 1 FROM timescaledb_information.hypertables
WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings'
"""


def has_timescaledb(conn: psycopg.Connection[Any]) -> bool:
    """True when the timescaledb extension is installed in this database."""
    return conn.execute(_HAS_SQL).fetchone() is not None


def readings_is_hypertable(conn: psycopg.Connection[Any]) -> bool:
    """True when TimescaleDB holds the readings as a hypertable (not so in a database
    migrated before TimescaleDB came to its server: its readings stay a plain table)."""
    return has_timescaledb(conn) and conn.execute(_HYPERTABLE_SQL).fetchone() is not None
