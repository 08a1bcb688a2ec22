"""Load mode: many devices publishing valid readings as fast as asked, counting PUBACKs."""

from __future__ import annotations

import contextlib
import json
import re
import selectors
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt

from device_simulators.clock import utcnow
from device_simulators.payloads import client_id, iso_utc
from telehub.config import parse_mqtt_url
from telehub.errors import ValidationError
from telehub.mqtt.connection import MqttConnection
from telehub.mqtt.topics import ROOT, readings_topic

# For the benchmarks: `run_load(mqtt_url, devices=1000, readings=100_000)` publishes
# exactly `readings` QoS 1 readings from `devices` MQTT clients (each its own client
# id) and returns how many were published and acknowledged.

MAX_UNACKED = 20_000         # readings in flight across all devices before publishing waits
BURST = 500                  # readings published between two looks at the sockets
CONNECT_TIMEOUT_S = 60.0
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:/s)?\s*")


def parse_rate(text: str) -> float:
    """'5000/s' or '5000' -> 5000.0 readings per second."""
    match = _RATE.fullmatch(text)
    if not match or float(match.group(1)) <= 0:
        raise ValidationError("bad-rate", f"'{text}' is not a rate (e.g. 5000/s).")
    return float(match.group(1))


def load_device_ids(devices: int, prefix: str = "load") -> list[str]:
    """The device ids `run_load` uses (register them so the hub stores their readings)."""
    return [f"{prefix}-{i:05d}" for i in range(1, devices + 1)]


