"""`POST /readings`: a gateway authenticated as a device; readings republished over MQTT."""

from __future__ import annotations

import json
import queue
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from telehub.config import parse_mqtt_url
from telehub.mqtt.connection import MqttConnection
from tests.api.conftest import LiveApi
from tests.log_guard import LogGuard


@pytest.fixture
def device(live_api: LiveApi, log_guard: LogGuard) -> tuple[str, str]:
    """An oximeter of Bob's with MQTT credentials: (device id, password)."""
    with live_api.client("admin") as c:
        c.post("/devices", json={"device_id": "ox-http", "kind": "oximeter",
                                 "patient_id": live_api.world.patients["bob"]})
        password = c.post("/devices/ox-http/credentials").json()["password"]
    log_guard.register(password)
    return "ox-http", password


@pytest.fixture
def received(live_api: LiveApi) -> Any:
    """Messages arriving on every device readings topic under this test's root."""
    inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
    endpoint = parse_mqtt_url(str(live_api.settings.mqtt_url))
    listener = MqttConnection(endpoint, name="test listener")
    listener.subscribe(f"{live_api.settings.topic_root}/devices/+/readings")
    listener.on_message = lambda m: inbox.put((m.topic, m.payload))
    listener.start()
    assert listener.wait_ready(10)
    yield inbox
    listener.stop()


def _post(live_api: LiveApi, auth: tuple[str, str] | None, body: dict[str, Any]
          ) -> httpx.Response:
    return httpx.post(f"{live_api.url}/readings", json=body, auth=auth, timeout=10)


def test_readings_are_republished_on_the_devices_topic(live_api: LiveApi,
                                                       device: tuple[str, str],
                                                       received: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    body = {"readings": [
        {"id": "r1", "metric": "spo2", "value": 94, "unit": "%", "time": now.isoformat(),
         "pulse": 88, "seq": 1},
        {"id": "r2", "metric": "spo2", "value": 95, "time": (now - timedelta(hours=1)
                                                              ).isoformat()}]}
    r = _post(live_api, device, body)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2
    topic, payload = received.get(timeout=10)
    assert topic == f"{live_api.settings.topic_root}/devices/ox-http/readings"
    sent = json.loads(payload)["readings"]
    assert [x["id"] for x in sent] == ["r1", "r2"]
    assert sent[0]["pulse"] == 88 and sent[0]["seq"] == 1 and sent[0]["value"] == 94
    assert datetime.fromisoformat(sent[0]["time"]) == now


def test_bad_device_credentials_are_401(live_api: LiveApi, device: tuple[str, str],
                                        received: Any, conn: psycopg.Connection) -> None:
    body = {"readings": [{"metric": "spo2", "value": 94,
                          "time": datetime.now(UTC).isoformat()}]}
    assert _post(live_api, None, body).status_code == 401
    assert _post(live_api, ("ox-http", "wrong"), body).status_code == 401
    assert _post(live_api, ("nobody", device[1]), body).status_code == 401
    conn.execute("UPDATE devices SET active = false WHERE device_id = 'ox-http'")
    conn.commit()
    assert _post(live_api, device, body).status_code == 401
    assert received.empty()


def test_invalid_readings_are_422_and_nothing_is_published(live_api: LiveApi,
                                                           device: tuple[str, str],
                                                           received: Any) -> None:
    now = datetime.now(UTC)
    good = {"metric": "spo2", "value": 94, "time": now.isoformat()}
    cases = {
        "implausible-value": {**good, "value": 20},
        "wrong-unit": {**good, "unit": "mg/dL"},
        "time-in-future": {**good, "time": (now + timedelta(hours=1)).isoformat()},
        "time-too-old": {**good, "time": (now - timedelta(days=60)).isoformat()},
        "time-without-zone": {**good, "time": now.replace(tzinfo=None).isoformat()},
    }
    for code, bad in cases.items():
        r = _post(live_api, device, {"readings": [good, bad]})
        assert r.status_code == 422, (code, r.text)
        assert r.json()["code"] == code and r.json()["detail"].startswith("readings[1]")
    assert _post(live_api, device, {"readings": [{**good, "metric": "temp"}]}
                 ).status_code == 422
    assert _post(live_api, device, {"readings": []}).status_code == 422
    assert received.empty()


def test_unassigned_device_is_409(live_api: LiveApi, device: tuple[str, str]) -> None:
    with live_api.client("admin") as c:
        c.post("/devices/ox-http/unassign")
    r = _post(live_api, device, {"readings": [{"metric": "spo2", "value": 94,
                                               "time": datetime.now(UTC).isoformat()}]})
    assert r.status_code == 409 and r.json()["code"] == "unassigned-device"


def test_a_discharged_patients_device_is_409_as_the_hub_would_refuse_it(
        live_api: LiveApi, device: tuple[str, str], received: Any) -> None:
    # The HTTP gateway used to answer 202 here and the hub then refused every reading.
    with psycopg.connect(live_api.db_url, autocommit=True) as c:
        c.execute("UPDATE patients SET status = 'discharged', discharged_at = now() "
                  "WHERE id = %s", (live_api.world.patients["bob"],))
    try:
        r = _post(live_api, device, {"readings": [{"metric": "spo2", "value": 94,
                                                   "time": datetime.now(UTC).isoformat()}]})
        assert r.status_code == 409 and r.json()["code"] == "patient-discharged"
        assert received.empty()
    finally:
        with psycopg.connect(live_api.db_url, autocommit=True) as c:
            c.execute("UPDATE patients SET status = 'active', discharged_at = NULL "
                      "WHERE id = %s", (live_api.world.patients["bob"],))
