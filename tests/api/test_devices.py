"""Devices over HTTP: register, credentials shown once, assign/release, team scoping."""

from __future__ import annotations

import psycopg

from telehub.broker import passwords as broker
from tests.api.conftest import LiveApi
from tests.log_guard import LogGuard


def test_admin_registers_a_device_and_a_nurse_assigns_it(live_api: LiveApi,
                                                         conn: psycopg.Connection) -> None:
    ann = live_api.world.patients["ann"]
    with live_api.client("admin") as c:
        r = c.post("/devices", json={"device_id": "scale-0001", "kind": "scale",
                                     "serial": "SN1"})
        assert r.status_code == 201, r.text
        assert r.json()["patient_id"] is None and r.json()["has_credentials"] is False
        assert c.post("/devices", json={"device_id": "scale-0001", "kind": "scale"}
                      ).json()["code"] == "duplicate-device"
        assert c.post("/devices", json={"device_id": "bad id!", "kind": "scale"}
                      ).status_code == 422
    with live_api.client("nurse") as c:
        assert c.post("/devices", json={"device_id": "x-2", "kind": "scale"}).status_code == 403
        stock = c.get("/devices", params={"unassigned": True}).json()
        assert [d["device_id"] for d in stock["items"]] == ["scale-0001"]
        a = c.post("/devices/scale-0001/assign", json={"patient_id": ann})
        assert a.status_code == 200, a.text
        assert a.json()["patient_id"] == ann and a.json()["patient_display_id"].startswith("TH-")
        mine = c.get("/devices", params={"patient_id": ann}).json()
        assert [d["device_id"] for d in mine["items"]] == ["scale-0001"]
        bob = live_api.world.patients["bob"]
        taken = c.post("/devices/scale-0001/assign", json={"patient_id": bob})
        assert taken.status_code == 409 and taken.json()["code"] == "device-in-use"
        released = c.post("/devices/scale-0001/unassign")
        assert released.status_code == 200 and released.json()["patient_id"] is None
    actions = [(r["action"], r["patient_id"]) for r in conn.execute(
        "SELECT action, patient_id FROM audit_log ORDER BY id")]
    assert actions == [("register", None), ("assign-device", ann), ("release-device", ann)]


def test_devices_of_another_team_are_hidden(live_api: LiveApi) -> None:
    cat = live_api.world.patients["cat"]
    with live_api.client("admin") as c:
        c.post("/devices", json={"device_id": "ox-south", "kind": "oximeter", "patient_id": cat})
    with live_api.client("nurse") as c:
        assert c.get("/devices/ox-south").status_code == 404
        assert c.post("/devices/ox-south/unassign").status_code == 404
        assert "ox-south" not in [d["device_id"] for d in c.get("/devices").json()["items"]]
        c.post("/devices", json={})
        own = c.post("/devices/ox-south/assign",
                     json={"patient_id": live_api.world.patients["ann"]})
        assert own.status_code == 404
    with live_api.client("south-nurse") as c:
        assert c.get("/devices/ox-south").json()["patient_id"] == cat


def test_credentials_are_shown_once_and_stored_as_a_broker_hash(
        live_api: LiveApi, conn: psycopg.Connection, log_guard: LogGuard) -> None:
    with live_api.client("admin") as c:
        c.post("/devices", json={"device_id": "ox-9", "kind": "oximeter"})
        r = c.post("/devices/ox-9/credentials")
        assert r.status_code == 200, r.text
        creds = r.json()
        log_guard.register(creds["password"])
        assert c.get("/devices/ox-9").json()["has_credentials"] is True
        assert "password" not in c.get("/devices/ox-9").json()
    assert creds["username"] == "ox-9" and len(creds["password"]) >= 20
    assert creds["readings_topic"] == f"{live_api.settings.topic_root}/devices/ox-9/readings"
    stored = conn.execute("SELECT credential_hash FROM devices WHERE device_id = 'ox-9'"
                          ).fetchone()["credential_hash"]
    assert creds["password"] not in stored
    assert broker.verify_mosquitto_password(stored, creds["password"])
    with live_api.client("nurse") as c:
        assert c.post("/devices/ox-9/credentials").status_code == 403


def test_telecare_devices_are_listed_and_shown_on_the_caseload(live_api: LiveApi) -> None:
    from telehub.domain.codes import DEVICE_KINDS, DeviceKind

    assert {k.value for k in DeviceKind} == set(DEVICE_KINDS)
    ann = live_api.world.patients["ann"]
    with live_api.client("admin") as c:
        r = c.post("/devices", json={"device_id": "fall-1", "kind": "fall-detector",
                                     "patient_id": ann})
        assert r.status_code == 201, r.text
    with live_api.client("nurse") as c:
        listed = c.get("/devices", params={"patient_id": ann}).json()["items"]
        rows = {row["patient_id"]: row for row in c.get("/caseload").json()["rows"]}
    assert [(d["device_id"], d["kind"]) for d in listed] == [("fall-1", "fall-detector")]
    assert rows[ann]["devices"][0]["kind"] == "fall-detector"
