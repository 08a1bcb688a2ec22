"""TimescaleDB: whether a database has it, and the policies Telehub sets through it.

Every caller keeps a plain-PostgreSQL path beside this one: `has_timescaledb` says which
to take, and the functions here answer False (doing nothing) on plain PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import psycopg

# The relations a readings retention policy covers: the raw readings and their daily
# aggregate, so no daily figure outlives the readings it was computed from.
RETAINED = ("readings", "readings_daily")

_HAS_SQL = "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
_HYPERTABLE_SQL = """
SELECT 1 FROM timescaledb_information.hypertables
WHERE hypertable_schema = 'public' AND hypertable_name = 'readings'
"""
_REMOVE_SQL = "SELECT remove_retention_policy(%s::regclass, if_exists => true)"
_ADD_SQL = "SELECT add_retention_policy(%s::regclass, drop_after => make_interval(days => %s))"
_POLICY_SQL = """
SELECT hypertable_name, (config ->> 'drop_after')::interval AS drop_after
FROM timescaledb_information.jobs
WHERE proc_name = 'policy_retention' AND hypertable_schema = 'public'
"""


def has_timescaledb(conn: psycopg.Connection[Any]) -> bool:
    """True when the timescaledb extension is installed in this database."""
    return conn.execute(_HAS_SQL).fetchone() is not None


def set_retention_policy(conn: psycopg.Connection[Any], days: int | None) -> bool:
    """Have TimescaleDB drop readings (and their daily aggregate) older than `days`, or keep
    everything when `days` is None; replaces any earlier policy. False on plain PostgreSQL
    (or where readings is no hypertable), where nothing is done and rows are deleted by the
    caller instead.

    The policy drops whole 7-day chunks once all of a chunk is older than `days`, so a
    reading may outlive the cut by up to a chunk's width; a row DELETE gives the exact cut."""
    if days is not None and days < 1:
        raise ValueError(f"a retention period is at least one day, not {days}")
    if not _readings_hypertable(conn):
        return False
    with conn.transaction():
        for relation in RETAINED:
            conn.execute(_REMOVE_SQL, (relation,))
            if days is not None:
                conn.execute(_ADD_SQL, (relation, days))
    return True


def _readings_hypertable(conn: psycopg.Connection[Any]) -> bool:
    """True when readings is a hypertable (not so where TimescaleDB came after 0003 ran)."""
    return has_timescaledb(conn) and conn.execute(_HYPERTABLE_SQL).fetchone() is not None


def retention_policy_days(conn: psycopg.Connection[Any]) -> int | None:
    """The readings retention policy in days (None: none set, or plain PostgreSQL)."""
    if not has_timescaledb(conn):
        return None
    for row in conn.execute(_POLICY_SQL).fetchall():
        name, drop_after = _values(row)
        if name == "readings":
            return int(drop_after.days)
    return None


def _values(row: Any) -> tuple[Any, ...]:
    """A row's values, whichever row factory the connection uses."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)
