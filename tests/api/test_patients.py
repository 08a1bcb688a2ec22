"""Patients over HTTP: register, read, change, discharge; team scoping; the audit log."""

from __future__ import annotations

import psycopg

from tests.api.conftest import LiveApi
from tests.api.data import device_for

NEW = {"nhs_number": "943 476 5919", "given_name": "Ida", "family_name": "Irwin",
       "birth_date": "1941-03-04", "conditions": ["copd", "heart-failure"],
       "address_line": "1 Mill Lane", "postcode": "LS2 2BB", "phone": "0113 111 1111"}


def test_nurse_registers_reads_and_changes_a_patient(live_api: LiveApi,
                                                     conn: psycopg.Connection,
                                                     log_guard: object) -> None:
    with live_api.client("nurse") as c:
        created = c.post("/patients", json=NEW)
        assert created.status_code == 201, created.text
        p = created.json()
        assert p["nhs_number"] == "9434765919"
        assert p["team_id"] == live_api.world.teams["north"]
        assert p["display_id"].startswith("TH-")
        assert set(p["care_plan"]) == {"weight", "spo2", "pulse"}  # from the conditions
        got = c.get(f"/patients/{p['id']}")
        assert got.status_code == 200 and got.json()["given_name"] == "Ida"
        changed = c.patch(f"/patients/{p['id']}", json={"phone": "0113 222 2222",
                                                         "status": "paused"})
        assert changed.status_code == 200, changed.text
        assert changed.json()["phone"] == "0113 222 2222"
        assert changed.json()["status"] == "paused"
        assert changed.json()["given_name"] == "Ida"
        listed = c.get("/patients", params={"q": "irwin"}).json()
    assert [i["id"] for i in listed["items"]] == [p["id"]] and listed["total"] == 1
    actions = conn.execute("SELECT action, resource, actor, patient_id, detail FROM audit_log "
                           "ORDER BY id").fetchall()
    assert [(a["action"], a["resource"]) for a in actions] == [
        ("create", "patient"), ("read", "patient"), ("update", "patient"), ("list", "patients")]
    assert all(a["actor"] == "nurse" for a in actions)
    assert actions[1]["patient_id"] == p["id"]
    assert actions[2]["detail"] == {"fields": ["phone", "status"]}
    assert actions[3]["detail"] == {"patient_ids": [p["id"]]}


def test_another_teams_patient_is_404_for_every_route(live_api: LiveApi) -> None:
    cat = live_api.world.patients["cat"]
    with live_api.client("nurse") as c:
        for method, path, body in [("GET", f"/patients/{cat}", None),
                                   ("PATCH", f"/patients/{cat}", {"phone": "1"}),
                                   ("POST", f"/patients/{cat}/discharge", {}),
                                   ("GET", f"/patients/{cat}/readings", None),
                                   ("GET", f"/patients/{cat}/thresholds", None),
                                   ("GET", f"/patients/{cat}/context", None),
                                   ("GET", "/patients/999999", None)]:
            r = c.request(method, path, json=body)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["detail"] == "No such patient."
        listed = c.get("/patients", params={"team_id": live_api.world.teams["south"]})
        assert listed.status_code == 404
    with live_api.client("south-nurse") as c:
        assert c.get(f"/patients/{cat}").status_code == 200


def test_roles_without_clinical_access_are_refused(live_api: LiveApi) -> None:
    ann = live_api.world.patients["ann"]
    for role in ("responder", "manager"):
        with live_api.client(role) as c:
            assert c.get(f"/patients/{ann}").status_code == 403
            assert c.get("/patients").status_code == 403
            assert c.post("/patients", json=NEW).status_code == 403
    with live_api.client("admin") as c:
        assert c.get(f"/patients/{ann}").status_code == 200


def test_bad_input_is_422_with_a_clear_message(live_api: LiveApi) -> None:
    with live_api.client("nurse") as c:
        bad_nhs = c.post("/patients", json={**NEW, "nhs_number": "9434765918"})
        missing = c.post("/patients", json={k: v for k, v in NEW.items() if k != "birth_date"})
        condition = c.post("/patients", json={**NEW, "conditions": ["gout"]})
        extra = c.post("/patients", json={**NEW, "shoe_size": 9})
        plan = c.post("/patients", json={**NEW, "care_plan": {"weight": {"per_day": "often"}}})
        plan_metric = c.post("/patients", json={**NEW, "care_plan": {"mood": {"per_day": 1}}})
        c.post("/patients", json=NEW)
        twice = c.post("/patients", json=NEW)
    assert bad_nhs.status_code == 422
    assert bad_nhs.json()["code"] == "bad-nhs-number"
    assert "modulus-11" in bad_nhs.json()["detail"]
    assert bad_nhs.headers["content-type"] == "application/problem+json"
    assert missing.status_code == 422 and "birth_date" in missing.json()["detail"]
    assert missing.json()["errors"][0]["loc"] == ["body", "birth_date"]
    assert condition.status_code == 422 and condition.json()["code"] == "unknown-condition"
    assert extra.status_code == 422
    assert plan.status_code == 422 and plan.json()["code"] == "bad-care-plan"
    assert plan_metric.status_code == 422 and plan_metric.json()["code"] == "unknown-metric"
    assert twice.status_code == 422 and twice.json()["code"] == "duplicate-patient"


def test_discharge_keeps_history_releases_devices_and_locks_the_record(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    ann = live_api.world.patients["ann"]
    device_for(conn, ann, "weight")
    conn.commit()
    with live_api.client("matron") as c:
        r = c.post(f"/patients/{ann}/discharge", json={"reason": "moved away"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "discharged" and r.json()["discharged_at"]
        assert c.post(f"/patients/{ann}/discharge", json={}).status_code == 409
        assert c.patch(f"/patients/{ann}", json={"phone": "1"}).status_code == 409
        assert c.get(f"/patients/{ann}").status_code == 200
        caseload = c.get("/caseload").json()
    assert ann not in [row["patient_id"] for row in caseload["rows"]]
    assert conn.execute("SELECT count(*) AS n FROM devices WHERE patient_id = %s",
                        (ann,)).fetchone()["n"] == 0
    audit = conn.execute("SELECT detail FROM audit_log WHERE action = 'discharge'").fetchone()
    assert audit["detail"] == {"reason": "moved away", "devices_released": [f"scale-{ann}"]}


def test_named_nurse_must_belong_to_the_team(live_api: LiveApi) -> None:
    ann = live_api.world.patients["ann"]
    with live_api.client("nurse") as c:
        r = c.patch(f"/patients/{ann}", json={"named_nurse_id":
                                              live_api.world.staff["south-nurse"]})
    assert r.status_code == 422 and r.json()["code"] == "bad-named-nurse"
