"""On a broker with no access control at all, the hub still attributes a reading only to the
patient of the device whose topic it came on, and refuses a payload naming anyone else."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import tuple_row

from ingest.service import Ingest
from telehub.care import registration as registry
from telehub.config import Settings, parse_mqtt_url
from telehub.db.pool import open_pool
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.mqtt.connection import MqttConnection
from telehub.mqtt.topics import readings_topic
from tests.log_guard import LogGuard


def _reading(rid: str, **extra: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    return {"id": rid, "metric": "spo2", "value": 95, "unit": "%", "time": at, **extra}


def _rows(db_url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url, autocommit=True) as c:
        return c.cursor(row_factory=tuple_row).execute(query).fetchall()


@pytest.fixture
def hub(settings: Settings) -> Iterator[Ingest]:
    """The hub's ingest, in this process, on the test's open broker."""
    fast = settings.model_copy(update={"ingest": settings.ingest.model_copy(
        update={"batch_wait_ms": 20})})
    pool = open_pool(fast.require_database_url(), max_size=2)
    ingest = Ingest(fast, pool)
    ingest.start()
    assert ingest.consumer.connected.wait(10), "hub did not connect"
    time.sleep(0.3)  # the SUBACK follows the CONNACK
    yield ingest
    ingest.stop()
    pool.close()


def test_topic_decides_the_patient_and_a_payload_naming_another_is_refused(
        conn: psycopg.Connection, log_guard: LogGuard, settings: Settings, hub: Ingest,
        db_url: str) -> None:
    numbers = synthetic_nhs_numbers(start=5150)
    nhs_a, nhs_b = next(numbers), next(numbers)
    log_guard.register("Wilhelmina", "Cartwright", "Percival", "Ashdown")
    registry.add_team(conn, "attribution", "Attribution")
    pid_a = registry.add_patient(conn, nhs_number=nhs_a, given_name="Wilhelmina",
                                 family_name="Cartwright", birth_date=date(1940, 2, 2),
                                 team="attribution", conditions=["copd"])
    pid_b = registry.add_patient(conn, nhs_number=nhs_b, given_name="Percival",
                                 family_name="Ashdown", birth_date=date(1942, 3, 3),
                                 team="attribution", conditions=["copd"])
    registry.add_device(conn, device_id="ox-a", kind="oximeter", patient=pid_a)
    registry.add_device(conn, device_id="ox-b", kind="oximeter", patient=pid_b)
    conn.commit()
    root = settings.topic_root
    fhir_for_a = {
        "resourceType": "Observation", "status": "final", "id": "fhir-forged",
        "code": {"coding": [{"system": "http://loinc.org", "code": "59408-5"}]},
        "valueQuantity": {"value": 91, "unit": "%", "code": "%"},
        "effectiveDateTime": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                                   "value": nhs_a}}}
    # An intruder on a broker that lets anyone publish anywhere, speaking for device B.
    forged = [
        (readings_topic("ox-b", root), _reading("named-a", patient=nhs_a)),
        (readings_topic("ox-b", root), {"patient": nhs_a, "readings": [_reading("batch-a")]}),
        (readings_topic("ox-b", root), fhir_for_a),
        (readings_topic("ox-b", root), _reading("topic-b", device="ox-a", patient_id=pid_a)),
        (readings_topic("ox-a", root), _reading("own-a", patient=nhs_a)),
    ]
    endpoint = parse_mqtt_url(str(settings.mqtt_url))
    intruder = MqttConnection(endpoint, name="intruder")
    intruder.start()
    try:
        assert intruder.wait_ready(10)
        for topic, body in forged:
            intruder.publish(topic, json.dumps(body).encode(), qos=1).wait_for_publish(5)
    finally:
        intruder.stop()

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and hub.stats.received < len(forged):
        time.sleep(0.05)
    assert hub.barrier(), "the hub did not commit what it took"
    readings = sorted(_rows(db_url, "SELECT reading_key, patient_id FROM readings"))
    assert readings == [("own-a", pid_a), ("topic-b", pid_b)]
    refused = sorted(_rows(db_url, "SELECT reason_code, device_id FROM rejected_messages"))
    assert refused == [("patient-mismatch", "ox-b")] * 3
