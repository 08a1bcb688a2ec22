"""The hub SIGKILLed five times at random moments during a 50,000-reading stream: no reading
lost or doubled, no alert doubled, every alert notification delivered to the responders."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import tuple_row

from alerts.deliveries import UNDELIVERED_SQL
from telehub.mqtt.topics import readings_topic
from tests.reliability.harness import (
    Device,
    Hub,
    Responder,
    ShippedBroker,
    count,
    duplicated,
    stored,
    wait_for,
    wait_hub_online,
)

pytestmark = pytest.mark.slow

PER_DEVICE = 2_500          # x 20 devices = 50,000 readings
RATE_PER_DEVICE = 60.0      # ~1,200 readings/s in all: a ~40-second stream
KILLS = 5


def stream(devices: list[Device]) -> None:
    """Every device sends PER_DEVICE readings; one in 40 is a low SpO2 that raises an alert."""
    start = datetime.now(UTC) - timedelta(hours=12)

    def run(device: Device) -> None:
        for i in range(PER_DEVICE):
            value = 86 if i % 40 == 39 else 96
            body = {"id": f"{device.device_id}-{i}", "metric": "spo2", "value": value,
                    "unit": "%", "time": (start + timedelta(seconds=i)).isoformat()}
            device.client.publish(readings_topic(device.device_id), json.dumps(body).encode(),
                                  qos=1)
            time.sleep(1 / RATE_PER_DEVICE)

    threads = [threading.Thread(target=run, args=(d,)) for d in devices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_hub_killed_five_times_during_50000_readings_loses_and_doubles_nothing(
        shipped_broker: ShippedBroker, devices: list[Device], make_hub: Callable[..., Hub],
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    responder = Responder(shipped_broker.port)
    hub = make_hub(db_url, shipped_broker.hub_url, "hub-kills")
    wait_hub_online(shipped_broker, "hub-kills")
    total = PER_DEVICE * len(devices)
    publisher = threading.Thread(target=stream, args=(devices,))
    began = time.monotonic()
    publisher.start()
    rng = random.Random()
    kill_log = []
    for _ in range(KILLS):
        # A random moment once the (re)started hub is storing again, inside the stream.
        before = kill_log[-1][1] if kill_log else 0
        wait_for(lambda b=before: stored(db_url) > b, timeout=60, what="the hub to store again")
        time.sleep(rng.uniform(1.0, 5.0))
        hub.kill()
        kill_log.append((round(time.monotonic() - began, 1), stored(db_url)))
        hub.start()
    publisher.join(120)
    try:
        wait_for(lambda: stored(db_url) == total, timeout=180, what=f"all {total} readings")
        wait_for(lambda: count(db_url, UNDELIVERED_SQL) == 0, timeout=60,
                 what="the outbox to drain")
        time.sleep(2.0)   # the last notifications reach the responder; late duplicates show
    finally:
        responder.close()
    with psycopg.connect(db_url, autocommit=True) as c:
        cur = c.cursor(row_factory=tuple_row)
        doubled_alerts = cur.execute(
            "SELECT count(*) FROM (SELECT patient_id, rule_id FROM alerts "
            "WHERE status <> 'resolved' GROUP BY 1, 2 HAVING count(*) > 1) d").fetchone()
        sent = Counter((p["alert_id"], p["event"], p["occurrences"]) for (p,) in cur.execute(
            "SELECT payload FROM outbox").fetchall())
        alerts = cur.execute("SELECT count(*) FROM alerts").fetchone()
    got = Counter((p["alert_id"], p["event"], p["occurrences"]) for p in responder.received)
    missing = sent - got
    extra = sum((got - sent).values())
    with capsys.disabled():
        print(f"\nhub killed {KILLS} times (at s, readings stored): {kill_log}; published "
              f"{sum(d.acked for d in devices)}, stored {stored(db_url)}, duplicated "
              f"{duplicated(db_url)}; alerts {alerts[0] if alerts else 0}, doubled "
              f"{doubled_alerts[0] if doubled_alerts else 0}; notifications queued "
              f"{sum(sent.values())}, delivered {sum(got.values())}, missing "
              f"{sum(missing.values())}, sent again after a kill {extra}")
    assert len(kill_log) == KILLS and kill_log[-1][1] < total, "the kills came too late"
    assert sum(d.acked for d in devices) == total
    assert stored(db_url) == total and duplicated(db_url) == 0
    assert doubled_alerts is not None and doubled_alerts[0] == 0
    assert sum(sent.values()) > 0, "no alert was raised: the test proves nothing about them"
    assert not missing, f"notifications never delivered: {list(missing)[:5]}"
