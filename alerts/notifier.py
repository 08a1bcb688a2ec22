"""Outbox notifier: plans each alert event's deliveries and sends each channel on its own lane.

A planner gives every new outbox event a delivery per channel: MQTT, and each configured
webhook. Each lane (MQTT, one per webhook URL) runs in a thread of its own: it claims due
deliveries in a short transaction, sends them with no transaction open, and writes the
results in another. The MQTT lane waits for the broker; webhook lanes never do, so a broker
outage delays only MQTT and a slow or dead webhook delays only itself. Several notifiers
may run: claims use FOR UPDATE SKIP LOCKED and a lease.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from alerts import deliveries, wakeup
from alerts.deliveries import MQTT, WEBHOOK, Claimed, Failure, Lane
from alerts.senders import (
    ALERT_ID_HEADER,
    IDEMPOTENCY_HEADER,
    PUBACK_TIMEOUT_S,
    SIGNATURE_HEADER,
    STOPPING,
    MqttSender,
    Outcome,
    WebhookSender,
    sign,
)
from telehub.config import Settings
from telehub.mqtt.connection import MqttConnection

__all__ = ["ALERT_ID_HEADER", "IDEMPOTENCY_HEADER", "SIGNATURE_HEADER", "Notifier",
           "backoff_seconds", "sign", "wait_until_drained"]

logger = logging.getLogger(__name__)

# Events planned per transaction.
PLAN_BATCH = 500
# MQTT deliveries claimed at once: enough to pipeline publishes behind one PUBACK wait.
MQTT_BATCH = 100
# Webhook deliveries claimed at once: POSTs go one by one, so few, to keep the lease short.
WEBHOOK_BATCH = 2
# A claim's lease: longer than a claimed batch can take (100 publishes and a 10 s PUBACK
# wait; 2 POSTs at the default 5 s timeout, a few timeouts each), short enough that another
# notifier sends a dead one's deliveries within half a minute. A longer webhook timeout
# lengthens its lanes' lease to match; a notifier restarted under the same id takes its
# own claims back at once.
CLAIM_LEASE_S = 30.0
# Retry backoff: 2, 4, 8 … seconds, at most 5 minutes between attempts.
BACKOFF_MAX_S = 300
# How often the listener looks up from waiting for a NOTIFY to check for stop().
LISTEN_TIMEOUT_S = 1.0


def backoff_seconds(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones."""
    return float(min(BACKOFF_MAX_S, 2 ** max(1, attempts)))


