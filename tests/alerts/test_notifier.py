"""Outbox notifier: alerts reach a real MQTT subscriber (QoS 1) and a real webhook; retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from alerts.notifier import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, Notifier, wait_until_drained
from telehub.config import Settings
from telehub.domain.units import Metric
from tests.alerts.conftest import NOW, Clinic, Subscriber, commit_red_alert
from tests.webhooks import WebhookReceiver

# Other processes (hub, notifier, scheduler, CLI) read this module's data: it commits.
COMMITS = True


def test_alert_reaches_the_responder_topic(clinic: Clinic, settings: Settings,
                                           pool: ConnectionPool, subscriber: Subscriber) -> None:
    pid = commit_red_alert(clinic)
    notifier = Notifier(settings, pool)
    notifier.start()
    try:
        [(topic, payload)] = subscriber.take(1)
    finally:
        notifier.stop()
    assert topic == f"{settings.topic_root}/alerts/north/red"
    [alert] = clinic.alerts(pid)
    assert payload["alert_id"] == alert["id"] and payload["severity"] == "red"
    assert payload["rule"] == "spo2-low" and payload["trigger_rule"] == "spo2-scale1-red"
    assert "88 %" in payload["message"] and payload["values"]["latest"]["value"] == 88
    assert payload["reading_time"] == NOW.isoformat() and payload["escalated"] is False
    assert clinic.nhs[pid] not in json.dumps(payload)
    [event] = clinic.outbox()
    assert payload["notification_id"] == event["id"]          # the receiver's de-duplication key
    [row] = clinic.deliveries()
    assert row["channel"] == "mqtt" and row["delivered_at"] is not None and row["attempts"] == 1


def test_rows_committed_while_no_notifier_ran_are_delivered_after_restart(
        clinic: Clinic, settings: Settings, pool: ConnectionPool,
        subscriber: Subscriber) -> None:
    first = Notifier(settings, pool)
    first.start()
    first.stop()                       # the hub "crashed" before it could publish
    commit_red_alert(clinic, 85)
    commit_red_alert(clinic, 86)
    assert all(e["planned_at"] is None for e in clinic.outbox()) and clinic.deliveries() == []
    clinic.conn.commit()
    again = Notifier(settings, pool)
    again.start()
    try:
        got = subscriber.take(2)
        assert wait_until_drained(pool)
    finally:
        again.stop()
    assert sorted(p["alert_id"] for _, p in got) == sorted(a["id"] for a in clinic.alerts())


def test_two_notifiers_share_the_outbox_without_doubling(
        clinic: Clinic, settings: Settings, pool: ConnectionPool,
        subscriber: Subscriber) -> None:
    for k in range(12):
        commit_red_alert(clinic, 80 + k % 5)
    notifiers = [Notifier(settings, pool), Notifier(settings, pool)]
    for n in notifiers:
        n.start()
    try:
        got = subscriber.take(12)
        assert wait_until_drained(pool)
        time.sleep(0.3)
    finally:
        for n in notifiers:
            n.stop()
    ids = [p["alert_id"] for _, p in got]
    assert len(set(ids)) == 12 and subscriber.messages.empty()


def _with_webhooks(settings: Settings, *urls: str, **alerts: Any) -> Settings:
    return settings.model_copy(update={"alerts": settings.alerts.model_copy(
        update={"webhook_urls": list(urls), **alerts})})


def test_undeliverable_row_is_retried_with_backoff(clinic: Clinic, settings: Settings,
                                                   pool: ConnectionPool) -> None:
    """A webhook answering 503 is tried again later, with backoff; the MQTT delivery waits for
    the broker instead, spending no attempts while there is none."""
    hook = WebhookReceiver(status=503)
    commit_red_alert(clinic)
    notifier = Notifier(_with_webhooks(settings, hook.url), pool)   # never started: no broker
    try:
        assert notifier.drain_once() == 1        # the webhook delivery; MQTT is not claimed
        clinic.conn.commit()
        mqtt_row, hook_row = clinic.deliveries()
        assert mqtt_row["channel"] == "mqtt" and mqtt_row["attempts"] == 0
        assert mqtt_row["delivered_at"] is None and mqtt_row["last_error"] is None
        assert hook_row["delivered_at"] is None and hook_row["attempts"] == 1
        assert hook_row["last_error"] == "webhook answered HTTP 503"
        assert hook_row["claimed_by"] is None    # no longer in flight
        assert notifier.drain_once() == 0        # not due again yet (backoff)
        clinic.conn.commit()
        assert clinic.deliveries()[1]["attempts"] == 1
        row = clinic.conn.execute(
            "SELECT next_attempt_at > now() + interval '1 second' AS later "
            "FROM outbox_deliveries WHERE id = %s", (hook_row["id"],)).fetchone()
        assert row is not None and row["later"] is True
    finally:
        notifier.stop()
        hook.close()


def test_webhook_gets_a_signed_copy(clinic: Clinic, settings: Settings, pool: ConnectionPool,
                                    subscriber: Subscriber) -> None:
    hook = WebhookReceiver()
    s = _with_webhooks(settings, hook.url, webhook_secret=SecretStr("s3cret-for-tests"))
    commit_red_alert(clinic)
    notifier = Notifier(s, pool)
    notifier.start()
    try:
        subscriber.take(1)
        assert wait_until_drained(pool)
    finally:
        notifier.stop()
        hook.close()
    [(headers, body)] = hook.received
    expected = "sha256=" + hmac.new(b"s3cret-for-tests", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    [event] = clinic.outbox()
    assert json.loads(body)["alert_id"] == clinic.alerts()[0]["id"]
    assert json.loads(body)["notification_id"] == event["id"]
    assert headers[IDEMPOTENCY_HEADER] == str(event["id"])
    channels = sorted(r["channel"] for r in clinic.deliveries())
    assert channels == ["mqtt", "webhook"]


def test_info_alerts_are_not_notified(clinic: Clinic, conn: psycopg.Connection) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.SPO2, 95, NOW)
    assert clinic.alerts(pid)[0]["severity"] == "info" and clinic.outbox() == []


def test_a_committed_alert_wakes_the_notifier_at_once(clinic: Clinic, settings: Settings,
                                                      pool: ConnectionPool,
                                                      subscriber: Subscriber) -> None:
    slow_poll = settings.model_copy(update={"alerts": settings.alerts.model_copy(
        update={"notifier_interval_s": 30.0})})
    notifier = Notifier(slow_poll, pool)
    notifier.start()
    try:
        assert notifier.wait_connected() and notifier.listening.wait(10)
        time.sleep(0.3)                          # the first (empty) drain is behind it
        started = time.monotonic()
        commit_red_alert(clinic)
        subscriber.take(1, timeout=5)
        elapsed = time.monotonic() - started
    finally:
        notifier.stop()
    assert elapsed < 5.0                         # not the 30 s poll: the NOTIFY woke it
