"""Every error under /fhir is an OperationOutcome (`application/fhir+json`), with the HTTP
status, the FHIR issue type and Telehub's reason code; elsewhere errors stay problem details.
Another team's records are 404 through FHIR as everywhere, and each FHIR read is audited."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from api.errors import error_bytes, problem
from api.main import create_app
from api.render.fhir_ids import observation_id
from telehub.config import ApiSettings, Settings
from tests.api.conftest import LiveApi, ServerThread, build_world
from tests.api.data import add_alert, add_readings

pytest.importorskip("fhir.resources.R4B")
from fhir.resources.R4B.operationoutcome import OperationOutcome

FHIR_JSON = "application/fhir+json"
AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def outcome(r: httpx.Response, status: int, issue_type: str, reason: str | None = None
            ) -> str:
    """Check `r` is an OperationOutcome of `status`; its diagnostics."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(FHIR_JSON), r.headers["content-type"]
    oo = OperationOutcome.model_validate(r.json())
    assert oo.issue[0].code == issue_type
    if reason is not None:
        assert oo.issue[0].details.coding[0].code == reason
    return str(oo.issue[0].diagnostics)


@pytest.fixture
def bob_records(live_api: LiveApi, conn: psycopg.Connection) -> dict[str, str]:
    """Bob's reading, device and alert, by FHIR path."""
    bob = live_api.world.patients["bob"]
    add_readings(conn, bob, "spo2", [(AT, 93.0)])
    alert = add_alert(conn, bob, "spo2-low", "amber", at=AT, metric="spo2")
    conn.commit()
    row = conn.execute("SELECT device_id AS device_pk, metric::text AS metric, time, "
                       "reading_key FROM readings").fetchone()
    return {"observation": f"/fhir/Observation/{observation_id(row)}",
            "device": f"/fhir/Device/{row['device_pk']}", "flag": f"/fhir/Flag/{alert}",
            "patient": f"/fhir/Patient/{bob}"}


def test_401_403_404_and_422_are_operation_outcomes(live_api: LiveApi,
                                                    bob_records: dict[str, str]) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client() as anonymous:
        r = anonymous.get(bob_records["observation"])
        outcome(r, 401, "login", "not-authenticated")
        assert r.headers["www-authenticate"] == "Bearer"
        assert anonymous.get("/fhir/metadata").status_code == 200   # public, no patient data
    for role in ("responder", "manager"):
        with live_api.client(role) as c:
            outcome(c.get(bob_records["observation"]), 403, "forbidden", "forbidden")
    with live_api.client("nurse") as c:
        for path in ("/fhir/Observation/not-an-id", "/fhir/Observation/1.spo2.1.0123456789",
                     "/fhir/Patient/abc", "/fhir/Patient/99999", "/fhir/Device/99999",
                     "/fhir/Flag/x", "/fhir/Flag/99999", "/fhir/Nothing"):
            outcome(c.get(path), 404, "not-found")
        bad = {"date": "ne2026-03-01", "_sort": "value", "_cursor": "after.x",
               "_include": "Observation:subject", "colour": "red", "date2": "2026-03-01"}
        for name, value in bad.items():
            text = outcome(c.get("/fhir/Observation", params={"patient": bob, name: value}),
                           422, "invalid")
            assert text
        assert "1900-01-01" in outcome(c.get("/fhir/Observation", params={
            "patient": bob, "date": "ge0001-01-01"}), 422, "invalid", "bad-date")
        outcome(c.get("/fhir/Patient", params={"identifier": "9990000035"}), 422, "invalid",
                "bad-nhs-number")
        outcome(c.get("/fhir/Flag", params={"patient": bob, "status": "open"}), 422,
                "invalid", "bad-status")
        outcome(c.get("/fhir/Device"), 422, "invalid", "missing-parameter")
        # Outside /fhir errors are still problem details.
        elsewhere = c.get("/patients/99999")
    assert elsewhere.status_code == 404
    assert elsewhere.headers["content-type"] == "application/problem+json"


