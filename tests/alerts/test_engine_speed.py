"""How long rule evaluation adds to an ingest transaction, by batch size (marked slow).

Run: pytest tests/alerts/test_engine_speed.py -m slow -s
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest

from alerts.catalogue import load_catalogue
from alerts.engine import evaluate
from telehub.domain.readings import StoredReading
from telehub.domain.units import Metric, Unit
from tests.alerts.conftest import NOW, Clinic

# Other processes (hub, notifier, scheduler, CLI) read this module's data: it commits.
COMMITS = True

PATIENTS = 200


@pytest.mark.slow
def test_evaluation_time_per_batch(clinic: Clinic) -> None:
    rng = random.Random(7)
    patients = [clinic.patient(["copd", "heart-failure"]) for _ in range(PATIENTS)]
    devices = {pid: clinic.device(pid, Metric.SPO2) for pid in patients}
    rows = [(NOW - timedelta(days=30) + k * timedelta(hours=6), pid, devices[pid], "spo2",
             rng.choice([95, 96, 97, 98]), "%", 0, "%", f"h{k}")
            for pid in patients for k in range(120)]            # 30 days of history, 4 a day
    with clinic.conn.cursor() as cur, cur.copy(
            "COPY readings (time, patient_id, device_id, metric, value, unit, raw_value, "
            "raw_unit, reading_key) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    clinic.conn.commit()
    load_catalogue()                        # read once per process, not per batch
    timings = {}
    for size in (1, 10, 100, 1000, 5000):
        batch = []
        with clinic.conn.cursor() as cur, cur.copy(
                "COPY readings (time, patient_id, device_id, metric, value, unit, raw_value, "
                "raw_unit, reading_key) FROM STDIN") as copy:
            for n in range(size):
                pid = patients[n % PATIENTS]
                t = NOW + timedelta(seconds=n, minutes=size)
                v = rng.choice([88, 93, 96, 97, 97, 98])
                copy.write_row((t, pid, devices[pid], "spo2", v, "%", v, "%", f"b{size}-{n}"))
                batch.append(StoredReading(t, pid, devices[pid], Metric.SPO2, v, Unit.PERCENT,
                                           v, Unit.PERCENT, NOW, f"b{size}-{n}"))
        started = time.perf_counter()
        evaluate(clinic.conn, batch, now=batch[-1].time)
        timings[size] = time.perf_counter() - started
        clinic.conn.commit()
    for size, seconds in timings.items():
        print(f"evaluate: batch of {size:>5} readings over {min(size, PATIENTS)} patients "
              f"(30 days of history each): {seconds * 1000:8.1f} ms, "
              f"{seconds / size * 1e6:7.0f} µs/reading")
    assert timings[1000] < 10.0
