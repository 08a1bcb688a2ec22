"""A paho subscriber that collects what simulated devices publish (for the simulator tests)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from telehub.config import parse_mqtt_url
from telehub.mqtt.connection import MqttConnection


class Collector:
    """Subscribes (persistent session, QoS 1) and keeps every message it receives."""

    def __init__(self, url: str, topic: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._topic = topic
        endpoint = parse_mqtt_url(url)
        self._mqtt = MqttConnection(endpoint, f"collector-{uuid.uuid4().hex[:8]}",
                                    name="test collector", persistent=True)
        self._mqtt.subscribe(topic)
        self._mqtt.on_message = self._on_message
        self._mqtt.start()
        assert self._mqtt.wait_ready(10), "collector did not subscribe"

    def _on_message(self, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def readings(self) -> list[dict[str, Any]]:
        """Every reading received, batches unpacked (malformed payloads skipped)."""
        out = []
        with self._lock:
            messages = list(self.messages)
        for topic, payload, _retain in messages:
            if not topic.endswith("/readings"):
                continue
            try:
                data = json.loads(payload)
            except ValueError:
                continue
            out.extend(data["readings"] if "readings" in data else [data])
        return out

    def batches(self) -> list[list[dict[str, Any]]]:
        """The store-and-forward batches received."""
        with self._lock:
            messages = list(self.messages)
        return [json.loads(p)["readings"] for t, p, _r in messages
                if t.endswith("/readings") and p.startswith(b'{"readings"')]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until at least `count` readings arrived."""
        deadline = time.monotonic() + timeout
        while len(self.readings()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.readings()

    def settle(self, quiet: float = 1.0, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until nothing new has arrived for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        count, since = len(self.messages), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < quiet:
            time.sleep(0.05)
            if len(self.messages) != count:
                count, since = len(self.messages), time.monotonic()
        return self.readings()

    def close(self) -> None:
        """Disconnect."""
        self._mqtt.stop()
