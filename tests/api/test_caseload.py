"""`GET /caseload`: triage order, latest values, trends, alert counts, devices."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg

from telehub.care import registration as registry
from tests.api.conftest import LiveApi
from tests.api.data import add_alert, add_readings
from tests.clock_anchors import days_before


def _patient(conn: psycopg.Connection, nhs: str, given: str, enrolled_days_ago: float,
             conditions: list[str]) -> int:
    pid = registry.add_patient(conn, nhs_number=nhs, given_name=given, family_name="Test",
                               birth_date=date(1950, 5, 5), team="north",
                               conditions=conditions)
    conn.execute("UPDATE patients SET enrolled_at = now() - %s WHERE id = %s",
                 (timedelta(days=enrolled_days_ago), pid))
    return pid


def test_caseload_is_sorted_red_amber_overdue_then_the_rest(live_api: LiveApi,
                                                            conn: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    w = live_api.world
    ok = _patient(conn, "9990000050", "Eve", 10, ["heart-failure"])
    overdue = _patient(conn, "9990000069", "Dan", 3, ["heart-failure"])
    discharged = _patient(conn, "9990000077", "Fay", 10, [])
    conn.execute("UPDATE patients SET status = 'discharged' WHERE id = %s", (discharged,))
    add_readings(conn, ok, "weight", [(now - timedelta(hours=2), 80.0)])
    add_readings(conn, overdue, "weight", [(now - timedelta(hours=30), 70.0)])
    # bob: amber only; ann: red and amber, and overdue too (red wins)
    add_alert(conn, w.patients["bob"], "spo2-scale1-amber", "amber", at=now, metric="spo2")
    add_alert(conn, w.patients["ann"], "weight-gain-3d", "amber", at=now, metric="weight")
    add_alert(conn, w.patients["ann"], "pulse-red", "red", at=now, metric="pulse")
    add_alert(conn, w.patients["ann"], "device-offline", "info", at=now)
    add_alert(conn, ok, "pulse-red", "red", at=now - timedelta(days=2), status="resolved",
              resolved_at=now, outcome="false-alarm")
    conn.commit()

    with live_api.client("nurse") as c:
        r = c.get("/caseload")
    assert r.status_code == 200, r.text
    body = r.json()
    order = [row["patient_id"] for row in body["rows"]]
    assert order[:2] == [w.patients["ann"], w.patients["bob"]]
    assert order[2] == overdue
    assert ok in order[3:]
    assert discharged not in order and w.patients["cat"] not in order
    rows = {row["patient_id"]: row for row in body["rows"]}
    assert [rows[p]["triage"] for p in order[:3]] == ["red", "amber", "overdue"]
    assert rows[w.patients["ann"]]["open_alerts"] == {"red": 1, "amber": 1, "info": 1}
    assert rows[ok]["open_alerts"] == {"red": 0, "amber": 0, "info": 0}
    assert rows[ok]["triage"] == "ok"
    assert rows[overdue]["overdue_metrics"] == ["weight"]
    audit = conn.execute("SELECT actor, action, resource, detail FROM audit_log").fetchone()
    assert (audit["actor"], audit["action"], audit["resource"]) == ("nurse", "list", "caseload")
    assert audit["detail"]["patient_ids"] == sorted(order)


def test_caseload_rows_carry_latest_values_a_7_day_trend_and_devices(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ann = live_api.world.patients["ann"]
    add_readings(conn, ann, "weight", [(days_before(now - timedelta(hours=1), d), 80.0 + d)
                                       for d in range(10)])  # one on each London day
    add_readings(conn, ann, "pulse", [(now - timedelta(minutes=5), 72.0)])
    conn.execute("UPDATE devices SET online = true, battery = 81 WHERE patient_id = %s", (ann,))
    conn.commit()
    with live_api.client("matron") as c:
        rows = {row["patient_id"]: row for row in c.get("/caseload").json()["rows"]}
    latest = {m["metric"]: m for m in rows[ann]["latest"]}
    assert set(latest) == {"weight", "pulse"}
    assert latest["weight"]["value"] == 80.0
    assert latest["pulse"]["unit"] == "/min"
    assert datetime.fromisoformat(latest["pulse"]["time"]) == now - timedelta(minutes=5)
    trend = latest["weight"]["trend"]
    assert 7 <= len(trend) <= 8  # the window spans 7 × 24 h: 7 London days, 8 across spring
    assert [p["mean"] for p in trend] == sorted((p["mean"] for p in trend), reverse=True)
    assert all(p["mean"] <= 87.0 for p in trend)
    assert {d["device_id"] for d in rows[ann]["devices"]} == {f"scale-{ann}", f"oximeter-{ann}"}
    assert all(d["battery"] == 81 and d["online"] for d in rows[ann]["devices"])
    assert datetime.fromisoformat(rows[ann]["last_reading_at"]) == now - timedelta(minutes=5)


def test_caseload_of_a_named_nurse_and_of_another_team(live_api: LiveApi,
                                                       conn: psycopg.Connection) -> None:
    extra = _patient(conn, "9990000085", "Gus", 1, [])  # no named nurse
    conn.commit()
    with live_api.client("nurse") as c:
        mine = c.get("/caseload", params={"nurse_id": live_api.world.staff["nurse"]}).json()
        other = c.get("/caseload", params={"team_id": live_api.world.teams["south"]})
    assert extra not in [row["patient_id"] for row in mine["rows"]]
    assert mine["total"] == 2
    assert other.status_code == 404
    with live_api.client("admin") as c:
        south = c.get("/caseload", params={"team_id": live_api.world.teams["south"]}).json()
    assert [row["patient_id"] for row in south["rows"]] == [live_api.world.patients["cat"]]
    for role in ("responder", "manager"):
        with live_api.client(role) as c:
            assert c.get("/caseload").status_code == 403
