"""Clinical scenarios end to end: readings published over the real broker, through the hub's
ingest, to alerts in PostgreSQL and a notification received by a real MQTT subscriber."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from alerts.notifier import Notifier, wait_until_drained
from alerts.thresholds import set_spo2_scale
from telehub.config import Settings, parse_mqtt_url
from telehub.domain import clock
from telehub.domain.units import Metric
from telehub.mqtt import topics
from telehub.mqtt.connection import MqttConnection
from tests.alerts.conftest import Clinic, Subscriber
from tests.clock_anchors import ANCHORS, anchor_id

# Other processes (hub, notifier, scheduler, CLI) read this module's data: it commits.
COMMITS = True

ingest_service = pytest.importorskip("ingest.service")


class Device:
    """A device-side publisher (QoS 1) under the test's topic root."""

    def __init__(self, settings: Settings) -> None:
        endpoint = parse_mqtt_url(settings.require_mqtt().url(with_password=True))
        self.root = settings.topic_root
        self._mqtt = MqttConnection(endpoint, name="test device")
        self._mqtt.start()
        assert self._mqtt.wait_ready(10)
        self.client = self._mqtt.client

    def send(self, device_id: str, readings: list[dict[str, Any]]) -> None:
        body = json.dumps({"readings": readings} if len(readings) > 1 else readings[0])
        info = self.client.publish(topics.readings_topic(device_id, self.root), body, qos=1)
        info.wait_for_publish(10)

    def close(self) -> None:
        self._mqtt.stop()


def _reading(key: str, metric: str, value: float, unit: str, at: datetime) -> dict[str, Any]:
    return {"id": key, "metric": metric, "value": value, "unit": unit,
            "time": at.isoformat().replace("+00:00", "Z")}


@pytest.fixture
def hub(settings: Settings, pool: ConnectionPool) -> Iterator[Settings]:
    fast = settings.model_copy(update={"ingest": settings.ingest.model_copy(
        update={"batch_wait_ms": 20})})
    ingest = ingest_service.Ingest(fast, pool)
    notifier = Notifier(fast, pool)
    ingest.start()
    notifier.start()
    yield fast
    notifier.stop()
    ingest.stop()


