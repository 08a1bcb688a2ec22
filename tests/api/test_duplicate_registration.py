"""Registering an NHS number that is already registered: no database error, so nothing for
PostgreSQL to log, and a reply that tells another team nothing about the existing record."""

from __future__ import annotations

import random
import time
import uuid
from datetime import date

import psycopg
import pytest
from psycopg import sql
from psycopg.pq import TransactionStatus

from telehub.care import registration as registry
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.errors import ValidationError
from tests.api.conftest import LiveApi


def _fresh_nhs_number() -> str:
    """A valid NHS number no other test on this server uses (they share its log)."""
    return next(synthetic_nhs_numbers(random.randrange(1_000, 990_000)))


def _new_patient(nhs: str) -> dict[str, object]:
    return {"nhs_number": nhs, "given_name": "Ida", "family_name": "Irwin",
            "birth_date": "1941-03-04", "conditions": ["copd"]}


def _server_log_path(conn: psycopg.Connection) -> str | None:
    """The file PostgreSQL writes its log to, when this (superuser) session can read it."""
    row = conn.execute("SELECT pg_current_logfile() AS f, "
                       "current_setting('cluster_name') AS cluster").fetchone()
    assert row is not None
    candidates = [row["f"]] if row["f"] else []
    if row["cluster"]:  # Debian's pg_ctlcluster sends stderr to /var/log/postgresql
        candidates.append(f"/var/log/postgresql/postgresql-{row['cluster'].replace('/', '-')}"
                          ".log")
    for path in candidates:
        try:
            seen = conn.execute("SELECT size FROM pg_stat_file(%s, true)", (path,)).fetchone()
        except psycopg.Error:
            conn.rollback()
            continue
        if seen is not None and seen["size"] is not None:
            return str(path)
    return None


def _log_size(conn: psycopg.Connection, path: str) -> int:
    row = conn.execute("SELECT size FROM pg_stat_file(%s)", (path,)).fetchone()
    assert row is not None
    return int(row["size"])


def _log_since(conn: psycopg.Connection, path: str, offset: int) -> str:
    """What the server logged from `offset` on, once a marker written now has arrived (the
    log collector may write a moment late)."""
    marker = f"telehub-test-marker-{uuid.uuid4().hex}"
    conn.execute(sql.SQL("DO $$ BEGIN RAISE LOG {}; END $$").format(sql.Literal(marker)))
    conn.commit()
    deadline = time.monotonic() + 10
    while True:
        row = conn.execute("SELECT pg_read_file(%s, %s, %s) AS text",
                           (path, offset, _log_size(conn, path) - offset)).fetchone()
        assert row is not None
        if marker in row["text"] or time.monotonic() > deadline:
            return str(row["text"])
        time.sleep(0.1)


def test_a_second_registration_raises_no_database_error(conn: psycopg.Connection) -> None:
    """The proof that needs no log file: the transaction is still healthy after the refusal,
    which it would not be had PostgreSQL raised (and so logged) a unique violation."""
    team = registry.add_team(conn, "north")
    nhs = _fresh_nhs_number()
    first = registry.add_patient(conn, nhs_number=nhs, given_name="Ida", family_name="Irwin",
                                 birth_date=date(1941, 3, 4), team=team)
    with pytest.raises(ValidationError) as refused:
        registry.add_patient(conn, nhs_number=nhs, given_name="Ida", family_name="Irwin",
                             birth_date=date(1941, 3, 4), team=team)
    assert conn.info.transaction_status == TransactionStatus.INTRANS
    assert refused.value.code == "duplicate-patient"
    assert (getattr(refused.value, "patient_id", None),
            getattr(refused.value, "team_id", None)) == (first, team)
    assert nhs not in str(refused.value)


def test_a_duplicate_nhs_number_never_reaches_the_database_log(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    path = _server_log_path(conn)
    if path is None:
        pytest.skip("this PostgreSQL's log file is not readable from SQL")
    nhs, too_old = _fresh_nhs_number(), _fresh_nhs_number()
    start = _log_size(conn, path)
    with live_api.client("nurse") as c:
        assert c.post("/patients", json=_new_patient(nhs)).status_code == 201
        assert c.post("/patients", json=_new_patient(nhs)).status_code == 422
        # A row the table's checks refuse is logged whole, so it is refused before the insert.
        old = c.post("/patients", json={**_new_patient(too_old), "birth_date": "1899-12-31"})
    with live_api.client("south-nurse") as c:
        assert c.post("/patients", json=_new_patient(nhs)).status_code == 422
    assert old.status_code == 422 and old.json()["code"] == "bad-birth-date"
    logged = _log_since(conn, path, start)
    for number in (nhs, too_old):
        assert number not in logged
        assert f"{number[:3]} {number[3:6]} {number[6:]}" not in logged


def test_only_those_who_may_see_the_record_hear_it_is_registered(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    nhs = _fresh_nhs_number()
    with live_api.client("nurse") as c:
        created = c.post("/patients", json=_new_patient(nhs)).json()
        same_team = c.post("/patients", json=_new_patient(nhs))
    with live_api.client("south-nurse") as c:
        other_team = c.post("/patients", json=_new_patient(nhs))
        unknown = c.post("/patients", json=_new_patient(_fresh_nhs_number()))
    with live_api.client("admin") as c:
        admin = c.post("/patients", json={**_new_patient(nhs),
                                          "team_id": live_api.world.teams["south"]})
    assert unknown.status_code == 201
    assert same_team.status_code == 422 and same_team.json()["code"] == "duplicate-patient"
    assert "already registered" in same_team.json()["detail"]
    assert admin.status_code == 422 and admin.json()["code"] == "duplicate-patient"
    assert other_team.status_code == 422 and other_team.json()["code"] == "cannot-register"
    assert other_team.json()["detail"] == ("This NHS number cannot be registered here. "
                                           "Contact the service administrator.")
    assert created["display_id"] not in other_team.text
    refused = conn.execute("SELECT staff_id, action, patient_id, detail FROM audit_log "
                           "WHERE action = 'register-refused' ORDER BY id").fetchall()
    assert [(r["staff_id"], r["patient_id"]) for r in refused] == [
        (live_api.world.staff[who], created["id"]) for who in ("nurse", "south-nurse", "admin")]
    assert refused[1]["detail"] == {"team_id": live_api.world.teams["south"],
                                    "reason": "nhs-number-registered"}
