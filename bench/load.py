"""Fast MQTT load for the benchmarks: a QoS 1 publisher and a subscriber that stores nothing."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt

from telehub.config import MqttEndpoint
from telehub.mqtt import topics
from telehub.mqtt.connection import MqttConnection

# Outgoing QoS 1 messages in flight per publisher: enough to keep the broker busy,
# few enough that paho's own bookkeeping stays cheap.
PUBLISH_INFLIGHT = 1000


@dataclass(frozen=True)
class Message:
    """One reading to publish."""

    topic: str
    payload: bytes


def readings_messages(devices: Sequence[str], per_device: int, prefix: str, *,
                      start: datetime | None = None, tag: str = "r") -> list[Message]:
    """`per_device` normal SpO2/pulse readings from each device, interleaved across devices
    (as real devices report), each with its own reading id; no value breaches a rule."""
    start = start or datetime.now(UTC) - timedelta(hours=6)
    out = []
    for k in range(per_device):
        at = (start + timedelta(seconds=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        metric, value, unit = ("spo2", 96 + k % 3, "%") if k % 2 == 0 else ("pulse", 70 + k % 9,
                                                                              "/min")
        for device in devices:
            body = {"id": f"{tag}{k}", "metric": metric, "value": value, "unit": unit,
                    "time": at, "seq": k + 1}
            out.append(Message(topics.readings_topic(device, prefix),
                               json.dumps(body, separators=(",", ":")).encode()))
    return out


def reading_payload(reading_id: str, metric: str, value: float, unit: str,
                    at: datetime | None = None) -> bytes:
    """A native single-reading payload."""
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"id": reading_id, "metric": metric, "value": value, "unit": unit,
                       "time": stamp}, separators=(",", ":")).encode()


class LoopClient:
    """A connected paho client running its network loop in a thread."""

    def __init__(self, endpoint: MqttEndpoint, name: str, *, manual_ack: bool = False,
                 receive_maximum: int = PUBLISH_INFLIGHT,
                 subscription: str | list[str] | None = None) -> None:
        self._mqtt = MqttConnection(endpoint, f"bench-{name}-{uuid.uuid4().hex[:8]}",
                                    name=f"bench {name}", manual_ack=manual_ack,
                                    receive_maximum=receive_maximum)
        for topic in [subscription] if isinstance(subscription, str) else subscription or []:
            self._mqtt.subscribe(topic)
        # Subclasses set raw paho callbacks (on_message, on_publish) on the client itself.
        self.client = self._mqtt.client
        self._endpoint = endpoint

    def start(self, timeout: float = 10.0) -> None:
        """Connect (and subscribe), waiting for the CONNACK (and SUBACK)."""
        self._mqtt.start()
        if not self._mqtt.wait_ready(timeout):
            self.stop()
            raise TimeoutError(f"no answer from {self._endpoint.url()} in {timeout:.0f} s")

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._mqtt.stop()


class Publisher(LoopClient):
    """Publishes at QoS 1 and counts PUBACKs."""

    def __init__(self, endpoint: MqttEndpoint, name: str = "pub") -> None:
        super().__init__(endpoint, name)
        self._lock = threading.Lock()
        self._acked = 0
        self._all_acked = threading.Condition(self._lock)
        self.client.on_publish = self._on_publish

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any,
                    properties: Any) -> None:
        with self._lock:
            self._acked += 1
            self._all_acked.notify_all()

    @property
    def acked(self) -> int:
        """PUBACKs received so far."""
        with self._lock:
            return self._acked

    def publish(self, message: Message, qos: int = 1) -> None:
        """Queue one message."""
        self.client.publish(message.topic, message.payload, qos=qos)

    def publish_all(self, messages: Iterable[Message], *, rate: float | None = None,
                    stop: threading.Event | None = None) -> int:
        """Publish every message (at most `rate` a second when given); returns how many."""
        sent = 0
        started = time.perf_counter()
        for message in messages:
            if stop is not None and stop.is_set():
                break
            self.client.publish(message.topic, message.payload, qos=1)
            sent += 1
            if rate:
                ahead = sent / rate - (time.perf_counter() - started)
                if ahead > 0.002:
                    time.sleep(ahead)
            elif sent - self.acked > 20 * PUBLISH_INFLIGHT:
                # Keep paho's unsent queue bounded so acks and sends interleave.
                time.sleep(0.001)
        return sent

    def wait_acked(self, total: int, timeout: float = 120.0) -> bool:
        """Block until `total` PUBACKs have arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._acked < total:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._all_acked.wait(left)
        return True


@dataclass
class Tally:
    """What a subscriber received: distinct payloads and first/last arrival times."""

    received: int = 0
    distinct: set[bytes] = field(default_factory=set)
    first_at: float | None = None
    last_at: float | None = None


class CountingSubscriber(LoopClient):
    """Subscribes at QoS 1 and only counts what arrives (the broker's relay rate)."""

    def __init__(self, endpoint: MqttEndpoint, subscription: str, name: str = "sub",
                 receive_maximum: int = PUBLISH_INFLIGHT) -> None:
        super().__init__(endpoint, name, receive_maximum=receive_maximum,
                         subscription=subscription)
        self.tally = Tally()
        self._lock = threading.Lock()
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        with self._lock:
            t = self.tally
            t.received += 1
            t.distinct.add(bytes(msg.payload) + msg.topic.encode())
            if t.first_at is None:
                t.first_at = now
            t.last_at = now

    def wait_for(self, total: int, *, stall_s: float = 10.0, timeout: float = 600.0) -> None:
        """Wait until `total` distinct messages arrived, or nothing new for `stall_s`."""
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self._lock:
                n = len(self.tally.distinct)
            if n >= total:
                return
            if n != last:
                last, last_change = n, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                return
            time.sleep(0.02)
