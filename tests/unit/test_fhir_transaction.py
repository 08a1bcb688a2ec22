"""A FHIR upload's entries checked against the signed-in device, without a database: who the
Patient is, which identifier a conditional create names, what is refused and why."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.device_auth import SignedInDevice
from api.fhir_transaction import Context, Entry, check_entries
from api.schemas.fhir_upload import TransactionBundle
from telehub.domain.units import NHS_NUMBER_SYSTEM

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the spring clock-change night
DEVICE = SignedInDevice(pk=7, device_id="ox-1", serial="SN-1", active=True, kind="oximeter",
                        patient_id=42, patient_status="active", nhs_number="9990000026",
                        display_id="TH-000042")
SPO2 = {"coding": [{"system": "http://loinc.org", "code": "59408-5"}]}


def observation(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation", "status": "final", "code": SPO2,
        "identifier": [{"system": "urn:gw", "value": "k-1"}, {"value": "other"}],
        "effectiveDateTime": (NOW - timedelta(minutes=5)).isoformat(),
        "valueQuantity": {"value": 95, "code": "%"}}
    body.update(extra)
    return body


def check(*entries: dict[str, Any]) -> list[Entry]:
    bundle = TransactionBundle.model_validate(
        {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)})
    return check_entries(bundle.entry, Context(DEVICE, {"ox-2": "ox-2"}, NOW, 300, 30))


def create(resource: dict[str, Any], url: str | None = None, **request: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource,
                             "request": {"method": "POST", "url": resource["resourceType"],
                                         **request}}
    if url:
        entry["fullUrl"] = url
    return entry


def reason(entry: Entry) -> str | None:
    return entry.issue.reason if entry.issue else None


@pytest.mark.parametrize(("condition", "key"), [
    ("identifier=urn:gw|k-1", "k-1"),
    ("identifier=k-1", "k-1"),
    ("identifier=|other", "other"),
    ("identifier=urn%3Agw%7Ck-1", "k-1"),
])
def test_a_conditional_create_keys_the_reading_on_the_identifier_it_names(
        condition: str, key: str) -> None:
    [entry] = check(create(observation(), ifNoneExist=condition))
    assert entry.conditional
    assert [r.reading_key for r in entry.readings] == [key]


@pytest.mark.parametrize("condition", ["identifier=urn:other|k-1", "identifier=|k-1",
                                       "code=59408-5", "identifier=k-1&code=59408-5"])
def test_a_condition_on_anything_but_the_observations_own_identifier_is_refused(
        condition: str) -> None:
    [entry] = check(create(observation(), ifNoneExist=condition))
    assert (entry.status, reason(entry), entry.readings) == (422, "unsupported-condition", [])


@pytest.mark.parametrize(("identifiers", "expected"), [
    ([{"system": NHS_NUMBER_SYSTEM, "value": "999 000 0026"}], None),
    ([{"system": "urn:telehub:display-id", "value": "TH-000042"}], None),
    ([{"system": "urn:gateway-app", "value": "user-77"},
      {"system": NHS_NUMBER_SYSTEM, "value": "9990000026"}], None),
    ([{"system": NHS_NUMBER_SYSTEM, "value": "9990000034"}], "patient-mismatch"),
    ([{"system": NHS_NUMBER_SYSTEM, "value": "9990000034"},
      {"system": "urn:telehub:display-id", "value": "TH-000042"}], "patient-mismatch"),
    ([{"system": "urn:gateway-app", "value": "user-77"}], "patient-mismatch"),
    ([], "missing-field"),
])
def test_the_patient_must_be_the_devices_by_nhs_number_or_telehub_key(
        identifiers: list[dict[str, str]], expected: str | None) -> None:
    patient = create({"resourceType": "Patient", "identifier": identifiers}, "urn:uuid:p")
    reading = create(observation(subject={"reference": "urn:uuid:p"}))
    checked = check(patient, reading)
    # An Observation about a refused Patient is refused with it.
    assert [reason(e) for e in checked] == [expected, expected and "patient-mismatch"]
    if expected is None:
        assert checked[0].location == "Patient/42"
        assert checked[1].message is not None
        # The hub is told the patient by Telehub key, never by NHS number.
        assert checked[1].message["subject"] == {
            "identifier": {"system": "urn:telehub:display-id", "value": "TH-000042"}}


@pytest.mark.parametrize(("key_system", "system", "named"), [
    (None, "urn:any", True), ("urn:gw", "urn:gw", True), ("urn:gw", "urn:other", False),
    ("urn:gw", None, False)])
def test_a_mapped_gateway_key_names_the_patient_in_its_system(
        key_system: str | None, system: str | None, named: bool) -> None:
    device = dataclasses.replace(DEVICE, key_system=key_system, key_value="user-77")
    identifier = {"value": "user-77"} | ({"system": system} if system else {})
    bundle = TransactionBundle.model_validate({"resourceType": "Bundle", "type": "batch",
                                               "entry": [create({"resourceType": "Patient",
                                                                 "identifier": [identifier]})]})
    [entry] = check_entries(bundle.entry, Context(device, {}, NOW, 300, 30))
    assert (entry.status, reason(entry)) == ((200, None) if named else
                                             (422, "patient-mismatch"))


def test_devices_are_matched_by_identifier_or_serial_and_gateways_are_noted() -> None:
    own = create({"resourceType": "Device", "serialNumber": "SN-1"}, "urn:uuid:d1")
    other = create({"resourceType": "Device", "identifier": [{"value": "ox-2"}]}, "urn:uuid:d2")
    gateway = create({"resourceType": "Device", "identifier": [{"value": "phone"}]},
                     "urn:uuid:g")
    readings = [create(observation(device={"reference": url}))
                for url in ("urn:uuid:d1", "urn:uuid:d2", "urn:uuid:g")]
    named = create(observation(device={"reference": "Device/ox-2"}))
    checked = check(own, other, gateway, *readings, named)
    assert [(e.status, reason(e)) for e in checked] == [
        (200, None), (422, "other-device"), (422, "unknown-device"),  # the gateway measures
        (0, None),  # checked: its readings go to the hub
        (422, "device-refused"), (422, "device-refused"), (422, "other-device")]
    [noted] = check(gateway)  # a gateway no Observation names as its device
    assert (noted.status, reason(noted)) == (200, None)


def test_entries_that_are_not_creates_of_known_resources_are_refused() -> None:
    checked = check({"resource": observation(), "request": {"method": "DELETE",
                                                             "url": "Observation/1"}},
                    {"resource": observation(), "request": {"method": "POST",
                                                             "url": "Patient"}},
                    {"resource": {"id": "x"}, "request": {"method": "POST", "url": "x"}})
    assert [(e.status, reason(e)) for e in checked] == [
        (405, "unsupported-method"), (422, "bad-request-url"), (422, "unsupported-resource")]
    [nameless] = check({"resource": {"id": "x"}, "request": {"method": "POST", "url": ""}})
    assert reason(nameless) == "unsupported-resource"
    assert nameless.issue is not None and "without a resourceType" in nameless.issue.diagnostics


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["value", "system", "reference", "code",
                                                       "coding", "profile", "identifier"]),
                                      inner, max_size=3),
                    max_leaves=12)
FIELDS = ["meta", "identifier", "code", "subject", "device", "component", "valueQuantity",
          "serialNumber", "effectiveDateTime", "status"]


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["Patient", "Device", "Observation"]),
       fields=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6),
       condition=st.none() | st.text(max_size=20))
def test_any_shape_of_resource_is_answered_never_raised(
        kind: str, fields: dict[str, Any], condition: str | None) -> None:
    request = {} if condition is None else {"ifNoneExist": condition}
    patient = create({"resourceType": "Patient", "identifier": fields.get("identifier")},
                     "urn:uuid:p")
    [_, entry] = check(patient, create({"resourceType": kind, **fields}, **request))
    assert entry.status in (0, 200, 405, 422)
    assert (entry.status == 0) == bool(entry.readings)
