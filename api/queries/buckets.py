"""A patient's readings in hourly or daily buckets (min, max, mean, count), on either path.

Plain PostgreSQL buckets the readings with date_bin. TimescaleDB buckets them with
time_bucket, and for daily buckets reads the settled days from the continuous aggregate
`readings_daily` instead (a year's chart then reads ~365 rows a metric, not every reading).
A day is read from the aggregate when its last refresh materialised it and no change to its
readings is still waiting for the next refresh; other days (the newest, part-days at the
window's edges, days a late write touched since the refresh, every day before the first
refresh) are bucketed from the readings, so both paths return the same buckets
(telehub.db.timescale.settled_days says which days are settled).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from api.deps import DbConn
from telehub.db.timescale import has_timescaledb, settled_days

# Bins are aligned to UTC midnight either way; TimescaleDB's time_bucket uses the same origin.
DATE_BIN_SQL = """
SELECT date_bin(%(width)s, r.time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS start,
       r.metric::text AS metric, min(r.value) AS min, max(r.value) AS max,
       avg(r.value) AS mean, count(*) AS n
FROM readings r
WHERE r.patient_id = %(patient)s AND r.time >= %(start)s AND r.time < %(end)s
  AND (%(metric)s::metric IS NULL OR r.metric = %(metric)s)
GROUP BY 1, 2 ORDER BY 1, 2
"""
TIME_BUCKET_SQL = DATE_BIN_SQL.replace(
    "date_bin(%(width)s, r.time, TIMESTAMPTZ '2000-01-01 00:00:00+00')",
    "time_bucket(%(width)s, r.time)")

# The same columns from the continuous aggregate, for whole days in [start, end).
AGGREGATE_SQL = """
SELECT d.day AS start, d.metric::text AS metric, d.min, d.max, d.mean, d.n
FROM readings_daily d
WHERE d.patient_id = %(patient)s AND d.day >= %(start)s AND d.day < %(end)s
  AND (%(metric)s::metric IS NULL OR d.metric = %(metric)s)
ORDER BY 1, 2
"""

DAY = timedelta(days=1)


def load_buckets(conn: DbConn, params: dict[str, Any], width: timedelta
                 ) -> list[dict[str, Any]]:
    """Buckets of `width` for params patient, metric (or None), start and end, oldest first."""
    if not has_timescaledb(conn):
        return _bucketed(conn, DATE_BIN_SQL, params, width)
    settled = (settled_days(conn, "readings_daily", params["start"], params["end"])
               if width == DAY else None)
    if settled is None:
        return _bucketed(conn, TIME_BUCKET_SQL, params, width)
    first, last = settled
    rows = _bucketed(conn, TIME_BUCKET_SQL, {**params, "end": first}, width)
    rows += conn.execute(AGGREGATE_SQL, {**params, "start": first, "end": last}).fetchall()
    rows += _bucketed(conn, TIME_BUCKET_SQL, {**params, "start": last}, width)
    return rows


def _bucketed(conn: DbConn, query: str, params: dict[str, Any],
              width: timedelta) -> list[dict[str, Any]]:
    if params["start"] >= params["end"]:
        return []
    return conn.execute(query, {**params, "width": width}).fetchall()

