"""Decoding and validation of reading payloads, without a database or broker."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from ingest.payloads import RawReading, decode_payload
from ingest.validate import DeviceRecord, check_device, parse_time, validate_reading
from telehub.config import IngestSettings
from telehub.domain.readings import NewReading
from telehub.domain.units import Metric, Unit
from telehub.errors import ValidationError

LIMITS = IngestSettings()
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
DEVICE = DeviceRecord(id=7, device_id="ox-1", active=True, patient_id=42,
                      patient_status="active",
                      patient_refs=frozenset({"9990000018", "TH-000042", "42"}), last_seq=None)


def decode(body: object) -> list[RawReading]:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return decode_payload(payload, max_bytes=LIMITS.max_payload_bytes,
                          max_batch=LIMITS.max_batch_readings).readings


def decode_error(payload: bytes, **limits: int) -> str:
    with pytest.raises(ValidationError) as info:
        decode_payload(payload, max_bytes=limits.get("max_bytes", LIMITS.max_payload_bytes),
                       max_batch=limits.get("max_batch", LIMITS.max_batch_readings))
    assert info.value.message  # every refusal has a sentence for people
    return info.value.code


def validate(body: dict[str, object], device: DeviceRecord = DEVICE) -> list[NewReading]:
    return [validate_reading(r, device, now=NOW, limits=LIMITS) for r in decode(body)]


def refusal(body: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as info:
        validate(body)
    assert info.value.message
    return info.value.code


def native(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {"id": "r1", "metric": "spo2", "value": 94, "unit": "%",
                               "time": "2026-11-22T08:01:00Z"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def test_native_spo2_with_pulse_becomes_two_readings_with_one_identity() -> None:
    spo2, pulse = validate(native(pulse=88, seq=41))
    assert (spo2.metric, spo2.value, spo2.unit) == (Metric.SPO2, 94.0, Unit.PERCENT)
    assert (pulse.metric, pulse.value, pulse.unit) == (Metric.PULSE, 88.0, Unit.PER_MIN)
    assert spo2.reading_key == pulse.reading_key == "r1"
    assert spo2.time == pulse.time == datetime(2026, 11, 22, 8, 1, tzinfo=UTC)
    assert spo2.patient_id == 42 and spo2.device_id == 7 and spo2.seq == 41


def test_unknown_fields_are_ignored() -> None:
    (spo2,) = validate(native(firmware="1.2", colour="blue", nested={"x": [1, 2]}))
    assert spo2.value == 94.0


@pytest.mark.parametrize(("metric", "value", "unit", "canonical"), [
    ("weight", 176.0, "lb", 176.0 * 0.45359237),
    ("weight", 12.5, "st", 12.5 * 6.35029318),
    ("weight", 80.2, "kg", 80.2),
    ("glucose", 90.0, "mg/dL", 90.0 / 18.016),
    ("glucose", 5.4, "mmol/L", 5.4),
    ("pulse", 72, "bpm", 72.0),
])
def test_units_are_converted_to_canonical_and_raw_kept(metric: str, value: float, unit: str,
                                                       canonical: float) -> None:
    (r,) = validate(native(metric=metric, value=value, unit=unit))
    assert math.isclose(r.value, canonical)
    assert r.raw_value == value and r.raw_unit.value in (unit, "/min")


def test_missing_unit_means_the_canonical_unit() -> None:
    (r,) = validate(native(metric="weight", value=81.5, unit=None))
    assert r.unit is Unit.KG and r.value == 81.5


def test_without_an_id_the_time_and_the_measurement_are_the_identity() -> None:
    (r,) = validate(native(id=None))
    assert r.reading_key == "2026-11-22T08:01:00+00:00 94.0 %"
    (low,) = validate(native(id=None, value=65, quality="low"))
    assert low.reading_key == "2026-11-22T08:01:00+00:00 65.0 % low-quality"


def test_low_spo2_is_stored_but_flagged_to_verify_and_device_flags_kept() -> None:
    (r,) = validate(native(value=65, quality="low"))
    assert set(r.flags) == {"low-quality", "verify"}


def test_batch_of_mixed_items_keeps_good_ones_and_reports_each_bad_one() -> None:
    body = {"readings": [native(id="a"), "not an object", native(id="b", metric=None),
                         native(id="c", value=95)], "battery": 61}
    decoded = decode_payload(json.dumps(body).encode(), max_bytes=10**6, max_batch=100)
    assert [r.reading_id for r in decoded.readings] == ["a", "c"]
    assert [(e.index, e.code) for e in decoded.errors] == [(1, "not-an-object"),
                                                           (2, "missing-field")]
    assert decoded.battery == 61


def fhir(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "resourceType": "Observation", "id": "obs-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7",
                             "display": "Body weight"}]},
        "subject": {"reference": "Patient/TH-000042"},
        "effectiveDateTime": "2026-11-22T07:30:00+00:00",
        "valueQuantity": {"value": 180.5, "unit": "lb", "system": "http://unitsofmeasure.org",
                          "code": "[lb_av]"},
    }
    body.update(overrides)
    return body


def test_fhir_observation_with_loinc_and_ucum_is_a_reading() -> None:
    (r,) = validate(fhir())
    assert r.metric is Metric.WEIGHT and r.raw_unit is Unit.LB
    assert math.isclose(r.value, 180.5 * 0.45359237)
    assert r.reading_key == "obs-1"


def test_fhir_oxygen_saturation_by_either_loinc_code() -> None:
    for code in ("2708-6", "59408-5"):
        (r,) = validate(fhir(code={"coding": [{"system": "http://loinc.org", "code": code}]},
                             valueQuantity={"value": 93, "code": "%"}))
        assert r.metric is Metric.SPO2 and r.value == 93


def test_fhir_subject_by_nhs_identifier_must_be_the_devices_patient() -> None:
    ours = {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}}
    assert validate(fhir(subject=ours))
    theirs = {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                             "value": "9990000026"}}
    assert refusal(fhir(subject=theirs)) == "patient-mismatch"


@pytest.mark.parametrize(("body", "code"), [
    (fhir(code={"coding": [{"system": "http://loinc.org", "code": "8310-5"}]}), "unknown-metric"),
    (fhir(code={"text": "weight"}), "missing-field"),
    (fhir(valueQuantity=None), "missing-field"),
    (fhir(effectiveDateTime=None), "missing-field"),
    (fhir(status="entered-in-error"), "observation-status"),
    (fhir(status="registered"), "observation-status"),
    (fhir(valueQuantity={"value": 80, "code": "g"}), "wrong-unit"),
    ({"resourceType": "Patient", "id": "x"}, "not-an-observation"),
])
def test_fhir_refusals(body: dict[str, object], code: str) -> None:
    assert refusal(body) == code


@pytest.mark.parametrize(("payload", "code"), [
    (b"", "empty-payload"),
    (b"   \n", "empty-payload"),
    (b"{not json", "not-json"),
    (b"\xff\xfe\x00", "not-json"),
    (b"[1, 2]", "not-an-object"),
    (b'{"readings": {}}', "not-a-batch"),
    (b'{"readings": []}', "empty-batch"),
    (b"[" * 100_000, "not-json"),
])
def test_message_level_refusals(payload: bytes, code: str) -> None:
    assert decode_error(payload) == code


def test_size_is_checked_before_parsing() -> None:
    assert decode_error(b"x" * 3_000_000) == "too-large"  # not parsed: not 'not-json'


def test_a_one_megabyte_single_reading_is_too_large() -> None:
    body = native(padding="x" * 1_000_000)
    assert decode_error(json.dumps(body).encode()) == "too-large"


def test_batch_over_the_limit_is_refused_whole() -> None:
    body = {"readings": [native(id=str(i)) for i in range(11)]}
    assert decode_error(json.dumps(body).encode(), max_batch=10) == "batch-too-large"


@pytest.mark.parametrize(("fields", "code"), [
    ({"metric": "temperature"}, "unknown-metric"),
    ({"unit": "mmHg"}, "wrong-unit"),
    ({"value": "94"}, "not-a-number"),
    ({"value": True}, "not-a-number"),
    ({"value": 10**400}, "not-a-number"),
    ({"value": 140}, "implausible-value"),
    ({"metric": "weight", "value": -3, "unit": "kg"}, "implausible-value"),
    ({"metric": "glucose", "value": 900, "unit": "mg/dL"}, "implausible-value"),
    ({"time": "yesterday"}, "bad-time"),
    ({"time": 1763798460}, "bad-time"),
    ({"time": "2026-11-22T08:01:00"}, "time-without-zone"),
    ({"time": "2026-11-22T09:06:00Z"}, "time-in-future"),
    ({"time": "2026-10-01T09:00:00Z"}, "time-too-old"),
    ({"id": ["x"]}, "bad-reading-id"),
    ({"id": "x" * 129}, "bad-reading-id"),
    ({"patient": "9990000026"}, "patient-mismatch"),
    ({"patient": "TH-000099"}, "patient-mismatch"),
])
def test_reading_refusals(fields: dict[str, object], code: str) -> None:
    assert refusal(native(**fields)) == code


def test_nan_in_json_is_not_a_number() -> None:
    payload = b'{"id": "n", "metric": "spo2", "value": NaN, "time": "2026-11-22T08:01:00Z"}'
    (raw,) = decode(payload)
    with pytest.raises(ValidationError) as info:
        validate_reading(raw, DEVICE, now=NOW, limits=LIMITS)
    assert info.value.code == "not-a-number"


def test_naming_the_devices_own_patient_is_accepted() -> None:
    for ref in ("9990000018", "TH-000042", 42):
        assert validate(native(patient=ref))


def test_a_reading_just_inside_the_future_tolerance_is_accepted() -> None:
    assert parse_time("2026-11-22T09:04:59Z", now=NOW, limits=LIMITS)
    assert parse_time("2026-11-22T10:04:59+01:00", now=NOW, limits=LIMITS).tzinfo is UTC


def test_the_horizon_comes_from_settings() -> None:
    old = (NOW - timedelta(days=10)).isoformat()
    assert parse_time(old, now=NOW, limits=LIMITS)
    with pytest.raises(ValidationError, match="7-day"):
        parse_time(old, now=NOW, limits=IngestSettings(horizon_days=7))


@pytest.mark.parametrize(("device", "code"), [
    (None, "unknown-device"),
    (DeviceRecord(1, "d", False, 42, "active", frozenset(), None), "device-inactive"),
    (DeviceRecord(1, "d", True, None, None, frozenset(), None), "device-unassigned"),
    (DeviceRecord(1, "d", True, 42, "discharged", frozenset(), None), "patient-discharged"),
])
def test_device_refusals(device: DeviceRecord | None, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_device(device, "d")
    assert info.value.code == code


def test_paused_patients_device_still_sends() -> None:
    assert check_device(DeviceRecord(1, "d", True, 42, "paused", frozenset(), None), "d")


def test_batch_battery_is_the_newest_items() -> None:
    items = [native(id=f"b{seq}", seq=seq, battery=90 - seq) for seq in (7, 9, 8)]
    decoded = decode_payload(json.dumps({"readings": items}).encode(), max_bytes=10**6,
                             max_batch=100)
    assert decoded.battery == 81


def test_invalid_flag_is_kept() -> None:
    (r,) = validate(native(flags=["invalid", "made-up"]))
    assert r.flags == ("invalid",)


def test_fhir_bundle_of_observations_is_a_batch() -> None:
    pulse = fhir(id="obs-2", code={"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                 valueQuantity={"value": 77, "unit": "beats/minute", "code": "/min"})
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": fhir()}, {"resource": pulse},
                        {"resource": {"resourceType": "Patient"}}]}
    decoded = decode_payload(json.dumps(bundle).encode(), max_bytes=10**6, max_batch=100)
    assert [(r.metric, r.reading_id) for r in decoded.readings] == [("weight", "obs-1"),
                                                                     ("pulse", "obs-2")]
    assert [(e.index, e.code) for e in decoded.errors] == [(2, "not-an-observation")]
    assert decode_error(b'{"resourceType": "Bundle"}') == "not-a-batch"


def test_a_device_record_never_shows_its_patients_nhs_number() -> None:
    assert "9990000018" not in repr(DEVICE) and "9990000018" not in str(DEVICE)


@pytest.mark.parametrize(("body", "code"), [
    (fhir(status=["final"]), "observation-status"),
    (fhir(status={"x": 1}), "observation-status"),
    (fhir(code={"coding": [{"system": "http://loinc.org", "code": ["29463-7"]}]}),
     "unknown-metric"),
    (fhir(code={"coding": [{"system": "http://loinc.org", "code": {"c": 1}}]}), "unknown-metric"),
    (native(time="0001-01-01T00:00:00+05:00"), "bad-time"),
    (native(time="9999-12-31T23:59:59-05:00"), "bad-time"),
])
def test_fields_of_the_wrong_type_are_refused_with_a_reason(body: dict[str, object],
                                                           code: str) -> None:
    assert refusal(body) == code


def _oximetry(**extra: object) -> dict[str, object]:
    """An SpO2 Observation as a PHD gateway sends it: MDC and LOINC codes, an identifier."""
    body: dict[str, object] = {
        "resourceType": "Observation", "status": "final",
        "identifier": [{"value": "EUI64-ox-150456-20261122080100"}],
        "code": {"coding": [{"system": "urn:iso:std:iso:11073:10101", "code": "150456"},
                            {"system": "http://loinc.org", "code": "59408-5"}]},
        "effectiveDateTime": NOW.isoformat(),
        "valueQuantity": {"value": 93, "system": "http://unitsofmeasure.org", "code": "%"},
    }
    body.update(extra)
    return body


PULSE_COMPONENT = {"code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                   "valueQuantity": {"value": 104, "unit": "{beat}/min"}}
SUPPLEMENTAL = {"code": {"coding": [{"system": "urn:iso:std:iso:11073:10101", "code": "68193"}]},
                "valueCodeableConcept": {"coding": [{"system": "urn:iso:std:iso:11073:10101",
                                                     "code": "150588"}]}}


def test_an_spo2_observation_with_a_pulse_component_is_two_readings_of_one_identity() -> None:
    stored = validate(_oximetry(component=[SUPPLEMENTAL, PULSE_COMPONENT]))
    assert [(r.metric.value, r.value, r.reading_key) for r in stored] == [
        ("spo2", 93.0, "EUI64-ox-150456-20261122080100"),
        ("pulse", 104.0, "EUI64-ox-150456-20261122080100")]


def test_a_compound_observation_with_values_only_in_components_is_read_from_them() -> None:
    spo2 = {"code": {"coding": [{"system": "http://loinc.org", "code": "2708-6"}]},
            "valueQuantity": {"value": 95, "code": "%"}}
    body = _oximetry(component=[spo2, PULSE_COMPONENT])
    del body["valueQuantity"]
    assert sorted((r.metric.value, r.value) for r in validate(body)) == [
        ("pulse", 104.0), ("spo2", 95.0)]


def test_supplemental_components_alone_leave_a_numeric_observation_one_reading() -> None:
    assert [(r.metric.value, r.value) for r in validate(_oximetry(
        component=[SUPPLEMENTAL]))] == [("spo2", 93.0)]


def test_an_observation_identifier_longer_than_the_key_limit_is_refused_with_its_length() -> None:
    with pytest.raises(ValidationError, match=r"1–128 printable characters \(this one has 129"):
        decode(_oximetry(identifier=[{"value": "x" * 129}]))


def test_a_pulse_component_without_a_number_is_refused_alone_and_the_spo2_is_kept() -> None:
    spo2, pulse = decode(_oximetry(component=[{**PULSE_COMPONENT,
                                               "valueQuantity": {"value": None}}]))
    assert validate_reading(spo2, DEVICE, now=NOW, limits=LIMITS).value == 93.0
    with pytest.raises(ValidationError) as info:
        validate_reading(pulse, DEVICE, now=NOW, limits=LIMITS)
    assert info.value.code == "not-a-number"
