"""The fault tests' harness: the shipped broker configuration on a mosquitto of the test's
own, devices that publish through it, hub processes, a responder, and counting helpers."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from telehub.broker.config import (
    start_mosquitto_with,
)
from telehub.demo.embedded import stop_process
from telehub.mqtt.topics import readings_topic

ROOT = Path(__file__).resolve().parents[2]
HUB_USER, HUB_PASSWORD = "telehub-hub", "reliability-hub-pw"
RESPONDER_USER, RESPONDER_PASSWORD = "responder-1", "reliability-responder-pw"


def count(db_url: str, query: str, params: tuple[Any, ...] = ()) -> int:
    """One integer from a fresh connection (sees only committed data)."""
    with psycopg.connect(db_url, autocommit=True, connect_timeout=5) as c:
        row = c.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll until `condition()` holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")


@dataclass
class ShippedBroker:
    """mosquitto running `telehub broker config`'s output (dynamic-security, persistence)."""

    out: Path
    port: int
    passwords: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def hub_url(self) -> str:
        """What the hub's TELEHUB_MQTT_URL says."""
        return f"mqtt://{HUB_USER}:{HUB_PASSWORD}@127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start mosquitto on the generated configuration (its saved state is reloaded)."""
        self.proc = start_mosquitto_with(self.out / "mosquitto.conf", [self.port],
                                         log=self.out / "stderr.log")

    def stop(self) -> None:
        """Stop it cleanly (SIGTERM: mosquitto saves its sessions and queues)."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@dataclass(frozen=True)
class Fleet:
    """Registered patients, one oximeter each, each device with broker credentials."""

    patient_ids: tuple[int, ...]
    devices: tuple[str, ...]


def reading_body(device_id: str, n: int, at: datetime) -> bytes:
    """A distinct, valid SpO2 reading."""
    return json.dumps({"id": f"{device_id}-{n}", "metric": "spo2", "value": 90 + n % 10,
                       "unit": "%", "time": at.isoformat().replace("+00:00", "Z"),
                       "seq": n + 1}).encode()


@dataclass
class Device:
    """A device's MQTT client: QoS 1, paho keeps unacknowledged readings and re-sends them
    after a reconnect (store-and-forward in memory), counts the broker's PUBACKs."""

    device_id: str
    password: str
    port: int
    acked: int = 0
    refused: int = 0
    client: mqtt.Client = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device_id,
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(self.device_id, self.password)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.2, 2)
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()

    def _on_publish(self, _c: Any, _u: Any, _mid: int, reason_code: Any, _p: Any) -> None:
        with self._lock:
            if reason_code.is_failure:
                self.refused += 1
            else:
                self.acked += 1

    def publish(self, n: int, at: datetime) -> None:
        """Publish reading `n` (queued by paho while the broker is away)."""
        self.client.publish(readings_topic(self.device_id), reading_body(self.device_id, n, at),
                            qos=1)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


