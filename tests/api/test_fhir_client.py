"""A real FHIR client (fhirpy) against the running API: it reads the CapabilityStatement, finds
a patient by NHS number, pages a year of Observations, follows fullUrls, includes devices and
lists active Flags; every resource it gets validates with fhir.resources' R4B models."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.routing import APIRoute

from alerts.engine import evaluate
from api.routes import fhir as fhir_routes
from telehub.domain.readings import StoredReading
from telehub.domain.units import Metric, Unit
from tests.api.conftest import LiveApi
from tests.api.data import add_readings

pytest.importorskip("fhir.resources.R4B")
fhirpy = pytest.importorskip("fhirpy")
from fhir.resources.R4B.bundle import Bundle  # noqa: E402
from fhir.resources.R4B.capabilitystatement import CapabilityStatement  # noqa: E402
from fhir.resources.R4B.device import Device  # noqa: E402
from fhir.resources.R4B.flag import Flag  # noqa: E402
from fhir.resources.R4B.observation import Observation  # noqa: E402
from fhir.resources.R4B.patient import Patient  # noqa: E402

NHS = "https://fhir.nhs.uk/Id/nhs-number"
BOB_NHS = "9990000034"
# A year of home monitoring ending the day before the red pulse: a morning weight, SpO2 and
# pulse morning and evening (1,825 readings).
YEAR_END = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
RED_PULSE_AT = YEAR_END + timedelta(days=1, hours=1)
MODELS: dict[str, Any] = {"CapabilityStatement": CapabilityStatement, "Patient": Patient,
          "Observation": Observation, "Device": Device, "Flag": Flag, "Bundle": Bundle}


def validate(resource: dict[str, Any]) -> Any:
    """The resource parsed by its fhir.resources R4B model (raises when it does not conform)."""
    return MODELS[resource["resourceType"]].model_validate(dict(resource))


@pytest.fixture
def year(live_api: LiveApi, conn: psycopg.Connection) -> int:
    """Bob's year of readings and one red pulse the rules engine raised an alert on."""
    bob = live_api.world.patients["bob"]
    days = [YEAR_END - timedelta(days=d) for d in range(365)]
    add_readings(conn, bob, "weight", [(t, 80.0 + (t.day % 5) / 10) for t in days])
    add_readings(conn, bob, "spo2", [(t + timedelta(minutes=m), 95.0)
                                     for t in days for m in (5, 725)])
    add_readings(conn, bob, "pulse", [(t + timedelta(minutes=m), 72.0)
                                      for t in days for m in (5, 725)])
    add_readings(conn, bob, "pulse", [(RED_PULSE_AT, 136.0)])
    row = conn.execute("SELECT * FROM readings WHERE patient_id = %s AND time = %s",
                       (bob, RED_PULSE_AT)).fetchone()
    evaluate(conn, [StoredReading(
        time=row["time"], patient_id=bob, device_id=row["device_id"], metric=Metric.PULSE,
        value=row["value"], unit=Unit.PER_MIN, raw_value=row["raw_value"],
        raw_unit=Unit.PER_MIN, received_at=row["received_at"],
        reading_key=row["reading_key"])], now=RED_PULSE_AT)
    conn.commit()
    return bob


@pytest.fixture
def client(live_api: LiveApi) -> Iterator[Any]:
    """fhirpy's synchronous client, signed in as the north team's nurse."""
    yield fhirpy.SyncFHIRClient(f"{live_api.url}/fhir",
                                authorization=f"Bearer {live_api.mint_token('nurse')}")


def test_the_capability_statement_lists_exactly_the_routes_served(live_api: LiveApi) -> None:
    anonymous = fhirpy.SyncFHIRClient(f"{live_api.url}/fhir")
    statement = anonymous.execute("metadata", method="get")
    cs = validate(statement)
    assert cs.fhirVersion == "4.0.1" and cs.kind == "instance"
    rest = cs.rest[0]
    assert [i.code for i in rest.interaction] == ["transaction"]
    served = {route.path for route in fhir_routes.router.routes
              if isinstance(route, APIRoute) and "GET" in route.methods}
    declared = set()
    for res in rest.resource:
        codes = {i.code for i in res.interaction}
        if "read" in codes:
            declared.add(f"/fhir/{res.type}/{{")
        if "search-type" in codes:
            declared.add(f"/fhir/{res.type}")
    assert {d for d in declared if d.endswith("{")} == {
        p.split("{")[0] + "{" for p in served if "{" in p}
    assert {d for d in declared if not d.endswith("{")} == {
        p for p in served if "{" not in p and p != "/fhir/metadata"}
    observation = next(r for r in rest.resource if r.type == "Observation")
    assert observation.conditionalCreate is True
    assert {i.code for i in observation.interaction} == {"read", "search-type", "create"}
    assert observation.searchInclude == ["Observation:device"]
    assert {p.name for p in observation.searchParam} == {
        "patient", "subject", "code", "date", "_lastUpdated"}
    assert ("https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation-VitalSigns-"
            "HeartRate") in (observation.supportedProfile or [])


