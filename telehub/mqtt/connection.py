"""The one paho-mqtt connection class: MQTT 5 sessions, subscriptions, TLS, refused CONNACKs."""

from __future__ import annotations

import logging
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from telehub.config import MqttEndpoint

logger = logging.getLogger(__name__)

# A persistent session outlives a hub restart by this long: long enough for an
# outage or a redeploy, short enough that an abandoned worker id is forgotten.
SESSION_EXPIRY_S = 7 * 24 * 3600

# CONNACK reason codes (MQTT 5, by number) that no retry can fix: the client id,
# the credentials or the authorisation are wrong until an operator changes them.
CLIENT_ID_NOT_VALID = 0x85
BAD_USER_NAME_OR_PASSWORD = 0x86
NOT_AUTHORIZED = 0x87
BANNED = 0x8A
BAD_AUTHENTICATION_METHOD = 0x8C
FINAL_REFUSALS = frozenset({CLIENT_ID_NOT_VALID, BAD_USER_NAME_OR_PASSWORD, NOT_AUTHORIZED,
                            BANNED, BAD_AUTHENTICATION_METHOD})
# MQTT 3.1.1 CONNACK return codes and the MQTT 5 reason each one means.
MQTT311_REFUSALS = {1: 0x84, 2: CLIENT_ID_NOT_VALID, 3: 0x88, 4: BAD_USER_NAME_OR_PASSWORD,
                    5: NOT_AUTHORIZED}


def refusal_number(reason: ReasonCode | int) -> int:
    """A refused CONNACK as its MQTT 5 reason number (3.1.1 return codes translated)."""
    value = reason.value if isinstance(reason, ReasonCode) else int(reason)
    return MQTT311_REFUSALS.get(value, value)


def is_final_refusal(reason: ReasonCode | int) -> bool:
    """True when a refused CONNACK means retrying cannot help (credentials, authorisation)."""
    return refusal_number(reason) in FINAL_REFUSALS


