"""Device clocks that are wrong: 10 minutes fast is refused (the rule allows 5), 2 days slow
is stored at the time the device gave (inside the 30-day store-and-forward horizon), and
`received_at` keeps the hub's own time so the skew stays visible."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import tuple_row

from telehub.mqtt.topics import readings_topic
from tests.reliability.harness import (
    Device,
    Hub,
    ShippedBroker,
    count,
    wait_for,
    wait_hub_online,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet_size() -> int:
    return 3


def test_fast_and_slow_device_clocks_are_handled_as_the_rules_say(
        shipped_broker: ShippedBroker, devices: list[Device], make_hub: Callable[..., Hub],
        db_url: str) -> None:
    make_hub(db_url, shipped_broker.hub_url, "hub-clock")
    wait_hub_online(shipped_broker, "hub-clock")
    fast, slow, right = devices
    now = datetime.now(UTC)
    cases = [(fast, "fast-10m", now + timedelta(minutes=10)),
             (fast, "fast-4m", now + timedelta(minutes=4)),
             (slow, "slow-2d", now - timedelta(days=2)),
             (slow, "slow-31d", now - timedelta(days=31)),
             (right, "right", now - timedelta(seconds=5))]
    for device, rid, at in cases:
        body = {"id": rid, "metric": "spo2", "value": 95, "unit": "%",
                "time": at.isoformat().replace("+00:00", "Z")}
        device.client.publish(readings_topic(device.device_id), json.dumps(body).encode(), qos=1)
    wait_for(lambda: count(db_url, "SELECT count(*) FROM readings")
             + count(db_url, "SELECT count(*) FROM rejected_messages") == len(cases),
             what="every reading stored or refused")
    with psycopg.connect(db_url, autocommit=True) as c:
        cur = c.cursor(row_factory=tuple_row)
        stored = {k: (t, r) for k, t, r in cur.execute(
            "SELECT reading_key, time, received_at FROM readings").fetchall()}
        refused = dict(cur.execute("SELECT convert_from(payload, 'UTF8')::json ->> 'id', "
                                   "reason_code FROM rejected_messages").fetchall())
    assert refused == {"fast-10m": "time-in-future", "slow-31d": "time-too-old"}
    assert set(stored) == {"fast-4m", "slow-2d", "right"}
    sent = {rid: at for _, rid, at in cases}
    for rid, (time_, received_at) in stored.items():
        assert abs((time_ - sent[rid]).total_seconds()) < 0.001, rid  # the device's time, in UTC
        assert abs((received_at - now).total_seconds()) < 60, rid     # the hub's time
    slow_time, slow_received = stored["slow-2d"]
    assert slow_received - slow_time > timedelta(days=1, hours=23)
