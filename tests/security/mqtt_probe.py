"""A paho MQTT 5 client for the broker tests: it records the broker's CONNACK, SUBACK and
PUBACK reason codes and every message, so a test can check both the refusal and that nothing
arrived."""

from __future__ import annotations

import queue
import ssl
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

QUIET_S = 0.5   # how long "nothing arrived" is watched for, after the control has arrived


class Client:
    """A paho MQTT 5 client that records CONNACK/SUBACK/PUBACK reason codes and messages."""

    def __init__(self, username: str | None, password: str | None, port: int, *,
                 ca_file: Path | None = None, client_id: str | None = None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: ReasonCode | None = None
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.pubacks: dict[int, ReasonCode] = {}
        self._connected = threading.Event()
        self._acked = threading.Condition()
        if client_id is None:  # devices and readers use their username (dynsec pins it)
            client_id = f"hub-{uuid.uuid4().hex[:8]}" if username == "telehub-hub" else \
                username or ""
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=client_id)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set_context(ssl.create_default_context(cafile=str(ca_file)))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_connect_fail = lambda *_: self._connected.set()
        self.client.on_disconnect = lambda *_: self._connected.set()
        self.port = port

    def _on_connect(self, _c: object, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.connack = rc
        self._connected.set()

    def _on_subscribe(self, _c: object, _u: object, mid: int, rcs: list[ReasonCode],
                      _p: object) -> None:
        with self._acked:
            self.subacks[mid] = rcs
            self._acked.notify_all()

    def _on_publish(self, _c: object, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        with self._acked:
            self.pubacks[mid] = rc
            self._acked.notify_all()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.messages.put((msg.topic, msg.payload))

    def connect(self, timeout: float = 5.0, *, persistent: bool = False) -> bool:
        """True when the broker accepted the connection (persistent: a session kept for 1 h)."""
        props = Properties(PacketTypes.CONNECT)
        if persistent:
            props.SessionExpiryInterval = 3600
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=10, clean_start=not persistent,
                                properties=props)
        except (OSError, ssl.SSLError):
            return False
        self.client.loop_start()
        self._connected.wait(timeout)
        return self.connack is not None and not self.connack.is_failure

    def subscribe(self, topic: str) -> ReasonCode:
        """Subscribe at QoS 1 and return the SUBACK reason code."""
        _, mid = self.client.subscribe(topic, qos=1)
        with self._acked:
            assert self._acked.wait_for(lambda: mid in self.subacks, timeout=5)
            return self.subacks[mid][0]

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        with self._acked:
            assert self._acked.wait_for(lambda: info.mid in self.pubacks, timeout=5)
            return self.pubacks[info.mid]

    def received(self, until_payload: bytes, timeout: float = 5.0) -> list[tuple[str, bytes]]:
        """Every message up to and including `until_payload` (the control), plus a quiet spell."""
        got: list[tuple[str, bytes]] = []
        while not any(p == until_payload for _, p in got):
            got.append(self.messages.get(timeout=timeout))
        try:
            while True:
                got.append(self.messages.get(timeout=QUIET_S))
        except queue.Empty:
            return got

    def close(self) -> None:
        """Disconnect and stop the network loop."""
        self.client.disconnect()
        self.client.loop_stop()
