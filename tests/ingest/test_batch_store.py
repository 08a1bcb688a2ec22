"""The batch writer against a real PostgreSQL: idempotent inserts, refusals, devices, rules hook."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from ingest.batch_store import BatchOutcome, seq_gaps, store_batch
from ingest.work_queue import Received
from telehub.config import IngestSettings
from telehub.domain.readings import StoredReading
from telehub.domain.units import Metric
from telehub.mqtt import topics
from tests.ingest.conftest import Caseload, minutes_ago, reading

PREFIX = "test/writer/telehub/v1"
LIMITS = IngestSettings()


class Recorder:
    """A rules hook that remembers what it was given."""

    def __init__(self) -> None:
        self.calls: list[list[StoredReading]] = []

    def __call__(self, conn: psycopg.Connection, readings: Sequence[StoredReading]) -> None:
        self.calls.append(list(readings))


def message(device_id: str, body: Any, *, kind: str = "readings", mid: int = 1) -> Received:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    topic = (topics.readings_topic(device_id, PREFIX) if kind == "readings"
             else topics.status_topic(device_id, PREFIX))
    return Received(topic, payload, mid, 1, time.time())


def store(conn: psycopg.Connection, messages: list[Received],
          hook: Recorder | None = None) -> BatchOutcome:
    with conn.transaction():
        return store_batch(conn, messages, limits=LIMITS, prefix=PREFIX,
                           evaluate=hook or Recorder())


def rows(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
    return conn.execute(query, params).fetchall()


def test_redelivered_messages_store_nothing_new_and_rules_see_only_new(
        conn: psycopg.Connection, caseload: Caseload) -> None:
    spo2 = message(caseload.oximeter, reading("spo2", 94, "%", rid="r1", pulse=88))
    hook = Recorder()
    first = store(conn, [spo2, spo2], hook)
    assert (len(first.stored), first.duplicates) == (2, 2)
    again = store(conn, [spo2], hook)
    assert (len(again.stored), again.duplicates) == (0, 2)
    assert rows(conn, "SELECT metric::text AS m, value FROM readings ORDER BY metric") == [
        {"m": "spo2", "value": 94.0}, {"m": "pulse", "value": 88.0}]
    assert len(hook.calls) == 1  # nothing new the second time: no call
    assert {(r.metric, r.value, r.patient_id) for r in hook.calls[0]} == {
        (Metric.SPO2, 94.0, caseload.patient_id), (Metric.PULSE, 88.0, caseload.patient_id)}


def test_one_bad_reading_in_a_batch_does_not_lose_the_good_ones(
        conn: psycopg.Connection, caseload: Caseload) -> None:
    batch = {"readings": [reading("spo2", 95, "%", rid="a", at=minutes_ago(30)),
                          reading("spo2", 140, "%", rid="b"),
                          reading("spo2", 93, "%", rid="c", at=minutes_ago(50), pulse=400)]}
    outcome = store(conn, [message(caseload.oximeter, batch)])
    assert len(outcome.stored) == 2
    assert outcome.rejected == {"implausible-value": 2}
    refused = rows(conn, "SELECT reason_code, item_index, payload FROM rejected_messages "
                   "ORDER BY item_index")
    assert [(r["reason_code"], r["item_index"]) for r in refused] == [
        ("implausible-value", 1), ("implausible-value", 2)]
    assert json.loads(refused[0]["payload"])["value"] == 140
    keys = rows(conn, "SELECT reading_key FROM readings ORDER BY time")
    assert [k["reading_key"] for k in keys] == ["c", "a"]  # time order, not arrival order


def test_unit_conversions_are_stored_canonical_with_raw_values(
        conn: psycopg.Connection, caseload: Caseload) -> None:
    store(conn, [
        message(caseload.scale, reading("weight", 180, "lb", rid="w1")),
        message(caseload.scale, reading("weight", 13, "st", rid="w2")),
        message(caseload.glucometer, reading("glucose", 72, "mg/dL", rid="g1")),
    ])
    stored = {r["reading_key"]: r for r in rows(
        conn, "SELECT reading_key, value, unit::text, raw_value, raw_unit::text FROM readings")}
    assert math.isclose(stored["w1"]["value"], 180 * 0.45359237)
    assert math.isclose(stored["w2"]["value"], 13 * 6.35029318)
    assert math.isclose(stored["g1"]["value"], 72 / 18.016)
    assert (stored["g1"]["unit"], stored["g1"]["raw_value"], stored["g1"]["raw_unit"]) == (
        "mmol/L", 72.0, "mg/dL")


@pytest.mark.parametrize(("device", "body", "code"), [
    ("ox-unknown", reading("spo2", 94, "%", rid="x"), "unknown-device"),
    ("ox-gone", reading("spo2", 94, "%", rid="x"), "patient-discharged"),
    ("ox-spare", reading("spo2", 94, "%", rid="x"), "device-unassigned"),
    ("ox-100", b"{oops", "not-json"),
    ("ox-100", b"", "empty-payload"),
])
def test_refused_messages_are_kept_with_reason_and_raw_payload(
        conn: psycopg.Connection, caseload: Caseload, device: str, body: Any,
        code: str) -> None:
    msg = message(device, body)
    outcome = store(conn, [msg])
    assert outcome.stored == [] and outcome.rejected == {code: 1}
    (row,) = rows(conn, "SELECT topic, device_id, reason_code, reason, payload, payload_size "
                  "FROM rejected_messages")
    assert (row["topic"], row["device_id"], row["reason_code"]) == (msg.topic, device, code)
    assert bytes(row["payload"]) == msg.payload and row["payload_size"] == len(msg.payload)
    assert row["reason"].endswith(".")
    assert rows(conn, "SELECT count(*) AS n FROM readings") == [{"n": 0}]


def test_payload_naming_another_patient_is_refused(conn: psycopg.Connection,
                                                    caseload: Caseload) -> None:
    outcome = store(conn, [message(caseload.oximeter, reading(
        "spo2", 94, "%", rid="p", patient=caseload.other_nhs))])
    assert outcome.rejected == {"patient-mismatch": 1} and not outcome.stored


def test_rejected_payload_is_capped(conn: psycopg.Connection, caseload: Caseload) -> None:
    big = b"x" * (LIMITS.rejected_payload_cap + 500)
    store(conn, [message(caseload.oximeter, big)])
    (row,) = rows(conn, "SELECT length(payload) AS kept, payload_size FROM rejected_messages")
    assert (row["kept"], row["payload_size"]) == (LIMITS.rejected_payload_cap, len(big))


def test_devices_get_last_seen_battery_and_sequence_gaps(conn: psycopg.Connection,
                                                        caseload: Caseload) -> None:
    msgs = [message(caseload.oximeter, reading("spo2", 94, "%", rid=f"s{seq}", seq=seq,
                                               battery=80 - seq)) for seq in (41, 44, 42)]
    store(conn, msgs)
    battery = rows(conn, "SELECT battery FROM devices WHERE device_id = %s",
                   (caseload.oximeter,))[0]["battery"]
    assert battery == 38  # from the last message of the batch that carried one
    store(conn, [message(caseload.oximeter, reading("spo2", 94, "%", rid="s50", seq=50))])
    store(conn, [msgs[0]])  # a redelivery reveals no gap
    device = rows(conn, "SELECT last_seen_at, battery, last_seq, id FROM devices "
                  "WHERE device_id = %s", (caseload.oximeter,))[0]
    assert device["last_seq"] == 50 and device["last_seen_at"] is not None
    gaps = rows(conn, "SELECT expected_seq, received_seq, missing FROM device_seq_gaps "
                "WHERE device_id = %s ORDER BY id", (device["id"],))
    assert [(g["expected_seq"], g["received_seq"], g["missing"]) for g in gaps] == [
        (43, 44, 1), (45, 50, 5)]


def test_status_messages_update_online_state(conn: psycopg.Connection,
                                             caseload: Caseload) -> None:
    store(conn, [message(caseload.oximeter, b'{"state": "online", "battery": 77, '
                         b'"firmware": "2.1.0"}', kind="status")])
    store(conn, [message(caseload.scale, b"offline", kind="status")])
    store(conn, [message(caseload.glucometer, b'{"status": "online", "battery": 12}',
                         kind="status")])
    store(conn, [message("not-registered", b"online", kind="status")])
    state = {r["device_id"]: r for r in rows(
        conn, "SELECT device_id, online, battery, firmware, status_at FROM devices")}
    assert (state["ox-100"]["online"], state["ox-100"]["battery"],
            state["ox-100"]["firmware"]) == (True, 77, "2.1.0")
    assert state["scale-100"]["online"] is False and state["scale-100"]["status_at"]
    assert (state["gluco-100"]["online"], state["gluco-100"]["battery"]) == (True, 12)
    assert state["ox-spare"]["online"] is None


def test_a_failing_rule_engine_does_not_lose_readings(conn: psycopg.Connection,
                                                      caseload: Caseload) -> None:
    def broken(conn: psycopg.Connection, readings: Sequence[StoredReading]) -> None:
        conn.execute("SELECT 1/0")

    with conn.transaction():
        outcome = store_batch(conn, [message(caseload.oximeter, reading("spo2", 94, "%",
                                                                        rid="e"))],
                              limits=LIMITS, prefix=PREFIX, evaluate=broken)
    assert len(outcome.stored) == 1
    assert rows(conn, "SELECT count(*) AS n FROM readings") == [{"n": 1}]


def test_in_pipeline_mode_a_rules_sql_error_rolls_back_to_the_savepoint_only(
        conn: psycopg.Connection, caseload: Caseload) -> None:
    """The hub's writer runs the batch in pipeline mode, where a failed statement reports
    only at the next sync: the rules' error must still stay inside their savepoint, so the
    readings, the device's status and the alert counter come out as without a pipeline."""
    def broken(conn: psycopg.Connection, readings: Sequence[StoredReading]) -> None:
        conn.execute("INSERT INTO alert_events (alert_id, at, kind, actor) "
                     "VALUES (-1, now(), 'opened', 'system')")   # no alert -1: refused

    errors = REGISTRY.get_sample_value("telehub_ingest_alert_errors_total") or 0.0
    with conn.pipeline() as pipeline:
        outcome = store_batch(conn, [
            message(caseload.oximeter, reading("spo2", 88, "%", rid="p")),
            message(caseload.oximeter, {"status": "online"}, kind="status", mid=2),
            message("ox-not-registered", {"status": "online"}, kind="status", mid=3)],
            limits=LIMITS, prefix=PREFIX, evaluate=broken, pipeline=pipeline)
        conn.commit()
    assert len(outcome.stored) == 1 and outcome.statuses == 1
    assert (REGISTRY.get_sample_value("telehub_ingest_alert_errors_total") or 0.0) == errors + 1
    assert rows(conn, "SELECT count(*) AS n FROM readings") == [{"n": 1}]
    assert rows(conn, "SELECT online FROM devices WHERE device_id = %s",
                (caseload.oximeter,)) == [{"online": True}]


