"""End to end through a real broker and PostgreSQL: publish, store, redeliver, refuse, status."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from alerts import engine
from ingest.service import Ingest
from telehub.config import Settings
from telehub.db.pool import open_pool
from telehub.domain.readings import StoredReading
from telehub.mqtt import topics
from tests.ingest.conftest import (
    Caseload,
    Publisher,
    count,
    forget_session,
    minutes_ago,
    reading,
    retained,
    settle,
    wait_for,
)


class Spy:
    """Passes readings to the real rules engine and remembers what it was given."""

    def __init__(self) -> None:
        self.seen: list[StoredReading] = []

    def __call__(self, conn: psycopg.Connection, readings: Sequence[StoredReading]) -> None:
        self.seen.extend(readings)
        engine.evaluate(conn, readings)


@pytest.fixture
def pool(fast_settings: Settings) -> Iterator[ConnectionPool]:
    p = open_pool(fast_settings.require_database_url(), max_size=2)
    yield p
    p.close()


@pytest.fixture
def spy() -> Spy:
    return Spy()


@pytest.fixture
def hub(fast_settings: Settings, pool: ConnectionPool, caseload: Caseload,
        spy: Spy) -> Iterator[Ingest]:
    ingest = Ingest(fast_settings, pool, evaluate=spy)
    ingest.start()
    assert ingest.consumer.connected.wait(10), "hub did not connect to the broker"
    yield ingest
    ingest.stop()
    forget_session(str(fast_settings.mqtt_url), fast_settings.ingest.client_id)


def test_published_readings_of_every_kind_are_stored_canonical(
        hub: Ingest, publisher: Publisher, caseload: Caseload, db_url: str, spy: Spy) -> None:
    publisher.readings(caseload.oximeter, reading("spo2", 92, "%", rid="o1", pulse=104))
    publisher.readings(caseload.scale, reading("weight", 12, "st", rid="s1"))
    publisher.readings(caseload.glucometer, reading("glucose", 65, "mg/dL", rid="g1"))
    settle(hub, received=3)
    assert count(db_url, "SELECT count(*) FROM readings") == 4
    with psycopg.connect(db_url) as c:
        got = dict(c.execute("SELECT metric::text, round(value::numeric, 3) FROM readings "
                             "WHERE patient_id = %s", (caseload.patient_id,)).fetchall())
    assert {k: float(v) for k, v in got.items()} == {
        "spo2": 92.0, "pulse": 104.0, "weight": 76.204, "glucose": 3.608}
    assert sorted(r.metric.value for r in spy.seen) == ["glucose", "pulse", "spo2", "weight"]


def test_the_same_reading_published_three_times_is_stored_once(
        hub: Ingest, publisher: Publisher, caseload: Caseload, db_url: str, spy: Spy) -> None:
    body = reading("spo2", 95, "%", rid="dup-1", at=minutes_ago(3))
    for _ in range(3):
        publisher.readings(caseload.oximeter, body).wait_for_publish(5)
    publisher.readings(caseload.oximeter, reading("spo2", 96, "%", rid="marker"))
    settle(hub, received=4)
    assert hub.stats.received == 4
    assert count(db_url, "SELECT count(*) FROM readings WHERE reading_key = 'marker'") == 1
    assert count(db_url, "SELECT count(*) FROM readings WHERE reading_key = 'dup-1'") == 1
    assert [r.value for r in spy.seen].count(95.0) == 1  # rules saw it once


def test_store_and_forward_batch_out_of_order_with_one_bad_reading(
        hub: Ingest, publisher: Publisher, caseload: Caseload, db_url: str) -> None:
    items = [reading("weight", 80 + i / 10, "kg", rid=f"b{i}", at=minutes_ago(600 - i * 60))
             for i in range(8)]
    items.insert(3, reading("weight", -3, "kg", rid="bad"))
    items.reverse()
    publisher.readings(caseload.scale, {"readings": items, "battery": 55})
    settle(hub, received=1)
    assert count(db_url, "SELECT count(*) FROM rejected_messages") == 1
    assert count(db_url, "SELECT count(*) FROM readings") == 8
    with psycopg.connect(db_url) as c:
        keys = [k for (k,) in c.execute("SELECT reading_key FROM readings ORDER BY time")]
        (code, index) = c.execute("SELECT reason_code, item_index FROM rejected_messages"
                                  ).fetchone() or (None, None)
    assert keys == [f"b{i}" for i in range(8)]
    assert (code, index) == ("implausible-value", 5)


def test_unknown_device_and_other_patient_end_in_rejected_messages(
        hub: Ingest, publisher: Publisher, caseload: Caseload, db_url: str) -> None:
    publisher.readings("ox-stranger", reading("spo2", 94, "%", rid="u1"))
    publisher.readings(caseload.oximeter, reading("spo2", 94, "%", rid="u2",
                                                  patient=caseload.other_nhs))
    publisher.readings(caseload.oximeter, b"\x00\x01 not json")
    settle(hub, received=3)
    with psycopg.connect(db_url) as c:
        codes = sorted(r for (r,) in c.execute("SELECT reason_code FROM rejected_messages"))
    assert codes == ["not-json", "patient-mismatch", "unknown-device"]
    assert count(db_url, "SELECT count(*) FROM readings") == 0


def test_device_status_topic_updates_online_state(
        hub: Ingest, publisher: Publisher, caseload: Caseload, db_url: str) -> None:
    publisher.status(caseload.oximeter, b'{"state": "online", "battery": 64}')
    settle(hub, received=1)
    assert count(db_url, "SELECT count(*) FROM devices WHERE online AND battery = 64") == 1
    publisher.status(caseload.oximeter, b"offline")
    settle(hub, received=2)
    assert count(db_url, "SELECT count(*) FROM devices WHERE online = false") == 1
    publisher.status(caseload.oximeter, b"")  # clear the retained status on the shared broker


def test_hub_announces_itself_online_and_offline(fast_settings: Settings, pool: ConnectionPool,
                                                 caseload: Caseload) -> None:
    ingest = Ingest(fast_settings, pool)
    ingest.start()
    topic = topics.hub_status_topic(fast_settings.ingest.client_id, fast_settings.topic_root)
    try:
        assert ingest.consumer.connected.wait(10)
        wait_for(lambda: retained(str(fast_settings.mqtt_url), topic, 1.0) == b"online",
                 what="online")
    finally:
        ingest.stop()
    assert retained(str(fast_settings.mqtt_url), topic) == b"offline"
    publisher = Publisher(str(fast_settings.mqtt_url), fast_settings.topic_root)
    publisher.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    publisher.close()
    forget_session(str(fast_settings.mqtt_url), fast_settings.ingest.client_id)


def test_two_hubs_on_a_shared_subscription_split_the_load_and_store_each_once(
        fast_settings: Settings, pool: ConnectionPool, caseload: Caseload, publisher: Publisher,
        db_url: str) -> None:
    hubs = []
    for n in (1, 2):
        s = fast_settings.model_copy(update={"ingest": fast_settings.ingest.model_copy(
            update={"shared": True, "client_id": f"{fast_settings.ingest.client_id}-{n}"})})
        hubs.append((s, Ingest(s, pool)))
    try:
        for _, hub in hubs:
            hub.start()
            assert hub.consumer.connected.wait(10)
        time.sleep(0.3)  # both subscriptions in place
        for i in range(200):
            publisher.readings(caseload.oximeter, reading("spo2", 95, "%", rid=f"sh{i}",
                                                          at=minutes_ago(200 - i)))
        wait_for(lambda: sum(hub.stats.received for _, hub in hubs) >= 200, what="200 taken")
        assert all(hub.barrier() for _, hub in hubs)
        assert count(db_url, "SELECT count(*) FROM readings") == 200
        assert all(hub.stats.received > 0 for _, hub in hubs)
        assert sum(hub.stats.received for _, hub in hubs) == 200
    finally:
        for s, hub in hubs:
            hub.stop()
            forget_session(str(s.mqtt_url), s.ingest.client_id)


POISON_TRIGGER = """
CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reading_key = 'poison' THEN
        RAISE EXCEPTION 'this row cannot be stored';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_poison BEFORE INSERT ON readings
    FOR EACH ROW EXECUTE FUNCTION refuse_poison();
