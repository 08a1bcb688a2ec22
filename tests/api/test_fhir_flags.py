"""Alerts the rules engine raised, read as FHIR Flags: a combined review points at the alerts
it counted, each amber at the Observation that raised it, whose interpretation says which
way it broke the rule; Flags page and count like any search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.engine import evaluate
from alerts.thresholds import set_threshold
from telehub.domain.readings import StoredReading
from telehub.domain.units import SPECS, Metric
from tests.api.conftest import LiveApi
from tests.api.data import add_readings

fhirpy = pytest.importorskip("fhirpy")
from fhir.resources.R4B.flag import Flag  # noqa: E402
from fhir.resources.R4B.observation import Observation  # noqa: E402

AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)   # a Monday morning, GMT
DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"


def feed(conn: psycopg.Connection, patient: int, metric: Metric, value: float,
         at: datetime) -> None:
    """Store a reading and run the rules on it, as the hub does for one batch."""
    add_readings(conn, patient, metric.value, [(at, value)])
    row = conn.execute("SELECT * FROM readings WHERE patient_id = %s AND metric = %s "
                       "AND time = %s", (patient, metric.value, at)).fetchone()
    unit = SPECS[metric].canonical
    evaluate(conn, [StoredReading(time=at, patient_id=patient, device_id=row["device_id"],
                                  metric=metric, value=value, unit=unit, raw_value=value,
                                  raw_unit=unit, received_at=row["received_at"],
                                  reading_key=row["reading_key"])],
             now=at + timedelta(minutes=5))


@pytest.fixture
def two_ambers(live_api: LiveApi, conn: psycopg.Connection) -> int:
    """Bob: a fast pulse, then a low SpO2 minutes later, so the engine opens a red review."""
    bob = live_api.world.patients["bob"]
    feed(conn, bob, Metric.PULSE, 115.0, AT)
    feed(conn, bob, Metric.SPO2, 93.0, AT + timedelta(minutes=2))
    conn.commit()
    return bob


def details(flag: dict[str, Any]) -> list[str]:
    return [e["valueReference"]["reference"] for e in flag.get("extension", [])
            if e["url"] == DETAIL]


def test_a_combined_review_points_at_the_alerts_it_counted(live_api: LiveApi, two_ambers: int,
                                                           conn: psycopg.Connection) -> None:
    client = fhirpy.SyncFHIRClient(f"{live_api.url}/fhir",
                                   authorization=f"Bearer {live_api.mint_token('matron')}")
    flags = {f["code"]["coding"][0]["code"]: f.serialize() for f in client.resources(
        "Flag").search(patient=f"Patient/{two_ambers}", status="active").fetch_all()}
    assert set(flags) == {"pulse-amber", "spo2-scale1-amber", "combined-amber"}
    for f in flags.values():
        Flag.model_validate(f)
    review = flags["combined-amber"]
    priority = review["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]
    assert priority == "PH"
    assert sorted(details(review)) == sorted(f"Flag/{flags[k]['id']}"
                                             for k in ("pulse-amber", "spo2-scale1-amber"))
    expected = {"pulse-amber": ("H", 115), "spo2-scale1-amber": ("L", 93)}
    for rule, (code, value) in expected.items():
        assert flags[rule]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "PM"
        [ref] = details(flags[rule])
        obs = client.reference(*ref.split("/")).to_resource().serialize()
        Observation.model_validate(obs)
        assert obs["valueQuantity"]["value"] == value
        assert [i["coding"][0]["code"] for i in obs["interpretation"]] == [code]
    assert client.resources("Flag").search(patient=f"Patient/{two_ambers}").count() == 3
    paged = client.resources("Flag").search(patient=f"Patient/{two_ambers}").limit(
        1).fetch_all()
    assert sorted(f["id"] for f in paged) == sorted(f["id"] for f in flags.values())
    audited = conn.execute("SELECT count(*) AS n FROM audit_log WHERE resource = 'fhir-flags' "
                           "AND patient_id = %s", (two_ambers,)).fetchone()["n"]
    assert audited >= 3


def test_last_updated_searches_the_time_telehub_received_the_reading(
        live_api: LiveApi, two_ambers: int, conn: psycopg.Connection) -> None:
    received = conn.execute("SELECT min(received_at) AS t FROM readings").fetchone()["t"]
    with live_api.client("nurse") as c:
        since = c.get("/fhir/Observation", params={
            "patient": two_ambers,
            "_lastUpdated": f"ge{(received - timedelta(seconds=1)).isoformat()}"}).json()
        before = c.get("/fhir/Observation", params={"patient": two_ambers,
                                                    "_lastUpdated": "lt2020-01-01"}).json()
    assert since["total"] == 2 and before["total"] == 0
    assert all(e["resource"]["meta"]["lastUpdated"] >= received.isoformat()[:19]
               for e in since["entry"])


def test_every_reading_of_a_red_run_reads_critical_not_only_its_latest_and_worst(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    ann = live_api.world.patients["ann"]
    run = [(0, 136.0), (60, 145.0), (120, 135.0), (150, 80.0), (180, 137.0)]
    for minutes, value in run:
        feed(conn, ann, Metric.PULSE, value, AT + timedelta(minutes=minutes))
    conn.commit()
    alert = conn.execute("SELECT occurrences, values FROM alerts WHERE patient_id = %s",
                         (ann,)).fetchone()
    assert alert["occurrences"] == 4          # the engine counted four, recorded two
    recorded = {alert["values"]["latest"]["value"], alert["values"]["worst"]["value"]}
    assert {136.0, 145.0, 135.0, 137.0} - recorded      # readings the alert does not name
    with live_api.client("nurse") as c:
        bundle = c.get("/fhir/Observation", params={"patient": ann, "_sort": "date"}).json()
    read = {e["resource"]["valueQuantity"]["value"]: [
        i["coding"][0]["code"] for i in e["resource"].get("interpretation", [])]
        for e in bundle["entry"]}
    assert read == {136: ["HH"], 145: ["HH"], 135: ["HH"], 80: [], 137: ["HH"]}


def test_a_patients_own_pulse_limits_decide_which_way_a_reading_broke_them(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    """A slow pulse under a raised lower limit reads critical low, not high: the side of a
    two-sided band is judged by the limits the reading broke, not the catalogue's."""
    ann = live_api.world.patients["ann"]
    set_threshold(conn, ann, "pulse-red", {"at_or_below": 45, "at_or_above": 131},
                  "Symptomatic below 45 on her beta-blocker", "Matron Test")
    feed(conn, ann, Metric.PULSE, 43.0, AT)                      # recorded: latest and worst
    feed(conn, ann, Metric.PULSE, 44.0, AT + timedelta(minutes=30))
    feed(conn, ann, Metric.PULSE, 42.0, AT + timedelta(minutes=60))
    conn.commit()
    with live_api.client("nurse") as c:
        bundle = c.get("/fhir/Observation", params={"patient": ann, "_sort": "date"}).json()
    read = {e["resource"]["valueQuantity"]["value"]: [
        i["coding"][0]["code"] for i in e["resource"].get("interpretation", [])]
        for e in bundle["entry"]}
    assert read == {43: ["LL"], 44: ["LL"], 42: ["LL"]}
