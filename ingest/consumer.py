"""The MQTT side of ingest: a persistent QoS 1 session, acked only after commit."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from ingest.counters import IngestStats
from ingest.work_queue import Received, WorkQueue, classify
from telehub.config import Settings
from telehub.mqtt import topics
from telehub.mqtt.connection import MqttConnection, Will

# Callbacks never do I/O and never raise: `on_message` only enqueues. The batch
# writer acks messages once their transaction has committed, and only on the
# connection that delivered them; after a reconnect the broker resends whatever
# was not acked, and the idempotent insert makes the resend harmless.
#
# With a shared subscription a stopped worker keeps its persistent session, and
# Mosquitto goes on queueing that worker's share of the readings for it: they are
# kept, not lost, but wait until the worker is back. Run workers under a
# supervisor that restarts them (systemd `Restart=always`).

logger = logging.getLogger(__name__)


class Consumer:
    """Subscribes to device readings, statuses and telecare events; queues them as work."""

    def __init__(self, settings: Settings, work: WorkQueue, stats: IngestStats) -> None:
        self._settings = settings
        self._work = work
        self._stats = stats
        ingest = settings.ingest
        prefix = settings.topic_root
        self._status_topic = topics.hub_status_topic(ingest.client_id, prefix)
        self._mqtt = MqttConnection(
            settings.require_mqtt(), ingest.client_id, name="ingest consumer", persistent=True,
            manual_ack=True, receive_maximum=ingest.inflight,
            will=Will(self._status_topic, b"offline"))
        # Statuses are not shared: retained messages are never sent on a shared subscription,
        # and a status update is idempotent, so every worker may apply it.
        self._mqtt.subscribe(topics.readings_subscription(prefix, shared=ingest.shared))
        self._mqtt.subscribe(topics.status_subscription(prefix))
        self._mqtt.subscribe(topics.events_subscription(prefix, shared=ingest.shared))
        self._mqtt.on_message = self._on_message
        self._mqtt.on_ready = self._on_ready
        self._mqtt.on_lost = self._on_lost
        self._accepting = True
        # Arrival times (monotonic) of the messages queued and not yet acked, oldest first:
        # the writer takes and acks them in arrival order, so an ack retires the oldest.
        self._unacked: deque[float] = deque()
        self._unacked_lock = threading.Lock()
        self.connected = self._mqtt.ready   # connected and subscribed (the SUBACK arrived)
        self.failed = self._mqtt.failed     # the broker refused us for good (e.g. credentials)

    def start(self) -> None:
        """Connect (in the background; paho reconnects with backoff) and start the loop thread."""
        self._mqtt.start()

    def stop_accepting(self) -> None:
        """Take no more messages; those arriving now stay unacked and are redelivered later."""
        self._accepting = False

    def stop(self) -> None:
        """Say we are going offline, disconnect and stop the loop thread."""
        self._accepting = False
        if self._mqtt.is_connected():
            info = self._mqtt.publish(self._status_topic, b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                logger.debug("offline status not confirmed before disconnect")
        self._mqtt.stop()
        logger.info("ingest consumer %s disconnected", self._settings.ingest.client_id)

    def ack(self, messages: Sequence[Received]) -> None:
        """Acknowledge committed messages that arrived on the current connection."""
        for message in messages:
            self._mqtt.ack(message.mid, message.qos, message.generation)
        with self._unacked_lock:
            for _ in range(min(len(messages), len(self._unacked))):
                self._unacked.popleft()

    def backlog(self) -> tuple[int, float]:
        """Messages taken off the broker and not yet committed and acked, and the age in
        seconds of the oldest of them (0 when there are none)."""
        with self._unacked_lock:
            if not self._unacked:
                return 0, 0.0
            return len(self._unacked), max(0.0, time.monotonic() - self._unacked[0])

    def _on_ready(self, session_present: bool) -> None:
        # "online" only now: whoever waits for it may publish and nothing goes unheard.
        self._mqtt.publish(self._status_topic, b"online", qos=1, retain=True)

    def _on_lost(self, reason: ReasonCode) -> None:
        if self._accepting:
            logger.warning("ingest consumer lost the broker (%s); reconnecting", reason)

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        if not self._accepting:
            return
        received = Received(message.topic, bytes(message.payload), message.mid, message.qos,
                            time.time(), time.monotonic(), self._mqtt.generation)
        with self._unacked_lock:
            self._unacked.append(received.arrived)
        self._work.put(classify(received, self._settings.topic_root))
        self._stats.add_received()
