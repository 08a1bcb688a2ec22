"""Team statistics (counts only), team staff, and the audit log for admins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from tests.api.conftest import LiveApi
from tests.api.data import add_alert, add_readings

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)


def _at(day: int, hour: float) -> datetime:
    return DAY0 + timedelta(days=day, hours=hour)


def test_team_stats_count_adherence_alert_rates_ack_times_and_outcomes(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    w = live_api.world
    ann, bob, cat = w.patients["ann"], w.patients["bob"], w.patients["cat"]
    conn.execute("UPDATE patients SET enrolled_at = '2026-01-01T00:00:00Z'")
    # ann: weight once a day is planned; 3 of 4 days, one day twice (capped at 1)
    add_readings(conn, ann, "weight", [(_at(d, 12), 80.0) for d in range(3)]
                 + [(_at(2, 13), 80.5), (_at(-1, 12), 80.0)])
    # bob: spo2 and pulse twice a day are planned; spo2 twice daily, extra on day 3, no pulse
    add_readings(conn, bob, "spo2", [(_at(d, h), 95.0) for d in range(4) for h in (8, 20)]
                 + [(_at(3, 21), 94.0), (_at(3, 22), 94.0)])
    add_readings(conn, cat, "glucose", [(_at(1, 8), 6.0)])
    add_alert(conn, ann, "pulse-red", "red", at=_at(0, 9), status="resolved",
              acknowledged_at=_at(0, 9) + timedelta(minutes=10), resolved_at=_at(0, 12),
              outcome="admitted")
    add_alert(conn, bob, "pulse-red", "red", at=_at(1, 9),
              acknowledged_at=_at(1, 9) + timedelta(minutes=30), status="acknowledged")
    add_alert(conn, bob, "spo2-scale1-amber", "amber", at=_at(2, 9), status="resolved",
              resolved_at=_at(2, 10), outcome="false-alarm")
    add_alert(conn, ann, "weight-gain-3d", "amber", at=_at(-3, 9))  # before the window
    add_alert(conn, cat, "glucose-hypo", "amber", at=_at(1, 9))     # another team
    conn.commit()
    with live_api.client("manager") as c:
        r = c.get(f"/teams/{w.teams['north']}/stats",
                  params={"from": DAY0.isoformat(), "to": _at(4, 0).isoformat()})
        other = c.get(f"/teams/{w.teams['south']}/stats")
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["patients_monitored"] == 2 and s["patient_days"] == 8.0
    assert s["expected_readings"] == 4 * 1 + 4 * (2 + 2)
    assert s["received_readings"] == 3 + 8
    assert s["adherence"] == round(11 / 20, 4)
    assert s["alerts_by_rule"] == [
        {"rule_id": "pulse-red", "alerts": 2, "per_100_patient_days": 25.0},
        {"rule_id": "spo2-scale1-amber", "alerts": 1, "per_100_patient_days": 12.5}]
    assert s["time_to_acknowledge"] == [{"severity": "red", "acknowledged": 2,
                                         "median_minutes": 20.0, "p90_minutes": 28.0}]
    assert sorted((o["outcome"], o["alerts"]) for o in s["outcomes"]) == [
        ("admitted", 1), ("false-alarm", 1)]
    text = r.text
    assert "TH-" not in text and "Ann" not in text and "999" not in text
    assert other.status_code == 404
    with live_api.client("nurse") as c:
        assert c.get(f"/teams/{w.teams['north']}/stats").status_code == 403
    with live_api.client("admin") as c:
        assert c.get(f"/teams/{w.teams['south']}/stats").status_code == 200


def test_team_staff_and_teams(live_api: LiveApi) -> None:
    w = live_api.world
    with live_api.client("nurse") as c:
        names = {s["username"] for s in c.get(f"/teams/{w.teams['north']}/staff").json()}
        teams = c.get("/teams").json()
        assert c.get(f"/teams/{w.teams['south']}/staff").status_code == 404
    assert names == {"nurse", "matron", "responder"}
    assert [t["code"] for t in teams] == ["north"]
    with live_api.client("admin") as c:
        assert {t["code"] for t in c.get("/teams").json()} == {"north", "south"}


def test_admins_read_the_audit_log_others_cannot(live_api: LiveApi) -> None:
    ann = live_api.world.patients["ann"]
    with live_api.client("nurse") as c:
        c.get(f"/patients/{ann}")
        c.get(f"/patients/{ann}/readings")
        assert c.get("/audit").status_code == 403
    with live_api.client("admin") as c:
        log = c.get("/audit", params={"patient_id": ann}).json()
        reads = c.get("/audit", params={"action": "read", "limit": 1}).json()
    assert [(e["actor"], e["resource"]) for e in log["items"]] == [
        ("nurse", "readings"), ("nurse", "patient")]
    assert all(e["client_addr"] == "127.0.0.1" and e["staff_id"] for e in log["items"])
    assert reads["total"] == 2 and len(reads["items"]) == 1


def test_monitoring_counts_from_the_first_reading_when_it_predates_enrolment(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    """History loaded from a device before the patient was registered still counts."""
    ann = live_api.world.patients["ann"]  # enrolled now, weight once a day in the plan
    conn.execute("UPDATE patients SET enrolled_at = now() WHERE team_id = %s",
                 (live_api.world.teams["north"],))
    add_readings(conn, ann, "weight", [(_at(d, 12), 80.0) for d in range(1, 4)])
    conn.commit()
    with live_api.client("matron") as c:
        s = c.get(f"/teams/{live_api.world.teams['north']}/stats",
                  params={"from": DAY0.isoformat(), "to": _at(4, 0).isoformat()}).json()
    assert s["patients_monitored"] == 1
    assert s["patient_days"] == 2.5  # from the first reading, day 1 at noon
    assert s["received_readings"] == 3
