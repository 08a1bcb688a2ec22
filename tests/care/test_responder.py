"""The responder's queue: only urgent alerts of the teams they cover, only the minimum
context, every read audited; clinical staff use the actions but not the queue."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg

from alerts.telecare import TelecareEvent, raise_telecare_alerts
from alerts.thresholds import set_threshold
from telehub.care import registration as registry
from telehub.config import Settings
from tests.api.conftest import LiveApi


def _alerts(care_api: LiveApi, conn: psycopg.Connection) -> dict[str, int]:
    w = care_api.world
    now = datetime.now(UTC)
    zone = Settings().zone
    raised = raise_telecare_alerts(conn, [
        TelecareEvent(w.patients["ann"], "fall", now, "fall-ann"),
        TelecareEvent(w.patients["cat"], "smoke", now, "smoke-cat")], now, zone)
    amber = conn.execute(
        "INSERT INTO alerts (patient_id, team_id, rule_id, severity, message, first_breach_at, "
        "last_breach_at) VALUES (%s, %s, 'weight-gain', 'amber', 'Weight up', now(), now()) "
        "RETURNING id", (w.patients["bob"], w.teams["north"])).fetchone()
    assert amber is not None
    conn.commit()
    return {"ann": raised[(w.patients["ann"], "fall")]["id"],
            "cat": raised[(w.patients["cat"], "smoke")]["id"], "bob": int(amber["id"])}


def test_the_queue_holds_urgent_alerts_of_the_covered_teams_only(
        care_api: LiveApi, conn: psycopg.Connection) -> None:
    ids = _alerts(care_api, conn)
    # The north responder sees the north fall, not the amber alert, not the south smoke alarm.
    queue = care_api.client("responder").get("/responder/queue").json()
    assert [i["alert"]["id"] for i in queue] == [ids["ann"]]
    assert [i["telecare_event"] for i in queue] == ["fall"]
    # A night responder with no team covers every team; one given coverage covers those.
    registry.add_staff(conn, username="night", display_name="Night Responder", role="responder")
    conn.commit()
    night = care_api.client("night")
    assert sorted(i["alert"]["id"] for i in night.get("/responder/queue").json()) == \
        sorted([ids["ann"], ids["cat"]])
    conn.execute("INSERT INTO responder_coverage (staff_id, team_id) SELECT id, %s FROM staff "
                 "WHERE username = 'night'", (care_api.world.teams["south"],))
    conn.commit()
    assert [i["alert"]["id"] for i in night.get("/responder/queue").json()] == [ids["cat"]]
    assert night.post(f"/responder/alerts/{ids['ann']}/actions",
                      json={"action": "call-logged"}).status_code == 404
    # The escalated amber alert becomes urgent: it joins the north queue.
    conn.execute("UPDATE alerts SET escalated = true WHERE id = %s", (ids["bob"],))
    conn.commit()
    assert [i["alert"]["id"] for i in care_api.client("responder").get(
        "/responder/queue").json()] == [ids["ann"], ids["bob"]]
    reads = conn.execute("SELECT actor, detail FROM audit_log WHERE resource = "
                         "'responder-queue' ORDER BY id").fetchall()
    assert [r["actor"] for r in reads] == ["responder", "night", "night", "responder"]
    assert reads[-1]["detail"]["alert_ids"] == [ids["ann"], ids["bob"]]


def test_clinical_staff_act_but_do_not_get_the_queue(care_api: LiveApi,
                                                      conn: psycopg.Connection) -> None:
    ids = _alerts(care_api, conn)
    nurse = care_api.client("nurse")
    assert nurse.get("/responder/queue").status_code == 403
    r = nurse.post(f"/responder/alerts/{ids['ann']}/actions",
                   json={"action": "escalated-to-matron", "note": "Needs a visit today"})
    assert r.status_code == 200, r.text
    assert r.json()["alert"]["escalated"] is True
    assert care_api.client("south-nurse").post(
        f"/responder/alerts/{ids['ann']}/actions", json={"action": "call-logged"}
    ).status_code == 404
    kinds = [e["kind"] for e in nurse.get(f"/alerts/{ids['ann']}/events").json()]
    assert kinds == ["opened", "acknowledged", "escalated-to-matron", "escalated"]
    outbox = conn.execute("SELECT payload ->> 'event' AS e FROM outbox WHERE alert_id = %s "
                          "ORDER BY id", (ids["ann"],)).fetchall()
    assert [o["e"] for o in outbox] == ["opened", "escalated"]
    assert nurse.post(f"/responder/alerts/{ids['ann']}/actions",
                      json={"action": "teleport"}).status_code == 422


def test_the_telecare_escalation_window_is_two_minutes_until_a_lead_changes_it(
        care_api: LiveApi) -> None:
    north = care_api.world.teams["north"]
    assert care_api.client("responder").get(f"/teams/{north}/telecare").json() == {
        "team_id": north, "escalation_minutes": 2}
    matron = care_api.client("matron")
    r = matron.put(f"/teams/{north}/telecare", json={"escalation_minutes": 5})
    assert r.status_code == 200 and r.json()["escalation_minutes"] == 5
    assert matron.put(f"/teams/{north}/telecare", json={"escalation_minutes": 0}
                      ).status_code == 422
    south = care_api.world.teams["south"]
    assert matron.put(f"/teams/{south}/telecare", json={"escalation_minutes": 5}
                      ).status_code == 404
    assert care_api.client("nurse").put(f"/teams/{north}/telecare",
                                        json={"escalation_minutes": 3}).status_code == 403
    assert care_api.client("nurse").get(f"/teams/{north}/telecare").json()[
        "escalation_minutes"] == 5


def test_a_responder_sees_and_acts_on_alerts_of_the_teams_they_cover_only(
        care_api: LiveApi, conn: psycopg.Connection) -> None:
    """Every /alerts route, GET /alerts and the patient's visit context honour the
    responder's coverage, as the /responder routes do (no team is not every team then)."""
    ids = _alerts(care_api, conn)
    ann, north_fall = care_api.world.patients["ann"], ids["ann"]
    for username, team in (("night", "south"), ("cover", "north")):
        registry.add_staff(conn, username=username, display_name=username.title(),
                           role="responder")
        conn.execute("INSERT INTO responder_coverage (staff_id, team_id) SELECT id, %s "
                     "FROM staff WHERE username = %s", (care_api.world.teams[team], username))
    conn.commit()
    reads = [f"/alerts/{north_fall}", f"/alerts/{north_fall}/events", f"/patients/{ann}/context",
             f"/teams/{care_api.world.teams['north']}/telecare"]
    actions = [(f"/alerts/{north_fall}/notes", {"note": "Called the patient."}),
               (f"/alerts/{north_fall}/acknowledge", {}),
               (f"/alerts/{north_fall}/escalate", {}),
               (f"/responder/alerts/{north_fall}/actions", {"action": "call-logged"})]
    night = care_api.client("night")
    for path in reads:
        assert night.get(path).status_code == 404, path
    for path, body in actions:
        assert night.post(path, json=body).status_code == 404, path
    assert north_fall not in [a["id"] for a in night.get("/alerts").json()["items"]]
    assert ids["cat"] in [a["id"] for a in night.get("/alerts").json()["items"]]

    cover = care_api.client("cover")
    assert north_fall in [a["id"] for a in cover.get("/alerts").json()["items"]]
    assert ids["cat"] not in [a["id"] for a in cover.get("/alerts").json()["items"]]
    for path in reads:
        assert cover.get(path).status_code == 200, path
    for path, body in actions:
        assert cover.post(path, json=body).status_code in (200, 409), path
    kinds = [e["kind"] for e in cover.get(f"/alerts/{north_fall}/events").json()]
    assert {"note", "acknowledged", "call-logged"} <= set(kinds)


