"""A simulated home device: an MQTT client with its own id, seq, battery and store-and-forward."""

from __future__ import annotations

import json
import logging
import threading
import time

import paho.mqtt.client as mqtt
from pydantic import SecretStr

from device_simulators.netloop import NetworkLoop, shared_loop
from device_simulators.payloads import (
    client_id,
    encode_batch,
    encode_event,
    encode_reading,
    event_item,
    reading_item,
    status_payload,
)
from device_simulators.physiology import Measurement
from device_simulators.store import ReadingStore
from device_simulators.telecare import DeviceEvent
from telehub.config import MqttEndpoint
from telehub.domain.roster import DeviceSpec
from telehub.mqtt.connection import MqttConnection, Will
from telehub.mqtt.topics import events_topic, readings_topic, status_topic

# Every reading goes to the on-disk store first and leaves it only on the broker's
# PUBACK. While the device is offline (its scenario, a broker outage, a refused
# publish), readings wait on disk; on the next connection the ones not already in
# flight go out as one `{"readings": [...]}` batch. Paho re-sends the in-flight ones
# itself after a reconnect, so none is sent twice by us and none is dropped.
#
# A telecare device (pendant, fall detector…) keeps its events the same way and sends
# each one alone on its events topic, QoS 1.

logger = logging.getLogger(__name__)

BATCH_MAX = 1000                 # readings per store-and-forward batch (the hub takes 10,000)
BATTERY_PER_READING = 0.2        # % drained by one measurement and transmission
BATTERY_REPLACED_BELOW = 12.0    # the patient changes the batteries when the device warns
BATTERY_PER_EVENT = 0.5          # a telecare alarm call (radio on for longer)


