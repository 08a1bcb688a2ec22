"""One network thread for many simulated devices: paho clients driven through epoll."""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

# paho's own loop (`loop_start`) costs a thread per client and uses select(), which
# stops working once a process has 1,024 file descriptors open: a caseload of a few
# hundred devices would hang. Here one thread reads, writes and keeps alive every
# client, reconnecting those that should be online with a backoff. Other threads
# may publish on the clients at any time, as with `loop_start`.

logger = logging.getLogger(__name__)

SWEEP_S = 0.05            # how often to look for clients with queued writes and no write watch
MISC_S = 1.0              # keepalive pings and reconnect attempts
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0


@dataclass
class _Member:
    client: mqtt.Client
    keep: bool = True                   # reconnect whenever the connection is lost
    retry_at: float = 0.0
    backoff: float = RECONNECT_MIN_S
    sock: Any = field(default=None)


class NetworkLoop:
    """Drives paho clients from one thread; `add` keeps a client connected until `remove`."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._members: dict[int, _Member] = {}
        self._want_write: set[int] = set()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="device-network", daemon=True)
        self._thread.start()

    def add(self, client: mqtt.Client) -> None:
        """Keep `client` connected (its host and options set by `connect_async` beforehand)."""
        client.on_socket_open = self._opened
        client.on_socket_close = self._closed
        client.on_socket_register_write = self._register_write
        client.on_socket_unregister_write = self._unregister_write
        with self._lock:
            self._members[id(client)] = _Member(client)
        self._wake()

    def remove(self, client: mqtt.Client) -> None:
        """Stop reconnecting `client` (its socket is still served until it closes)."""
        with self._lock:
            member = self._members.get(id(client))
            if member is not None:
                member.keep = False
                if member.sock is None:
                    del self._members[id(client)]

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        self._wake()
        self._thread.join(timeout=5)

    # -- paho socket callbacks (any thread) ------------------------------------------

    def _opened(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with self._lock:
            member = self._members.get(id(client))
            if member is not None:
                member.sock = sock
        self._selector.register(sock, selectors.EVENT_READ, client)

    def _closed(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        with self._lock:
            member = self._members.get(id(client))
            if member is not None:
                member.sock = None
                if not member.keep:
                    del self._members[id(client)]
                else:
                    member.retry_at = time.monotonic() + member.backoff
                    member.backoff = min(member.backoff * 2, RECONNECT_MAX_S)

    def _register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with self._lock:
            self._want_write.add(id(client))
        if threading.current_thread() is not self._thread:
            self._wake()

    def _unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.modify(sock, selectors.EVENT_READ, client)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    # -- the network thread --------------------------------------------------------------

    def _run(self) -> None:
        last_sweep = last_misc = 0.0
        while not self._stop.is_set():
            try:
                self._connect_due()
                self._watch_writes()
                for key, mask in self._selector.select(SWEEP_S):
                    if key.data is None:
                        with contextlib.suppress(BlockingIOError, OSError):
                            self._wake_r.recv(4096)
                        continue
                    client = key.data
                    if mask & selectors.EVENT_READ:
                        client.loop_read(100)
                    if mask & selectors.EVENT_WRITE:
                        client.loop_write()
                now = time.monotonic()
                if now - last_sweep >= SWEEP_S:
                    last_sweep = now
                    self._sweep()
                if now - last_misc >= MISC_S:
                    last_misc = now
                    for member in self._snapshot():
                        if member.sock is not None:
                            member.client.loop_misc()
            except Exception:
                logger.exception("device network loop failed; carrying on")
                time.sleep(0.1)

    def _snapshot(self) -> list[_Member]:
        with self._lock:
            return list(self._members.values())

    def _watch_writes(self) -> None:
        with self._lock:
            ids, self._want_write = self._want_write, set()
            members = [self._members[i] for i in ids if i in self._members]
        for member in members:
            if member.sock is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.modify(member.sock,
                                          selectors.EVENT_READ | selectors.EVENT_WRITE,
                                          member.client)

    def _sweep(self) -> None:
        """Queued writes whose watch was lost to a race with another thread get one now."""
        for member in self._snapshot():
            if member.sock is not None and member.client.want_write():
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.modify(member.sock,
                                          selectors.EVENT_READ | selectors.EVENT_WRITE,
                                          member.client)

    def _connect_due(self) -> None:
        now = time.monotonic()
        for member in self._snapshot():
            if not member.keep or member.sock is not None or now < member.retry_at:
                continue
            try:
                member.client.reconnect()
                member.backoff = RECONNECT_MIN_S
            except OSError as err:
                logger.debug("device connection failed (%s); retrying", err)
                member.retry_at = now + member.backoff
                member.backoff = min(member.backoff * 2, RECONNECT_MAX_S)


_shared: NetworkLoop | None = None
_shared_lock = threading.Lock()


def shared_loop() -> NetworkLoop:
    """The process's network loop for simulated devices (started on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = NetworkLoop()
        return _shared
