"""The MQTT side of ingest: a persistent QoS 1 session whose messages are acked only after commit.

Callbacks never do I/O and never raise: `on_message` only enqueues. The batch
writer acks messages once their transaction has committed, and only on the
connection that delivered them; after a reconnect the broker resends whatever
was not acked, and the idempotent insert makes the resend harmless.

With a shared subscription a stopped worker keeps its persistent session, and
Mosquitto goes on queueing that worker's share of the readings for it: they are
kept, not lost, but wait until the worker is back. Run workers under a
supervisor that restarts them (systemd `Restart=always`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from ingest.counters import IngestStats
from ingest.writer import Received
from telehub.config import Settings
from telehub.mqtt import connection as telehub_mqtt
from telehub.mqtt import topics

logger = logging.getLogger(__name__)

# CONNACK reasons that retrying cannot fix (MQTT 5: bad credentials, not authorised, banned).
_FATAL_CONNACK = {"Bad user name or password", "Not authorized", "Banned",
                  "Client identifier not valid"}


class Consumer:
    """Subscribes to device readings, statuses and telecare events; feeds them into `inbox`."""

    def __init__(self, settings: Settings, inbox: queue.Queue[Received],
                 stats: IngestStats) -> None:
        self._settings = settings
        self._inbox = inbox
        self._stats = stats
        self._endpoint = settings.require_mqtt()
        ingest = settings.ingest
        self._status_topic = topics.hub_status_topic(ingest.client_id, settings.topic_root)
        self._client = telehub_mqtt.new_client(
            self._endpoint, ingest.client_id, persistent=True, manual_ack=True,
            receive_maximum=ingest.inflight)
        self._client.will_set(self._status_topic, b"offline", qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._generation = 0
        self._ack_lock = threading.Lock()
        self._accepting = True
        self._subscribe_mid: int | None = None
        self.connected = threading.Event()  # connected and subscribed (the SUBACK arrived)
        self.failed = threading.Event()   # the broker refused us for good (e.g. credentials)

    def start(self) -> None:
        """Connect (in the background; paho reconnects with backoff) and start the loop thread."""
        telehub_mqtt.connect(self._client, self._endpoint, persistent=True,
                             receive_maximum=self._settings.ingest.inflight)
        self._client.loop_start()
        logger.info("ingest consumer %s connecting to %s", self._settings.ingest.client_id,
                    self._endpoint.url())

    def stop_accepting(self) -> None:
        """Take no more messages; those arriving now stay unacked and are redelivered later."""
        self._accepting = False

    def stop(self) -> None:
        """Say we are going offline, disconnect and stop the loop thread."""
        self._accepting = False
        if self._client.is_connected():
            info = self._client.publish(self._status_topic, b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                logger.debug("offline status not confirmed before disconnect")
        self._client.disconnect()
        self._client.loop_stop()
        logger.info("ingest consumer %s disconnected", self._settings.ingest.client_id)

    def ack(self, messages: Sequence[Received]) -> None:
        """Acknowledge committed messages that arrived on the current connection."""
        with self._ack_lock:
            for message in messages:
                if message.qos > 0 and message.generation == self._generation:
                    self._client.ack(message.mid, message.qos)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: ReasonCode, properties: Any) -> None:
        if reason_code.is_failure:
            if str(reason_code) in _FATAL_CONNACK:
                logger.error("broker refused ingest consumer: %s; stopping", reason_code)
                self.failed.set()
                client.disconnect()
            else:
                logger.warning("broker refused connection: %s; will retry", reason_code)
            return
        with self._ack_lock:
            self._generation += 1
        prefix = self._settings.topic_root
        # Statuses are not shared: retained messages are never sent on a shared subscription,
        # and a status update is idempotent, so every worker may apply it.
        _result, self._subscribe_mid = client.subscribe([
            (topics.readings_subscription(prefix, shared=self._settings.ingest.shared),
             mqtt.SubscribeOptions(qos=1)),
            (topics.status_subscription(prefix), mqtt.SubscribeOptions(qos=1)),
            (topics.events_subscription(prefix, shared=self._settings.ingest.shared),
             mqtt.SubscribeOptions(qos=1)),
        ])
        logger.info("ingest consumer connected (session present: %s)",
                    getattr(flags, "session_present", None))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[ReasonCode], properties: Any) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            logger.error("broker refused the ingest subscriptions: %s; stopping",
                         ", ".join(refused))
            self.failed.set()
            return
        # "online" only now: whoever waits for it may publish and nothing goes unheard.
        client.publish(self._status_topic, b"online", qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason_code: ReasonCode, properties: Any) -> None:
        self.connected.clear()
        if self._accepting:
            logger.warning("ingest consumer lost the broker (%s); reconnecting", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if not self._accepting:
            return
        self._inbox.put(Received(message.topic, bytes(message.payload), message.mid, message.qos,
                                 time.time(), time.monotonic(), self._generation))
        self._stats.add_received()
