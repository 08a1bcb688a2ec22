"""A reading's identity against a real PostgreSQL: a redelivery stores nothing new, two readings
a device stamps with one time are both kept, and another value under a stored reading's id is
refused where it can be seen, never dropped as a duplicate."""

from __future__ import annotations

import psycopg

from telehub.domain.units import Metric
from tests.ingest.conftest import Caseload, minutes_ago, reading
from tests.ingest.test_batch_store import Recorder, message, rows, store


def _without_id(metric: str, value: float, unit: str, **extra: object) -> dict[str, object]:
    body = reading(metric, value, unit, rid="unused", **extra)
    del body["id"]
    return body


def test_two_readings_without_ids_at_one_time_are_both_stored_and_judged(
        conn: psycopg.Connection, caseload: Caseload) -> None:
    at = minutes_ago(3)
    normal, low = (_without_id("glucose", v, "mmol/L", at=at) for v in (6.1, 2.4))
    hook = Recorder()
    first = store(conn, [message(caseload.glucometer, normal)], hook)
    second = store(conn, [message(caseload.glucometer, low, mid=2)], hook)
    assert (len(first.stored), len(second.stored), second.rejected) == (1, 1, {})
    assert [[(r.metric, r.value) for r in call] for call in hook.calls] == [
        [(Metric.GLUCOSE, 6.1)], [(Metric.GLUCOSE, 2.4)]]  # the hypo reaches the rules
    # Sent again (a redelivery), each is the reading already stored: nothing new, no refusal.
    again = store(conn, [message(caseload.glucometer, normal), message(caseload.glucometer, low)])
    assert (len(again.stored), again.duplicates, again.rejected) == (0, 2, {})
    assert rows(conn, "SELECT value FROM readings ORDER BY value") == [
        {"value": 2.4}, {"value": 6.1}]


def test_a_range_flag_makes_another_reading_at_one_time(conn: psycopg.Connection,
                                                        caseload: Caseload) -> None:
    at = minutes_ago(4)
    edge = _without_id("glucose", 1.1, "mmol/L", at=at)
    flagged = {**edge, "flags": ["lo"]}
    outcome = store(conn, [message(caseload.glucometer, {"readings": [edge, flagged]})])
    assert (len(outcome.stored), outcome.rejected) == (2, {})


def test_another_value_under_a_stored_readings_id_is_refused_with_a_reason(
        conn: psycopg.Connection, caseload: Caseload) -> None:
    at = minutes_ago(5)
    store(conn, [message(caseload.oximeter, reading("spo2", 95, "%", rid="m7", at=at))])
    hook = Recorder()
    changed = store(conn, [message(caseload.oximeter, reading("spo2", 88, "%", rid="m7", at=at),
                                   mid=2)], hook)
    assert (changed.stored, changed.duplicates, changed.rejected) == (
        [], 0, {"reading-id-reused": 1})
    assert hook.calls == []
    [refused] = rows(conn, "SELECT reason_code, reason, device_id, payload "
                     "FROM rejected_messages")
    assert (refused["reason_code"], refused["device_id"]) == ("reading-id-reused",
                                                              caseload.oximeter)
    assert refused["reason"] == (
        f"A spo2 reading with id 'm7' at {at.isoformat()} is already stored with another "
        "value (95 %); this one (88 %) was not stored. Each measurement needs its own id: a "
        "stored reading is never overwritten.")
    assert b'"value": 88' in refused["payload"]
    assert rows(conn, "SELECT value FROM readings") == [{"value": 95.0}]  # never overwritten


def test_in_one_batch_the_first_reading_under_an_id_is_stored_and_another_value_refused(
        conn: psycopg.Connection, caseload: Caseload) -> None:
    at = minutes_ago(6)
    batch = {"readings": [reading("spo2", 94, "%", rid="b1", at=at),
                          reading("spo2", 94, "%", rid="b1", at=at),
                          reading("spo2", 90, "%", rid="b1", at=at)]}
    outcome = store(conn, [message(caseload.oximeter, batch)])
    assert ([r.value for r in outcome.stored], outcome.duplicates, outcome.rejected) == (
        [94.0], 1, {"reading-id-reused": 1})