def test_a_client_finds_a_patient_by_nhs_number_within_its_team(
        live_api: LiveApi, client: Any, conn: psycopg.Connection) -> None:
    bob = live_api.world.patients["bob"]
    found = client.resources("Patient").search(identifier=f"{NHS}|{BOB_NHS}").fetch()
    assert len(found) == 1
    patient = validate(found[0].serialize())
    assert patient.id == str(bob) and patient.identifier[0].value == BOB_NHS
    assert patient.meta.profile == ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]
    assert client.reference("Patient", str(bob)).to_resource()["id"] == str(bob)
    south = fhirpy.SyncFHIRClient(f"{live_api.url}/fhir",
                                  authorization=f"Bearer {live_api.mint_token('south-nurse')}")
    assert south.resources("Patient").search(identifier=f"{NHS}|{BOB_NHS}").fetch() == []
    rows = conn.execute("SELECT action, resource, patient_id, actor FROM audit_log "
                        "ORDER BY id").fetchall()
    assert {"action": "export", "resource": "fhir-patient", "patient_id": bob,
            "actor": "nurse"} in rows
    assert {"action": "search", "resource": "fhir-patient", "patient_id": None,
            "actor": "south-nurse"} in rows


def test_a_client_pages_a_year_of_observations_newest_first(
        live_api: LiveApi, client: Any, year: int, conn: psycopg.Connection) -> None:
    stored = conn.execute("SELECT count(*) AS n FROM readings WHERE patient_id = %s",
                          (year,)).fetchone()["n"]
    assert stored == 1826
    started = time.perf_counter()
    observations = client.resources("Observation").search(
        patient=f"Patient/{year}").limit(200).fetch_all()
    elapsed = time.perf_counter() - started
    assert len(observations) == stored, elapsed
    ids = [o["id"] for o in observations]
    assert len(set(ids)) == stored
    times = [o["effectiveDateTime"] for o in observations]
    assert times == sorted(times, reverse=True)
    for o in observations:
        validate(o.serialize())
    oldest = client.resources("Observation").search(patient=f"Patient/{year}").sort(
        "date").limit(500).fetch_all()
    assert [o["id"] for o in oldest] == list(reversed(ids))
    weights = client.resources("Observation").search(
        subject=f"Patient/{year}", code="http://snomed.info/sct|27113001",
        date=["ge2026-11-01", "lt2026-11-08"]).fetch_all()
    assert len(weights) == 7
    assert {w["code"]["coding"][0]["code"] for w in weights} == {"29463-7"}
    assert client.resources("Observation").search(patient=f"Patient/{year}").count() == stored


def test_paging_links_stay_put_while_new_readings_arrive(
        live_api: LiveApi, year: int, conn: psycopg.Connection) -> None:
    with live_api.client("nurse") as c:
        first = c.get("/fhir/Observation", params={"patient": year, "_count": 50}).json()
        add_readings(conn, year, "spo2", [(RED_PULSE_AT + timedelta(hours=1), 96.0)])
        conn.commit()
        links = {link["relation"]: link["url"] for link in first["link"]}
        second = c.get(links["next"]).json()
        back = c.get({link["relation"]: link["url"] for link in second["link"]}["previous"])
    page1 = [e["fullUrl"] for e in first["entry"]]
    page2 = [e["fullUrl"] for e in second["entry"]]
    assert len(page1) == len(page2) == 50 and not set(page1) & set(page2)
    assert first["entry"][-1]["resource"]["effectiveDateTime"] > (
        second["entry"][0]["resource"]["effectiveDateTime"])
    assert [e["fullUrl"] for e in back.json()["entry"]] == page1
    validate(back.json())


