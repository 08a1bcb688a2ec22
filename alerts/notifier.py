"""Outbox notifier: delivers queued alert notifications to MQTT (QoS 1) and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from alerts.store import OUTBOX_CHANNEL
from telehub.config import Settings
from telehub.mqtt import topics
from telehub.mqtt.connection import MqttConnection

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Telehub-Signature"
ALERT_ID_HEADER = "X-Telehub-Alert-Id"
# Rows claimed per transaction: enough to pipeline publishes, few enough to hold locks briefly.
CLAIM_BATCH = 100
# How long one claimed batch waits for PUBACKs before the rows are retried later.
PUBACK_TIMEOUT_S = 10.0
# Retry backoff: 2, 4, 8 … seconds, at most 5 minutes between attempts.
BACKOFF_MAX_S = 300
WEBHOOK_TIMEOUT_S = 5.0
# How often the listener looks up from waiting for a NOTIFY to check for stop().
LISTEN_TIMEOUT_S = 1.0

_CLAIM_SQL = """
SELECT id, alert_id, channel, destination, payload, attempts FROM outbox
WHERE delivered_at IS NULL AND next_attempt_at <= now()
ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
"""
_DELIVERED_SQL = """
UPDATE outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = %s
"""
_FAILED_SQL = """
UPDATE outbox SET attempts = attempts + 1, last_error = %s,
       next_attempt_at = now() + make_interval(secs => %s)
WHERE id = %s
"""
_FANOUT_SQL = """
INSERT INTO outbox (alert_id, channel, destination, payload) VALUES (%s, 'webhook', %s, %s)
"""


def backoff_seconds(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones."""
    return float(min(BACKOFF_MAX_S, 2 ** max(1, attempts)))


def sign(body: bytes, secret: str) -> str:
    """The webhook signature header value: HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def topic_for(destination: str, topic_root: str) -> str:
    """The outbox destination under this deployment's topic root."""
    head = topics.ROOT + "/"
    if topic_root != topics.ROOT and destination.startswith(head):
        return f"{topic_root}/{destination[len(head):]}"
    return destination


@dataclass
class _Pending:
    row: Mapping[str, Any]
    info: mqtt.MQTTMessageInfo | None = None
    error: str | None = None


