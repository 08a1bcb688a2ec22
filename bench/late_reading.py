"""What storing one late store-and-forward reading costs, by its age.

On TimescaleDB a reading older than the compression policy's age (30 days) lands in a
compressed chunk: the insert, with the idempotency check of ON CONFLICT, has to decompress
that patient's and metric's batch of the chunk first. The hub refuses readings older than
its horizon (30 days by default), so this is the cost an operator who lengthens the horizon
past the compression age pays for each such reading. Each insert is rolled back, so every
repetition does the same work and the history stays as generated.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta

import psycopg

from bench.databases import Row
from bench.report import Report, ratio, summarise

# The identity the hub's batch store inserts on (readings_identity), one reading a statement.
LATE_SQL = """
INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, raw_unit,
                      reading_key)
VALUES (%(time)s, %(patient)s, %(device)s, 'spo2', 95, '%%', 95, '%%', %(key)s)
ON CONFLICT (device_id, metric, reading_key, time) DO NOTHING
"""

_DEVICE_SQL = """
SELECT d.patient_id, d.id AS device_id FROM devices d
WHERE d.kind = 'oximeter' AND d.patient_id IS NOT NULL ORDER BY d.id LIMIT 20
"""

_COMPRESSED_SQL = """
SELECT c.is_compressed FROM timescaledb_information.chunks c
WHERE c.hypertable_name = 'readings' AND c.range_start <= %s AND c.range_end > %s
"""

# Two days old: the newest, uncompressed chunk. Sixty days old: past the compression age.
AGES_DAYS = (2, 60)


def time_late_readings(conn: psycopg.Connection[Row], report: Report, as_of: datetime,
                       reps: int, rng: random.Random, *, timescale: bool) -> None:
    """Rows `late_reading_<age>d` for each age (where it landed in the notes), and the ratio
    of the oldest to the newest."""
    devices = conn.execute(_DEVICE_SQL).fetchall()
    if not devices:
        report.notes.append("late readings: the history has no oximeters")
        return
    medians: dict[int, float] = {}
    for age in AGES_DAYS:
        samples = []
        for i in range(reps + 2):
            device = rng.choice(devices)
            when = as_of - timedelta(days=age, seconds=rng.randrange(86400))
            args = {"time": when, "patient": device["patient_id"],
                    "device": device["device_id"], "key": f"late-{age}-{i}"}
            with conn.transaction(force_rollback=True):
                started = time.perf_counter()
                conn.execute(LATE_SQL, args)
                elapsed = time.perf_counter() - started
            if i >= 2:
                samples.append(elapsed)
        stats = summarise(samples)
        medians[age] = stats["median_ms"]
        where = _chunk_state(conn, as_of - timedelta(days=age)) if timescale else "a plain table"
        report.add(query=f"late_reading_{age}d", rows=1, **stats)
        report.notes.append(f"late_reading_{age}d: one reading {age} days old, into {where}")
    report.ratios[f"late reading {AGES_DAYS[-1]}d / {AGES_DAYS[0]}d old (median)"] = ratio(
        medians[AGES_DAYS[-1]], medians[AGES_DAYS[0]])


def _chunk_state(conn: psycopg.Connection[Row], when: datetime) -> str:
    row = conn.execute(_COMPRESSED_SQL, (when, when)).fetchone()
    if row is None:
        return "a chunk created for it"
    return "a compressed chunk" if row["is_compressed"] else "an uncompressed chunk"