@pytest.mark.parametrize(("last", "seqs", "expected"), [
    (None, [5, 6, 7], (7, [])),
    (None, [5, 8], (8, [(6, 8)])),
    (10, [9, 10], (10, [])),
    (10, [14, 12, 11], (14, [(13, 14)])),
    (10, [], (10, [])),
])
def test_seq_gaps(last: int | None, seqs: list[int],
                  expected: tuple[int | None, list[tuple[int, int]]]) -> None:
    assert seq_gaps(last, seqs) == expected


def _bad_inputs(caseload: Caseload) -> list[tuple[str, str, Any]]:
    """(reason code, device, payload) for every kind of bad input the hub must refuse."""
    ox = caseload.oximeter
    return [
        ("not-json", ox, b"{'metric': spo2"),
        ("empty-payload", ox, b""),
        ("too-large", ox, json.dumps(reading("spo2", 94, "%", rid="big",
                                             padding="x" * 1_000_000)).encode()),
        ("not-a-number", ox, b'{"id": "nan", "metric": "spo2", "value": NaN, "unit": "%", '
                             b'"time": "' + reading("spo2", 1, None, rid="t")["time"].encode()
                             + b'"}'),
        ("not-a-number", ox, reading("spo2", "94", "%", rid="str")),
        ("unknown-metric", ox, reading("temperature", 37.2, "Cel", rid="temp")),
        ("wrong-unit", caseload.scale, reading("weight", 80, "g", rid="grams")),
        ("implausible-value", ox, reading("spo2", 140, "%", rid="140")),
        ("implausible-value", caseload.scale, reading("weight", -2, "kg", rid="neg")),
        ("time-in-future", ox, reading("spo2", 94, "%", rid="fut", at=minutes_ago(-30))),
        ("time-without-zone", ox, {**reading("spo2", 94, "%", rid="naive"),
                                   "time": "2026-11-22T08:01:00"}),
        ("unknown-device", "ox-nobody", reading("spo2", 94, "%", rid="nobody")),
        ("patient-discharged", caseload.discharged_device, reading("spo2", 94, "%", rid="gone")),
        ("patient-mismatch", ox, reading("spo2", 94, "%", rid="other",
                                         patient=caseload.other_nhs)),
    ]


