"""A batch loads only what its rules read of each series (alerts.history_needs), and raises
exactly the alerts it raises with every reading of the lookback loaded."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import tuple_row

from alerts import engine
from alerts.catalogue import Catalogue, load_catalogue
from alerts.history import load_history, lookback
from alerts.history_needs import KIND_NEEDS, Needs, series_needs
from alerts.rules import CHECKS, Point
from alerts.thresholds import Subject, load_subjects, set_threshold
from telehub.domain.readings import StoredReading
from telehub.domain.units import Metric
from tests.alerts.conftest import NOW, Clinic

_ALERTS = ("SELECT patient_id, rule_id, severity::text, status::text, message, metric::text, "
           "first_breach_at, last_breach_at, occurrences, values, late, condition_cleared_at "
           "FROM alerts ORDER BY patient_id, rule_id, first_breach_at")


def _every_reading(conn: psycopg.Connection, readings: Sequence[StoredReading],
                   subjects: Mapping[int, Subject], catalogue: Catalogue
                   ) -> dict[tuple[int, Metric], list[Point]]:
    """Every reading of each touched series from its lookback on: what the rules may read."""
    oldest: dict[tuple[int, Metric], Any] = {}
    for r in readings:
        oldest[(r.patient_id, r.metric)] = min(oldest.get((r.patient_id, r.metric), r.time),
                                               r.time)
    out = {}
    for (pid, metric), first in oldest.items():
        since = first - lookback(metric, subjects.get(pid), catalogue)
        rows = conn.cursor(row_factory=tuple_row).execute(
            "SELECT time, value, raw_value, raw_unit::text, flags, device_id, reading_key "
            "FROM readings WHERE patient_id = %s AND metric = %s AND time >= %s "
            "ORDER BY time, device_id, reading_key", (pid, metric.value, since)).fetchall()
        out[(pid, metric)] = [Point(t, v, rv, ru, tuple(f), d, k)
                              for t, v, rv, ru, f, d, k in rows]
    return out


def test_every_rule_kind_the_engine_runs_on_readings_says_what_it_reads() -> None:
    assert set(CHECKS) | {"repeat-reading"} == set(KIND_NEEDS)


def test_a_patients_own_parameters_widen_what_is_read(clinic: Clinic) -> None:
    catalogue = load_catalogue()
    pid = clinic.patient(["copd"])
    subjects = load_subjects(clinic.conn, [pid], NOW)
    assert series_needs(Metric.SPO2, subjects[pid], catalogue) == Needs(
        last_valid=2, every_before=timedelta(hours=24), low_quality=timedelta(hours=24))
    assert series_needs(Metric.GLUCOSE, subjects[pid], catalogue).every_before == timedelta(0)
    set_threshold(clinic.conn, pid, "spo2-baseline-drop", {"consecutive": 4, "exclude_hours": 6},
                  "Labile saturations, agreed with the respiratory team", "Dr Lee")
    set_threshold(clinic.conn, pid, "check-device-use", {"hours": 48},
                  "Tremor: poor perfusion readings expected", "Dr Lee")
    subjects = load_subjects(clinic.conn, [pid], NOW)
    assert series_needs(Metric.SPO2, subjects[pid], catalogue) == Needs(
        last_valid=4, every_before=timedelta(hours=6), low_quality=timedelta(hours=48))
    set_threshold(clinic.conn, pid, "spo2-baseline-drop", {"baseline": 94},
                  "Known usual saturation", "Dr Lee")
    subjects = load_subjects(clinic.conn, [pid], NOW)
    assert series_needs(Metric.SPO2, subjects[pid], catalogue).every_before is None


def test_a_dense_series_loads_only_what_its_rules_read(clinic: Clinic) -> None:
    """Two hundred readings in the last two hours: a new SpO2 reading's rules read its last
    two valid ones and the day's low-quality ones; a pulse's, as many valid ones as the
    patient's own run of consecutive readings asks for, and that run still fires."""
    pid = clinic.patient(["copd"])
    set_threshold(clinic.conn, pid, "pulse-info", {"consecutive": 4},
                  "Agreed with the heart-failure nurse", "Dr Lee")
    for k in range(200):
        at = NOW - timedelta(hours=2) + k * timedelta(seconds=30)
        clinic.store(pid, Metric.SPO2, 96, at, flags=("low-quality",) if k in (10, 150) else ())
        clinic.store(pid, Metric.PULSE, 60 if k < 197 else 95, at)
    new = [clinic.store(pid, Metric.SPO2, 95, NOW), clinic.store(pid, Metric.PULSE, 96, NOW)]
    catalogue = load_catalogue()
    subjects = load_subjects(clinic.conn, [pid], NOW)
    history = load_history(clinic.conn, new, subjects, catalogue)
    spo2, pulse = history[(pid, Metric.SPO2)], history[(pid, Metric.PULSE)]
    assert [p.value for p in spo2[-3:]] == [96, 96, 95] and len(spo2) == 5
    assert sum(p.low_quality for p in spo2) == 2
    assert [p.value for p in pulse] == [60, 95, 95, 95, 96]
    engine.evaluate(clinic.conn, new, now=NOW)
    alert = clinic.alert(pid, "pulse")
    assert alert is not None and alert["values"]["rule"] == "pulse-info"