"""


def test_a_message_the_database_refuses_is_kept_whole_and_the_rest_of_its_batch_stored(
        fast_settings: Settings, pool: ConnectionPool, caseload: Caseload, publisher: Publisher,
        db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(POISON_TRIGGER)
    slow = fast_settings.model_copy(update={"ingest": fast_settings.ingest.model_copy(
        update={"batch_wait_ms": 300})})  # the three messages share one batch
    ingest = Ingest(slow, pool)
    ingest.start()
    try:
        assert ingest.consumer.connected.wait(10)
        poison = reading("spo2", 94, "%", rid="poison")
        for body in (reading("spo2", 95, "%", rid="good-1"), poison,
                     reading("spo2", 96, "%", rid="good-2")):
            publisher.readings(caseload.oximeter, body)
        settle(ingest, received=3)
        assert count(db_url, "SELECT count(*) FROM rejected_messages") == 1
        assert count(db_url, "SELECT count(*) FROM readings") == 2
        with psycopg.connect(db_url) as c:
            row = c.execute("SELECT reason_code, payload FROM rejected_messages").fetchone()
        assert row is not None and row[0] == "storage-error"
        assert json.loads(bytes(row[1])) == poison
    finally:
        ingest.stop()
        forget_session(str(slow.mqtt_url), slow.ingest.client_id)