def test_every_bad_input_is_kept_with_its_reason_and_good_readings_beside_it_are_stored(
        conn: psycopg.Connection, caseload: Caseload) -> None:
    bad = _bad_inputs(caseload)
    batch = []
    for i, (_code, device, body) in enumerate(bad):
        batch.append(message(caseload.oximeter, reading("spo2", 95, "%", rid=f"good-{i}")))
        batch.append(message(device, body))
    outcome = store(conn, batch)
    assert len(outcome.stored) == len(bad)
    refused = rows(conn, "SELECT reason_code, reason FROM rejected_messages")
    assert sorted(r["reason_code"] for r in refused) == sorted(code for code, _, _ in bad)
    assert all(r["reason"] for r in refused)
    keys = {r["reading_key"] for r in rows(conn, "SELECT reading_key FROM readings")}
    assert keys == {f"good-{i}" for i in range(len(bad))}


def test_messages_and_refusals_never_show_their_payload() -> None:
    msg = message("ox-1", reading("spo2", 94, "%", rid="r", patient="9990000018"))
    assert b"9990000018" in msg.payload
    assert "9990000018" not in repr(msg)
    from ingest.rejections import Rejection

    assert "9990000018" not in repr(Rejection(msg, "ox-1", "c", "r", msg.payload))


def test_a_telecare_device_publishing_readings_is_refused(conn: psycopg.Connection,
                                                          caseload: Caseload) -> None:
    # Events refused a measuring device, readings let a pendant through: one check now.
    from telehub.care import registration

    registration.add_device(conn, device_id="pendant-100", kind="pendant",
                            patient=caseload.patient_id)
    outcome = store(conn, [message("pendant-100", reading("spo2", 94, "%", rid="p1"))])
    assert outcome.stored == [] and outcome.rejected == {"not-a-reading-device": 1}
