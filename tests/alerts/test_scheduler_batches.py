"""The scheduler's passes take the caseload a batch of patients at a time and reach the same
alerts as one pass over everyone: each patient is checked once, with all its metrics and
devices, whichever batch it falls in."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from psycopg.types.json import Jsonb

from alerts.device_rules import check_devices
from alerts.patient_batches import patient_batches
from alerts.scheduler import check_missing
from telehub.domain.units import Metric
from tests.alerts.conftest import NOW, Clinic

LONDON = ZoneInfo("Europe/London")
HOUR = timedelta(hours=1)
TWO_METRICS = {"weight": {"per_day": 1}, "spo2": {"per_day": 2}}


def _patient(clinic: Clinic, *, last: datetime, enrolled_days: int = 20) -> int:
    """A patient expected to weigh in daily and take SpO2 twice a day, last heard at `last`
    (enrolled for less than the adherence week: only silence counts)."""
    pid = clinic.patient(["copd"])
    clinic.conn.execute("UPDATE patients SET care_plan = %s, enrolled_at = %s WHERE id = %s",
                        (Jsonb(TWO_METRICS), NOW - timedelta(days=enrolled_days), pid))
    for metric in (Metric.WEIGHT, Metric.SPO2):
        clinic.store(pid, metric, 80.0 if metric is Metric.WEIGHT else 95.0, last)
        clinic.conn.execute("UPDATE devices SET last_seen_at = %s, created_at = %s "
                            "WHERE id = %s", (last, NOW - timedelta(days=30),
                                              clinic.device(pid, metric)))
    return pid


def test_batches_hold_every_patient_once_in_ascending_order(clinic: Clinic) -> None:
    pids = [clinic.patient(["copd"]) for _ in range(5)]
    batches = list(patient_batches(clinic.conn, 2))
    assert [len(b) for b in batches] == [2, 2, 1]
    flat = [pid for batch in batches for pid in batch]
    assert flat == sorted(flat) and set(pids) <= set(flat)
    with pytest.raises(ValueError, match="at least one patient"):
        next(patient_batches(clinic.conn, 0))


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_batched_pass_raises_for_every_patient_with_all_its_metrics_and_devices(
        clinic: Clinic, batch_size: int) -> None:
    quiet = [_patient(clinic, last=NOW - 90 * HOUR, enrolled_days=5) for _ in range(3)]
    fine = [_patient(clinic, last=NOW - HOUR, enrolled_days=2) for _ in range(2)]
    assert check_missing(clinic.conn, NOW, LONDON, batch_size=batch_size) == 3
    assert check_devices(clinic.conn, NOW, batch_size=batch_size) == 3
    for pid in quiet:
        alert = clinic.alert(pid, "missing-readings")
        # Both metrics of a patient land in one alert, whichever batch the patient is in.
        assert alert is not None and alert["values"]["metrics"] == ["spo2", "weight"]
        offline = clinic.alert(pid, "device-offline")
        assert offline is not None and len(offline["values"]["devices"]) == 2
    for pid in fine:
        assert clinic.alert(pid, "missing-readings") is None
        assert clinic.alert(pid, "device-offline") is None
    # Heard from again: the device alert clears in whichever batch the patient falls.
    for metric in (Metric.WEIGHT, Metric.SPO2):
        clinic.conn.execute("UPDATE devices SET last_seen_at = %s WHERE id = %s",
                            (NOW, clinic.device(quiet[-1], metric)))
    assert check_devices(clinic.conn, NOW + HOUR, batch_size=batch_size) == 0
    cleared = clinic.alert(quiet[-1], "device-offline")
    assert cleared is not None and cleared["condition_cleared_at"] is not None
    for pid in quiet[:-1]:
        still = clinic.alert(pid, "device-offline")
        assert still is not None and still["condition_cleared_at"] is None
