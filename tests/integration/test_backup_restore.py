"""`telehub backup` and `telehub restore` as an operator runs them, against a real PostgreSQL:
every row and the migration state come back; a database in use, holding tables, or behind the
dump's schema is refused and left as it was."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from alerts import lifecycle
from telehub.care.audit import record_audit
from telehub.db.migrate import load_migrations
from telehub.db.pool import connect
from telehub.domain.units import Metric
from tests.alerts.conftest import NOW, Clinic

# The tables whose loss would matter most; every table is compared, these must not be empty.
MUST_HOLD = ("readings", "alerts", "alert_events", "outbox", "audit_log", "patients", "devices",
             "care_plan_reviews", "hospital_episodes", "follow_up_tasks", "risk_scores",
             "patient_care", "schema_migrations")
_TABLES = ("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' "
           "ORDER BY tablename")
_SEQUENCES = ("SELECT sequencename AS name, last_value AS v FROM pg_sequences "
              "WHERE schemaname = 'public' ORDER BY sequencename")


def telehub(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the `telehub` command as an operator would, on the database at `url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEHUB_")}
    env.update(TELEHUB_DATABASE_URL=url, TELEHUB_DATA_DIR=str(cwd), TELEHUB_LOG_LEVEL="WARNING")
    return subprocess.run([sys.executable, "-m", "telehub", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=240, check=False)


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Each public table's row count and the md5 of all its rows, and each sequence's value."""
    with connect(url, autocommit=True) as conn:
        out: dict[str, tuple[int, str]] = {}
        for row in conn.execute(_TABLES).fetchall():
            query = sql.SQL("SELECT count(*) AS n, md5(coalesce(string_agg(t::text, ',' "
                            "ORDER BY t::text), '')) AS sum FROM {} t").format(
                sql.Identifier(row["name"]))
            got = conn.execute(query).fetchone()
            assert got is not None
            out[row["name"]] = (got["n"], got["sum"])
        for row in conn.execute(_SEQUENCES).fetchall():
            out[f"sequence {row['name']}"] = (int(row["v"] or 0), "")
        return out


def populate(url: str, data_dir: Path) -> None:
    """A trust as the real code writes it: the demo seed's care records, then readings the
    alert engine turns into alerts, an acknowledgement and audit rows."""
    seeded = telehub(url, "seed", "--demo", cwd=data_dir)
    assert seeded.returncode == 0, seeded.stderr
    with connect(url) as conn:
        clinic = Clinic(conn)
        for k in range(3):
            pid = clinic.patient(["heart-failure"])
            clinic.series(pid, Metric.SPO2, [96, 95, 89, 88], NOW - timedelta(hours=4 - k),
                          timedelta(minutes=30))
            clinic.series(pid, Metric.WEIGHT, [70.0, 70.4, 71.1, 72.6], NOW - timedelta(days=4),
                          timedelta(days=1))
            record_audit(conn, actor="os:nurse", action="view", resource="patient",
                         patient_id=pid, detail={"target": f"patient {k}"})
        first = clinic.alerts()[0]
        lifecycle.acknowledge(conn, first["id"], lifecycle.Actor(None, "Nurse Ada"), "Rang her")
        conn.commit()


