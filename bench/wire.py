"""A minimal MQTT 3.1.1 client on a raw socket, for load the Python paho client cannot make.

paho spends tens of microseconds of Python per message, so a paho publisher or
subscriber tops out at a few thousand messages a second on a small machine and would
measure itself, not the broker or the hub. These pre-encode packets and write them in
large chunks (publisher), or parse and acknowledge a whole socket read at a time
(subscriber). Plain TCP, anonymous: only for the benchmark's own broker.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterable

from bench.load import Message, Tally
from telehub.config import MqttEndpoint

_CONNECT, _CONNACK, _PUBLISH, _PUBACK, _SUBSCRIBE, _SUBACK = 1, 2, 3, 4, 8, 9
# Unacknowledged QoS 1 messages a publisher keeps in flight (packet ids are 16-bit).
WINDOW = 20_000
_CHUNK = 256 * 1024      # bytes written per sendall


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def connect_packet(client_id: str) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session, keepalive off."""
    body = _string(b"MQTT") + bytes([4, 0x02]) + (0).to_bytes(2, "big") + _string(
        client_id.encode())
    return bytes([_CONNECT << 4]) + _varint(len(body)) + body


def publish_packet(topic: bytes, payload: bytes, packet_id: int) -> bytes:
    """PUBLISH at QoS 1."""
    body = _string(topic) + packet_id.to_bytes(2, "big") + payload
    return bytes([(_PUBLISH << 4) | 0x02]) + _varint(len(body)) + body


def subscribe_packet(topic_filter: str, packet_id: int = 1) -> bytes:
    """SUBSCRIBE to one filter at QoS 1."""
    body = packet_id.to_bytes(2, "big") + _string(topic_filter.encode()) + b"\x01"
    return bytes([(_SUBSCRIBE << 4) | 0x02]) + _varint(len(body)) + body


def puback_packet(packet_id: int) -> bytes:
    """PUBACK for a received QoS 1 PUBLISH."""
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


def split_packets(buffer: bytearray) -> list[tuple[int, int, bytes]]:
    """Remove every complete packet from `buffer`: (type, flags, body) each."""
    packets: list[tuple[int, int, bytes]] = []
    pos, size = 0, len(buffer)
    while pos + 2 <= size:
        length, multiplier, i = 0, 1, pos + 1
        while True:
            if i >= size:
                del buffer[:pos]
                return packets
            byte = buffer[i]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            i += 1
            if not byte & 0x80:
                break
        if i + length > size:
            break
        packets.append((buffer[pos] >> 4, buffer[pos] & 0x0F, bytes(buffer[i:i + length])))
        pos = i + length
    del buffer[:pos]
    return packets


class _Connection:
    """A connected socket and a reader thread handing complete packets to `_handle`."""

    def __init__(self, endpoint: MqttEndpoint, name: str) -> None:
        if endpoint.tls or endpoint.username:
            raise ValueError("the raw-socket load client speaks plain anonymous MQTT only")
        self._sock = socket.create_connection((endpoint.host, endpoint.port), timeout=10)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(connect_packet(f"bench-{name}-{uuid.uuid4().hex[:8]}"))
        ack = self._recv_exact(4)
        if ack[0] >> 4 != _CONNACK or ack[3] != 0:
            raise ConnectionError(f"broker refused the connection (CONNACK {ack.hex()})")
        self._sock.settimeout(None)
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read_forever, name=f"wire-{name}",
                                        daemon=True)
        self._reader.start()

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_forever(self) -> None:
        buffer = bytearray()
        while not self._closed.is_set():
            try:
                chunk = self._sock.recv(1 << 20)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            self._handle(split_packets(buffer))

    def _handle(self, packets: list[tuple[int, int, bytes]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Disconnect."""
        self._closed.set()
        try:
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(5)


class WirePublisher(_Connection):
    """Publishes pre-encoded QoS 1 messages as fast as the broker acknowledges them."""

    def __init__(self, endpoint: MqttEndpoint, name: str = "wirepub") -> None:
        self._acked = 0
        self._cond = threading.Condition()
        super().__init__(endpoint, name)

    def _handle(self, packets: list[tuple[int, int, bytes]]) -> None:
        acks = sum(1 for kind, _, _ in packets if kind == _PUBACK)
        if acks:
            with self._cond:
                self._acked += acks
                self._cond.notify_all()

    @property
    def acked(self) -> int:
        """PUBACKs received so far."""
        with self._cond:
            return self._acked

    def publish_all(self, messages: Iterable[Message]) -> int:
        """Publish every message, at most WINDOW unacknowledged; returns how many."""
        out = bytearray()
        sent = 0
        for message in messages:
            if sent - self._acked >= WINDOW:
                self._sock.sendall(out)
                out.clear()
                with self._cond:
                    while sent - self._acked >= WINDOW // 2:
                        self._cond.wait(1.0)
            out += publish_packet(message.topic.encode(), message.payload, sent % 65535 + 1)
            sent += 1
            if len(out) >= _CHUNK:
                self._sock.sendall(out)
                out.clear()
        if out:
            self._sock.sendall(out)
        return sent

    def wait_acked(self, total: int, timeout: float = 120.0) -> bool:
        """Block until `total` PUBACKs have arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._acked < total:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True


class WireSubscriber(_Connection):
    """Subscribes at QoS 1, acknowledges and counts every message, stores nothing."""

    def __init__(self, endpoint: MqttEndpoint, topic_filter: str,
                 name: str = "wiresub") -> None:
        self.tally = Tally()
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        super().__init__(endpoint, name)
        self._sock.sendall(subscribe_packet(topic_filter))
        if not self.subscribed.wait(10):
            raise TimeoutError("no SUBACK")

    def _handle(self, packets: list[tuple[int, int, bytes]]) -> None:
        acks = bytearray()
        now = time.perf_counter()
        with self._lock:
            t = self.tally
            for kind, flags, body in packets:
                if kind == _PUBLISH:
                    topic_end = 2 + int.from_bytes(body[:2], "big")
                    if flags & 0x06:
                        acks += puback_packet(int.from_bytes(body[topic_end:topic_end + 2],
                                                             "big"))
                        t.distinct.add(body[:topic_end] + body[topic_end + 2:])
                    else:
                        t.distinct.add(body)
                    t.received += 1
                    if t.first_at is None:
                        t.first_at = now
                    t.last_at = now
                elif kind == _SUBACK:
                    self.subscribed.set()
        if acks:
            self._sock.sendall(acks)

    def wait_for(self, total: int, *, stall_s: float = 10.0, timeout: float = 600.0) -> None:
        """Wait until `total` distinct messages arrived, or nothing new for `stall_s`."""
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self._lock:
                n = len(self.tally.distinct)
            if n >= total or (n == last and time.monotonic() - last_change > stall_s):
                return
            if n != last:
                last, last_change = n, time.monotonic()
            time.sleep(0.01)