def test_another_teams_records_are_404_through_fhir(live_api: LiveApi,
                                                    bob_records: dict[str, str],
                                                    conn: psycopg.Connection) -> None:
    bob = live_api.world.patients["bob"]
    searches = [("/fhir/Observation", {"patient": bob}), ("/fhir/Device", {"patient": bob}),
                ("/fhir/Flag", {"patient": bob, "status": "active"})]
    with live_api.client("south-nurse") as c:
        for path in bob_records.values():
            outcome(c.get(path), 404, "not-found", "not-found")
        for path, params in searches:
            outcome(c.get(path, params=params), 404, "not-found", "not-found")
    with live_api.client("nurse") as c:
        for path in bob_records.values():
            assert c.get(path).status_code == 200, path
        for path, params in searches:
            assert c.get(path, params=params).json()["total"] == 1, path
    rows = conn.execute("SELECT resource, patient_id FROM audit_log WHERE actor = 'nurse' "
                        "ORDER BY id").fetchall()
    assert [r["resource"] for r in rows] == [
        "fhir-observation", "fhir-device", "fhir-flag", "fhir-patient", "fhir-observations",
        "fhir-devices", "fhir-flags"]
    assert {r["patient_id"] for r in rows} == {bob}
    assert conn.execute("SELECT count(*) AS n FROM audit_log WHERE actor = 'south-nurse'"
                        ).fetchone()["n"] == 0


def test_413_and_500_under_fhir_are_operation_outcomes(db_url: str, mqtt_url: str,
                                                       conn: psycopg.Connection) -> None:
    build_world(conn)
    app = create_app(Settings(database_url=db_url, mqtt_url=mqtt_url,
                              api=ApiSettings(max_request_bytes=1000)))

    def boom() -> None:
        raise RuntimeError("unexpected")

    app.add_api_route("/fhir/boom", boom)
    with ServerThread(app) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        big = httpx.post(f"{base}/fhir/Observation", content=b"{" + b" " * 2000 + b"}",
                         headers={"content-type": FHIR_JSON})
        crash = httpx.get(f"{base}/fhir/boom")
        plain = httpx.post(f"{base}/patients", content=b"{" + b" " * 2000 + b"}")
    outcome(big, 413, "too-costly", "too-large")
    outcome(crash, 500, "exception", "internal-error")
    assert plain.status_code == 413
    assert plain.headers["content-type"] == "application/problem+json"


def test_503_when_the_database_is_unreachable_is_an_operation_outcome(mqtt_url: str,
                                                                      db_url: str) -> None:
    with socket.socket() as s:   # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = make_conninfo(db_url, host="127.0.0.1", port=str(port), connect_timeout="1")
    with ServerThread(create_app(Settings(database_url=gone, mqtt_url=mqtt_url))) as srv:
        r = httpx.get(f"http://127.0.0.1:{srv.port}/fhir/Patient/1",
                      headers={"Authorization": "Bearer x"}, timeout=30)
    outcome(r, 503, "transient", "database-unavailable")
    assert r.headers["retry-after"] == "5"


@pytest.mark.parametrize(("status", "issue_type"), [(429, "throttled"), (409, "conflict"),
                                                    (415, "not-supported")])
def test_every_status_maps_to_its_issue_type_under_fhir_only(status: int,
                                                             issue_type: str) -> None:
    fhir = problem(status, "no", code="why", instance="/fhir/Observation")
    assert fhir.media_type == FHIR_JSON
    assert json.loads(bytes(fhir.body))["issue"][0]["code"] == issue_type
    assert problem(status, "no", code="why", instance="/fhirish").media_type == (
        "application/problem+json")
    body, kind = error_bytes("/fhir", status, "no", "why")
    assert kind == FHIR_JSON.encode() and json.loads(body)["issue"][0]["code"] == issue_type


def test_a_device_moved_to_another_teams_patient_is_not_shown_with_old_readings(
        live_api: LiveApi, bob_records: dict[str, str], conn: psycopg.Connection) -> None:
    bob, cat = live_api.world.patients["bob"], live_api.world.patients["cat"]
    conn.execute("UPDATE devices SET patient_id = %s", (cat,))
    conn.commit()
    with live_api.client("nurse") as c:
        bundle = c.get("/fhir/Observation", params={"patient": bob,
                                                    "_include": "Observation:device"}).json()
        device = c.get(bob_records["device"])
        reading = c.get(bob_records["observation"])
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["match"]
    assert reading.status_code == 200     # bob's reading stays bob's
    outcome(device, 404, "not-found")
    with live_api.client("south-nurse") as c:
        assert c.get(bob_records["device"]).json()["patient"]["reference"] == f"Patient/{cat}"
