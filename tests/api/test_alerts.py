"""Alerts over HTTP: the inbox, detail with history, routing to responders, actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.api.conftest import LiveApi
from tests.api.data import add_alert


@pytest.fixture
def alerts(live_api: LiveApi, conn: psycopg.Connection) -> dict[str, int]:
    now = datetime.now(UTC)
    w = live_api.world.patients
    ids = {
        "ann-red": add_alert(conn, w["ann"], "pulse-red", "red", at=now - timedelta(hours=1),
                             metric="pulse"),
        "bob-amber": add_alert(conn, w["bob"], "spo2-scale1-amber", "amber", at=now,
                               metric="spo2"),
        "bob-info": add_alert(conn, w["bob"], "device-offline", "info", at=now),
        "ann-old": add_alert(conn, w["ann"], "weight-gain-3d", "amber",
                             at=now - timedelta(days=3), status="resolved",
                             resolved_at=now - timedelta(days=2), outcome="advice-given"),
        "cat-red": add_alert(conn, w["cat"], "glucose-hypo-severe", "red", at=now,
                             metric="glucose"),
    }
    conn.commit()
    return ids


def test_inbox_lists_the_teams_alerts_most_urgent_first(live_api: LiveApi,
                                                        alerts: dict[str, int]) -> None:
    with live_api.client("nurse") as c:
        everything = c.get("/alerts").json()
        unresolved = c.get("/alerts", params={"status": ["open", "acknowledged"]}).json()
        amber = c.get("/alerts", params={"severity": "amber"}).json()
        paged = c.get("/alerts", params={"limit": 2, "offset": 2}).json()
        bob = c.get("/alerts", params={"patient_id": live_api.world.patients["bob"]}).json()
    order = [a["id"] for a in everything["items"]]
    assert order == [alerts["ann-red"], alerts["bob-amber"], alerts["bob-info"],
                     alerts["ann-old"]]
    assert everything["total"] == 4
    assert alerts["cat-red"] not in order
    assert [a["id"] for a in unresolved["items"]] == order[:3]
    assert {a["id"] for a in amber["items"]} == {alerts["bob-amber"], alerts["ann-old"]}
    assert [a["id"] for a in paged["items"]] == order[2:] and paged["total"] == 4
    assert {a["id"] for a in bob["items"]} == {alerts["bob-amber"], alerts["bob-info"]}
    assert everything["items"][0]["patient_display_id"].startswith("TH-")


def test_alert_detail_has_events_and_patient_context_and_is_audited(
        live_api: LiveApi, alerts: dict[str, int], conn: psycopg.Connection) -> None:
    with live_api.client("nurse") as c:
        r = c.get(f"/alerts/{alerts['ann-red']}")
        events = c.get(f"/alerts/{alerts['ann-red']}/events").json()
        other = c.get(f"/alerts/{alerts['cat-red']}")
    assert r.status_code == 200
    body = r.json()
    assert body["rule_id"] == "pulse-red" and body["severity"] == "red"
    assert [e["kind"] for e in body["events"]] == ["opened"] == [e["kind"] for e in events]
    assert body["patient"]["address_line"] == "ann street"
    assert other.status_code == 404
    rows = conn.execute("SELECT action, resource, patient_id FROM audit_log ORDER BY id"
                        ).fetchall()
    ann = live_api.world.patients["ann"]
    assert [(r["action"], r["resource"], r["patient_id"]) for r in rows] == [
        ("read", "alert", ann), ("read", "alert-events", ann)]


def test_listing_alerts_is_audited_with_the_patients_shown(
        live_api: LiveApi, alerts: dict[str, int], conn: psycopg.Connection) -> None:
    with live_api.client("nurse") as c:
        c.get("/alerts", params={"severity": "red"})
    row = conn.execute("SELECT action, resource, detail FROM audit_log").fetchone()
    assert (row["action"], row["resource"]) == ("list", "alerts")
    assert row["detail"] == {"alert_ids": [alerts["ann-red"]],
                             "patient_ids": [live_api.world.patients["ann"]]}


def test_responders_see_only_alerts_routed_to_them(live_api: LiveApi, alerts: dict[str, int],
                                                   conn: psycopg.Connection) -> None:
    ann, bob = live_api.world.patients["ann"], live_api.world.patients["bob"]
    with live_api.client("responder") as c:
        inbox = [a["id"] for a in c.get("/alerts").json()["items"]]
        assert inbox == [alerts["ann-red"]]  # red, own team; not amber, not south
        assert c.get(f"/alerts/{alerts['bob-amber']}").status_code == 404
        assert c.get(f"/patients/{ann}/context").status_code == 200
        assert c.get(f"/patients/{bob}/context").status_code == 404
        assert c.get(f"/patients/{ann}").status_code == 403  # no full record
        conn.execute("UPDATE alerts SET escalated = true WHERE id = %s", (alerts["bob-amber"],))
        conn.commit()
        assert c.get(f"/alerts/{alerts['bob-amber']}").status_code == 200
        assert c.get(f"/patients/{bob}/context").status_code == 200
    with live_api.client("manager") as c:
        assert c.get("/alerts").status_code == 403
        assert c.get(f"/alerts/{alerts['ann-red']}").status_code == 403


def test_lifecycle_actions_record_who_and_why(live_api: LiveApi, alerts: dict[str, int],
                                             conn: psycopg.Connection) -> None:
    red = alerts["ann-red"]
    with live_api.client("responder") as c:
        ack = c.post(f"/alerts/{red}/acknowledge", json={"note": "on my way"})
        assert ack.status_code == 200, ack.text
        assert ack.json()["status"] == "acknowledged"
        assert ack.json()["acknowledged_by"] == live_api.world.staff["responder"]
        assert c.post(f"/alerts/{red}/resolve", json={"outcome": "admitted"}
                      ).status_code == 403
    with live_api.client("nurse") as c:
        note = c.post(f"/alerts/{red}/notes", json={"note": "GP informed"})
        assert note.status_code == 200, note.text
        assigned = c.post(f"/alerts/{red}/assign",
                          json={"assignee_id": live_api.world.staff["matron"]})
        assert assigned.status_code == 200 and assigned.json()["assignee_id"] == (
            live_api.world.staff["matron"])
        bad = c.post(f"/alerts/{red}/assign",
                     json={"assignee_id": live_api.world.staff["south-nurse"]})
        assert bad.status_code == 422 and bad.json()["code"] == "bad-assignee"
        no_outcome = c.post(f"/alerts/{red}/resolve", json={})
        assert no_outcome.status_code == 422
        done = c.post(f"/alerts/{red}/resolve", json={"outcome": "visit-arranged",
                                                      "note": "seen at home"})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "resolved"
        assert done.json()["outcome"] == "visit-arranged"
        again = c.post(f"/alerts/{red}/acknowledge", json={})
        assert again.status_code == 409
        events = c.get(f"/alerts/{red}/events").json()
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "opened" and "acknowledged" in kinds and "resolved" in kinds
    assert any(e["note"] == "GP informed" for e in events)
    audited = [r["action"] for r in conn.execute(
        "SELECT action FROM audit_log WHERE resource = 'alert' ORDER BY id")]
    assert audited == ["acknowledge", "note", "assign", "resolve"]


def test_alerts_name_their_episode_in_words_not_by_id(live_api: LiveApi,
                                                     conn: psycopg.Connection) -> None:
    now = datetime.now(UTC)
    w = live_api.world.patients
    spo2 = add_alert(conn, w["bob"], "spo2-low", "red", at=now, metric="spo2")
    glucose = add_alert(conn, w["ann"], "glucose-low", "amber", at=now, metric="glucose")
    fall = add_alert(conn, w["ann"], "telecare-fall", "red", at=now)
    conn.commit()
    with live_api.client("nurse") as c:
        labels = {a["id"]: a["label"] for a in c.get("/alerts").json()["items"]}
        detail = c.get(f"/alerts/{glucose}").json()
    assert labels == {spo2: "Low oxygen saturation", glucose: "Low blood glucose",
                      fall: "Fall detected"}
    assert detail["label"] == "Low blood glucose" and detail["rule_id"] == "glucose-low"
