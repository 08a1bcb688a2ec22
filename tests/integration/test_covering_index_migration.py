"""Migration 0013: the readings' (patient, metric, time) index carries value, unit and flags
on either path, and on TimescaleDB also in a database whose old chunks were compressed before
0013 came; the compressed readings still read back whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from telehub.db.migrate import migrate
from telehub.db.pool import connect
from telehub.db.timescale import readings_is_hypertable

INDEX = "readings_patient_metric_time_idx"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
_INDEXES_SQL = """
SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS def
FROM pg_index WHERE indrelid = 'readings'::regclass
"""
# The indexes TimescaleDB made on each uncompressed chunk from the hypertable's.
_CHUNK_INDEXES_SQL = """
SELECT c.chunk_name, pg_get_indexdef(i.indexrelid) AS def
FROM timescaledb_information.chunks c
JOIN pg_index i ON i.indrelid = format('%I.%I', c.chunk_schema, c.chunk_name)::regclass
WHERE c.hypertable_name = 'readings' AND NOT c.is_compressed
  AND pg_get_indexdef(i.indexrelid) LIKE '%(patient_id, metric, "time" DESC)%'
"""


def _timescale(conn: psycopg.Connection) -> None:
    if not readings_is_hypertable(conn):
        pytest.skip("the test database has no TimescaleDB (TELEHUB_TEST_DATABASE_URL names a "
                    "plain PostgreSQL), so no chunk is compressed; the plain path's index is "
                    "checked by test_0013_covers_the_index_in_a_fresh_database")


def _rows(conn: psycopg.Connection, query: Any, params: Any = None) -> list[dict[str, Any]]:
    return conn.cursor(row_factory=dict_row).execute(query, params).fetchall()


def _id(conn: psycopg.Connection, query: Any, params: Any = None) -> int:
    return int(_rows(conn, query, params)[0]["id"])


def _readings_index(conn: psycopg.Connection) -> list[str]:
    """The definitions of the readings' (patient, metric, time) indexes."""
    rows = _rows(conn, _INDEXES_SQL)
    return [r["def"] for r in rows if "(patient_id, metric, \"time\" DESC)" in r["def"]]


def _history(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    """A patient with 70 days of pulse readings, one a day; returns them as stored."""
    team = _id(conn, "INSERT INTO teams (code, name) VALUES ('north', 'North') RETURNING id")
    patient = _id(
        conn, "INSERT INTO patients (nhs_number, given_name, family_name, birth_date, team_id) "
        "VALUES ('9990000026', 'Ann', 'Example', '1940-02-03', %s) RETURNING id", (team,))
    device = _id(conn, "INSERT INTO devices (device_id, kind, patient_id) "
                 "VALUES ('oximeter-a', 'oximeter', %s) RETURNING id", (patient,))
    for k in range(70):
        conn.execute(
            "INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, "
            "raw_unit, reading_key, flags) VALUES (%s, %s, %s, 'pulse', %s, '/min', %s, '/min', "
            "%s, %s)", (NOW - k * DAY, patient, device, 60 + k % 9, 60 + k % 9, f"k{k}",
                        ["irregular"] if k % 5 == 0 else []))
    return _stored(conn)


def _stored(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    rows = _rows(conn, "SELECT time, value, unit, flags FROM readings ORDER BY time")
    return [tuple(r.values()) for r in rows]


def test_0013_covers_the_index_in_a_fresh_database(db_url: str) -> None:
    with connect(db_url) as conn:
        assert _readings_index(conn) == [
            f"CREATE INDEX {INDEX} ON public.readings USING btree (patient_id, metric, "
            "\"time\" DESC) INCLUDE (value, unit, flags)"]


def test_0013_covers_the_index_where_old_chunks_are_compressed(empty_db_url: str) -> None:
    with connect(empty_db_url) as conn:
        migrate(conn, through=11)
        _timescale(conn)
        # The chunks are compressed here, not by the policy's job in the background.
        conn.execute("SELECT alter_job(job_id, scheduled => false) "
                     "FROM timescaledb_information.jobs WHERE hypertable_name = 'readings'")
        stored = _history(conn)
        compressed = _rows(
            conn, "SELECT compress_chunk(c) FROM show_chunks('readings', older_than => %s) c",
            (NOW - 30 * DAY,))
        assert len(compressed) >= 4
        done = migrate(conn)
        assert [line for line in done if line.startswith("0013")] == [
            "0013_readings_covering_index: applied"]
        assert _readings_index(conn) == [
            f"CREATE INDEX {INDEX} ON public.readings USING btree (patient_id, metric, "
            "\"time\" DESC) INCLUDE (value, unit, flags)"]
        # Every uncompressed chunk carries the covering index, none the old one.
        chunks = _rows(conn, _CHUNK_INDEXES_SQL)
        assert chunks and all("INCLUDE (value, unit, flags)" in r["def"] for r in chunks)
        assert _stored(conn) == stored
        # A compressed chunk decompressed later is indexed by the hypertable's new index.
        conn.execute("SELECT decompress_chunk(c) FROM show_chunks('readings') c "
                     "WHERE c IN (SELECT format('%I.%I', chunk_schema, chunk_name)::regclass "
                     "FROM timescaledb_information.chunks WHERE is_compressed)")
        after = _rows(conn, _CHUNK_INDEXES_SQL)
        assert len(after) > len(chunks)
        assert all("INCLUDE (value, unit, flags)" in r["def"] for r in after)
        assert _stored(conn) == stored
