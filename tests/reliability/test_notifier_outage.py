"""The broker goes away while alerts are raised: webhooks are delivered meanwhile, MQTT after
it returns, each notification exactly once on each channel.

On a mosquitto of the test's own (persistence on, as the shipped configuration has it),
with a responder holding a persistent session and two real webhook receivers.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes

from alerts.notifier import Notifier, wait_until_drained
from telehub.config import Settings
from telehub.db.pool import open_pool
from telehub.demo.embedded import free_port, mosquitto_binary, start_mosquitto, stop_process
from telehub.domain.units import Metric
from tests.alerts.conftest import NOW, Clinic
from tests.reliability.harness import count, wait_for
from tests.webhooks import WebhookReceiver

pytestmark = pytest.mark.slow

RAISED_DURING_OUTAGE = 6


class OwnBroker:
    """mosquitto on a free port of the test's own, stopped (SIGTERM) and started again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: Any = None

    @property
    def url(self) -> str:
        """The broker's URL."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it (its saved sessions and queues are reloaded)."""
        self.proc, _ = start_mosquitto(self.data_dir, self.port, persistence=True)

    def stop(self) -> None:
        """Stop it cleanly: mosquitto saves its sessions."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


class Responder:
    """A telecare responder's MQTT client: persistent session, QoS 1, records every message."""

    def __init__(self, port: int, topic: str) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=f"responder-{uuid.uuid4().hex[:8]}")
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        properties = mqtt.Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600       # the broker queues for it while away
        # Clean on the first connection only: reconnections resume the session.
        self.client.connect("127.0.0.1", port, clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                            properties=properties)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the responder's subscription was not confirmed"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append(json.loads(msg.payload))

    def keys(self) -> Counter[int]:
        """How many times each notification arrived."""
        with self._lock:
            return Counter(p["notification_id"] for p in self.received)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    """A started mosquitto of this test's own."""
    if mosquitto_binary() is None:
        pytest.skip("needs mosquitto")
    broker = OwnBroker(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


def _raise_red(clinic: Clinic, value: float) -> None:
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, value, NOW)
    clinic.conn.commit()


def test_broker_outage_delays_only_mqtt_and_nothing_is_sent_twice(
        own_broker: OwnBroker, settings: Settings, conn: psycopg.Connection, db_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    hooks = [WebhookReceiver(), WebhookReceiver()]
    root = f"outage/{uuid.uuid4().hex[:8]}/telehub/v1"
    s = settings.model_copy(update={
        "mqtt_url": own_broker.url, "topic_root": root,
        "alerts": settings.alerts.model_copy(update={"webhook_urls": [h.url for h in hooks]})})
    clinic = Clinic(conn)
    pool = open_pool(db_url, max_size=4, name="outage-test")
    responder = Responder(own_broker.port, f"{root}/alerts/#")
    notifier = Notifier(s, pool)
    notifier.start()
    try:
        assert notifier.wait_connected(10)
        _raise_red(clinic, 88)                  # before the outage: every channel at once
        wait_for(lambda: len(responder.received) == 1
                 and all(len(h.received) == 1 for h in hooks),
                 timeout=15, what="the first alert on every channel")

        own_broker.stop()
        wait_for(lambda: not notifier.wait_connected(timeout=0), timeout=10,
                 what="the notifier to see it")
        for k in range(RAISED_DURING_OUTAGE):
            _raise_red(clinic, 80 + k)
        total = 1 + RAISED_DURING_OUTAGE
        wait_for(lambda: all(len(h.received) == total for h in hooks), timeout=20,
                 what="the webhooks while the broker is down")
        during = {"webhook_a": len(hooks[0].received), "webhook_b": len(hooks[1].received),
                  "mqtt": len(responder.received)}
        mqtt_owed = count(db_url, "SELECT count(*) FROM outbox_deliveries WHERE channel = "
                                  "'mqtt' AND delivered_at IS NULL AND attempts = 0")

        own_broker.start()
        wait_for(lambda: len(responder.received) == total, timeout=60,
                 what="the MQTT notifications after the broker returned")
        assert wait_until_drained(pool, timeout=20), "deliveries left unrecorded"
        time.sleep(2.0)                         # a late repeat would arrive now
    finally:
        notifier.stop()
        responder.close()
        pool.close()
        for h in hooks:
            h.close()
    events = {e["id"] for e in clinic.outbox()}
    channels = {"mqtt": responder.keys(), "webhook_a": hooks[0].keys(),
                "webhook_b": hooks[1].keys()}
    with capsys.disabled():
        print(f"\nbroker outage with webhooks: {total} alerts ({RAISED_DURING_OUTAGE} during "
              f"the outage); delivered during the outage {during}, MQTT owed and not yet "
              f"attempted {mqtt_owed}; after: " + ", ".join(
                  f"{name} {len(got)} distinct, {sum(got.values()) - len(got)} repeated"
                  for name, got in channels.items()))
    assert during == {"webhook_a": total, "webhook_b": total, "mqtt": 1}
    assert mqtt_owed == RAISED_DURING_OUTAGE    # waiting for the broker, no attempts spent
    assert {int(k) for k in hooks[0].keys()} == events
    for got in channels.values():
        assert len(got) == total and set(got.values()) == {1}, got