def publish_all(devices: list[Device], per_device: int, *, start: datetime | None = None,
                offset: int = 0, rate_per_device: float | None = None) -> float:
    """Every device publishes `per_device` readings, in parallel; returns the seconds taken."""
    start = start or datetime.now(UTC) - timedelta(hours=3)

    def run(device: Device) -> None:
        for i in range(offset, offset + per_device):
            device.publish(i, start + timedelta(seconds=i))
            if rate_per_device:
                time.sleep(1 / rate_per_device)

    began = time.perf_counter()
    threads = [threading.Thread(target=run, args=(d,)) for d in devices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began


class RawDevice:
    """A device's MQTT 3.1.1 connection on a raw socket, for bursts paho cannot make from one
    Python process: its readings are encoded up front and written in one go."""

    def __init__(self, device_id: str, password: str, port: int) -> None:
        from bench.wire import split_packets

        self.device_id = device_id
        self._split = split_packets
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(_connect_packet(device_id, device_id, password))
        connack = self._sock.recv(4)
        if len(connack) != 4 or connack[0] >> 4 != 2 or connack[3] != 0:
            raise ConnectionError(f"broker refused {device_id}: {connack.hex()}")
        self._sock.settimeout(None)
        self.acked = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = bytearray()
        while True:
            try:
                chunk = self._sock.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            self.acked += sum(1 for kind, _, _ in self._split(buffer) if kind == 4)

    def encode(self, count: int, start: datetime) -> bytes:
        """`count` QoS 1 PUBLISH packets of distinct readings (packet ids 1..count)."""
        from bench.wire import publish_packet

        topic = readings_topic(self.device_id).encode()
        return b"".join(publish_packet(topic, reading_body(self.device_id, i,
                                                          start + timedelta(seconds=i)), i + 1)
                        for i in range(count))

    def send(self, packets: bytes) -> None:
        """Write pre-encoded packets."""
        self._sock.sendall(packets)

    def close(self) -> None:
        """Disconnect."""
        try:
            self._sock.sendall(b"\xe0\x00")
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


def _connect_packet(client_id: str, username: str, password: str) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session, username and password, keepalive off."""
    def field(text: str) -> bytes:
        data = text.encode()
        return len(data).to_bytes(2, "big") + data

    body = field("MQTT") + bytes([4, 0xC2]) + (0).to_bytes(2, "big") + field(client_id) + \
        field(username) + field(password)
    return bytes([0x10, len(body)]) + body


class Responder:
    """A telecare responder's client: a persistent QoS 1 session on every alert topic."""

    def __init__(self, port: int) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=RESPONDER_USER,
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(RESPONDER_USER, RESPONDER_PASSWORD)
        self.subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe("telehub/v1/alerts/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append(json.loads(msg.payload))

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Hub:
    """A `python -m telehub hub` process of the test's own."""

    env: dict[str, str]
    log: Path
    metrics_port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Hub:
        """Start (or restart) the process."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "telehub", "hub"], cwd=ROOT,
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def metrics(self) -> dict[str, float]:
        """The hub's Prometheus counters (unlabelled samples)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        values = {}
        for line in text.splitlines():
            if line.startswith("telehub_ingest_") and "{" not in line:
                name, value = line.split(" ", 1)
                values[name] = float(value)
        return values


def hub_connected(hub: Hub) -> bool:
    """True once the hub process serves its metrics (it has started its services)."""
    try:
        hub.metrics()
    except OSError:
        return False
    return True


def stored(db_url: str) -> int:
    """Readings stored."""
    return count(db_url, "SELECT count(*) FROM readings")


def settle(db_url: str, quiet_s: float = 5.0, timeout: float = 120.0) -> int:
    """The stored count once it has not changed for `quiet_s` seconds."""
    deadline = time.monotonic() + timeout
    last, since = stored(db_url), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = stored(db_url)
        if now != last:
            last, since = now, time.monotonic()
        elif now and time.monotonic() - since >= quiet_s:
            break
    return last


def duplicated(db_url: str) -> int:
    """Readings stored more than once under the same identity (the constraint says 0)."""
    return count(db_url, "SELECT count(*) - count(DISTINCT (device_id, reading_key)) "
                         "FROM readings")


def wait_hub_online(broker: ShippedBroker, client_id: str, timeout: float = 30.0) -> None:
    """Wait for the hub's retained `online` status: it is subscribed once that is published."""
    from telehub.mqtt.topics import hub_status_topic

    seen = threading.Event()
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watcher.username_pw_set(HUB_USER, HUB_PASSWORD)

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.payload == b"online":
            seen.set()

    watcher.on_message = on_message
    watcher.on_connect = lambda c, *_: c.subscribe(hub_status_topic(client_id), qos=1)
    watcher.connect("127.0.0.1", broker.port)
    watcher.loop_start()
    try:
        assert seen.wait(timeout), f"hub {client_id} did not come online"
    finally:
        watcher.disconnect()
        watcher.loop_stop()