def _queue_triggers(care_api: LiveApi, conn: psycopg.Connection, patient_id: int) -> list[str]:
    """The responder card's "when to act" lines for a fall of this patient."""
    now = datetime.now(UTC)
    raise_telecare_alerts(conn, [TelecareEvent(patient_id, "fall", now, f"fall-{patient_id}")],
                          now, Settings().zone)
    conn.commit()
    queue = care_api.client("responder").get("/responder/queue")
    assert queue.status_code == 200, queue.text
    [item] = [i for i in queue.json() if i["alert"]["patient_id"] == patient_id]
    return list(item["triggers"])


def test_the_card_lists_only_this_copd_patients_triggers_red_first_each_once(
        care_api: LiveApi, conn: psycopg.Connection) -> None:
    """COPD only: no glucose or weight triggers, no trigger twice, red before amber, the
    patient's own SpO2 limit and the advice their care plan holds."""
    bob = care_api.world.patients["bob"]
    set_threshold(conn, bob, "spo2-scale1-red", {"at_or_below": 89},
                  "COPD, usual SpO2 91-93 %", "matron")
    conn.commit()
    r = care_api.client("nurse").put(f"/patients/{bob}/care-plan", json={
        "advice": {"spo2-low": "Start your rescue pack and call the single point of access."}})
    assert r.status_code == 200, r.text
    triggers = _queue_triggers(care_api, conn, bob)
    assert triggers == [
        "RED: SpO2 at or below 89 % (individual threshold; low oxygen saturation). Care plan: "
        "Start your rescue pack and call the single point of access.",
        "RED: Pulse at or below 40 /min or at or above 131 /min (pulse outside the normal "
        "range).",
        "AMBER: SpO2 at or below 93 % (low oxygen saturation). Care plan: Start your rescue "
        "pack and call the single point of access.",
        "AMBER: SpO2 3 points or more below your usual level on 2 readings in a row (oxygen "
        "saturation below personal baseline).",
        "AMBER: Pulse at or above 111 /min (pulse outside the normal range)."]
    assert not any("glucose" in t.lower() or "weight" in t.lower() for t in triggers)


def test_the_card_shows_a_type1_patients_glucose_triggers_in_mmol_first_each_once(
        care_api: LiveApi, conn: psycopg.Connection) -> None:
    dee = registry.add_patient(
        conn, nhs_number="9990000050", given_name="Dee", family_name="Dale",
        birth_date=date(1950, 3, 4), team="north", conditions=["type1-diabetes"])
    conn.commit()
    glucose = [t for t in _queue_triggers(care_api, conn, dee) if "glucose" in t]
    assert glucose == [
        "RED: Blood glucose below 3.0 mmol/L (54 mg/dL) (low blood glucose).",
        "RED: Blood glucose at or above 30.0 mmol/L (high blood glucose).",
        "AMBER: Blood glucose below 4.0 mmol/L (low blood glucose).",
        "AMBER: Blood glucose below 4.0 mmol/L on 2 different days within 7 days (repeated "
        "hypos).",
        "AMBER: Blood glucose above 15.0 mmol/L (high blood glucose).",
        "AMBER: Blood glucose above 13.9 mmol/L (250 mg/dL) 3 times within 48 h "
        "(persistently high blood glucose)."]
