"""Telecare events over MQTT: a fall reaches the responder's alert subscription and queue at
once, is stored once however often it is delivered, escalates after two minutes unanswered."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from psycopg_pool import ConnectionPool

from alerts.escalation import escalate_overdue
from alerts.notifier import Notifier
from alerts.scheduler import Scheduler
from alerts.telecare import TelecareEvent, raise_telecare_alerts
from ingest.service import Ingest
from telehub.care import registration as registry
from telehub.config import Settings, parse_mqtt_url
from telehub.db.pool import open_pool
from telehub.mqtt import topics
from tests.alerts.conftest import Subscriber
from tests.api.conftest import LiveApi, build_world


def _publish(settings: Settings, topic: str, payload: bytes) -> None:
    endpoint = parse_mqtt_url(str(settings.mqtt_url))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def _wait(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def hub(api_settings: Settings, db_url: str) -> Iterator[Settings]:
    """The hub's ingest and notifier on the test's database, broker and topic root."""
    settings = api_settings.model_copy(update={"ingest": api_settings.ingest.model_copy(
        update={"client_id": f"care-hub-{uuid.uuid4().hex[:8]}", "batch_wait_ms": 20,
                "metrics_port": 0})})
    pool: ConnectionPool = open_pool(db_url, max_size=3)
    ingest = Ingest(settings, pool)
    notifier = Notifier(settings, pool)
    ingest.start()
    assert ingest.consumer.connected.wait(10), "hub did not connect"
    notifier.start()
    try:
        yield settings
    finally:
        notifier.stop()
        ingest.stop()
        pool.close()


def _count(db_url: str, sql: str) -> int:
    with psycopg.connect(db_url) as c:
        row = c.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def test_a_fall_reaches_the_responders_subscription_and_queue_with_what_they_need(
        care_api: LiveApi, conn: psycopg.Connection, hub: Settings,
        record_property: Callable[[str, object], None]) -> None:
    ann = care_api.world.patients["ann"]
    registry.add_device(conn, device_id="fall-ann", kind="fall-detector", patient=ann)
    scale = registry.add_device(conn, device_id="scale-ann", kind="scale", patient=ann)
    conn.execute("INSERT INTO readings (time, patient_id, device_id, metric, value, unit, "
                 "raw_value, raw_unit, reading_key) VALUES (now() - interval '2 hours', %s, %s, "
                 "'weight', 71.5, 'kg', 71.5, 'kg', 'w1')", (ann, scale))
    conn.commit()
    nurse = care_api.client("nurse")
    assert nurse.put(f"/patients/{ann}/care-team", json={
        "spa_phone": "0300 123 4567", "key_safe_note": "Key safe by the back door, code 1942",
        "advance_decision": True, "advance_decision_note": "ReSPECT form on the fridge",
        "consent_monitoring": True, "consent_sharing": True, "consent_on": "2026-10-01",
        "consent_taken_by": "Nurse"}).status_code == 200
    assert nurse.post(f"/patients/{ann}/contacts", json={
        "name": "Jo Able", "relationship": "daughter", "phone": "07700 900123",
        "next_of_kin": True, "notify_alerts": True}).status_code == 201

    subscriber = Subscriber(str(hub.mqtt_url), f"{hub.topic_root}/alerts/+/red")
    try:
        fall = json.dumps({"id": "evt-1", "event": "fall",
                           "time": datetime.now(UTC).isoformat()}).encode()
        sent = time.monotonic()
        _publish(hub, topics.events_topic("fall-ann", hub.topic_root), fall)
        [(topic, payload)] = subscriber.take(1, timeout=10)
        latency = time.monotonic() - sent
    finally:
        subscriber.close()
    assert topic == f"{hub.topic_root}/alerts/north/red"
    assert payload["rule"] == "telecare-fall" and payload["severity"] == "red"
    assert payload["patient"] == "TH-000001" and "Fall detected" in payload["message"]
    assert "Able" not in json.dumps(payload)
    record_property("fall_to_responder_mqtt_s", round(latency, 3))
    assert latency < 5, latency

    queue = care_api.client("responder").get("/responder/queue")
    assert queue.status_code == 200, queue.text
    [item] = queue.json()
    assert item["telecare_event"] == "fall" and item["display_name"] == "Ann Able"
    assert item["address_line"] == "ann street" and item["spa_phone"] == "0300 123 4567"
    assert item["key_safe_note"].startswith("Key safe") and item["advance_decision"] is True
    assert item["carers"] == [{"name": "Jo Able", "relationship": "daughter",
                               "phone": "07700 900123", "next_of_kin": True}]
    assert [(v["metric"], v["value"]) for v in item["latest_vitals"]] == [("weight", 71.5)]
    assert any("Weight" in t for t in item["triggers"])
    assert "nhs_number" not in json.dumps(item) and "9990000026" not in json.dumps(item)

    # Redelivered (same id): stored once, one alert.
    _publish(hub, topics.events_topic("fall-ann", hub.topic_root), fall)
    _publish(hub, topics.events_topic("fall-ann", hub.topic_root), b'{"event": "explode"}')
    _wait(lambda: _count(care_api.db_url, "SELECT count(*) FROM rejected_messages") == 1)
    assert _count(care_api.db_url, "SELECT count(*) FROM telecare_events") == 1
    assert _count(care_api.db_url, "SELECT count(*) FROM alerts") == 1

    responder = care_api.client("responder")
    alert_id = item["alert"]["id"]
    r = responder.post(f"/responder/alerts/{alert_id}/actions",
                       json={"action": "call-logged", "note": "No answer"})
    assert r.status_code == 200, r.text
    assert r.json()["alert"]["status"] == "acknowledged"
    r = responder.post(f"/responder/alerts/{alert_id}/actions",
                       json={"action": "visit-dispatched"})
    assert r.status_code == 200
    assert responder.post(f"/responder/alerts/{alert_id}/actions",
                          json={"action": "resolved"}).status_code == 422
    r = responder.post(f"/responder/alerts/{alert_id}/actions",
                       json={"action": "resolved", "outcome": "visit-arranged",
                             "note": "Helped up, no injury"})
    assert r.status_code == 200 and r.json()["alert"]["status"] == "resolved"
    kinds = [e["kind"] for e in care_api.client("nurse").get(
        f"/alerts/{alert_id}/events").json()]
    assert kinds == ["opened", "acknowledged", "call-logged", "visit-dispatched", "resolved"]
    assert responder.get("/responder/queue").json() == []
    assert responder.post(f"/responder/alerts/{alert_id}/actions",
                          json={"action": "call-logged"}).status_code == 409


def escalate_telecare(conn: psycopg.Connection, now: datetime) -> int:
    """The scheduler's escalation pass at `now`; how many telecare alerts it escalated."""
    return escalate_overdue(conn, now, Settings().zone)["telecare_escalated"]


