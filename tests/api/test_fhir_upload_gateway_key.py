"""A gateway that names the patient by a key of its own (not the NHS number): staff map the
key to the device, and it names that patient only while the device stays theirs."""

from __future__ import annotations

from typing import Any

import psycopg

from ingest.service import Ingest
from tests.api.conftest import LiveApi
from tests.api.phd import (
    ANN_NHS,
    OXIMETER_EUI,
    SPO2,
    Upload,
    a_minute_ago,
    post_bundle,
    readings,
    reasons,
    register_oximeter,
    statuses,
    valid_response,
)
from tests.log_guard import LogGuard

GATEWAY_SYSTEM = "urn:oid:1.2.3.4.5.6.6.8.10"  # the gateway vendor's patient ids


def keyed_upload(value: str, system: str = GATEWAY_SYSTEM, minutes_ago: float = 3
                 ) -> dict[str, Any]:
    """An upload whose Patient carries only the gateway's key."""
    up = Upload(ANN_NHS, OXIMETER_EUI, "0400007825")
    patient = up.entries[0]
    patient["resource"]["identifier"] = [{"system": system, "value": value}]
    patient["request"]["ifNoneExist"] = f"identifier={system}|{value}"
    return up.add(up.numeric(SPO2, 95, "%", a_minute_ago(minutes_ago))).bundle()


def test_a_mapped_gateway_key_names_the_devices_patient_until_the_device_is_reassigned(
        live_api: LiveApi, hub: Ingest, conn: psycopg.Connection[Any],
        log_guard: LogGuard) -> None:
    auth = register_oximeter(live_api, log_guard)
    ann, bob = live_api.world.patients["ann"], live_api.world.patients["bob"]
    unmapped = valid_response(post_bundle(live_api.url, keyed_upload("user-77"), auth))
    assert reasons(unmapped)[0] == "patient-mismatch"
    assert statuses(unmapped)[-1] == "422"  # its subject is that refused Patient

    with live_api.client("nurse") as c:
        r = c.put("/devices/ox-phd/gateway-key",
                  json={"system": GATEWAY_SYSTEM, "value": "user-77"})
        assert r.status_code == 200, r.text
        assert (r.json()["patient_id"], r.json()["value"]) == (ann, "user-77")
        assert c.get("/devices/ox-phd/gateway-key").json()["system"] == GATEWAY_SYSTEM

    mapped = valid_response(post_bundle(live_api.url, keyed_upload("user-77"), auth))
    assert statuses(mapped) == ["200", "200", "200", "201"]
    assert mapped["entry"][0]["response"]["location"] == f"Patient/{ann}"
    other_system = valid_response(post_bundle(
        live_api.url, keyed_upload("user-77", "urn:other-vendor", minutes_ago=2), auth))
    assert reasons(other_system)[0] == "patient-mismatch"
    assert [(r["patient_id"], r["value"]) for r in readings(conn)] == [(ann, 95.0)]

    with live_api.client("nurse") as c:  # the oximeter goes to Bob
        assert c.post("/devices/ox-phd/unassign").status_code == 200
        assert c.post("/devices/ox-phd/assign", json={"patient_id": bob}).status_code == 200
        assert c.get("/devices/ox-phd/gateway-key").status_code == 404
    moved = valid_response(post_bundle(live_api.url, keyed_upload("user-77", minutes_ago=1),
                                       auth))
    assert reasons(moved)[0] == "patient-mismatch"
    assert statuses(moved)[-1] == "422"
    assert [r["patient_id"] for r in readings(conn)] == [ann]
    conn.rollback()
    assert conn.execute("SELECT action, patient_id FROM audit_log WHERE action LIKE "
                        "'%%gateway-key' ORDER BY id").fetchall() == [
        {"action": "set-gateway-key", "patient_id": ann}]


def test_only_staff_who_see_the_patient_map_a_key_and_only_to_an_assigned_device(
        live_api: LiveApi, log_guard: LogGuard) -> None:
    register_oximeter(live_api, log_guard)
    with live_api.client("admin") as c:
        c.post("/devices", json={"device_id": "ox-spare", "kind": "oximeter"})
    key = {"value": "user-77"}
    with live_api.client("south-nurse") as c:
        assert c.put("/devices/ox-phd/gateway-key", json=key).status_code == 404
    with live_api.client("nurse") as c:
        assert c.put("/devices/ox-spare/gateway-key", json=key).status_code == 409
        assert c.put("/devices/ox-phd/gateway-key",
                     json={"value": " padded "}).status_code == 422
        assert c.put("/devices/ox-phd/gateway-key", json=key).json()["system"] is None
        assert c.delete("/devices/ox-phd/gateway-key").status_code == 204
        assert c.get("/devices/ox-phd/gateway-key").status_code == 404
