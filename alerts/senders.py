"""Channel senders: MQTT publishes awaited to their PUBACK, signed webhook POSTs; no database."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from alerts.deliveries import Claimed
from telehub.mqtt.connection import MqttConnection
from telehub.mqtt.topics import alert_topic

if TYPE_CHECKING:
    import httpx

SIGNATURE_HEADER = "X-Telehub-Signature"
ALERT_ID_HEADER = "X-Telehub-Alert-Id"
# The receiver drops a repeat on this (the outbox id: one per alert event, same on every
# channel and every retry); the body carries it too, as "notification_id".
IDEMPOTENCY_HEADER = "Idempotency-Key"
# How long one claimed MQTT batch waits for its PUBACKs before they count as failed.
PUBACK_TIMEOUT_S = 10.0
STOPPING = "the notifier stopped before the send finished"


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery: error None means it reached its channel."""

    id: int
    error: str | None = None


def notification_body(delivery: Claimed) -> bytes:
    """The JSON every channel receives: the stored payload and its idempotency key."""
    return json.dumps({**delivery.payload, "notification_id": delivery.outbox_id},
                      separators=(",", ":"), default=str).encode()


def sign(body: bytes, secret: str) -> str:
    """The webhook signature header value: HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _Flight:
    """One publish waiting for the broker's answer."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.error: str | None = None

    def answer(self, error: str | None) -> None:
        self.error = error
        self.answered.set()


class MqttSender:
    """Publishes claimed deliveries at QoS 1 and waits for each PUBACK.

    paho keeps a QoS 1 message it has not had a PUBACK for and sends it again after a
    reconnect; so a delivery given up on here is remembered, and when it is claimed again
    (or its PUBACK comes late) it is awaited, not published a second time.
    """

    def __init__(self, connection: MqttConnection, topic_root: str) -> None:
        self._connection = connection
        self._topic_root = topic_root
        self._lock = threading.Lock()
        self._flights: dict[int, _Flight] = {}       # by message id, until the broker answers
        self._early: dict[int, str | None] = {}      # answers that came before registration
        self._unanswered: dict[int, _Flight] = {}    # by delivery id: given up on, still in paho
        connection.on_publish = self._on_publish

    # paho's network thread: no I/O, never raises
    def _on_publish(self, mid: int, reason: Any) -> None:
        error = f"broker refused the message: {reason}" \
            if getattr(reason, "is_failure", False) else None
        with self._lock:
            flight = self._flights.pop(mid, None)
            if flight is None:
                self._early[mid] = error
                return
        flight.answer(error)

    def late_answers(self) -> list[Outcome]:
        """Deliveries given up on whose PUBACK has come since (to record, not to resend)."""
        with self._lock:
            done = [(key, f) for key, f in self._unanswered.items() if f.answered.is_set()]
            for key, _ in done:
                del self._unanswered[key]
        return [Outcome(key, f.error) for key, f in done]

    def send(self, batch: Sequence[Claimed], stop: threading.Event) -> list[Outcome]:
        """Publish the batch (pipelined), then wait for the PUBACKs, at most PUBACK_TIMEOUT_S."""
        outcomes: list[Outcome] = []
        waiting: list[tuple[Claimed, _Flight]] = []
        for delivery in batch:
            with self._lock:
                flight = self._unanswered.pop(delivery.id, None)
            if flight is None:
                flight, error = self._publish(delivery)
                if flight is None:
                    outcomes.append(Outcome(delivery.id, error))
                    continue
            waiting.append((delivery, flight))
        deadline = time.monotonic() + PUBACK_TIMEOUT_S
        for delivery, flight in waiting:
            while not flight.answered.wait(0.05):
                if stop.is_set() or time.monotonic() > deadline:
                    break
            if flight.answered.is_set():
                outcomes.append(Outcome(delivery.id, flight.error))
                continue
            with self._lock:
                self._unanswered[delivery.id] = flight
            outcomes.append(Outcome(delivery.id, STOPPING if stop.is_set()
                                    else "no PUBACK from the broker in time"))
        return outcomes

    def _publish(self, delivery: Claimed) -> tuple[_Flight | None, str | None]:
        topic = alert_topic(delivery.team, delivery.severity, self._topic_root)
        try:
            info = self._connection.publish(topic, notification_body(delivery), qos=1)
        except ValueError as err:         # a team code that cannot be a topic level
            return None, f"publish refused: {err}"
        # MQTT_ERR_NO_CONN still queues a QoS 1 message: paho sends it on reconnect.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return None, f"publish failed: {mqtt.error_string(info.rc)}"
        flight = _Flight()
        with self._lock:
            early = self._early.copy()
            # One thread publishes: any other early answer is for a message forgotten at a
            # stop, whose id paho may hand out again.
            self._early.clear()
            if info.mid in early:
                flight.answer(early[info.mid])
            else:
                self._flights[info.mid] = flight
        return flight, None

    def forget(self) -> None:
        """Drop what is awaited (the connection has stopped: paho's queue is gone with it)."""
        with self._lock:
            self._flights.clear()
            self._early.clear()
            self._unanswered.clear()


class WebhookSender:
    """POSTs claimed deliveries to one URL, one at a time, each signed and keyed."""

    def __init__(self, url: str, secret: str | None, timeout_s: float) -> None:
        self._url = url
        self._secret = secret
        self._timeout_s = timeout_s
        self._client: httpx.Client | None = None

    def send(self, batch: Sequence[Claimed], stop: threading.Event) -> list[Outcome]:
        """POST each delivery; a timeout or an answer other than 2xx is a failure."""
        return [Outcome(d.id, STOPPING if stop.is_set() else self._post(d)) for d in batch]

    def _post(self, delivery: Claimed) -> str | None:
        body = notification_body(delivery)
        headers = {"Content-Type": "application/json",
                   ALERT_ID_HEADER: str(delivery.alert_id),
                   IDEMPOTENCY_HEADER: str(delivery.outbox_id)}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        # Imported on the first POST: httpx (with the rich and pygments of its command line)
        # costs a hub without webhooks 7 MB.
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout_s)
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as err:
            return f"webhook unreachable: {type(err).__name__}"
        if response.is_success:
            return None
        return f"webhook answered HTTP {response.status_code}"

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            self._client.close()
            self._client = None