def test_a_telecare_alert_escalates_after_two_minutes_unacknowledged(
        conn: psycopg.Connection) -> None:
    world = build_world(conn)
    ann = world.patients["ann"]
    t0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    zone = Settings().zone
    written = raise_telecare_alerts(conn, [TelecareEvent(ann, "pendant", t0, "pendant-1")],
                                    t0, zone)
    alert = written[(ann, "pendant")]
    assert alert["severity"] == "red" and alert["rule_id"] == "telecare-pendant"
    conn.execute("UPDATE alert_events SET at = %s", (t0,))
    assert escalate_telecare(conn, t0 + timedelta(seconds=119)) == 0
    assert escalate_telecare(conn, t0 + timedelta(seconds=120)) == 1
    assert escalate_telecare(conn, t0 + timedelta(seconds=300)) == 0
    events = [r["event"] for r in conn.execute(
        "SELECT payload ->> 'event' AS event FROM outbox ORDER BY id").fetchall()]
    assert events == ["opened", "escalated"]
    # Configurable per team: five minutes for this one.
    conn.execute("UPDATE teams SET telecare_escalation_minutes = 5")
    written = raise_telecare_alerts(conn, [TelecareEvent(ann, "smoke", t0, "smoke-1")], t0, zone)
    conn.execute("UPDATE alert_events SET at = %s", (t0,))
    assert escalate_telecare(conn, t0 + timedelta(minutes=4)) == 0
    assert escalate_telecare(conn, t0 + timedelta(minutes=5)) == 1
    # A second fall while the first is open is announced again.
    raise_telecare_alerts(conn, [TelecareEvent(ann, "pendant", t0 + timedelta(minutes=9),
                                               "pendant-1")], t0 + timedelta(minutes=9), zone)
    assert conn.execute("SELECT payload ->> 'event' AS e FROM outbox ORDER BY id DESC LIMIT 1"
                        ).fetchone()["e"] == "repeated"


def test_the_running_scheduler_escalates_telecare_on_its_short_tick(
        conn: psycopg.Connection, settings: Settings) -> None:
    """The full pass runs once a minute; telecare escalations are checked every few seconds,
    so a two-minute window is not stretched to three."""
    world = build_world(conn)
    conn.commit()
    timers = settings.alerts.model_copy(update={"scheduler_interval_s": 3600.0,
                                                "escalation_interval_s": 0.2})
    quick = settings.model_copy(update={"alerts": timers})
    pool = open_pool(quick.require_database_url(), max_size=2, name="telecare-tick-test")
    scheduler = Scheduler(quick, pool)
    scheduler.start()                   # its full pass runs now, with nothing overdue
    try:
        time.sleep(0.5)
        raised_at = datetime.now(UTC) - timedelta(minutes=2, seconds=5)
        raise_telecare_alerts(conn, [TelecareEvent(world.patients["ann"], "fall", raised_at,
                                                   "fall-1")], raised_at, settings.zone)
        conn.commit()
        _wait(lambda: _count(quick.require_database_url(),
                             "SELECT count(*) FROM alerts WHERE escalated") == 1, timeout=10)
    finally:
        scheduler.stop()
        pool.close()
