"""The hub's writer and notifier in one process: the notifier plans and claims the alert's
deliveries in the writer's transaction and publishes once it commits; the outbox still
delivers what a hub that died after the commit had claimed, once."""

from __future__ import annotations

import time

from psycopg_pool import ConnectionPool

from alerts import wakeup
from alerts.notifier import Notifier, wait_until_drained
from telehub.config import Settings
from telehub.domain.units import Metric
from tests.alerts.conftest import NOW, Clinic, Subscriber

# Other processes (hub, notifier, scheduler, CLI) read this module's data: it commits.
COMMITS = True


def _slow_poll(settings: Settings) -> Settings:
    """No poll, planner or NOTIFY in time to matter: only the hand-over sends within 5 s."""
    return settings.model_copy(update={"alerts": settings.alerts.model_copy(
        update={"notifier_interval_s": 30.0})})


def _red_alert_in_writer_transaction(clinic: Clinic) -> list[tuple[wakeup.Listener, object]]:
    """What the writer does: store a red reading, offer the outbox rows, commit."""
    pid = clinic.patient(["copd"])
    clinic.conn.commit()
    wakeup.begin(clinic.conn)
    clinic.feed(pid, Metric.SPO2, 88, NOW)
    taken = wakeup.before_commit(clinic.conn)
    clinic.conn.commit()
    return taken


def test_the_writers_commit_hands_the_claimed_alert_to_the_notifier(
        clinic: Clinic, settings: Settings, pool: ConnectionPool,
        subscriber: Subscriber) -> None:
    notifier = Notifier(_slow_poll(settings), pool)
    notifier.start()
    try:
        assert notifier.wait_connected()
        time.sleep(0.3)                                  # the first (empty) passes are done
        taken = _red_alert_in_writer_transaction(clinic)
        [(listener, what)] = taken
        assert isinstance(what, tuple)
        claimant, batch = what
        assert listener is notifier and len(batch) == 1  # claimed in the writer's transaction
        [row] = clinic.deliveries()
        assert row["delivered_at"] is None and row["claimed_by"] == claimant
        started = time.monotonic()
        wakeup.committed(taken)
        [(_, payload)] = subscriber.take(1, timeout=5)
        assert time.monotonic() - started < 5.0
        assert wait_until_drained(pool)
        time.sleep(0.3)
        assert subscriber.messages.empty()               # published once
    finally:
        notifier.stop()
    [alert] = clinic.alerts()
    assert payload["alert_id"] == alert["id"]
    [row] = clinic.deliveries()
    assert row["delivered_at"] is not None and row["attempts"] == 1


def test_a_hub_that_dies_between_commit_and_publish_delivers_at_its_restart(
        clinic: Clinic, settings: Settings, pool: ConnectionPool,
        subscriber: Subscriber) -> None:
    first = Notifier(_slow_poll(settings), pool, client_id="hub-a-notifier")
    first.start()
    try:
        assert first.wait_connected()
        taken = _red_alert_in_writer_transaction(clinic)   # committed, never handed over
        assert taken and clinic.deliveries()[0]["claimed_by"] is not None
    finally:
        first.stop()
    assert subscriber.messages.empty()
    again = Notifier(settings, pool, client_id="hub-a-notifier")
    again.start()
    try:
        [(_, payload)] = subscriber.take(1, timeout=10)
        assert wait_until_drained(pool)
        time.sleep(0.3)
        assert subscriber.messages.empty()                   # once, not twice
    finally:
        again.stop()
    [alert] = clinic.alerts()
    assert payload["alert_id"] == alert["id"]
    [row] = clinic.deliveries()
    assert row["delivered_at"] is not None and row["attempts"] == 2


def test_a_rolled_back_transaction_leaves_nothing_claimed_or_sent(
        clinic: Clinic, settings: Settings, pool: ConnectionPool,
        subscriber: Subscriber) -> None:
    notifier = Notifier(_slow_poll(settings), pool)
    notifier.start()
    try:
        assert notifier.wait_connected()
        pid = clinic.patient(["copd"])
        clinic.conn.commit()
        wakeup.begin(clinic.conn)
        clinic.feed(pid, Metric.SPO2, 88, NOW)
        assert wakeup.before_commit(clinic.conn)
        clinic.conn.rollback()
        time.sleep(0.5)
    finally:
        notifier.stop()
    assert clinic.outbox() == [] and clinic.deliveries() == [] and subscriber.messages.empty()