class SimulatedDevice:
    """One device of one patient, publishing to the broker like the real thing."""

    def __init__(self, spec: DeviceSpec, endpoint: MqttEndpoint, store: ReadingStore, *,
                 topic_root: str, password: str | None = None,
                 network: NetworkLoop | None = None) -> None:
        self.spec = spec
        self._net = network or shared_loop()
        self._endpoint = endpoint
        self._store = store
        self._root = topic_root
        self._password = password
        state = store.load_state(spec.device_id)
        self.seq, self.battery = state if state else (0, 100.0)
        self._lock = threading.Lock()
        # Published readings awaiting their PUBACK: paho's message info and the store rows.
        self._inflight: list[tuple[mqtt.MQTTMessageInfo, list[int]]] = []
        self._refused_mids: set[int] = set()         # PUBACKs with a failure reason code
        self._connected = threading.Event()
        self._flush_due = False
        self.refused = False
        self.wanted_online = False
        # While history is written, readings are kept and sent as batches afterwards: a
        # device's month arrives in one transaction, not as a month of single readings.
        self.holding = False
        self._client: mqtt.Client | None = None
        self._status_info: mqtt.MQTTMessageInfo | None = None
        self.published = 0
        self.acked = 0

    @property
    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self._connected.is_set()

    # -- connection -------------------------------------------------------------------

    def go_online(self) -> None:
        """Connect (in the background); pending readings go out as a batch once connected."""
        if self.wanted_online:
            return
        self.wanted_online = True
        endpoint = self._endpoint
        if self._password is not None:
            endpoint = endpoint.model_copy(update={"username": self.spec.device_id,
                                                   "password": SecretStr(self._password)})
        connection = MqttConnection(
            endpoint, client_id(self.spec.device_id, self._root),
            name=f"device {self.spec.device_id}",
            will=Will(status_topic(self.spec.device_id, self._root), status_payload(False)))
        connection.on_ready = self._on_ready
        connection.on_lost = self._on_lost
        connection.on_publish = self._on_publish
        connection.on_refused = self._on_refused
        self._client = connection.client
        connection.prepare()     # sets host and options; the network loop connects
        self._net.add(connection.client)

    def go_offline(self, timeout: float = 10.0) -> None:
        """Say so on the status topic and disconnect; unacknowledged readings stay on disk."""
        self.wait_acked(timeout)
        self.say_offline()
        deadline = time.monotonic() + timeout
        while not self.said_offline() and time.monotonic() < deadline:
            time.sleep(0.005)
        self.hang_up()
        deadline = time.monotonic() + 2.0   # let the loop send DISCONNECT and close
        while not self.hung_up() and time.monotonic() < deadline:
            time.sleep(0.005)
        self.forget_connection()

    # The steps of going offline, so that a simulator can take many devices through
    # each step together instead of one device after another.

    def say_offline(self) -> None:
        """Stop reconnecting and publish the retained offline status."""
        self.wanted_online = False
        client = self._client
        if client is None:
            return
        self._net.remove(client)
        if self.connected:
            self._status_info = client.publish(status_topic(self.spec.device_id, self._root),
                                               status_payload(False, self.battery_level),
                                               qos=1, retain=True)

    def said_offline(self) -> bool:
        """True once the broker has the offline status (or cannot get it)."""
        info = self._status_info
        return info is None or info.is_published() or not self.connected

    def hang_up(self) -> None:
        """Disconnect cleanly (no last will)."""
        if self._client is not None:
            self._client.disconnect()

    def hung_up(self) -> bool:
        """True once the connection is closed."""
        return self._client is None or self._client.socket() is None

    def forget_connection(self) -> None:
        """Drop the client; readings not acknowledged stay on disk for the next connection."""
        self._client = None
        self._status_info = None
        self._connected.clear()
        self.reap()
        with self._lock:
            self._inflight.clear()

    def _on_refused(self, reason: object) -> None:
        self.refused = True
        if self._client is not None:
            self._net.remove(self._client)   # refused credentials do not improve with retries

    def _on_ready(self, session_present: bool) -> None:
        client = self._client
        if client is None:
            return
        client.publish(status_topic(self.spec.device_id, self._root),
                       status_payload(True, self.battery_level), qos=1, retain=True)
        with self._lock:
            self._flush_due = True
        self._connected.set()

    def _on_lost(self, reason: object) -> None:
        self._connected.clear()
        if self.wanted_online:
            logger.info("device %s lost its connection (%s); keeping readings",
                        self.spec.device_id, reason)

    def _on_publish(self, mid: int, reason: mqtt.ReasonCode) -> None:
        # No I/O here: the runner thread reaps acknowledgements in `pump`.
        if reason.is_failure:
            with self._lock:
                self._refused_mids.add(mid)

    # -- readings ---------------------------------------------------------------------

    @property
    def battery_level(self) -> int:
        """Battery as the device reports it (whole %)."""
        return round(self.battery)

    def record(self, m: Measurement) -> None:
        """Take a reading: keep it on disk, and publish it now if connected."""
        if self.spec.unit is None:
            raise ValueError(f"device {self.spec.device_id} is a {self.spec.kind}: it sends "
                             "events, not readings")
        self._drain(BATTERY_PER_READING)
        item = reading_item(m, self.spec.unit, self.seq, self.battery_level)
        text = json.dumps(item, separators=(",", ":"))
        row = self._store.add(self.spec.device_id, text, m.fault, self.seq, self.battery)
        if self.holding or not self.connected:
            return
        if self._flush_due:
            self.pump()                  # sends this reading with those that waited
        else:
            self._publish([row], encode_reading(item, m.fault))

    def record_event(self, event: DeviceEvent) -> None:
        """A telecare event: keep it on disk, and publish it now if connected."""
        if not self.spec.telecare:
            raise ValueError(f"device {self.spec.device_id} is a {self.spec.kind}: it sends "
                             "readings, not events")
        self._drain(BATTERY_PER_EVENT)
        item = event_item(event.event, event.time)
        text = json.dumps(item, separators=(",", ":"))
        row = self._store.add(self.spec.device_id, text, None, self.seq, self.battery)
        if self.holding or not self.connected:
            return
        if self._flush_due:
            self.pump()
        else:
            self._publish([row], encode_event(item))

    def _drain(self, used: float) -> None:
        self.seq += 1
        self.battery -= used
        if self.battery < BATTERY_REPLACED_BELOW:
            self.battery = 100.0

    def release(self) -> None:
        """Stop holding readings back: send what was kept as batches now."""
        self.holding = False
        with self._lock:
            self._flush_due = True
        self.pump()

    def reap(self) -> int:
        """Forget the readings the broker has acknowledged; returns how many."""
        done: list[int] = []
        with self._lock:
            waiting = []
            for info, rows in self._inflight:
                if not info.is_published():
                    waiting.append((info, rows))
                elif info.mid in self._refused_mids:    # stays on disk for the next connection
                    self._refused_mids.discard(info.mid)
                    logger.warning("broker refused a publish from %s", self.spec.device_id)
                else:
                    done.extend(rows)
            self._inflight = waiting
        if done:
            self._store.acknowledged(done)
            self.acked += len(done)
        return len(done)

    def pump(self) -> None:
        """Reap acknowledgements; after each (re)connection, send what waits on disk as batches."""
        self.reap()
        with self._lock:
            due = self._flush_due and self.connected and not self.holding
            if due:
                self._flush_due = False
            inflight = [r for _info, rows in self._inflight for r in rows]
        if not due:
            return
        waiting = self._store.pending(self.spec.device_id, exclude=inflight)
        if waiting:
            logger.debug("device %s sends %d stored messages", self.spec.device_id, len(waiting))
        if self.spec.telecare:
            for p in waiting:            # events go one by one, in the order they happened
                self._publish([p.row_id], encode_event(json.loads(p.item)))
            return
        batchable = [p for p in waiting if p.fault != "malformed"]
        for p in waiting:
            if p.fault == "malformed":   # sent alone, so it cannot spoil good readings
                self._publish([p.row_id], encode_reading(json.loads(p.item), "malformed"))
        for start in range(0, len(batchable), BATCH_MAX):
            chunk = batchable[start:start + BATCH_MAX]
            items = [json.loads(p.item) for p in chunk]
            payload = encode_batch(items) if len(items) > 1 else encode_reading(items[0])
            self._publish([p.row_id for p in chunk], payload)

    def _publish(self, rows: list[int], payload: bytes) -> None:
        client = self._client
        if client is None:
            return
        topic = (events_topic if self.spec.telecare else readings_topic)(self.spec.device_id,
                                                                         self._root)
        info = client.publish(topic, payload, qos=1)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            with self._lock:     # paho keeps it, and re-sends it after a reconnect
                self._inflight.append((info, rows))
            self.published += len(rows)
        else:
            logger.warning("publish from %s failed (%s); kept on disk", self.spec.device_id,
                           info.rc)

    @property
    def inflight(self) -> int:
        """Readings published and not yet acknowledged."""
        with self._lock:
            return sum(len(rows) for _info, rows in self._inflight)

    def wait_acked(self, timeout: float) -> bool:
        """Wait until every published reading is acknowledged (or `timeout` seconds pass)."""
        deadline = time.monotonic() + timeout
        self.reap()
        while self.inflight and time.monotonic() < deadline:
            time.sleep(0.02)
            self.reap()
        return not self.inflight

    def close(self, timeout: float = 10.0) -> None:
        """Wait for outstanding PUBACKs, say offline and disconnect; the rest stays on disk."""
        if self.connected:
            self.pump()
        self.go_offline(timeout)
        self.save_state()

    def save_state(self) -> None:
        """Remember seq and battery for the next run."""
        self._store.save_state(self.spec.device_id, self.seq, self.battery)
