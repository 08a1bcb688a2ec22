"""Migrations and the constraints that protect data, on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from telehub.db.migrate import load_migrations, migrate, preloaded_libraries
from telehub.db.pool import connect

TABLES = {"teams", "staff", "api_tokens", "patients", "devices", "readings", "thresholds",
          "alerts", "alert_events", "outbox", "rejected_messages", "audit_log"}


def test_migrate_on_empty_database_then_again_is_a_no_op(empty_db_url: str) -> None:
    with connect(empty_db_url) as conn:
        first = migrate(conn)
        assert len(first) == len(load_migrations())
        assert migrate(conn) == []
        tables = {r["tablename"] for r in
                  conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert tables >= TABLES


def test_migrate_through_a_version_stops_there_and_the_rest_follow(
        empty_db_url: str) -> None:
    shipped = [m.version for m in load_migrations()]
    with connect(empty_db_url) as conn:
        assert [line[:4] for line in migrate(conn, through=4)] == [
            f"{v:04d}" for v in shipped if v <= 4]
        assert conn.execute("SELECT to_regclass('outbox_deliveries') AS t").fetchone() == {
            "t": None}
        rest = migrate(conn)
        assert [line[:4] for line in rest] == [f"{v:04d}" for v in shipped if v > 4]
        recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY version"
                                ).fetchall()
    assert [r["version"] for r in recorded] == shipped


def test_timescaledb_step_skipped_without_the_extension(empty_db_url: str) -> None:
    with connect(empty_db_url) as conn:
        migrate(conn)
        available = conn.execute("SELECT 1 FROM pg_available_extensions "
                                 "WHERE name='timescaledb'").fetchone()
        usable = available is not None and "timescaledb" in preloaded_libraries(conn)
        rows = conn.execute("SELECT name, skipped FROM schema_migrations ORDER BY version"
                            ).fetchall()
        installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname='timescaledb'"
                                 ).fetchone()
    needing = {m.name for m in load_migrations() if m.required_extension == "timescaledb"}
    assert {"timescaledb"} <= needing
    assert {r["name"]: r["skipped"] for r in rows if r["name"] in needing} == {
        name: not usable for name in needing}
    assert (installed is not None) is usable


def _patient(conn: psycopg.Connection, nhs: str = "9990000026") -> int:
    team = conn.execute("INSERT INTO teams (code, name) VALUES ('north', 'North') "
                        "ON CONFLICT (code) DO UPDATE SET name = excluded.name RETURNING id"
                        ).fetchone()["id"]
    return conn.execute(
        "INSERT INTO patients (nhs_number, given_name, family_name, birth_date, team_id) "
        "VALUES (%s, 'Ann', 'Example', '1940-02-03', %s) RETURNING id", (nhs, team),
    ).fetchone()["id"]


def test_bad_nhs_number_refused_by_database(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        _patient(conn, "9990000027")


def test_valid_nhs_number_accepted_and_display_id_generated(conn: psycopg.Connection) -> None:
    pid = _patient(conn)
    row = conn.execute("SELECT display_id FROM patients WHERE id=%s", (pid,)).fetchone()
    assert row["display_id"] == f"TH-{pid:06d}"


def _device(conn: psycopg.Connection, patient_id: int) -> int:
    return conn.execute("INSERT INTO devices (device_id, kind, patient_id) "
                        "VALUES ('ox-1', 'oximeter', %s) RETURNING id", (patient_id,)
                        ).fetchone()["id"]


_INSERT = ("INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, "
           "raw_unit, reading_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)")


def test_impossible_value_refused_by_database(conn: psycopg.Connection) -> None:
    pid = _patient(conn)
    dev = _device(conn, pid)
    now = datetime.now(UTC)
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(_INSERT, (now, pid, dev, "spo2", 140, "%", 140, "%", "r1"))


def test_unit_must_match_metric(conn: psycopg.Connection) -> None:
    pid = _patient(conn)
    dev = _device(conn, pid)
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(_INSERT, (datetime.now(UTC), pid, dev, "spo2", 80, "kg", 80, "kg", "r1"))


def test_nan_refused_by_database(conn: psycopg.Connection) -> None:
    pid = _patient(conn)
    dev = _device(conn, pid)
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(_INSERT, (datetime.now(UTC), pid, dev, "pulse", float("nan"), "/min",
                               70, "/min", "r1"))


def test_duplicate_reading_refused_by_database(conn: psycopg.Connection) -> None:
    pid = _patient(conn)
    dev = _device(conn, pid)
    now = datetime.now(UTC)
    conn.execute(_INSERT, (now, pid, dev, "spo2", 94, "%", 94, "%", "r1"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(_INSERT, (now, pid, dev, "spo2", 94, "%", 94, "%", "r1"))


def test_one_active_alert_per_patient_and_rule(conn: psycopg.Connection) -> None:
    pid = _patient(conn)
    team = conn.execute("SELECT team_id FROM patients WHERE id=%s", (pid,)).fetchone()["team_id"]
    now = datetime.now(UTC)
    insert = ("INSERT INTO alerts (patient_id, team_id, rule_id, severity, message, "
              "first_breach_at, last_breach_at, status, resolved_at, outcome) "
              "VALUES (%s, %s, 'spo2-scale1-red', 'red', 'x', %s, %s, %s, %s, %s)")
    conn.execute(insert, (pid, team, now, now, "resolved", now, "false-alarm"))
    conn.execute(insert, (pid, team, now, now, "open", None, None))
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert, (pid, team, now, now, "acknowledged", None, None))


def test_reading_needs_known_patient_and_device(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(_INSERT, (datetime.now(UTC), 999, 999, "spo2", 94, "%", 94, "%", "r1"))
