"""FHIR R4 export: resources validate with `fhir.resources` (R4B models) and carry the
LOINC codes, UCUM units and NHS number the catalogue specifies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.api.conftest import LiveApi
from tests.api.data import add_readings

R4B = pytest.importorskip("fhir.resources.R4B")
from fhir.resources.R4B.bundle import Bundle  # noqa: E402
from fhir.resources.R4B.observation import Observation  # noqa: E402
from fhir.resources.R4B.patient import Patient  # noqa: E402

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def readings(live_api: LiveApi, conn: psycopg.Connection) -> None:
    bob, ann = live_api.world.patients["bob"], live_api.world.patients["ann"]
    add_readings(conn, bob, "spo2", [(T0 + timedelta(days=d), 93.0 + d) for d in range(3)])
    add_readings(conn, bob, "pulse", [(T0 + timedelta(days=d), 80.0) for d in range(3)])
    add_readings(conn, ann, "weight", [(T0, 82.35)])
    add_readings(conn, ann, "glucose", [(T0, 5.4)])
    conn.commit()


def test_patient_resource_validates_with_the_nhs_number(live_api: LiveApi,
                                                        conn: psycopg.Connection) -> None:
    ann = live_api.world.patients["ann"]
    with live_api.client("nurse") as c:
        r = c.get(f"/fhir/Patient/{ann}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    p = Patient.model_validate(r.json())
    assert p.identifier[0].system == "https://fhir.nhs.uk/Id/nhs-number"
    assert p.identifier[0].value == "9990000026"
    assert p.name[0].family == "Able" and str(p.birthDate) == "1940-01-02"
    assert conn.execute("SELECT resource FROM audit_log").fetchone()["resource"] == (
        "fhir-patient")


def test_observations_validate_with_vital_signs_codes_and_ucum(live_api: LiveApi,
                                                               readings: None) -> None:
    bob, ann = live_api.world.patients["bob"], live_api.world.patients["ann"]
    with live_api.client("nurse") as c:
        r = c.get("/fhir/Observation", params={"patient": f"Patient/{bob}"})
        ann_r = c.get("/fhir/Observation", params={"patient": str(ann)})
    assert r.status_code == 200, r.text
    bundle = Bundle.model_validate(r.json())
    assert bundle.type == "searchset" and bundle.total == 6
    observations = [Observation.model_validate(e.resource.model_dump()) for e in bundle.entry]
    spo2 = [o for o in observations if o.code.coding[0].code == "2708-6"]
    assert len(spo2) == 3
    assert [(c.system, c.code) for c in spo2[0].code.coding] == [
        ("http://loinc.org", "2708-6"), ("http://loinc.org", "59408-5"),
        ("http://snomed.info/sct", "431314004")]
    assert spo2[0].valueQuantity.system == "http://unitsofmeasure.org"
    assert spo2[0].valueQuantity.code == "%" and spo2[0].valueQuantity.value == 95
    assert spo2[0].status == "final" and spo2[0].category[0].coding[0].code == "vital-signs"
    assert spo2[0].meta.profile == [
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation-VitalSigns-"
        "OxygenSaturation", "http://hl7.org/fhir/StructureDefinition/oxygensat",
        "http://hl7.org/fhir/StructureDefinition/vitalsigns"]
    assert spo2[0].subject.reference == f"Patient/{bob}"
    assert spo2[0].effectiveDateTime == T0 + timedelta(days=2)
    pulse = next(o for o in observations if o.code.coding[0].code == "8867-4")
    assert [c.code for c in pulse.code.coding] == ["8867-4", "8889-8", "364075005"]
    assert pulse.valueQuantity.code == "/min"
    others = {o["resource"]["code"]["coding"][0]["code"]: o["resource"]
              for o in ann_r.json()["entry"]}
    for resource in others.values():
        Observation.model_validate(resource)
    assert others["29463-7"]["valueQuantity"]["code"] == "kg"
    assert others["14743-9"]["valueQuantity"]["code"] == "mmol/L"
    assert others["14743-9"]["category"][0]["coding"][0]["code"] == "laboratory"


def test_observation_search_by_code_date_and_paging(live_api: LiveApi, readings: None) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("nurse") as c:
        by_code = c.get("/fhir/Observation", params={"patient": bob,
                                                     "code": "http://loinc.org|59408-5"}).json()
        by_date = c.get("/fhir/Observation", params=[("patient", bob), ("date", "ge2026-03-02"),
                                                     ("date", "le2026-03-02")]).json()
        paged = c.get("/fhir/Observation", params={"patient": bob, "_count": 4}).json()
        bad = c.get("/fhir/Observation", params={"patient": bob, "code": "1234-5"})
        other = c.get("/fhir/Observation", params={"patient": live_api.world.patients["cat"]})
    assert by_code["total"] == 3
    assert {e["resource"]["code"]["coding"][0]["code"] for e in by_code["entry"]} == {"2708-6"}
    assert by_date["total"] == 2
    assert {e["resource"]["effectiveDateTime"][:10] for e in by_date["entry"]} == {"2026-03-02"}
    assert len(paged["entry"]) == 4 and paged["total"] == 6
    assert any(link["relation"] == "next" and "_cursor=after." in link["url"]
               for link in paged["link"])
    # A code no metric has matches nothing, and the Bundle says why.
    assert bad.status_code == 200 and bad.json()["total"] == 0
    assert bad.json()["entry"][0]["search"]["mode"] == "outcome"
    assert "1234-5" in bad.json()["entry"][0]["resource"]["issue"][0]["diagnostics"]
    assert other.status_code == 404
    assert other.json()["resourceType"] == "OperationOutcome"


def test_a_meters_hi_and_a_doubtful_reading_say_so(live_api: LiveApi,
                                                   conn: psycopg.Connection) -> None:
    ann = live_api.world.patients["ann"]
    add_readings(conn, ann, "glucose", [(T0, 33.3), (T0 + timedelta(hours=1), 0.6),
                                        (T0 + timedelta(hours=2), 6.1)])
    add_readings(conn, ann, "spo2", [(T0, 84.0)])
    conn.execute("UPDATE readings SET flags = '{hi}' WHERE metric = 'glucose' AND value = 33.3")
    conn.execute("UPDATE readings SET flags = '{lo}' WHERE metric = 'glucose' AND value = 0.6")
    conn.execute("UPDATE readings SET flags = '{low-quality}' WHERE metric = 'spo2'")
    conn.commit()
    with live_api.client("nurse") as c:
        entries = c.get("/fhir/Observation", params={"patient": ann}).json()["entry"]
    by_value = {e["resource"]["valueQuantity"]["value"]: Observation.model_validate(
        e["resource"]) for e in entries}
    assert by_value[33.3].valueQuantity.comparator == ">="
    assert by_value[0.6].valueQuantity.comparator == "<="
    assert "HI" in by_value[33.3].note[0].text
    assert by_value[6.1].valueQuantity.comparator is None and by_value[6.1].note is None
    assert "low quality" in by_value[84].note[0].text
    assert [i.coding[0].code for i in by_value[33.3].interpretation] == ["H"]