@pytest.fixture
def new_database(pg_admin_url: str) -> Iterator[Any]:
    """A factory of empty databases (no schema), dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"telehub_b_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return make_conninfo(**{**conninfo_to_dict(pg_admin_url), "dbname": name})

    yield make
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        for name in made:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                          .format(sql.Identifier(name)))


def test_restore_into_an_empty_database_gives_back_every_row_and_the_migration_state(
        db_url: str, empty_db_url: str, tmp_path: Path) -> None:
    populate(db_url, tmp_path)
    before = fingerprint(db_url)
    for table in MUST_HOLD:
        assert before[table][0] > 0, f"{table} was not populated"
    dump = tmp_path / "telehub.dump"

    backup = telehub(db_url, "backup", "--out", str(dump), cwd=tmp_path)
    assert backup.returncode == 0, backup.stderr
    assert "backup written" in backup.stdout
    assert "matches this Telehub's migrations" in backup.stdout
    assert re.search(rf"^\s+readings\s+{before['readings'][0]:,}$", backup.stdout, re.M)
    assert dump.stat().st_mode & 0o077 == 0, "a dump of health data must be private"
    assert [p.name for p in tmp_path.iterdir() if ".partial" in p.name] == []

    restore = telehub(empty_db_url, "restore", str(dump), cwd=tmp_path)
    assert restore.returncode == 0, restore.stderr
    assert "matches this Telehub's migrations" in restore.stdout
    after = fingerprint(empty_db_url)
    assert after == before
    # The restored database is one the service can run on: nothing left to migrate.
    migrated = telehub(empty_db_url, "migrate", cwd=tmp_path)
    assert migrated.returncode == 0 and "database is up to date" in migrated.stdout


def test_backup_refuses_to_overwrite_a_file_unless_forced(db_url: str, tmp_path: Path) -> None:
    dump = tmp_path / "telehub.dump"
    dump.write_bytes(b"yesterday's backup")

    refused = telehub(db_url, "backup", "--out", str(dump), cwd=tmp_path)
    assert refused.returncode == 1
    assert "already exists; give --force" in refused.stderr
    assert dump.read_bytes() == b"yesterday's backup"

    forced = telehub(db_url, "backup", "--out", str(dump), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert dump.read_bytes().startswith(b"PGDMP")
    assert [p.name for p in tmp_path.iterdir()] == ["telehub.dump"]


def test_restore_refuses_a_database_with_tables_and_replaces_them_only_when_told(
        db_url: str, new_database: Any, tmp_path: Path) -> None:
    populate(db_url, tmp_path)
    dump = tmp_path / "telehub.dump"
    assert telehub(db_url, "backup", "--out", str(dump), cwd=tmp_path).returncode == 0
    target = new_database()
    assert telehub(target, "migrate", cwd=tmp_path).returncode == 0
    with connect(target) as conn:
        conn.execute("INSERT INTO teams (code, name) VALUES ('east', 'East Locality')")
        conn.commit()
    untouched = fingerprint(target)

    refused = telehub(target, "restore", str(dump), cwd=tmp_path)
    assert refused.returncode == 1
    assert "is not empty" in refused.stderr and "--into-existing" in refused.stderr
    assert fingerprint(target) == untouched

    replaced = telehub(target, "restore", str(dump), "--into-existing", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert "its Telehub tables replaced" in replaced.stdout
    assert fingerprint(target) == fingerprint(db_url)


def test_restore_refuses_a_dump_from_a_newer_telehub(
        db_url: str, empty_db_url: str, tmp_path: Path) -> None:
    with connect(db_url) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9001, 'from_later')")
        conn.commit()
    dump = tmp_path / "newer.dump"
    assert telehub(db_url, "backup", "--out", str(dump), cwd=tmp_path).returncode == 0

    refused = telehub(empty_db_url, "restore", str(dump), cwd=tmp_path)
    assert refused.returncode == 1
    assert "is from a newer Telehub" in refused.stderr
    assert "9001_from_later" in refused.stderr
    assert fingerprint(empty_db_url) == {}


def test_restore_refuses_a_database_another_process_is_using(
        db_url: str, empty_db_url: str, tmp_path: Path) -> None:
    dump = tmp_path / "telehub.dump"
    assert telehub(db_url, "backup", "--out", str(dump), cwd=tmp_path).returncode == 0
    with psycopg.connect(empty_db_url, application_name="telehub-hub"):
        refused = telehub(empty_db_url, "restore", str(dump), cwd=tmp_path)
    assert refused.returncode == 1
    assert "other sessions open: telehub-hub (1)" in refused.stderr
    assert fingerprint(empty_db_url) == {}


def test_a_backup_from_an_older_telehub_restores_and_migrates_forward(
        empty_db_url: str, new_database: Any, tmp_path: Path) -> None:
    older = new_database()
    last = load_migrations()[-1]
    with connect(older, autocommit=True) as conn:   # this code's schema but its last migration
        conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text "
                     "NOT NULL, skipped boolean NOT NULL DEFAULT false, applied_at timestamptz "
                     "NOT NULL DEFAULT now())")
        for m in load_migrations()[:-1]:
            skip = m.required_extension is not None
            if not skip:
                conn.execute(m.sql.encode())
            conn.execute("INSERT INTO schema_migrations (version, name, skipped) "
                         "VALUES (%s, %s, %s)", (m.version, m.name, skip))
    dump = tmp_path / "older.dump"
    assert telehub(older, "backup", "--out", str(dump), cwd=tmp_path).returncode == 0

    restore = telehub(empty_db_url, "restore", str(dump), cwd=tmp_path)
    assert restore.returncode == 0, restore.stderr
    assert f"1 migration(s) behind this Telehub ({last.version:04d}_{last.name}" in restore.stdout
    assert "run `telehub migrate`" in restore.stdout
    migrated = telehub(empty_db_url, "migrate", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    done = f"{last.version:04d}_{last.name}: "
    # An extension's migration is applied where the server has the extension, else skipped.
    assert done + "applied" in migrated.stdout or (
        last.required_extension is not None and done + "skipped" in migrated.stdout)


def test_backup_over_a_multi_host_url_never_shows_the_password(
        db_url: str, tmp_path: Path) -> None:
    params = conninfo_to_dict(db_url)
    host = str(params.get("host") or "127.0.0.1")
    port = str(params.get("port") or "5432")
    with socket.socket() as probe:      # a port nothing listens on: the first host is down
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    password = f"pw-{uuid.uuid4().hex}"
    url = make_conninfo(**{**params, "host": f"127.0.0.1,{host}", "port": f"{dead},{port}",
                           "target_session_attrs": "read-write", "password": password})
    dump = tmp_path / "telehub.dump"

    done = telehub(url, "backup", "--out", str(dump), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"127.0.0.1:{dead},{host}:{port}/" in done.stdout
    assert password not in done.stdout + done.stderr
