"""Baseline consumer: one INSERT and one COMMIT per message, acked after the commit.

The simplest correct consumer (no loss, idempotent), with none of the hub's batching;
the ingest benchmark measures the hub against it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt

from bench.databases import connect
from bench.load import PUBLISH_INFLIGHT, LoopClient
from telehub.config import MqttEndpoint
from telehub.mqtt import topics

logger = logging.getLogger(__name__)

_INSERT = """
INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, raw_unit,
                      reading_key)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT ON CONSTRAINT readings_identity DO NOTHING
"""


class PerMessageConsumer(LoopClient):
    """Subscribes to readings; its writer thread inserts and commits each one, then acks."""

    def __init__(self, endpoint: MqttEndpoint, database_url: str, prefix: str) -> None:
        super().__init__(endpoint, "naive", manual_ack=True, receive_maximum=PUBLISH_INFLIGHT,
                         subscription=topics.readings_subscription(prefix))
        self._inbox: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self._database_url = database_url
        self._prefix = prefix
        self.failed: list[str] = []
        self.client.on_message = lambda c, u, msg: self._inbox.put(msg)
        self._writer = threading.Thread(target=self._write_forever, name="naive-writer",
                                        daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start the writer, connect and subscribe."""
        self._writer.start()
        super().start(timeout)

    def stop(self) -> None:
        """Stop consuming and let the writer finish."""
        super().stop()
        self._inbox.put(None)
        self._writer.join(30)

    def _write_forever(self) -> None:
        with connect(self._database_url) as conn:
            devices = {r["device_id"]: (int(r["id"]), int(r["patient_id"])) for r in conn.execute(
                "SELECT device_id, id, patient_id FROM devices WHERE patient_id IS NOT NULL")}
            conn.commit()
            while (msg := self._inbox.get()) is not None:
                try:
                    self._store(conn, devices, msg)
                except Exception as err:  # the baseline must not die silently mid-run
                    conn.rollback()
                    self.failed.append(type(err).__name__)
                    logger.exception("baseline consumer could not store a message")
                self.client.ack(msg.mid, msg.qos)

    def _store(self, conn: Any, devices: dict[str, tuple[int, int]],
               msg: mqtt.MQTTMessage) -> None:
        parsed = topics.parse_device_topic(msg.topic, self._prefix)
        if parsed is None or parsed[0] not in devices:
            raise ValueError("unknown device")
        device, patient = devices[parsed[0]]
        body = json.loads(msg.payload)
        at = datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
        unit = body["unit"]
        conn.execute(_INSERT, (at, patient, device, body["metric"], float(body["value"]), unit,
                               float(body["value"]), unit, str(body["id"])))
        conn.commit()