def _random_readings(clinic: Clinic, rng: random.Random, pid: int, metric: Metric
                     ) -> list[StoredReading]:
    """A series of history and a batch of new readings (some of them late) for one metric."""
    values = {Metric.SPO2: lambda: rng.choice([82, 86, 88, 90, 91, 92, 93, 94, 95, 96, 97, 98]),
              Metric.PULSE: lambda: rng.choice([38, 45, 50, 60, 75, 90, 95, 112, 135]),
              Metric.GLUCOSE: lambda: rng.choice([2.8, 3.5, 3.9, 5.5, 8.0, 14.0, 16.0, 31.0]),
              Metric.WEIGHT: lambda: rng.choice([80.0, 80.5, 81.2, 82.0, 82.6, 83.4, 89.0])}
    times = sorted({NOW - timedelta(minutes=rng.randint(1, 12 * 24 * 60))
                    for _ in range(rng.randint(5, 60))})
    if rng.random() < 0.5:      # a burst: a device sending every minute for an hour
        start = NOW - timedelta(hours=rng.randint(2, 40))
        times = sorted(set(times) | {start + timedelta(minutes=m) for m in range(60)})
    flagged = {t for t in times if rng.random() < 0.15}
    rng.shuffle(times)
    n_new = rng.randint(1, 4)
    late = rng.random() < 0.4
    new_times = set(times[:n_new]) if late else set()
    if not late:
        new_times = {NOW - timedelta(seconds=s) for s in rng.sample(range(1, 600), n_new)}
        times += sorted(new_times)
    batch = []
    for at in sorted(times):
        r = clinic.store(pid, metric, values[metric](), at,
                         flags=("low-quality",) if at in flagged else ())
        if at in new_times:
            batch.append(r)
    return batch


@pytest.mark.parametrize("seed", range(12))
def test_the_alerts_are_those_of_every_reading_loaded(clinic: Clinic, seed: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Random series (history, bursts, low-quality readings, late batches, patients' own
    parameters) evaluated twice in one transaction: with what the rules read, and with every
    reading of the lookback; the alerts written must be the same."""
    rng = random.Random(seed)
    batch: list[StoredReading] = []
    for _ in range(4):
        pid = clinic.patient(rng.sample(["copd", "heart-failure", "diabetes"], rng.randint(1, 3)))
        if rng.random() < 0.4:
            set_threshold(clinic.conn, pid, "spo2-baseline-drop",
                          {"consecutive": rng.randint(1, 4),
                           "exclude_hours": rng.choice([0, 6, 24]), "min_readings": 3},
                          "Agreed with the respiratory team", "Dr Lee")
        if rng.random() < 0.4:
            set_threshold(clinic.conn, pid, "pulse-info", {"consecutive": rng.randint(1, 4)},
                          "Agreed with the heart-failure nurse", "Dr Lee")
        for metric in Metric:
            batch += _random_readings(clinic, rng, pid, metric)
    conn = clinic.conn

    def outcome(loader: Any) -> list[tuple[Any, ...]]:
        monkeypatch.setattr(engine, "load_history", loader)
        with conn.transaction(force_rollback=True):
            engine.evaluate(conn, batch, now=NOW)
            return conn.cursor(row_factory=tuple_row).execute(_ALERTS).fetchall()

    everything = outcome(_every_reading)
    needed = outcome(load_history)
    assert needed == everything
    assert everything or seed > 3, "the first seeds raise alerts"