@dataclass(frozen=True)
class LoadResult:
    """What a load run did."""

    devices: int
    requested: int
    published: int
    acknowledged: int
    seconds: float
    publish_rate: float          # readings/s published
    ack_rate: float              # readings/s acknowledged, over the whole run

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data (for JSON)."""
        return asdict(self)


def run_load(mqtt_url: str, devices: int = 1000, readings: int = 100_000,
             rate: float | None = None, *, topic_root: str = ROOT, prefix: str = "load",
             metric_time: datetime | None = None, stop: threading.Event | None = None,
             progress: Callable[[int, int], None] | None = None,
             ack_timeout: float = 120.0) -> LoadResult:
    """Publish exactly `readings` QoS 1 weight readings from `devices` clients; count PUBACKs.

    Readings are spread round-robin over the devices; each has its own id, seq and
    a distinct back-dated time, so a hub stores every one exactly once. One thread
    drives every client through epoll (a thread per client would not scale, and
    paho's own loop uses select(), which stops at 1,024 file descriptors).
    """
    if devices < 1 or readings < 0:
        raise ValidationError("bad-load", "devices must be ≥ 1 and readings ≥ 0.")
    endpoint = parse_mqtt_url(mqtt_url)
    stop = stop or threading.Event()
    ids = load_device_ids(devices, prefix)
    mux = ClientMux()
    try:
        clients = mux.connect_all(endpoint, ids, CONNECT_TIMEOUT_S, topic_root)
        per_device = -(-readings // devices)
        base = (metric_time or utcnow()) - timedelta(seconds=per_device + 60)
        started = time.monotonic()
        published = 0
        order = ((k, i) for k in range(per_device) for i in range(devices))
        last_report = 0.0
        while published < readings and not stop.is_set():
            budget = _budget(published, mux.acked, started, rate)
            for _ in range(budget):
                k, i = next(order)
                clients[i].publish(readings_topic(ids[i], topic_root),
                                   _payload(ids[i], k, base, i), qos=1)
                published += 1
                if published >= readings:
                    break
            mux.poll(0 if budget else 0.002)
            if progress and time.monotonic() - last_report > 0.2:
                progress(published, mux.acked)
                last_report = time.monotonic()
        deadline = time.monotonic() + ack_timeout
        while mux.acked < published and time.monotonic() < deadline and not stop.is_set():
            mux.poll(0.01)
        elapsed = time.monotonic() - started
    finally:
        mux.close()
    if progress:
        progress(published, mux.acked)
    return LoadResult(devices=devices, requested=readings, published=published,
                      acknowledged=mux.acked, seconds=round(elapsed, 3),
                      publish_rate=round(published / elapsed, 1) if elapsed else 0.0,
                      ack_rate=round(mux.acked / elapsed, 1) if elapsed else 0.0)


def _budget(published: int, acked: int, started: float, rate: float | None) -> int:
    """How many readings may go out now: bounded by the rate and by MAX_UNACKED."""
    room = MAX_UNACKED - (published - acked)
    if rate:
        room = min(room, int(rate * (time.monotonic() - started)) - published)
    return max(min(room, BURST), 0)


def _payload(device_id: str, k: int, base: datetime, i: int) -> bytes:
    # Stagger devices by a few ms so every reading's time is distinct within a device.
    when = base + timedelta(seconds=k, milliseconds=i % 1000)
    return json.dumps({"id": f"{device_id}-{k + 1}", "seq": k + 1, "metric": "weight",
                       "value": round(60.0 + (i % 400) / 10, 1), "unit": "kg",
                       "time": iso_utc(when)}, separators=(",", ":")).encode()


def _light_connection(endpoint: Any, cid: str) -> MqttConnection:
    """A device-like client speaking MQTT 3.1.1: what small devices speak, and its PUBACKs
    cost the generator a fraction of an MQTT 5 PUBACK (no properties or reason codes)."""
    return MqttConnection(endpoint, cid, name=f"load device {cid}", keepalive=60,
                          protocol=mqtt.MQTTv311)


class ClientMux:
    """Many paho clients driven by one thread through a selector (epoll on Linux)."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._clients: list[mqtt.Client] = []
        self.acked = 0
        self.connected = 0
        self._last_misc = time.monotonic()

    def connect_all(self, endpoint: Any, ids: list[str], timeout: float,
                    topic_root: str = ROOT) -> list[mqtt.Client]:
        """One client per id, each connected (CONNACK received) within `timeout` seconds."""
        for device_id in ids:
            connection = _light_connection(endpoint, client_id(device_id, topic_root))
            connection.on_ready = self._on_ready
            connection.on_publish = self._on_publish
            client = connection.client
            client.on_socket_open = self._open
            client.on_socket_close = self._close
            client.on_socket_register_write = self._want_write
            client.on_socket_unregister_write = self._no_write
            connection.prepare()
            client.reconnect()
            self._clients.append(client)
            self.poll(0)
        deadline = time.monotonic() + timeout
        while self.connected < len(ids) and time.monotonic() < deadline:
            self.poll(0.01)
        if self.connected < len(ids):
            raise ValidationError("load-connect", f"only {self.connected} of {len(ids)} load "
                                  "devices could connect to the broker.")
        return self._clients

    def poll(self, timeout: float) -> None:
        """Read and write whatever sockets are ready; keepalives once a second."""
        for key, mask in self._selector.select(timeout):
            client = key.data
            if mask & selectors.EVENT_READ:
                client.loop_read(100)
            if mask & selectors.EVENT_WRITE:
                client.loop_write()
        if time.monotonic() - self._last_misc > 1.0:
            self._last_misc = time.monotonic()
            for client in self._clients:
                client.loop_misc()

    def close(self) -> None:
        """Disconnect every client and flush the DISCONNECTs."""
        for client in self._clients:
            client.disconnect()
        self.poll(0.05)
        self._selector.close()

    def _on_ready(self, session_present: bool) -> None:
        self.connected += 1

    def _on_publish(self, mid: int, reason: Any) -> None:
        if not reason.is_failure:
            self.acked += 1

    def _open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._selector.register(sock, selectors.EVENT_READ, client)

    def _close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    def _want_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def _no_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.modify(sock, selectors.EVENT_READ, client)
