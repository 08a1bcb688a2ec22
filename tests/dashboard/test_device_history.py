"""Devices page: a device's gaps and refused messages as the hub recorded them; the caseload's
7-day adherence per patient, both against the real API."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from psycopg.types.json import Jsonb
from streamlit.testing.v1 import AppTest

from ingest.batch_store import store_batch
from ingest.work_queue import Received
from telehub.config import IngestSettings
from telehub.db.pool import connect
from telehub.domain.readings import StoredReading
from telehub.mqtt import topics
from tests.dashboard.conftest import PASSWORD, Seeded, no_exceptions, page_text, sign_in

ROOT = "test/devices-page/telehub/v1"


def _no_rules(conn: psycopg.Connection, readings: Sequence[StoredReading]) -> None:
    """The rules engine is not under test here."""


def _ingest(db_url: str, device_id: str, payloads: list[bytes]) -> None:
    """Messages through the hub's batch writer, as if they had come over MQTT."""
    with connect(db_url) as conn:
        for mid, payload in enumerate(payloads, start=1):
            message = Received(topics.readings_topic(device_id, ROOT), payload, mid, 1,
                               time.time())
            with conn.transaction():
                store_batch(conn, [message], limits=IngestSettings(), prefix=ROOT,
                            evaluate=_no_rules)


def _spo2(seq: int, value: float, **extra: object) -> bytes:
    at = (datetime.now(UTC) - timedelta(minutes=30 - seq)).isoformat()
    return json.dumps({"id": f"d{seq}", "metric": "spo2", "value": value, "unit": "%",
                       "time": at, "seq": seq, **extra}).encode()


def test_an_admin_sees_what_the_hub_lost_and_refused_from_a_device(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    # 2 and 3 never arrive; a garbled message and an impossible reading are refused.
    garbled_bytes = b"\xff{garbled"
    _ingest(db_url, "oxi-r1", [_spo2(1, 93), garbled_bytes, _spo2(4, 92),
                               _spo2(5, 140, note="n" * 400)])
    at = sign_in(app_test, "site.admin")
    at.selectbox(key="device_diagnose").set_value("oxi-r1").run()
    no_exceptions(at)
    text = page_text(at)
    assert "Sequence gaps: **2 messages missing**" in text
    assert "Refused messages: **2**" in text
    gaps = next(d.value for d in at.dataframe if "Missing" in d.value.columns)
    assert list(gaps.loc[0, ["Expected no.", "Arrived no.", "Missing"]]) == [2, 4, 2]
    refused = next(d.value for d in at.dataframe if "Reason" in d.value.columns)
    assert list(refused["Code"]) == ["implausible-value", "not-json"]  # newest first
    impossible, garbled = refused.to_dict("records")
    assert "140" in str(impossible["Reason"])
    assert str(impossible["Sent (start)"]).endswith("…")  # 400 bytes of note, cut
    assert '"value": 140' in str(impossible["Sent (start)"])
    assert garbled["Sent (start)"] == "\ufffd{garbled" and garbled["Bytes"] == len(garbled_bytes)


def _plans(db_url: str, seeded: Seeded) -> None:
    """Seeded patients have one reading a day for 7 days (spo2 or weight)."""
    with connect(db_url) as conn:
        for patient, plan in ((seeded.red_patient, {"spo2": {"per_day": 1}}),
                              (seeded.amber_patient, {"spo2": {"per_day": 2}}),
                              (seeded.green_patient, {})):
            conn.execute("UPDATE patients SET care_plan = %s WHERE id = %s",
                         (Jsonb(plan), patient))


def test_the_caseload_shows_each_patients_adherence(app_test: AppTest, seeded: Seeded,
                                                     db_url: str, api_url: str) -> None:
    _plans(db_url, seeded)
    at = sign_in(app_test, "nurse.north")
    no_exceptions(at)
    rows = {str(r["Patient"]).split(" (")[0]: r
            for r in at.dataframe[0].value.to_dict("records")}
    assert rows["Patricia Clegg"]["Adherence"] == "100 %"
    assert rows["John Brierley"]["Adherence"] == "50 %"
    assert rows["Margaret Ashworth"]["Adherence"] == "no plan"
    # The page shows the API's figure and age.
    token = httpx.post(f"{api_url}/auth/token",
                       data={"username": "nurse.north", "password": PASSWORD}).json()
    api_rows = httpx.get(f"{api_url}/caseload", headers={
        "Authorization": f"Bearer {token['access_token']}"}).json()["rows"]
    by_name = {f"{r['given_name']} {r['family_name']}": r for r in api_rows}
    assert by_name["John Brierley"]["adherence_7d"] == 0.5
    assert rows["John Brierley"]["Age"] == str(by_name["John Brierley"]["age"])
