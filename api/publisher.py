"""Republishing HTTP-submitted readings to the device's MQTT topic, so the hub stores them
through the same pipeline as readings sent over MQTT (the API never writes readings itself)."""

from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt

from telehub.config import Settings
from telehub.mqtt.connection import connect, new_client

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
PUBACK_TIMEOUT_S = 10.0


class PublishError(Exception):
    """The broker could not be reached or did not acknowledge in time."""


class ReadingsPublisher:
    """One MQTT connection, opened on first use, publishing at QoS 1 and waiting for PUBACK."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish and return once the broker has acknowledged (PublishError otherwise)."""
        client = self._ensure_client()
        info = client.publish(topic, payload, qos=1)
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
            if self._client is not None:
                self._client.disconnect()
                self._client.loop_stop()
                self._client = None

    def _ensure_client(self) -> mqtt.Client:
        with self._lock:
            if self._client is None:
                endpoint = self._settings.require_mqtt()
                client = new_client(endpoint)
                client.on_connect = self._on_connect
                client.on_disconnect = self._on_disconnect
                connect(client, endpoint)
                client.loop_start()
                self._client = client
            client = self._client
        if not self._connected.wait(CONNECT_TIMEOUT_S):
            raise PublishError("the MQTT broker is not reachable")
        return client

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: mqtt.ReasonCode, properties: object) -> None:
        if reason.is_failure:
            logger.error("the broker refused the API's connection: %s", reason)
            return
        self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object,
                       reason: mqtt.ReasonCode, properties: object) -> None:
        self._connected.clear()
