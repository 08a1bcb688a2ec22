"""Republishing HTTP-submitted readings to the device's MQTT topic for the hub to store."""

from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt

from telehub.config import Settings
from telehub.mqtt.connection import MqttConnection

# The API never writes readings itself: the hub stores them through the same
# pipeline as readings sent over MQTT.

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
PUBACK_TIMEOUT_S = 10.0


class PublishError(Exception):
    """The broker could not be reached or did not acknowledge in time."""


class ReadingsPublisher:
    """One MQTT connection, opened on first use, publishing at QoS 1 and waiting for PUBACK."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._mqtt: MqttConnection | None = None
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish and return once the broker has acknowledged (PublishError otherwise)."""
        connection = self._ensure_connection()
        info = connection.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishError(f"publish refused: {mqtt.error_string(info.rc)}")
        deadline = time.monotonic() + PUBACK_TIMEOUT_S
        while not info.is_published():
            if time.monotonic() > deadline:
                raise PublishError("the broker did not acknowledge in time")
            time.sleep(0.002)

    def close(self) -> None:
        """Disconnect (idempotent)."""
        with self._lock:
            if self._mqtt is not None:
                self._mqtt.stop()
                self._mqtt = None

    def _ensure_connection(self) -> MqttConnection:
        with self._lock:
            if self._mqtt is None:
                self._mqtt = MqttConnection(self._settings.require_mqtt(),
                                            name="API readings publisher")
                self._mqtt.start()
            connection = self._mqtt
        # Refused for good (credentials): every request hears so at once, and the API does
        # not hammer the broker with a reconnect per request.
        if connection.failed.is_set():
            raise PublishError("the broker refused the API's credentials")
        if not connection.wait_ready(CONNECT_TIMEOUT_S):
            if connection.failed.is_set():
                raise PublishError("the broker refused the API's credentials")
            raise PublishError("the MQTT broker is not reachable")
        return connection
