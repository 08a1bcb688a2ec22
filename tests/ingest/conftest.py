"""Fixtures for the ingest suite: a registered caseload and helpers to publish and wait."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest

from ingest.service import Ingest
from telehub.care import registration as registry
from telehub.config import Settings, parse_mqtt_url
from telehub.db.pool import open_pool
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.mqtt import topics
from telehub.mqtt.connection import MqttConnection
from tests.log_guard import LogGuard


@dataclass(frozen=True)
class Caseload:
    """Two active patients with an oximeter, a scale and a glucometer; one discharged patient."""

    patient_id: int
    patient_nhs: str
    other_patient_id: int
    other_nhs: str
    oximeter: str
    scale: str
    glucometer: str
    discharged_device: str
    unassigned_device: str


@pytest.fixture
def caseload(conn: psycopg.Connection, log_guard: LogGuard) -> Caseload:
    """Register a team, patients and devices, committed so other connections see them."""
    numbers = synthetic_nhs_numbers(start=4321)
    nhs, other_nhs, gone_nhs = next(numbers), next(numbers), next(numbers)
    log_guard.register("Ingrid", "Pemberton", "Oswald", "Fairweather", "Gwendolyn", "Marsh")
    registry.add_team(conn, "north-locality", "North Locality")
    pid = registry.add_patient(conn, nhs_number=nhs, given_name="Ingrid", family_name="Pemberton",
                               birth_date=date(1941, 3, 2), team="north-locality",
                               conditions=["heart-failure", "copd", "diabetes"])
    other = registry.add_patient(conn, nhs_number=other_nhs, given_name="Oswald",
                                 family_name="Fairweather", birth_date=date(1938, 7, 9),
                                 team="north-locality", conditions=["copd"])
    gone = registry.add_patient(conn, nhs_number=gone_nhs, given_name="Gwendolyn",
                                family_name="Marsh", birth_date=date(1935, 1, 1),
                                team="north-locality", conditions=["copd"])
    registry.add_device(conn, device_id="ox-100", kind="oximeter", patient=pid)
    registry.add_device(conn, device_id="scale-100", kind="scale", patient=pid)
    registry.add_device(conn, device_id="gluco-100", kind="glucometer", patient=pid)
    registry.add_device(conn, device_id="ox-gone", kind="oximeter", patient=gone)
    registry.add_device(conn, device_id="ox-spare", kind="oximeter")
    conn.execute("UPDATE patients SET status = 'discharged', discharged_at = now() "
                 "WHERE id = %s", (gone,))
    conn.commit()
    return Caseload(pid, nhs, other, other_nhs, "ox-100", "scale-100", "gluco-100", "ox-gone",
                    "ox-spare")


def iso(moment: datetime) -> str:
    """A UTC time as devices send it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def minutes_ago(n: float) -> datetime:
    """Now minus `n` minutes, in UTC."""
    return datetime.now(UTC) - timedelta(minutes=n)


def reading(metric: str, value: Any, unit: str | None, *, rid: str, at: datetime | None = None,
            **extra: Any) -> dict[str, Any]:
    """A native JSON reading."""
    body = {"id": rid, "metric": metric, "value": value, "time": iso(at or minutes_ago(1))}
    if unit is not None:
        body["unit"] = unit
    body.update(extra)
    return body


class Publisher:
    """A device-side MQTT client publishing QoS 1 under a test's topic root."""

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        endpoint = parse_mqtt_url(url)
        self._mqtt = MqttConnection(endpoint, name="test device")
        self._mqtt.start()
        assert self._mqtt.wait_ready(10)
        self.client = self._mqtt.client

    def readings(self, device_id: str, body: Any) -> mqtt.MQTTMessageInfo:
        """Publish a readings message (dict → JSON; bytes as they are)."""
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.publish(topics.readings_topic(device_id, self.prefix), payload, qos=1)

    def status(self, device_id: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        """Publish a retained device status."""
        return self.client.publish(topics.status_topic(device_id, self.prefix), payload, qos=1,
                                   retain=True)

    def close(self) -> None:
        """Disconnect."""
        self._mqtt.stop()


@pytest.fixture
def publisher(mqtt_url: str, topic_root: str) -> Iterator[Publisher]:
    """A connected device-side publisher."""
    pub = Publisher(mqtt_url, topic_root)
    yield pub
    pub.close()


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Poll until `condition()` is true or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


def settle(hub: Ingest, received: int, timeout: float = 15.0) -> None:
    """Wait until the hub has taken `received` messages off the broker, then until all it has
    taken is committed and acked (a barrier through its work queue, not a wait for quiet)."""
    wait_for(lambda: hub.stats.received >= received, timeout,
             what=f"{received} message(s) to arrive")
    assert hub.barrier(timeout), "the writer did not reach the barrier"


def count(db_url: str, query: str, params: tuple[Any, ...] = ()) -> int:
    """One integer from a fresh connection (sees only committed data)."""
    with psycopg.connect(db_url, autocommit=True) as c:
        row = c.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """The test's settings with small batches so tests flush quickly."""
    return settings.model_copy(update={"ingest": settings.ingest.model_copy(
        update={"batch_wait_ms": 20})})


def forget_session(mqtt_url: str, client_id: str) -> None:
    """Connect once with a clean start and no session expiry, so the broker drops the session."""
    endpoint = parse_mqtt_url(mqtt_url)
    client = MqttConnection(endpoint, client_id, name="session cleaner")  # clean start
    client.start()
    client.wait_ready(5)
    client.stop()


@contextmanager
def running_hub(settings: Settings) -> Iterator[Ingest]:
    """The real ingest service with the real rules on `settings` (its own pool), connected to
    the broker; stopped and its broker session forgotten afterwards."""
    pool = open_pool(settings.require_database_url(), max_size=2)
    ingest = Ingest(settings, pool)
    ingest.start()
    try:
        assert ingest.consumer.connected.wait(10), "the hub did not connect to the broker"
        yield ingest
    finally:
        ingest.stop()
        pool.close()
        forget_session(str(settings.mqtt_url), settings.ingest.client_id)


def retained(mqtt_url: str, topic: str, timeout: float = 5.0) -> bytes | None:
    """The retained message on `topic`, or None."""
    endpoint = parse_mqtt_url(mqtt_url)
    got: list[bytes] = []
    client = MqttConnection(endpoint, name="retained reader")
    client.subscribe(topic)
    client.on_message = lambda m: got.append(bytes(m.payload))
    client.start()
    deadline = time.monotonic() + timeout
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    client.stop()
    return got[0] if got else None
