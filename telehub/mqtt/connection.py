"""Building paho-mqtt clients the same way everywhere (TLS, credentials, MQTT 5 sessions)."""

from __future__ import annotations

import ssl
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telehub.config import MqttEndpoint

# A persistent session outlives a hub restart by this long: long enough for an
# outage or a redeploy, short enough that an abandoned worker id is forgotten.
SESSION_EXPIRY_S = 7 * 24 * 3600


def new_client(endpoint: MqttEndpoint, client_id: str | None = None, *,
               persistent: bool = False, manual_ack: bool = False,
               receive_maximum: int | None = None) -> mqtt.Client:
    """A paho MQTT 5 client for `endpoint`; call `connect_args` for its connect() arguments."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"telehub-{uuid.uuid4().hex[:12]}",
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if endpoint.username:
        password = endpoint.password.get_secret_value() if endpoint.password else None
        client.username_pw_set(endpoint.username, password)
    if endpoint.tls:
        context = ssl.create_default_context(cafile=endpoint.ca_file)
        client.tls_set_context(context)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    # paho's own queue of unacknowledged outgoing QoS 1 messages.
    client.max_inflight_messages_set(receive_maximum or 1000)
    client.max_queued_messages_set(0)  # 0: unbounded; callers bound their own queues
    client._telehub_persistent = persistent  # type: ignore[attr-defined]
    return client


def connect_properties(*, persistent: bool, receive_maximum: int | None = None
                       ) -> mqtt.Properties:
    """CONNECT properties: session expiry for a persistent session, receive maximum."""
    from paho.mqtt.packettypes import PacketTypes

    props = mqtt.Properties(PacketTypes.CONNECT)
    if persistent:
        props.SessionExpiryInterval = SESSION_EXPIRY_S
    if receive_maximum:
        props.ReceiveMaximum = receive_maximum
    return props


def connect(client: mqtt.Client, endpoint: MqttEndpoint, *, persistent: bool = False,
            receive_maximum: int | None = None, keepalive: int = 30) -> None:
    """Start connecting (asynchronously); the loop thread must be running or started after."""
    client.connect_async(
        endpoint.host, endpoint.port, keepalive=keepalive,
        clean_start=not persistent,
        properties=connect_properties(persistent=persistent, receive_maximum=receive_maximum),
    )
