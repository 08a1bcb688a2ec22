"""A real HTTP webhook receiver on a free port, recording what telecare would receive."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """Records every POST (headers, body) once answered; can answer an error status, or hold
    its first request until `release` is set (a slow receiver)."""

    def __init__(self, *, status: int = 204, hold_first: bool = False) -> None:
        self.status = status
        self.hold_first = hold_first
        self.holding = threading.Event()     # the first request is in the receiver's hands
        self.release = threading.Event()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        self._arrived = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    first = receiver._arrived == 0
                    receiver._arrived += 1
                if first and receiver.hold_first:
                    receiver.holding.set()
                    receiver.release.wait(30)
                with receiver._lock:
                    receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/telecare"

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies answered so far, in order."""
        with self._lock:
            return [json.loads(body) for _, body in self.received]

    def keys(self) -> Counter[str]:
        """How many times each idempotency key was answered."""
        with self._lock:
            return Counter(headers["Idempotency-Key"] for headers, _ in self.received)

    def close(self) -> None:
        """Stop serving (a held request is released first)."""
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
