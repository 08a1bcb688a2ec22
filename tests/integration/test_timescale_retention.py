"""Readings retention through TimescaleDB's policy (telehub.db.timescale), on either path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from telehub.db.timescale import has_timescaledb, retention_policy_days, set_retention_policy

_INSERT = ("INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, "
           "raw_unit, reading_key) VALUES (%s, %s, %s, 'pulse', 70, '/min', 70, '/min', %s)")
_JOBS = ("SELECT job_id, hypertable_name, config ->> 'drop_after' AS drop_after "
         "FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention' "
         "ORDER BY hypertable_name")


def _device(conn: psycopg.Connection) -> tuple[int, int]:
    team = conn.execute("INSERT INTO teams (code, name) VALUES ('north', 'North') "
                        "RETURNING id").fetchone()["id"]
    patient = conn.execute(
        "INSERT INTO patients (nhs_number, given_name, family_name, birth_date, team_id) "
        "VALUES ('9990000026', 'Ann', 'Example', '1940-02-03', %s) RETURNING id", (team,),
    ).fetchone()["id"]
    device = conn.execute("INSERT INTO devices (device_id, kind, patient_id) "
                          "VALUES ('ox-1', 'oximeter', %s) RETURNING id", (patient,)
                          ).fetchone()["id"]
    return patient, device


def test_a_retention_period_is_at_least_a_day(conn: psycopg.Connection) -> None:
    with pytest.raises(ValueError, match="at least one day"):
        set_retention_policy(conn, 0)


def test_plain_postgresql_sets_no_policy_and_keeps_every_reading(
        conn: psycopg.Connection) -> None:
    if has_timescaledb(conn):
        pytest.skip("the test database has TimescaleDB; the policy path is tested below")
    patient, device = _device(conn)
    old = datetime.now(UTC) - timedelta(days=400)
    conn.execute(_INSERT, (old, patient, device, "old"))
    conn.commit()
    assert set_retention_policy(conn, 30) is False
    assert retention_policy_days(conn) is None
    assert conn.execute("SELECT count(*) AS n FROM readings").fetchone()["n"] == 1


def test_timescaledb_policy_drops_old_chunks_of_readings_and_their_daily_aggregate(
        conn: psycopg.Connection) -> None:
    if not has_timescaledb(conn):
        pytest.skip("the test database has no TimescaleDB (TELEHUB_TEST_DATABASE_URL names a "
                    "plain PostgreSQL)")
    patient, device = _device(conn)
    now = datetime.now(UTC)
    for days in (400, 200, 10, 1):
        conn.execute(_INSERT, (now - timedelta(days=days), patient, device, f"d{days}"))
    conn.commit()
    conn.autocommit = True
    conn.execute("CALL refresh_continuous_aggregate('readings_daily', NULL, NULL)")

    assert set_retention_policy(conn, 90) is True
    assert set_retention_policy(conn, 100) is True       # replaces, never adds a second
    jobs = conn.execute(_JOBS).fetchall()
    assert len(jobs) == 2 and {j["drop_after"] for j in jobs} == {"100 days"}
    assert retention_policy_days(conn) == 100
    for job in jobs:
        conn.execute("CALL run_job(%s)", (job["job_id"],))
    kept = [r["reading_key"] for r in conn.execute(
        "SELECT reading_key FROM readings ORDER BY time").fetchall()]
    assert kept == ["d10", "d1"]
    days = conn.execute("SELECT count(*) AS n, min(day) AS first FROM readings_daily"
                        ).fetchone()
    assert days["first"] > now - timedelta(days=200) and days["n"] >= 2

    assert set_retention_policy(conn, None) is True
    assert conn.execute(_JOBS).fetchall() == [] and retention_policy_days(conn) is None
