"""`POST /fhir`: a PHD IG gateway's transaction Bundle, through the real API, broker, hub and
database; stored once however often it is sent, each entry answered with its own outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from api.render.fhir import observation_id
from ingest.service import Ingest
from tests.api.conftest import LiveApi
from tests.api.phd import (
    ANN_NHS,
    BOB_NHS,
    OXIMETER_EUI,
    PULSE,
    SPO2,
    Upload,
    a_minute_ago,
    codes,
    oximetry_upload,
    post_bundle,
    readings,
    reasons,
    register_oximeter,
    statuses,
    valid_response,
)
from tests.log_guard import LogGuard


def test_a_gateway_upload_is_stored_once_and_a_resend_answers_with_the_existing_resources(
        live_api: LiveApi, hub: Ingest, conn: psycopg.Connection[Any], log_guard: LogGuard) -> None:
    auth = register_oximeter(live_api, log_guard)
    bundle = oximetry_upload(a_minute_ago(3)).bundle()

    first = valid_response(post_bundle(live_api.url, bundle, auth))
    # Patient, gateway, oximeter and the clock record are acknowledged; readings created.
    assert statuses(first) == ["200", "200", "200", "200", "201", "201", "201"]
    assert first["entry"][0]["response"]["location"] == \
        f"Patient/{live_api.world.patients['ann']}"
    stored = readings(conn)
    assert [(r["metric"], r["value"]) for r in stored] == [
        ("pulse", 72.0), ("spo2", 96.0), ("pulse", 75.0), ("spo2", 95.0)]
    assert {r["patient_id"] for r in stored} == {live_api.world.patients["ann"]}
    # The IG identifier is the reading's key; the compound SpO2 and its pulse share it.
    keys = [e["resource"]["identifier"][0]["value"] for e in bundle["entry"][4:]]
    assert [r["reading_key"] for r in stored] == [keys[1], keys[0], keys[2], keys[2]]
    by_key = {(r["metric"], r["reading_key"]): r for r in stored}
    created = [e["response"]["location"] for e in first["entry"][4:]]
    assert created == [f"Observation/{observation_id(by_key[m, k])}"
                       for m, k in (("spo2", keys[0]), ("pulse", keys[1]), ("spo2", keys[2]))]

    again = valid_response(post_bundle(live_api.url, bundle, auth))
    assert statuses(again) == ["200"] * 7
    assert [e["response"]["location"] for e in again["entry"][4:]] == created
    assert "Already stored" in again["entry"][4]["response"]["outcome"]["issue"][0][
        "diagnostics"]
    assert len(readings(conn)) == 4
    assert (hub.stats.stored, hub.stats.duplicates) == (4, 0)  # the resend never reached it


def test_bad_entries_are_refused_each_with_its_outcome_and_the_good_ones_are_stored(
        live_api: LiveApi, hub: Ingest, conn: psycopg.Connection[Any], log_guard: LogGuard) -> None:
    auth = register_oximeter(live_api, log_guard)
    register_oximeter(live_api, log_guard, patient="bob", device_id="ox-bob", serial="B-2")
    at = a_minute_ago(5)
    up = Upload(ANN_NHS, OXIMETER_EUI, "0400007825")
    bob_url, stranger_url, bobs_device_url = "urn:uuid:bob", "urn:uuid:stranger", "urn:uuid:b2"
    good = up.numeric(SPO2, 97, "%", at)
    implausible = up.numeric(SPO2, 140, "%", at + timedelta(seconds=1))
    unknown_code = up.numeric((("188736", "urn:iso:std:iso:11073:10101"),
                               ("39156-5", "http://loinc.org")), 27.1, "kg/m2", at)
    for_bob = up.numeric(SPO2, 94, "%", at, subject={"reference": bob_url})
    from_stranger = up.numeric(PULSE, 70, "/min", at, device={"reference": stranger_url})
    from_bobs = up.numeric(PULSE, 71, "/min", at, device={"reference": bobs_device_url})
    too_long = up.numeric(PULSE, 73, "/min", at, identifier="k" * 129)
    other_condition = up.numeric(PULSE, 74, "/min", at + timedelta(seconds=2))
    other_condition["request"]["ifNoneExist"] = "identifier=not-this-one"
    future = up.numeric(SPO2, 98, "%", datetime.now(UTC) + timedelta(hours=2))
    update = up.numeric(SPO2, 96, "%", at + timedelta(seconds=3))
    update["request"]["method"] = "PUT"
    medication = {"fullUrl": "urn:uuid:med", "resource": {"resourceType": "Medication"},
                  "request": {"method": "POST", "url": "Medication"}}
    bad_pulse = up.numeric(SPO2, 93, "%", at + timedelta(seconds=4), components=[
        {"code": codes(PULSE), "valueQuantity": {"value": "n/a", "code": "/min"}}])
    up.add(up.patient(BOB_NHS, url=bob_url),
           up.device("FF-EE-DD-CC-BB-AA-99-88", "nobody-knows", url=stranger_url),
           up.device("12-34-56-78-9A-BC-DE-F0", "B-2", url=bobs_device_url),
           good, implausible, unknown_code, for_bob, from_stranger, from_bobs, too_long,
           other_condition, future, update, medication, bad_pulse)

    body = valid_response(post_bundle(live_api.url, up.bundle(), auth))
    assert list(zip(statuses(body), reasons(body), strict=True)) == [
        ("200", None), ("200", None), ("200", None),            # Patient, gateway, oximeter
        ("422", "patient-mismatch"),                             # Bob, not this device's
        ("422", "unknown-device"),                               # a PHD nobody registered
        ("422", "other-device"),                                 # Bob's oximeter
        ("201", None),                                           # the good SpO2
        ("422", "implausible-value"),
        ("422", "unknown-metric"),
        ("422", "patient-mismatch"),                             # subject: Bob's entry
        ("422", "device-refused"),
        ("422", "device-refused"),
        ("422", "bad-reading-id"),
        ("422", "unsupported-condition"),
        ("422", "time-in-future"),
        ("405", "unsupported-method"),
        ("422", "unsupported-resource"),
        ("201", None),                                           # its SpO2; the pulse not
    ]
    for entry in body["entry"]:
        OperationOutcome.model_validate(entry["response"]["outcome"])
    assert "129" in body["entry"][12]["response"]["outcome"]["issue"][0]["diagnostics"]
    warning = body["entry"][-1]["response"]["outcome"]["issue"][1]
    assert (warning["severity"], warning["details"]["coding"][0]["code"]) == (
        "warning", "not-a-number")
    assert [(r["device_id"], r["metric"], r["value"]) for r in readings(conn)] == [
        ("ox-phd", "spo2", 97.0), ("ox-phd", "spo2", 93.0)]
    # Only what passed reached the hub, which recorded the one refusal it was handed.
    conn.rollback()
    assert conn.execute("SELECT reason_code FROM rejected_messages").fetchall() == [
        {"reason_code": "not-a-number"}]


@pytest.mark.parametrize(("body", "code"), [
    (b"{not json", "not-json"),
    (b'{"resourceType": "Observation"}', "not-a-bundle"),
    (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', "malformed-bundle"),
    (b'{"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": '
     b'{"resourceType": "Observation"}}]}', "malformed-bundle"),
])
def test_a_malformed_bundle_is_a_400_operation_outcome_and_stores_nothing(
        live_api: LiveApi, hub: Ingest, conn: psycopg.Connection[Any], log_guard: LogGuard,
        body: bytes, code: str) -> None:
    auth = register_oximeter(live_api, log_guard)
    r = httpx.post(f"{live_api.url}/fhir", content=body, auth=auth, timeout=10,
                   headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 400, r.text
    OperationOutcome.model_validate(r.json())
    assert r.json()["issue"][0]["details"]["coding"][0]["code"] == code
    assert readings(conn) == []


def test_a_bundle_with_one_good_and_malformed_envelope_stores_nothing(
        live_api: LiveApi, hub: Ingest, conn: psycopg.Connection[Any], log_guard: LogGuard) -> None:
    auth = register_oximeter(live_api, log_guard)
    bundle = oximetry_upload(a_minute_ago(2)).bundle()
    bundle["entry"].append({"resource": {"resourceType": "Observation"}})  # no request
    r = post_bundle(live_api.url, bundle, auth)
    assert r.status_code == 400
    assert "Bundle.entry[7].request" in r.json()["issue"][0]["diagnostics"]
    assert readings(conn) == []


def test_a_wrong_device_password_is_a_401_operation_outcome(
        live_api: LiveApi, conn: psycopg.Connection[Any], log_guard: LogGuard) -> None:
    device_id, _ = register_oximeter(live_api, log_guard)
    r = post_bundle(live_api.url, oximetry_upload(a_minute_ago()).bundle(),
                    (device_id, "not-the-password"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    assert OperationOutcome.model_validate(r.json()).issue[0].code == "login"
    assert readings(conn) == []
