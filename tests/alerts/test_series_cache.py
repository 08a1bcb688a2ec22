"""The series cache (alerts/series_cache.py): the engine reuses a series' points between
batches only while the database confirms them, so what the rules read is always what a fresh
read of the readings table gives: after other processes' readings, late readings in the
middle of the window, rolled-back batches and changed flags."""

from __future__ import annotations

from datetime import timedelta

import psycopg
from psycopg.rows import tuple_row

from alerts.catalogue import load_catalogue
from alerts.history import _read, load_history
from alerts.series import Point
from alerts.series_cache import (
    CACHE,
    MARK_SQL,
    Entry,
    SeriesCache,
    mark,
    merged,
    plus,
    total,
)
from alerts.thresholds import load_subjects
from telehub.db.pool import connect
from telehub.domain.readings import StoredReading
from telehub.domain.units import Metric, Unit
from tests.alerts.conftest import NOW, Clinic

# Another connection stores readings as a second hub would: the data must be committed.
COMMITS = True


def _fresh(conn: psycopg.Connection, readings: list[StoredReading]) -> dict[object, list[Point]]:
    """The history as read with nothing cached."""
    subjects = load_subjects(conn, {r.patient_id for r in readings}, NOW)
    return load_history(conn, readings, subjects, load_catalogue(), SeriesCache())


def _cached(conn: psycopg.Connection, readings: list[StoredReading]) -> dict[object, list[Point]]:
    subjects = load_subjects(conn, {r.patient_id for r in readings}, NOW)
    return load_history(conn, readings, subjects, load_catalogue())


def test_a_series_comes_from_the_cache_while_the_database_confirms_it(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    for k in range(6):
        clinic.feed(pid, Metric.SPO2, 95 + k % 3, NOW - timedelta(hours=12 - k))
    before = CACHE.confirmed
    r = clinic.store(pid, Metric.SPO2, 96.5, NOW - timedelta(hours=5), flags=["low-quality"])
    assert _cached(clinic.conn, [r]) == _fresh(clinic.conn, [r])
    assert CACHE.confirmed == before + 1


def test_another_process_s_late_reading_is_read_not_missed(clinic: Clinic, db_url: str) -> None:
    pid = clinic.patient(["copd"])
    for k in range(4):
        clinic.feed(pid, Metric.PULSE, 80, NOW - timedelta(hours=8 - k))
    clinic.conn.commit()
    with connect(db_url) as other:     # a second hub stores a reading in the middle
        dev = clinic.device(pid, Metric.PULSE)
        other.execute(
            "INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, "
            "raw_unit, reading_key) VALUES (%s, %s, %s, 'pulse', 120, '/min', 120, "
            "'/min', 'late-one')", (NOW - timedelta(hours=6, minutes=30), pid, dev))
        other.commit()
    read = CACHE.read
    r = clinic.store(pid, Metric.PULSE, 121, NOW - timedelta(hours=3))
    got = _cached(clinic.conn, [r])
    assert got == _fresh(clinic.conn, [r])
    assert [p.value for p in got[(pid, Metric.PULSE)]] == [80, 80, 120, 80, 80, 121]
    assert CACHE.read == read + 1


def test_a_rolled_back_batch_leaves_nothing_behind(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, 97, NOW - timedelta(hours=4))
    clinic.conn.commit()
    clinic.feed(pid, Metric.SPO2, 84, NOW - timedelta(hours=3))    # seen by the cache...
    clinic.conn.rollback()                                          # ...then rolled back
    r = clinic.store(pid, Metric.SPO2, 96, NOW - timedelta(hours=2))
    got = _cached(clinic.conn, [r])
    assert [p.value for p in got[(pid, Metric.SPO2)]] == [97, 96]
    assert got == _fresh(clinic.conn, [r])


def test_changed_flags_are_read_again(clinic: Clinic) -> None:
    pid = clinic.patient(["diabetes"])
    clinic.feed(pid, Metric.GLUCOSE, 2.0, NOW - timedelta(hours=5), flags=["lo"])
    clinic.conn.execute("UPDATE readings SET flags = '{hi}' WHERE patient_id = %s", (pid,))
    r = clinic.store(pid, Metric.GLUCOSE, 6.0, NOW - timedelta(hours=1))
    got = _cached(clinic.conn, [r])
    assert got[(pid, Metric.GLUCOSE)][0].flags == ("hi",)
    assert got == _fresh(clinic.conn, [r])


def test_the_engine_raises_on_a_pattern_another_process_completed(clinic: Clinic,
                                                                   db_url: str) -> None:
    """Pulse info needs two readings in a row at or above 91: the first came through another
    process after this one cached the series."""
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.PULSE, 70, NOW - timedelta(hours=3))
    clinic.conn.commit()
    with connect(db_url) as other:
        dev = clinic.device(pid, Metric.PULSE)
        other.execute(
            "INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, "
            "raw_unit, reading_key) VALUES (%s, %s, %s, 'pulse', 95, '/min', 95, "
            "'/min', 'other-hub')", (NOW - timedelta(hours=2), pid, dev))
        other.commit()
    clinic.feed(pid, Metric.PULSE, 96, NOW - timedelta(hours=1), now=NOW)
    alert = clinic.alert(pid, "pulse")
    assert alert is not None and alert["severity"] == "info"


def test_marks_are_the_database_s(clinic: Clinic) -> None:
    pid = clinic.patient(["diabetes", "copd"])
    stored = [clinic.store(pid, Metric.GLUCOSE, v, NOW - timedelta(minutes=7 * k + 0.000013),
                           raw=(v * 18.016, Unit.MG_DL), flags=f)
              for k, (v, f) in enumerate([(3.9961, ()), (0.6, ("lo",)), (33.3, ("hi",)),
                                          (5.55555, ("low-quality", "verify"))])]
    points = _read(clinic.conn, [(pid, Metric.GLUCOSE)], [NOW - timedelta(days=1)])
    ours = total(points[(pid, Metric.GLUCOSE)][0])
    row = clinic.conn.cursor(row_factory=tuple_row).execute(
        MARK_SQL, ([pid], ["glucose"], [NOW - timedelta(days=1)])).fetchone()
    assert row is not None and tuple(int(x) for x in row[1:5]) == ours
    assert ours[0] == len(stored)


def test_points_sharing_a_time_and_device_are_left_to_the_database() -> None:
    t = NOW
    a, b = Point(t, 95, device_id=1), Point(t + timedelta(minutes=1), 96, device_id=1)
    assert merged([a], [b]) == [a, b]
    assert merged([b], [a]) == [a, b]
    assert merged([a], [Point(t, 94, device_id=1)]) is None
    assert merged([], [b, Point(b.time, 90, device_id=1)]) is None
    assert merged([a], [Point(t, 94, device_id=2)]) == [a, Point(t, 94, device_id=2)]
    assert plus(mark(a), mark(b)) == total([a, b])


def test_the_cache_keeps_at_most_its_points() -> None:
    cache = SeriesCache(max_points=5)
    for k in range(4):
        cache.put(("db", k), Entry((), NOW, [Point(NOW, 90)] * 2))
    assert len(cache) == 2 and cache.get(("db", 0)) is None and cache.get(("db", 3)) is not None
