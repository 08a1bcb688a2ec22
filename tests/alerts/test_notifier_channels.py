"""Each notification channel on its own: a slow webhook holds no outbox lock and delays
nothing else; the MQTT topic follows the deployment's topic root; a claim is a lease."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable

import psycopg
from psycopg_pool import ConnectionPool

from alerts import deliveries
from alerts.deliveries import MQTT, WEBHOOK, Failure, Lane
from alerts.notifier import Notifier, wait_until_drained
from telehub.config import Settings
from tests.alerts.conftest import Clinic, Subscriber, commit_red_alert
from tests.webhooks import WebhookReceiver

# Other processes (hub, notifier, scheduler, CLI) read this module's data: it commits.
COMMITS = True


def _wait(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_slow_webhook_holds_no_outbox_lock_and_another_notifier_carries_on(
        clinic: Clinic, settings: Settings, pool: ConnectionPool, subscriber: Subscriber,
        db_url: str) -> None:
    hook = WebhookReceiver(hold_first=True)      # answers its first POST only when released
    s = settings.model_copy(update={"alerts": settings.alerts.model_copy(
        update={"webhook_urls": [hook.url], "webhook_timeout_s": 30.0})})
    commit_red_alert(clinic)
    first = Notifier(s, pool)
    second = Notifier(s, pool)
    first.start()
    try:
        assert hook.holding.wait(15), "the first webhook POST never arrived"
        # Mid-POST, no transaction holds the outbox: every row can be locked without waiting.
        with psycopg.connect(db_url) as probe:
            locked = probe.execute("SELECT id FROM outbox FOR UPDATE NOWAIT").fetchall()
            hooks = probe.execute(
                "SELECT claimed_by, delivered_at FROM outbox_deliveries "
                "WHERE channel = 'webhook' FOR UPDATE NOWAIT").fetchall()
            probe.rollback()
        assert len(locked) == 1
        assert [(by is not None, at) for by, at in hooks] == [(True, None)]   # in flight
        subscriber.take(1)                       # MQTT did not wait behind the webhook
        # A second alert, while the first POST hangs: the other notifier delivers it on
        # both channels and leaves the first, leased to the first notifier, alone.
        commit_red_alert(clinic, 85)
        second.start()
        assert _wait(lambda: len(hook.received) == 1), "the second alert's webhook waited"
        held = hook.holding.is_set() and not hook.release.is_set()
        subscriber.take(1)
        hook.release.set()
        assert wait_until_drained(pool, timeout=20)
        time.sleep(0.5)                          # a late repeat would show now
    finally:
        first.stop()
        second.stop()
        hook.close()
    events = [e["id"] for e in clinic.outbox()]
    assert held and hook.bodies()[0]["notification_id"] == events[1]
    assert hook.keys() == Counter({str(e): 1 for e in events})
    assert subscriber.messages.empty()


def test_the_mqtt_topic_is_built_at_send_time_from_the_configured_root(
        clinic: Clinic, settings: Settings, pool: ConnectionPool) -> None:
    root = f"trust-{uuid.uuid4().hex[:8]}/community/alerting"     # no trace of telehub/v1
    s = settings.model_copy(update={"topic_root": root})
    responder = Subscriber(s.require_mqtt().url(with_password=True), f"{root}/alerts/#")
    try:
        commit_red_alert(clinic)
        [event] = clinic.outbox()
        assert (event["team"], event["severity"]) == ("north", "red")
        assert "destination" not in event and "telehub/v1" not in str(event)
        notifier = Notifier(s, pool)
        notifier.start()
        try:
            [(topic, payload)] = responder.take(1)
        finally:
            notifier.stop()
    finally:
        responder.close()
    assert topic == f"{root}/alerts/north/red"
    assert payload["notification_id"] == event["id"]


def test_a_crashed_senders_claim_expires_and_its_late_write_changes_nothing(
        clinic: Clinic, settings: Settings, pool: ConnectionPool,
        subscriber: Subscriber) -> None:
    commit_red_alert(clinic)
    notifier = Notifier(settings, pool)
    notifier.plan_once()
    with pool.connection() as conn:
        [claimed] = deliveries.claim(conn, Lane(MQTT), "crashed-notifier#1", 10, lease_s=1.5)
    claimed_at = time.monotonic()
    # That sender dies here: it sends nothing and records nothing.
    notifier.start()
    try:
        [(_topic, payload)] = subscriber.take(1)
        waited = time.monotonic() - claimed_at
        assert wait_until_drained(pool)
    finally:
        notifier.stop()
    with pool.connection() as conn:            # the dead sender's write, arriving late
        deliveries.mark_failed(conn, [Failure(claimed.id, "late", 60.0)], "crashed-notifier#1")
    assert waited >= 1.0                        # not before its lease ran out
    assert payload["notification_id"] == claimed.outbox_id
    [row] = clinic.deliveries()
    assert row["delivered_at"] is not None and row["last_error"] is None
    assert row["attempts"] == 2 and row["claimed_by"] is None
    assert subscriber.messages.empty()


def test_a_notifier_restarted_under_its_id_takes_back_its_claims_at_once(
        clinic: Clinic, settings: Settings, pool: ConnectionPool,
        subscriber: Subscriber) -> None:
    sender = f"hub-{uuid.uuid4().hex[:8]}-notifier"
    commit_red_alert(clinic)
    killed = Notifier(settings, pool, client_id=sender)
    killed.plan_once()
    with pool.connection() as conn:                  # claimed, then the process was killed
        [claimed] = deliveries.claim(conn, Lane(MQTT), f"{sender}#1", 10, lease_s=600.0)
    restarted = Notifier(settings, pool, client_id=sender)
    restarted.start()
    try:
        [(_topic, payload)] = subscriber.take(1, timeout=10)   # not after a 10-minute lease
        assert wait_until_drained(pool)
    finally:
        restarted.stop()
    assert payload["notification_id"] == claimed.outbox_id
    [row] = clinic.deliveries()
    assert row["delivered_at"] is not None and row["attempts"] == 2


def test_planning_claims_the_mqtt_delivery_in_the_same_statement_and_only_that(
        clinic: Clinic, pool: ConnectionPool) -> None:
    """The planner's statement inserts the MQTT delivery already claimed (an attempt counted,
    leased to the claimant) and the webhook's unclaimed; a second plan finds nothing."""
    commit_red_alert(clinic)
    hook = Lane(WEBHOOK, "http://127.0.0.1:9/hook")
    with pool.connection() as conn, conn.pipeline():
        read = deliveries.plan_claiming(conn, [Lane(MQTT), hook], 10, Lane(MQTT), "planner#1",
                                        30.0)
        conn.commit()
        planned, claimed = read()
    assert planned == 1 and len(claimed) == 1
    [mqtt] = claimed
    assert mqtt.attempts == 1 and mqtt.destination is None and mqtt.severity == "red"
    assert mqtt.payload["alert_id"] == mqtt.alert_id
    clinic.conn.commit()
    rows = {r["channel"]: r for r in clinic.deliveries()}
    assert rows[MQTT]["claimed_by"] == "planner#1" and rows[MQTT]["id"] == mqtt.id
    assert rows[WEBHOOK]["claimed_by"] is None and rows[WEBHOOK]["attempts"] == 0
    with pool.connection() as conn:                  # claimed for 30 s: not due to anyone
        assert deliveries.claim(conn, Lane(MQTT), "other#1", 10, lease_s=30.0) == []
        assert deliveries.plan(conn, [Lane(MQTT), hook], 10) == 0