def test_every_full_url_resolves_and_devices_are_included(
        live_api: LiveApi, client: Any, year: int) -> None:
    with live_api.client("nurse") as c:
        bundle = c.get("/fhir/Observation", params={
            "patient": f"Patient/{year}", "_count": 30,
            "_include": "Observation:device"}).json()
        validate(bundle)
        matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
        included = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
        assert len(matches) == 30
        for entry in matches + included:
            r = c.get(entry["fullUrl"])
            assert r.status_code == 200, entry["fullUrl"]
            assert r.json() == entry["resource"]
            validate(r.json())
    assert {e["resource"]["resourceType"] for e in included} == {"Device"}
    assert {f"Device/{e['resource']['id']}" for e in included} == {
        e["resource"]["device"]["reference"] for e in matches}
    devices = client.resources("Device").search(patient=f"Patient/{year}").fetch()
    assert {d["type"]["coding"][0]["code"] for d in devices} == {"528399", "528388"}
    assert all(d["patient"]["reference"] == f"Patient/{year}" for d in devices)


def test_active_flags_carry_the_rule_sentence_severity_and_the_readings_that_raised_them(
        live_api: LiveApi, client: Any, year: int, conn: psycopg.Connection) -> None:
    flags = client.resources("Flag").search(patient=f"Patient/{year}", status="active").fetch()
    assert len(flags) == 1
    flag = validate(flags[0].serialize())
    alert = conn.execute("SELECT * FROM alerts WHERE patient_id = %s", (year,)).fetchone()
    assert flag.code.text == alert["message"] and "136" in flag.code.text
    assert flag.code.coding[0].code == "pulse-red"
    extensions = {e.url: e for e in flag.extension}
    priority = extensions["http://hl7.org/fhir/StructureDefinition/flag-priority"]
    assert [c.code for c in priority.valueCodeableConcept.coding] == ["PH", "red"]
    details = [e.valueReference.reference for e in flag.extension
               if e.url == "http://hl7.org/fhir/StructureDefinition/flag-detail"]
    assert len(details) == 1
    raised = client.reference(*details[0].split("/")).to_resource()
    validate(raised.serialize())
    assert raised["valueQuantity"]["value"] == 136
    assert raised["effectiveDateTime"] == RED_PULSE_AT.isoformat()
    assert [i["coding"][0]["code"] for i in raised["interpretation"]] == ["HH"]
    assert "pulse-red" in raised["interpretation"][0]["text"]
    quiet = client.resources("Observation").search(patient=f"Patient/{year}",
                                                   date="eq2026-11-20").fetch_all()
    assert quiet and all("interpretation" not in o for o in quiet)
    assert client.resources("Flag").search(patient=f"Patient/{year}",
                                           status="inactive").fetch() == []
    conn.execute("UPDATE alerts SET status = 'resolved', resolved_at = now(), "
                 "outcome = 'advice-given' WHERE id = %s", (alert["id"],))
    conn.commit()
    assert client.resources("Flag").search(patient=f"Patient/{year}",
                                           status="active").fetch() == []
    inactive = client.resources("Flag").search(patient=f"Patient/{year}",
                                               status="inactive").fetch()
    assert [f["status"] for f in inactive] == ["inactive"] and "end" in inactive[0]["period"]
    assert client.reference("Flag", str(alert["id"])).to_resource()["id"] == str(alert["id"])


def test_a_search_posted_as_a_form_keeps_the_nhs_number_out_of_urls(live_api: LiveApi) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("nurse") as c:
        r = c.post("/fhir/Patient/_search", data={"identifier": f"{NHS}|{BOB_NHS}"})
        as_json = c.post("/fhir/Patient/_search", json={"identifier": BOB_NHS})
    with live_api.client("south-nurse") as c:
        other = c.post("/fhir/Patient/_search", data={"identifier": BOB_NHS})
    assert r.status_code == 200, r.text
    bundle = validate(r.json())
    assert [e.resource.id for e in bundle.entry] == [str(bob)]
    assert BOB_NHS not in " ".join(link.url for link in bundle.link)
    assert as_json.status_code == 415
    assert as_json.json()["resourceType"] == "OperationOutcome"
    assert other.status_code == 200 and other.json()["total"] == 0