def _wait_alerts(clinic: Clinic, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        clinic.conn.commit()
        found = clinic.alerts()
        if len(found) >= n:
            return found
        time.sleep(0.1)
    raise AssertionError(f"expected {n} alerts, have {len(clinic.alerts())}")


@pytest.mark.parametrize("anchor", ANCHORS, ids=anchor_id)
def test_clinical_scenarios_over_the_broker(clinic: Clinic, hub: Settings, pool: ConnectionPool,
                                            subscriber: Subscriber, anchor: datetime) -> None:
    with clock.use_clock(clock.FixedClock(anchor)):
        _clinical_scenarios(clinic, hub, pool, subscriber, clock.as_utc(anchor))


def _clinical_scenarios(clinic: Clinic, hub: Settings, pool: ConnectionPool,
                        subscriber: Subscriber, now: datetime) -> None:
    day = timedelta(days=1)
    hour = timedelta(hours=1)
    heart = clinic.patient(["heart-failure"], care_plan={"weight": {"per_day": 1}})
    copd_scale2, copd = clinic.patient(["copd"]), clinic.patient(["copd"])
    set_spo2_scale(clinic.conn, copd_scale2, 2, "Hypercapnic, target 88-92 %", "Dr Lee")
    diabetic, late = clinic.patient(["type1-diabetes"]), clinic.patient(["copd"])
    repeated, hyper = clinic.patient(["type2-diabetes"]), clinic.patient(["type2-diabetes"])
    dropping = clinic.patient(["copd"])
    names = {pid: clinic.device_name(pid, metric) for pid, metric in
             [(heart, Metric.WEIGHT), (copd_scale2, Metric.SPO2), (copd, Metric.SPO2),
              (diabetic, Metric.GLUCOSE), (late, Metric.SPO2), (repeated, Metric.GLUCOSE),
              (hyper, Metric.GLUCOSE), (dropping, Metric.SPO2)]}
    clinic.conn.commit()

    device = Device(hub)
    try:
        # Heart failure: four daily weights arrive as one store-and-forward batch.
        weights = [80.0, 80.4, 80.9, 82.1]
        device.send(names[heart], [_reading(f"w{k}", "weight", v, "kg", now - (3 - k) * day)
                                   for k, v in enumerate(weights)])
        device.send(names[copd_scale2], [_reading("s1", "spo2", 89, "%", now)])
        device.send(names[copd], [_reading("s1", "spo2", 89, "%", now)])
        hypo = [_reading("g1", "glucose", 45, "mg/dL", now)]
        device.send(names[diabetic], hypo)
        device.send(names[diabetic], hypo)           # QoS 1 redelivery of the same batch
        device.send(names[late], [_reading("s1", "spo2", 88, "%", now - timedelta(hours=8))])
        # Two hypos on different days; a high glucose asking for a ketone check.
        device.send(names[repeated], [_reading("g1", "glucose", 3.6, "mmol/L", now - 2 * day)])
        device.send(names[repeated], [_reading("g2", "glucose", 3.7, "mmol/L", now)])
        device.send(names[hyper], [_reading("g1", "glucose", 300, "mg/dL", now)])
        # A usual 97 % for a week, then two readings 4 points down (still scale-1 "info").
        usual = [_reading(f"b{k}", "spo2", 97, "%", now - (6 - k) * day - timedelta(hours=2))
                 for k in range(6)]
        device.send(names[dropping], [*usual, _reading("d1", "spo2", 93.5, "%", now - 2 * hour),
                                      _reading("d2", "spo2", 94, "%", now - hour)])
        found = _wait_alerts(clinic, 9)
        got = {p["alert_id"]: (t, p) for t, p in subscriber.take(8, timeout=20)}
        assert wait_until_drained(pool)
    finally:
        device.close()

    main = {"glucose-hypo-repeated", "spo2-baseline-drop"}
    # The weights are at the anchor's hour each day: in the evening three of them prompt
    # "weigh in the morning" (information) beside the gain.
    alerts = {a["patient_id"]: a for a in found if (a["patient_id"] not in (repeated, dropping)
              or a["rule_id"] in main) and a["rule_id"] != "weight-schedule"}
    assert copd_scale2 not in alerts                     # 89 % is in range on scale 2
    weight = alerts[heart]
    assert weight["rule_id"] == "weight-gain" and weight["severity"] == "amber"
    assert weight["values"]["rule"] == "weight-gain-3d" and "2.1 kg" in weight["message"]
    assert alerts[copd]["severity"] == "red" and "89 %" in alerts[copd]["message"]
    hypo_alert = alerts[diabetic]
    assert hypo_alert["rule_id"] == "glucose-low" and hypo_alert["severity"] == "red"
    assert hypo_alert["occurrences"] == 1 and "45 mg/dL" in hypo_alert["message"]
    late_alert = alerts[late]
    assert late_alert["late"] and late_alert["severity"] == "amber"

    topic_of = {a["id"]: got[a["id"]][0] for a in found if a["severity"] != "info"}
    root = f"{hub.topic_root}/alerts/north"
    assert topic_of[weight["id"]] == f"{root}/amber"
    assert topic_of[alerts[copd]["id"]] == f"{root}/red"
    assert topic_of[hypo_alert["id"]] == f"{root}/red"
    assert topic_of[late_alert["id"]] == f"{root}/amber"
    assert alerts[repeated]["rule_id"] == "glucose-hypo-repeated"
    hyper_alert = alerts[hyper]
    assert hyper_alert["rule_id"] == "glucose-high" and hyper_alert["severity"] == "amber"
    assert "ketone" in hyper_alert["message"] and "300 mg/dL" in hyper_alert["message"]
    drop = clinic.alert(dropping, "spo2-baseline-drop")
    assert drop is not None and drop["severity"] == "amber" and "97 %" in drop["message"]
    assert len(clinic.outbox()) == 8                  # one per alert, except info
    for _, payload in got.values():
        text = json.dumps(payload)
        assert all(nhs not in text for nhs in clinic.nhs.values())


@pytest.mark.slow
def test_latency_from_red_reading_to_responder_message(clinic: Clinic, hub: Settings,
                                                       subscriber: Subscriber) -> None:
    patients = [clinic.patient(["copd"]) for _ in range(30)]
    names = [clinic.device_name(pid, Metric.SPO2) for pid in patients]
    clinic.conn.commit()
    device = Device(hub)
    latencies = []
    try:
        for k, name in enumerate(names):
            started = time.perf_counter()
            device.send(name, [_reading(f"r{k}", "spo2", 88, "%", datetime.now(UTC))])
            subscriber.take(1, timeout=10)
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)
    finally:
        device.close()
    latencies.sort()
    median, p99 = latencies[len(latencies) // 2], latencies[-1]
    print(f"\nred SpO2 reading published -> responder message: median {median:.1f} ms, "
          f"max (p99 of {len(latencies)}) {p99:.1f} ms")
    assert median < 1000