class Notifier:
    """Drains the outbox; several may run (rows are claimed with FOR UPDATE SKIP LOCKED)."""

    def __init__(self, settings: Settings, pool: ConnectionPool, *,
                 client_id: str | None = None) -> None:
        self._settings = settings
        self._pool = pool
        self._mqtt = MqttConnection(
            settings.require_mqtt(), client_id or f"telehub-notifier-{uuid.uuid4().hex[:10]}",
            name="alert notifier")
        self._mqtt.on_publish = self._on_publish
        self._connected = self._mqtt.ready
        self._stop = threading.Event()
        self._wake = threading.Event()           # set by the outbox NOTIFY listener
        self.listening = threading.Event()
        self._refused: dict[int, str] = {}
        self._refused_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self.delivered = 0

    # --- MQTT callbacks: no I/O, never raise ----------------------------------
    def _on_publish(self, mid: int, reason: Any) -> None:
        if getattr(reason, "is_failure", False):
            with self._refused_lock:
                self._refused[mid] = str(reason)

    # --- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        """Connect to the broker and start draining in a background thread."""
        self._stop.clear()
        self._http = httpx.Client(timeout=WEBHOOK_TIMEOUT_S)
        self._mqtt.start()
        self._thread = threading.Thread(target=self._run, name="alert-notifier", daemon=True)
        self._thread.start()
        self._listener = threading.Thread(target=self._listen, name="alert-notifier-listen",
                                          daemon=True)
        self._listener.start()

    def stop(self) -> None:
        """Stop draining and disconnect (undelivered rows stay for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=PUBACK_TIMEOUT_S + 5)
            self._thread = None
        if self._listener is not None:
            self._listener.join(timeout=LISTEN_TIMEOUT_S + 5)
            self._listener = None
        self._mqtt.stop()
        if self._http is not None:
            self._http.close()
            self._http = None

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once the broker accepted the connection (False at once if it refused for good)."""
        return self._mqtt.wait_ready(timeout)

    @property
    def failed(self) -> bool:
        """True once the broker refused the notifier for good (credentials, authorisation)."""
        return self._mqtt.failed.is_set()

    def _run(self) -> None:
        interval = self._settings.alerts.notifier_interval_s
        while not self._stop.is_set() and not self._mqtt.failed.is_set():
            if not self._connected.wait(timeout=0.5):
                continue
            self._wake.clear()      # a NOTIFY during the drain below wakes the next wait
            try:
                done = self.drain_once()
            except Exception:
                logger.exception("alert notifier: draining the outbox failed; retrying")
                self._stop.wait(2.0)
                continue
            if done == 0:
                # Woken at once by a committed outbox row; the interval is the fallback
                # for retries that come due and for a lost listener connection.
                self._wake.wait(interval)

    def _listen(self) -> None:
        """LISTEN for outbox rows on a connection of its own; reconnect when it drops."""
        while not self._stop.is_set():
            info = self._pool.conninfo
            try:
                with psycopg.connect(info() if callable(info) else info,
                                     autocommit=True) as conn:
                    conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=LISTEN_TIMEOUT_S, stop_after=1):
                            self._wake.set()
            except psycopg.Error as err:
                self.listening.clear()
                logger.warning("alert notifier: outbox listener lost its connection (%s); "
                               "polling until it is back", type(err).__name__)
                self._stop.wait(2.0)

    # --- delivery -------------------------------------------------------------
    def drain_once(self) -> int:
        """Claim due rows, deliver them, record the result; returns how many were delivered."""
        with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            rows = cur.execute(_CLAIM_SQL, (CLAIM_BATCH,)).fetchall()
            if not rows:
                return 0
            pending = [self._send(row) for row in rows]
            delivered = 0
            for item in pending:
                error = item.error if item.info is None else self._await(item)
                if error is None:
                    conn.execute(_DELIVERED_SQL, (item.row["id"],))
                    self._fan_out(conn, item.row)
                    delivered += 1
                else:
                    attempts = item.row["attempts"] + 1
                    conn.execute(_FAILED_SQL, (error[:500], backoff_seconds(attempts),
                                               item.row["id"]))
                    logger.warning("alert notifier: outbox row %s (alert %s) not delivered "
                                   "(attempt %s): %s", item.row["id"], item.row["alert_id"],
                                   attempts, error)
        self.delivered += delivered
        return delivered

    def _send(self, row: Mapping[str, Any]) -> _Pending:
        """Start delivering one row (MQTT publishes are pipelined; webhooks are synchronous)."""
        body = json.dumps(row["payload"], separators=(",", ":"), default=str).encode()
        if row["channel"] == "webhook":
            return _Pending(row, error=self._post(row, body))
        if not self._mqtt.is_connected():
            return _Pending(row, error="not connected to the broker")
        topic = topic_for(row["destination"], self._settings.topic_root)
        info = self._mqtt.publish(topic, body, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN):
            return _Pending(row, error=f"publish failed: {mqtt.error_string(info.rc)}")
        return _Pending(row, info=info)

    def _await(self, item: _Pending) -> str | None:
        """None once the broker acknowledged (PUBACK) the publish, else the reason."""
        assert item.info is not None
        try:
            item.info.wait_for_publish(timeout=PUBACK_TIMEOUT_S)
        except (RuntimeError, ValueError) as err:
            return str(err)
        if not item.info.is_published():
            return "no PUBACK from the broker in time"
        with self._refused_lock:
            refused = self._refused.pop(item.info.mid, None)
        return f"broker refused the message: {refused}" if refused else None

    def _post(self, row: Mapping[str, Any], body: bytes) -> str | None:
        secret = self._settings.alerts.webhook_secret
        headers = {"Content-Type": "application/json", ALERT_ID_HEADER: str(row["alert_id"])}
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, secret.get_secret_value())
        assert self._http is not None
        try:
            response = self._http.post(row["destination"], content=body, headers=headers)
        except httpx.HTTPError as err:
            return f"webhook unreachable: {type(err).__name__}"
        if response.is_success:
            return None
        return f"webhook answered HTTP {response.status_code}"

    def _fan_out(self, conn: Any, row: Mapping[str, Any]) -> None:
        """After the MQTT delivery, queue one webhook row per configured URL (same transaction)."""
        if row["channel"] != "mqtt":
            return
        for url in self._settings.alerts.webhook_urls:
            conn.execute(_FANOUT_SQL, (row["alert_id"], url, Jsonb(row["payload"])))


def wait_until_drained(pool: ConnectionPool, timeout: float = 10.0) -> bool:
    """True once no outbox row is waiting (tests and the demo use it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with pool.connection() as conn:
            row = conn.cursor(row_factory=tuple_row).execute(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()
        if row is not None and row[0] == 0:
            return True
        time.sleep(0.05)
    return False
