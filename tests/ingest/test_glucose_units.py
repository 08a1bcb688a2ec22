"""Glucose through the real broker, hub and rules: a meter's LO / HI is stored at the edge of
its range and red, a unit-less value takes the unit its LOINC code implies or is refused, and
nothing is guessed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from ingest.service import Ingest
from telehub.config import Settings
from tests.ingest.conftest import (
    Caseload,
    Publisher,
    iso,
    minutes_ago,
    running_hub,
    settle,
)
from tests.ingest.conftest import reading as native


@pytest.fixture
def hub(fast_settings: Settings, caseload: Caseload) -> Iterator[Ingest]:
    with running_hub(fast_settings) as ingest:
        yield ingest


def _fhir(rid: str, loinc: str, quantity: dict[str, Any], *,
          at: datetime | None = None) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "valueQuantity": quantity, "effectiveDateTime": iso(at or minutes_ago(2))}


def _stored(db_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        rows = c.execute("SELECT reading_key, value, raw_value, raw_unit::text AS raw_unit, "
                         "flags FROM readings WHERE metric = 'glucose'").fetchall()
    return {r["reading_key"]: r for r in rows}


def _rejected(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as c:
        return sorted(r for (r,) in c.execute("SELECT reason_code FROM rejected_messages"))


def test_a_meters_lo_and_hi_are_stored_flagged_and_red_in_every_form(
        hub: Ingest, publisher: Publisher, caseload: Caseload, db_url: str) -> None:
    # One moment for every reading, each judged: lows a minute apart either side of midnight
    # would be lows on two days, a repeated hypo, which is not what this test is about.
    at = minutes_ago(1)
    publisher.readings(caseload.glucometer, native("glucose", "LO", "mg/dL", rid="lo-text",
                                                   at=at))
    settle(hub, received=1)
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        low = c.execute("SELECT severity::text AS severity, message FROM alerts "
                        "WHERE rule_id = 'glucose-low'").fetchone()
    assert low is not None and low["severity"] == "red" and "meter showed LO" in low["message"]
    publisher.readings(caseload.glucometer, native("glucose", 1.1, "mmol/L", rid="lo-flag",
                                                   at=at, flags=["lo"]))
    publisher.readings(caseload.glucometer, _fhir("lo-fhir", "14743-9", {
        "value": 0.6, "comparator": "<", "unit": "mmol/L", "code": "mmol/L"}, at=at))
    publisher.readings(caseload.glucometer, native("glucose", "HI", None, rid="hi-text", at=at))
    publisher.readings(caseload.glucometer, _fhir("hi-fhir", "41653-7", {
        "value": 600, "comparator": ">", "code": "mg/dL"}, at=at))
    settle(hub, received=5)
    got = _stored(db_url)
    assert {k: (round(r["value"], 2), r["flags"]) for k, r in got.items()} == {
        "lo-text": (0.6, ["lo"]), "lo-flag": (1.1, ["lo"]), "lo-fhir": (0.6, ["lo"]),
        "hi-text": (33.3, ["hi"]), "hi-fhir": (33.3, ["hi"])}
    assert (got["lo-text"]["raw_value"], got["lo-text"]["raw_unit"]) == (10.8, "mg/dL")
    with psycopg.connect(db_url) as c:
        severities = dict(c.execute("SELECT rule_id, severity::text FROM alerts").fetchall())
    assert severities == {"glucose-low": "red", "glucose-high": "red"}
    assert _rejected(db_url) == []


def test_a_unit_less_glucose_takes_its_codes_unit_and_is_otherwise_refused(
        hub: Ingest, publisher: Publisher, caseload: Caseload, db_url: str) -> None:
    # 41653-7 is mass per volume: 40 with no unit is 40 mg/dL (2.2 mmol/L), a severe hypo.
    publisher.readings(caseload.glucometer, _fhir("mass", "41653-7", {"value": 40}))
    publisher.readings(caseload.glucometer, _fhir("moles", "15074-8", {"value": 5.5}))
    publisher.readings(caseload.glucometer, native("glucose", 40, None, rid="bare"))
    settle(hub, received=3)
    got = _stored(db_url)
    assert sorted(got) == ["mass", "moles"]
    assert round(got["mass"]["value"], 2) == 2.22 and got["mass"]["raw_unit"] == "mg/dL"
    assert got["moles"]["value"] == 5.5 and got["moles"]["raw_unit"] == "mmol/L"
    assert _rejected(db_url) == ["missing-unit"]
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        alerts = c.execute("SELECT rule_id, severity::text AS severity, message FROM alerts"
                           ).fetchall()
    assert [(a["rule_id"], a["severity"]) for a in alerts] == [("glucose-low", "red")]


def test_range_flags_that_contradict_the_reading_are_refused_with_a_reason(
        hub: Ingest, publisher: Publisher, caseload: Caseload, db_url: str) -> None:
    publisher.readings(caseload.glucometer, native("glucose", 12.0, "mmol/L", rid="odd",
                                                   flags=["lo"]))
    publisher.readings(caseload.oximeter, native("spo2", 90, "%", rid="ox", flags=["hi"]))
    publisher.readings(caseload.glucometer, native("glucose", 5.2, "mmol/L", rid="fine"))
    settle(hub, received=3)
    assert sorted(_stored(db_url)) == ["fine"]
    assert _rejected(db_url) == ["range-flag", "range-flag"]
