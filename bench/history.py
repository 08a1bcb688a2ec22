"""A year of readings for a synthetic caseload, written by COPY in arrival (time) order."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg
from psycopg import sql

from bench.databases import (
    Row,
    connect,
    database_comment,
    recreate_database,
    set_database_comment,
)
from bench.population import BenchPatient, register_population
from telehub.db.timescale import has_timescaledb, refresh_daily_aggregates

logger = logging.getLogger(__name__)

# Bump when the generated data changes shape, so an old database is rebuilt.
DATASET_VERSION = 1

_COPY_READINGS = ("COPY readings (time, patient_id, device_id, metric, value, unit, raw_value, "
                  "raw_unit, reading_key, received_at) FROM STDIN")

# Per day: weight once (07:00–08:00), SpO2 + pulse twice (08:00–09:00, 19:00–20:00),
# glucose twice for diabetics (07:30–08:30, 17:30–18:30): ~2,000 readings a patient a year,
# so 5,000 patients × 365 days is about 10 million rows.
_SLOTS: tuple[tuple[str, int], ...] = (("weight", 7 * 3600), ("oximeter", 8 * 3600),
                                       ("oximeter", 19 * 3600), ("glucose", 7 * 3600 + 1800),
                                       ("glucose", 17 * 3600 + 1800))


@dataclass(frozen=True)
class HistorySpec:
    """What a generated history database holds."""

    patients: int
    days: int
    team_size: int
    as_of: str          # ISO date: the history covers [as_of - days, as_of)
    version: int = DATASET_VERSION


@dataclass(frozen=True)
class HistoryInfo:
    """A ready history database: its URL, its spec and whether this run generated it."""

    url: str
    spec: HistorySpec
    generated: bool
    generate_s: float
    rows: int


def ensure_history(admin_url: str, name: str, *, patients: int, days: int, team_size: int,
                   rebuild: bool = False) -> HistoryInfo:
    """Reuse database `name` when it holds this size of history, else (re)generate it."""
    from bench.databases import with_database

    comment = database_comment(admin_url, name)
    if comment and not rebuild:
        try:
            spec = HistorySpec(**json.loads(comment))
        except (ValueError, TypeError):
            spec = None
        if spec and (spec.patients, spec.days, spec.team_size, spec.version) == (
                patients, days, team_size, DATASET_VERSION):
            url = with_database(admin_url, name)
            with connect(url) as conn:
                row = conn.execute("SELECT count(*) AS n FROM readings").fetchone()
            return HistoryInfo(url, spec, False, 0.0, int(row["n"]) if row else 0)
    started = time.perf_counter()
    url = recreate_database(admin_url, name)
    spec = HistorySpec(patients, days, team_size, datetime.now(UTC).date().isoformat())
    with connect(url) as conn:
        population = register_population(conn, patients=patients, team_size=team_size)
        conn.commit()
        rows = load_readings(conn, population, days=days, as_of=date.fromisoformat(spec.as_of))
        insert_alerts(conn, population, as_of=date.fromisoformat(spec.as_of))
        conn.commit()
        conn.autocommit = True
        if has_timescaledb(conn):   # before ANALYZE, so the compressed chunks have statistics
            settle_timescale(conn, as_of=date.fromisoformat(spec.as_of))
        conn.execute("VACUUM ANALYZE")
    set_database_comment(admin_url, name, json.dumps(asdict(spec)))
    return HistoryInfo(url, spec, True, time.perf_counter() - started, rows)


def load_readings(conn: psycopg.Connection[Row], population: list[BenchPatient], *,
                  days: int, as_of: date, seed: int = 8) -> int:
    """COPY `days` of readings ending before `as_of`; indexes are built after the load."""
    saved = _drop_reading_indexes(conn)
    # The generated rows reference only the patients and devices just registered, so on a
    # plain table the per-row foreign-key triggers (10 million queued checks) are skipped for
    # the load. TimescaleDB refuses to disable triggers on a hypertable with compression, and
    # its chunks carry triggers of their own, so there the checks run.
    hypertable = has_timescaledb(conn)
    if not hypertable:
        conn.execute("ALTER TABLE readings DISABLE TRIGGER ALL")
    rows = 0
    with conn.cursor().copy(_COPY_READINGS) as copy:
        for block, count in _day_blocks(population, days=days, as_of=as_of, seed=seed):
            copy.write(block)
            rows += count
    if not hypertable:
        conn.execute("ALTER TABLE readings ENABLE TRIGGER ALL")
    conn.execute("SET maintenance_work_mem = '512MB'")
    for statement in saved:
        conn.execute(statement.encode())
    conn.commit()
    return rows


# What TimescaleDB's own policies would have done by `as_of` with a year of readings behind
# them: chunks past the compression policy's age compressed, the daily aggregates refreshed.
_COMPRESS_OLD_CHUNKS = """
SELECT count(compress_chunk(c, if_not_compressed => true))
FROM show_chunks('readings', older_than => %s::timestamptz - INTERVAL '30 days') AS c
"""


def settle_timescale(conn: psycopg.Connection[Row], *, as_of: date) -> None:
    """Compress the chunks the policy would have by `as_of`, refresh the daily aggregates
    (readings_daily, readings_received_daily) to it."""
    midnight = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    started = time.perf_counter()
    conn.execute(_COMPRESS_OLD_CHUNKS, (midnight,))
    compressed = time.perf_counter()
    refresh_daily_aggregates(conn, midnight)
    logger.info("history: chunks compressed in %.1f s, daily aggregates refreshed in %.1f s",
                compressed - started, time.perf_counter() - compressed)


def _drop_reading_indexes(conn: psycopg.Connection[Row]) -> list[str]:
    """Drop the readings indexes and identity constraint; returns the DDL to recreate them."""
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = 'readings'::regclass AND contype = 'u'").fetchall()
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'readings' "
        "AND i.indexname NOT IN (SELECT conname FROM pg_constraint "
        "WHERE conrelid = 'readings'::regclass)").fetchall()
    recreate = []
    for c in constraints:
        conn.execute(sql.SQL("ALTER TABLE readings DROP CONSTRAINT {}")
                     .format(sql.Identifier(c["conname"])))
        recreate.append(f'ALTER TABLE readings ADD CONSTRAINT "{c["conname"]}" {c["def"]}')
    for i in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(i["indexname"])))
        recreate.append(i["indexdef"])
    return recreate


def _day_blocks(population: list[BenchPatient], *, days: int, as_of: date,
                seed: int) -> Iterator[tuple[str, int]]:
    """COPY text for each day, all patients, in time order within each slot."""
    rng = np.random.default_rng(seed)
    n = len(population)
    pids = [p.id for p in population]
    ox = [p.oximeter_id for p in population]
    sc = [p.scale_id for p in population]
    gl = [p.glucometer_id for p in population]
    diabetic = np.array([p.diabetic for p in population])
    weight_base = rng.normal(82, 14, n).clip(45, 180)
    spo2_base = rng.normal(94.5, 1.5, n).clip(88, 99)
    pulse_base = rng.normal(78, 9, n).clip(55, 110)
    glucose_base = rng.normal(8, 1.5, n).clip(5, 14)
    # A few patients stopped sending a while ago, so "no reading for 48 h" is not empty.
    last_day = np.where(rng.random(n) < 0.03, days - rng.integers(3, 10, n), days)
    for d in range(days):
        day = as_of - timedelta(days=days - d)
        stamp = day.isoformat()
        live = last_day > d
        lines: list[str] = []
        for slot, (kind, start) in enumerate(_SLOTS):
            mask = live & diabetic if kind == "glucose" else live
            idx = np.flatnonzero(mask)
            secs = (start + rng.integers(0, 3600, idx.size)).tolist()
            times = [f"{stamp} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in secs]
            key = f"{d}-{slot}"
            if kind == "weight":
                vals = (weight_base[idx] + rng.normal(0, 0.4, idx.size)).round(1).tolist()
                lines += [f"{t}\t{pids[i]}\t{sc[i]}\tweight\t{v}\tkg\t{v}\tkg\tw{key}\t{t}"
                          for t, i, v in zip(times, idx.tolist(), vals, strict=True)]
            elif kind == "oximeter":
                s_vals = (spo2_base[idx] + rng.normal(0, 1.2, idx.size)).clip(70, 100).round()
                p_vals = (pulse_base[idx] + rng.normal(0, 6, idx.size)).clip(35, 180).round()
                for t, i, sv, pv in zip(times, idx.tolist(), s_vals.tolist(), p_vals.tolist(),
                                        strict=True):
                    lines.append(f"{t}\t{pids[i]}\t{ox[i]}\tspo2\t{sv}\t%\t{sv}\t%\ts{key}\t{t}")
                    lines.append(f"{t}\t{pids[i]}\t{ox[i]}\tpulse\t{pv}\t/min\t{pv}\t/min\t"
                                 f"p{key}\t{t}")
            else:
                vals = (glucose_base[idx] + rng.normal(0, 1.8, idx.size)).clip(2, 30).round(1)
                lines += [f"{t}\t{pids[i]}\t{gl[i]}\tglucose\t{v}\tmmol/L\t{v}\tmmol/L\tg{key}\t{t}"
                          for t, i, v in zip(times, idx.tolist(), vals.tolist(), strict=True)]
        if lines:
            yield "\n".join(lines) + "\n", len(lines)


_INSERT_ALERT = """
INSERT INTO alerts (patient_id, team_id, rule_id, severity, status, message, metric,
                    first_breach_at, last_breach_at, resolved_at, outcome)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def insert_alerts(conn: psycopg.Connection[Row], population: list[BenchPatient], *,
                  as_of: date) -> None:
    """Open red/amber alerts for ~6 % of patients and resolved history for ~10 %."""
    end = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    rows: list[tuple[object, ...]] = []
    for i, p in enumerate(population):
        if i % 50 == 7:
            rows.append((p.id, p.team_id, "spo2-scale1-red", "red", "open",
                         "SpO2 91 % is at or below 91 %", "spo2", end - timedelta(hours=3),
                         end - timedelta(hours=1), None, None))
        elif i % 25 == 3:
            rows.append((p.id, p.team_id, "pulse-amber", "amber", "open",
                         "Pulse 115 /min is within 111–130 /min", "pulse",
                         end - timedelta(hours=20), end - timedelta(hours=5), None, None))
        if i % 10 == 1:
            rows.append((p.id, p.team_id, "spo2-scale1-amber", "amber", "resolved",
                         "SpO2 93 % is within 92–93 %", "spo2", end - timedelta(days=40),
                         end - timedelta(days=39), end - timedelta(days=38), "advice-given"))
    with conn.cursor() as cur:
        cur.executemany(_INSERT_ALERT, rows)
