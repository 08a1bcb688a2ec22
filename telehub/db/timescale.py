"""TimescaleDB: whether a database has it, whether it holds the readings as a hypertable,
and which days of a continuous aggregate can be read as they are.

Every caller keeps a plain-PostgreSQL path beside the TimescaleDB one; these checks say
which to take.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from telehub.domain.clock import last_midnight, next_midnight

_HAS_SQL = "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
_HYPERTABLE_SQL = """
SELECT 1 FROM timescaledb_information.hypertables
WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings'
"""

# The continuous aggregates over readings (migrations 0003 and 0014): UTC days of every
# reading, and local days of the readings received (low-quality ones left out).
DAILY_AGGREGATES = ("readings_daily", "readings_received_daily")

# How far continuous aggregate %(aggregate)s can be read for [first, last): up to its
# watermark (what its last refresh materialised), and not into any range still waiting in
# an invalidation log (readings written into already materialised days, e.g. a late
# store-and-forward batch, a restore or an import, until the next refresh takes them in).
# TimescaleDB's internal times are Unix microseconds.
SETTLED_SQL = """
WITH c AS (
    SELECT raw_hypertable_id AS raw, mat_hypertable_id AS mat,
           _timescaledb_functions.to_unix_microseconds(%(first)s) AS lo,
           _timescaledb_functions.to_unix_microseconds(%(last)s) AS hi
    FROM _timescaledb_catalog.continuous_agg
    WHERE user_view_schema = current_schema() AND user_view_name = %(aggregate)s
), pending AS (
    SELECT min(i.lowest_modified_value) AS since FROM c, (
        SELECT hypertable_id AS id, lowest_modified_value, greatest_modified_value
        FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log
        UNION ALL
        SELECT materialization_id, lowest_modified_value, greatest_modified_value
        FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log) AS i
    WHERE i.id IN (c.raw, c.mat) AND i.greatest_modified_value >= c.lo
      AND i.lowest_modified_value < c.hi
)
SELECT _timescaledb_functions.to_timestamp(GREATEST(c.lo, LEAST(
           c.hi, _timescaledb_functions.cagg_watermark(c.mat), COALESCE(p.since, c.hi))))
       AS settled_end
FROM c, pending p
"""

_REFRESH_SQL = "CALL refresh_continuous_aggregate(%s::regclass, NULL, %s::timestamptz)"
# A refresh that finds the policy's refresh of the same aggregate under way fails at once
# ("due to a concurrent refresh"); the policy's ends, so wait for it as long as refreshing a
# year of a 5,000-patient caseload can take on a busy machine.
_REFRESH_WAIT_S = 600.0

_UTC = ZoneInfo("UTC")


def has_timescaledb(conn: psycopg.Connection[Any]) -> bool:
    """True when the timescaledb extension is installed in this database."""
    return conn.execute(_HAS_SQL).fetchone() is not None


def readings_is_hypertable(conn: psycopg.Connection[Any]) -> bool:
    """True when TimescaleDB holds the readings as a hypertable (not so in a database
    migrated before TimescaleDB came to its server: its readings stay a plain table)."""
    return has_timescaledb(conn) and conn.execute(_HYPERTABLE_SQL).fetchone() is not None


def settled_days(conn: psycopg.Connection[Any], aggregate: str, start: datetime,
                 end: datetime, zone: ZoneInfo = _UTC) -> tuple[datetime, datetime] | None:
    """[first, last): the whole days of [start, end), midnight to midnight in `zone` (the
    zone the aggregate's buckets are in), that continuous aggregate `aggregate` holds
    exactly; None when there are none, or `aggregate` is no continuous aggregate here (a
    plain-PostgreSQL view, whose every day is computed from the readings when read)."""
    first, last = next_midnight(start, zone), last_midnight(end, zone)
    if first >= last or not has_timescaledb(conn):
        return None
    row = conn.execute(SETTLED_SQL, {"aggregate": aggregate, "first": first,
                                     "last": last}).fetchone()
    if row is None:
        return None
    value = row["settled_end"] if isinstance(row, dict) else row[0]
    settled_end = last_midnight(value, zone)
    return (first, settled_end) if first < settled_end else None


def refresh_daily_aggregates(conn: psycopg.Connection[Any],
                             until: datetime | None = None) -> None:
    """Refresh every daily continuous aggregate over readings before `until` (all of them
    when None), as their policies would; nothing where readings is no hypertable. `conn`
    must be in autocommit: a refresh runs in transactions of its own."""
    if not readings_is_hypertable(conn):
        return
    for aggregate in DAILY_AGGREGATES:
        deadline = time.monotonic() + _REFRESH_WAIT_S
        while True:
            try:
                conn.execute(_REFRESH_SQL, (aggregate, until))
                break
            except psycopg.errors.LockNotAvailable:   # the policy's refresh is under way
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