@dataclass(frozen=True)
class Will:
    """The last will the broker publishes when the connection is lost."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class MqttConnection:
    """One MQTT 5 client: subscribes in on_connect, stops for good on a final refusal.

    The owner sets the hooks (`on_message`, `on_ready`, `on_publish`, `on_lost`,
    `on_refused`) before `start()`; like paho's callbacks they run on the network
    thread and must neither block nor raise. `start()` runs paho's own loop thread;
    `prepare()` only sets the connection up, for a loop that drives the sockets itself.
    """

    def __init__(self, endpoint: MqttEndpoint, client_id: str | None = None, *,
                 name: str = "MQTT client", persistent: bool = False, manual_ack: bool = False,
                 receive_maximum: int | None = None, keepalive: int = 30,
                 will: Will | None = None,
                 protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5) -> None:
        self.endpoint = endpoint
        self.client_id = client_id or f"telehub-{uuid.uuid4().hex[:12]}"
        self.name = name
        self._persistent = persistent
        self._receive_maximum = receive_maximum
        self._keepalive = keepalive
        self._protocol = protocol
        self._subscriptions: dict[str, int] = {}
        self._subscribe_mid: int | None = None
        self._lock = threading.Lock()
        self.generation = 0          # which connection this is; acks go to the one that received
        self.ready = threading.Event()   # connected, and subscribed when there is something to
        self.failed = threading.Event()  # refused for good: not retrying
        self.on_message: Callable[[mqtt.MQTTMessage], None] | None = None
        self.on_ready: Callable[[bool], None] | None = None      # session present
        self.on_publish: Callable[[int, ReasonCode], None] | None = None
        self.on_lost: Callable[[ReasonCode], None] | None = None
        self.on_refused: Callable[[ReasonCode], None] | None = None
        self.client = self._build(manual_ack, will)

    def _build(self, manual_ack: bool, will: Will | None) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=self._protocol, manual_ack=manual_ack)
        if self.endpoint.username:
            secret = self.endpoint.password
            client.username_pw_set(self.endpoint.username,
                                   secret.get_secret_value() if secret else None)
        if self.endpoint.tls:
            client.tls_set_context(ssl.create_default_context(cafile=self.endpoint.ca_file))
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        # paho's own queue of unacknowledged outgoing QoS 1 messages.
        client.max_inflight_messages_set(self._receive_maximum or 1000)
        client.max_queued_messages_set(0)  # 0: unbounded; callers bound their own queues
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Declare a subscription; it is made on every (re)connection."""
        self._subscriptions[topic] = qos

    # -- lifecycle ------------------------------------------------------------------

    def prepare(self) -> None:
        """Set host and CONNECT options; the first loop iteration connects."""
        if self._protocol != mqtt.MQTTv5:
            self.client.connect_async(self.endpoint.host, self.endpoint.port,
                                      keepalive=self._keepalive)
            return
        properties = mqtt.Properties(PacketTypes.CONNECT)
        if self._persistent:
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        if self._receive_maximum:
            properties.ReceiveMaximum = self._receive_maximum
        self.client.connect_async(self.endpoint.host, self.endpoint.port,
                                  keepalive=self._keepalive, clean_start=not self._persistent,
                                  properties=properties)

    def start(self) -> None:
        """Connect in the background; paho's loop thread reconnects with a backoff."""
        self.prepare()
        self.client.loop_start()
        logger.info("%s %s connecting to %s", self.name, self.client_id, self.endpoint.url())

    def stop(self) -> None:
        """Disconnect and stop the loop thread (idempotent)."""
        self.client.disconnect()
        self.client.loop_stop()
        self.ready.clear()

    def wait_ready(self, timeout: float) -> bool:
        """True once connected (and subscribed); False on timeout or a final refusal."""
        step = 0.05
        waited = 0.0
        while waited < timeout:
            if self.ready.wait(step):
                return True
            if self.failed.is_set():
                return False
            waited += step
        return self.ready.is_set()

    def is_connected(self) -> bool:
        """True while the broker connection is up."""
        return bool(self.client.is_connected())

    def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish (queued by paho while disconnected)."""
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def ack(self, mid: int, qos: int, generation: int) -> None:
        """Acknowledge a message, only on the connection that delivered it."""
        with self._lock:
            if qos > 0 and generation == self.generation:
                self.client.ack(mid, qos)

    # -- paho callbacks: no I/O, never raise -----------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure:
            self._refused(client, reason)
            return
        with self._lock:
            self.generation += 1
        if self._subscriptions:
            _result, self._subscribe_mid = client.subscribe(
                [(topic, mqtt.SubscribeOptions(qos=qos))
                 for topic, qos in self._subscriptions.items()])
            logger.info("%s connected (session present: %s)", self.name,
                        getattr(flags, "session_present", None))
            return
        self._became_ready(bool(getattr(flags, "session_present", False)))

    def _refused(self, client: mqtt.Client, reason: ReasonCode) -> None:
        number = refusal_number(reason)
        if not is_final_refusal(number):
            logger.warning("broker refused the %s (0x%02X %s); will retry", self.name, number,
                           reason)
            return
        logger.error("broker refused the %s (0x%02X %s); not retrying until its settings "
                     "change", self.name, number, reason)
        self.failed.set()
        client.disconnect()   # ends paho's reconnect loop
        if self.on_refused is not None:
            self.on_refused(reason)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[ReasonCode], properties: Any) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            logger.error("broker refused the %s's subscriptions: %s; stopping", self.name,
                         ", ".join(refused))
            self.failed.set()
            client.disconnect()
            return
        self._became_ready(True)

    def _became_ready(self, session_present: bool) -> None:
        if self.on_ready is not None:
            self.on_ready(session_present)
        self.ready.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason: ReasonCode, properties: Any) -> None:
        self.ready.clear()
        if self.on_lost is not None and not self.failed.is_set():
            self.on_lost(reason)

    def _on_message(self, client: mqtt.Client, userdata: Any,
                    message: mqtt.MQTTMessage) -> None:
        if self.on_message is not None:
            self.on_message(message)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode,
                    properties: Any) -> None:
        if self.on_publish is not None:
            self.on_publish(mid, reason)