class Notifier:
    """Delivers the outbox: one planner, one lane per channel, a NOTIFY listener."""

    def __init__(self, settings: Settings, pool: ConnectionPool, *,
                 client_id: str | None = None) -> None:
        self._settings = settings
        self._pool = pool
        self._id = client_id or f"telehub-notifier-{uuid.uuid4().hex[:12]}"
        self._mqtt = MqttConnection(settings.require_mqtt(), self._id, name="alert notifier")
        self._mqtt_sender = MqttSender(self._mqtt, settings.topic_root)
        secret = settings.alerts.webhook_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        urls = dict.fromkeys(settings.alerts.webhook_urls)      # each URL once, in order
        self._planned_lanes = [Lane(MQTT), *(Lane(WEBHOOK, url) for url in urls)]
        self._webhooks: dict[Lane, WebhookSender] = {}
        self._wakes: dict[Lane, threading.Event] = {}
        self._claims = itertools.count(1)
        # MQTT deliveries the planner claimed as it planned them, for the MQTT lane to send.
        self._handed: queue.SimpleQueue[tuple[str, list[Claimed]]] = queue.SimpleQueue()
        self._stop = threading.Event()
        # Set by the outbox NOTIFY listener, and at once by this process's writer's commits.
        self._wake = threading.Event()
        self.listening = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        """Take back this id's claims of an earlier run, connect to the broker and start the
        planner, the lanes and the listener."""
        self._stop.clear()
        self._release_earlier_claims()
        wakeup.register(self._wake)
        self._mqtt.start()
        jobs: list[tuple[str, Callable[..., None], tuple[Any, ...]]] = [
            ("alert-notifier-plan", self._plan_forever, ()),
            ("alert-notifier-listen", self._listen, ())]
        jobs += [(f"alert-notifier-{lane.label}", self._lane_forever, (lane,))
                 for lane in self._lanes()]
        for name, target, args in jobs:
            thread = threading.Thread(target=target, args=args, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop sending and disconnect (undelivered rows stay for the next start)."""
        self._stop.set()
        wakeup.unregister(self._wake)
        self._wake.set()
        for event in self._wakes.values():
            event.set()
        for thread in self._threads:
            thread.join(timeout=PUBACK_TIMEOUT_S + self._settings.alerts.webhook_timeout_s + 5)
        self._threads = []
        self._mqtt.stop()
        self._mqtt_sender.forget()
        for sender in self._webhooks.values():
            sender.close()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once the broker accepted the connection (False at once if it refused for good)."""
        return self._mqtt.wait_ready(timeout)

    @property
    def failed(self) -> bool:
        """True once the broker refused the notifier for good (credentials, authorisation)."""
        return self._mqtt.failed.is_set()

    def _release_earlier_claims(self) -> None:
        """A hub killed mid-send restarts under the same id: what it had claimed is due now,
        not when its lease runs out."""
        try:
            with self._pool.connection() as conn:
                released = deliveries.release(conn, self._id)
        except psycopg.Error as err:
            logger.warning("alert notifier: could not take back earlier claims (%s); they "
                           "come due when their lease ends", type(err).__name__)
            return
        if released:
            logger.info("alert notifier %s: %s deliveries claimed before a restart are due "
                        "again", self._id, released)

    def _lanes(self) -> list[Lane]:
        """MQTT, each configured webhook, and any webhook still owed deliveries (a URL taken
        out of the settings since: what was promised when the alert committed is still sent)."""
        if not self._wakes:
            lanes = list(self._planned_lanes)
            try:
                with self._pool.connection() as conn:
                    owed = deliveries.pending_webhooks(conn)
            except psycopg.Error as err:
                logger.warning("alert notifier: could not look up webhooks owed deliveries "
                               "(%s); sending to the configured ones", type(err).__name__)
                owed = []
            lanes += [lane for lane in (Lane(WEBHOOK, url) for url in owed) if lane not in lanes]
            for lane in lanes:
                self._wakes[lane] = threading.Event()
                if lane.channel == WEBHOOK:
                    assert lane.destination is not None
                    self._webhooks[lane] = WebhookSender(
                        lane.destination, self._secret, self._settings.alerts.webhook_timeout_s)
        return list(self._wakes)

    # --- threads --------------------------------------------------------------
    def _plan_forever(self) -> None:
        interval = self._settings.alerts.notifier_interval_s
        while not self._stop.is_set():
            self._wake.clear()      # a NOTIFY during the plan below wakes the next wait
            try:
                planned = self.plan_once()
            except Exception:
                logger.exception("alert notifier: planning deliveries failed; retrying")
                self._stop.wait(2.0)
                continue
            if planned < PLAN_BATCH:
                self._wake.wait(interval)

    def _lane_forever(self, lane: Lane) -> None:
        interval = self._settings.alerts.notifier_interval_s
        wake = self._wakes[lane]
        while not self._stop.is_set():
            if lane.channel == MQTT:
                if self._mqtt.failed.is_set():
                    return              # refused for good: logged by the connection
                if not self._mqtt.ready.wait(timeout=0.5):
                    continue            # waiting for the broker costs no attempts
            wake.clear()
            try:
                claimed = self._drain_lane(lane)
            except Exception:
                logger.exception("alert notifier: %s deliveries failed; retrying", lane.label)
                self._stop.wait(2.0)
                continue
            if claimed < self._batch(lane) and (lane.channel != MQTT or self._handed.empty()):
                # The planner wakes the lane at once; the interval is for retries coming due.
                wake.wait(interval)

    def _listen(self) -> None:
        """LISTEN for outbox rows on a connection of its own; reconnect when it drops."""
        while not self._stop.is_set():
            info = self._pool.conninfo
            try:
                with psycopg.connect(info() if callable(info) else info,
                                     autocommit=True) as conn:
                    conn.execute(f"LISTEN {wakeup.OUTBOX_CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=LISTEN_TIMEOUT_S, stop_after=1):
                            self._wake.set()
            except psycopg.Error as err:
                self.listening.clear()
                logger.warning("alert notifier: outbox listener lost its connection (%s); "
                               "polling until it is back", type(err).__name__)
                self._stop.wait(2.0)

    # --- one pass ---------------------------------------------------------------
    def plan_once(self) -> int:
        """Give new outbox events their deliveries and wake the lanes; returns how many.

        While the broker is connected the events' MQTT deliveries are claimed in the same
        statement and handed to the MQTT lane, which sends them without a claim of its own:
        one transaction, one round trip (pipeline mode: BEGIN, the plan and COMMIT travel
        together), between an alert's commit and its publish."""
        mqtt = Lane(MQTT) if self._mqtt.ready.is_set() else None
        claimant = f"{self._id}#{next(self._claims)}"
        with self._pool.connection() as conn, conn.pipeline():
            read = deliveries.plan_claiming(conn, self._planned_lanes, PLAN_BATCH, mqtt,
                                            claimant, CLAIM_LEASE_S)
            conn.commit()
            planned, claimed = read()
        if claimed:
            self._handed.put((claimant, claimed))
        if planned:
            for event in self._wakes.values():
                event.set()
        return planned

    def drain_once(self) -> int:
        """Plan, then one claim on every lane (MQTT only while connected); for a notifier
        that is not started. Returns how many deliveries were claimed."""
        self._lanes()
        self.plan_once()
        return sum(self._drain_lane(lane) for lane in self._lanes()
                   if lane.channel != MQTT or self._mqtt.is_connected())

    def _batch(self, lane: Lane) -> int:
        return MQTT_BATCH if lane.channel == MQTT else WEBHOOK_BATCH

    def _lease(self, lane: Lane) -> float:
        if lane.channel == MQTT:
            return CLAIM_LEASE_S
        # Each POST may take a few timeouts (connect, send, read): allow three per delivery.
        return max(CLAIM_LEASE_S, WEBHOOK_BATCH * 3 * self._settings.alerts.webhook_timeout_s)

    def _drain_lane(self, lane: Lane) -> int:
        """Claim (short transaction), send (none open), record (short transaction)."""
        late = self._mqtt_sender.late_answers() if lane.channel == MQTT else []
        try:
            claimant, batch = self._handed.get_nowait() if lane.channel == MQTT \
                else self._claim(lane)
        except queue.Empty:
            claimant, batch = self._claim(lane)
        outcomes: list[Outcome] = []
        if batch:
            sender = self._mqtt_sender if lane.channel == MQTT else self._webhooks[lane]
            outcomes = sender.send(batch, self._stop)
        if batch or late:
            # A late PUBACK settles a delivery of an earlier claim: delivered, not resent.
            self._record(lane, batch, outcomes, [o.id for o in late if o.error is None],
                         claimant)
        return len(batch)

    def _claim(self, lane: Lane) -> tuple[str, list[Claimed]]:
        """Claim the lane's due deliveries in one short transaction."""
        claimant = f"{self._id}#{next(self._claims)}"
        with self._pool.connection() as conn:
            return claimant, deliveries.claim(conn, lane, claimant, self._batch(lane),
                                              self._lease(lane))

    def _record(self, lane: Lane, batch: Sequence[Claimed], outcomes: Sequence[Outcome],
                late: Sequence[int], claimant: str) -> None:
        by_id = {d.id: d for d in batch}
        failures = []
        for outcome in outcomes:
            if outcome.error is None:
                continue
            delivery = by_id[outcome.id]
            # Stopping is not the channel's fault: the delivery is due again at once.
            retry = 0.0 if outcome.error == STOPPING else backoff_seconds(delivery.attempts)
            failures.append(Failure(outcome.id, outcome.error, retry))
            logger.warning("alert notifier: %s delivery %s (alert %s, notification %s) not "
                           "delivered (attempt %s): %s", lane.label, delivery.id,
                           delivery.alert_id, delivery.outbox_id, delivery.attempts,
                           outcome.error)
        with self._pool.connection() as conn, conn.pipeline():   # both updates and COMMIT at once
            deliveries.mark_delivered(conn, [*late, *(o.id for o in outcomes
                                                      if o.error is None)])
            deliveries.mark_failed(conn, failures, claimant)
            conn.commit()


def wait_until_drained(pool: ConnectionPool, timeout: float = 10.0) -> bool:
    """True once every outbox event is planned and every delivery made (tests, the demo)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with pool.connection() as conn:
            if deliveries.undelivered(conn) == 0:
                return True
        time.sleep(0.05)
    return False
