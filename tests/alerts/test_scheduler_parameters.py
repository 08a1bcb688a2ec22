"""The scheduler's passes judge each patient by their own parameters in force at the pass's
time (alerts.thresholds.load_parameters), loading the whole patient only to act on them."""

from __future__ import annotations

from datetime import timedelta

from alerts.scheduler import Scheduler
from alerts.thresholds import set_threshold
from telehub.domain.units import Metric
from tests.alerts.conftest import NOW, Clinic

COMMITS = True
HOUR = timedelta(hours=1)


def _silent_for(clinic: Clinic, hours: float) -> int:
    pid = clinic.patient(["copd"])
    dev = clinic.device(pid, Metric.SPO2)
    clinic.conn.execute("UPDATE devices SET last_seen_at = %s, created_at = %s WHERE id = %s",
                        (NOW - hours * HOUR, NOW - timedelta(days=30), dev))
    return pid


def _weighed_ago(clinic: Clinic, hours: float) -> int:
    pid = clinic.patient(["heart-failure"])
    clinic.conn.execute("UPDATE patients SET enrolled_at = %s WHERE id = %s",
                        (NOW - timedelta(days=20), pid))
    for k in range(7, -1, -1):
        clinic.store(pid, Metric.WEIGHT, 80.0, NOW - hours * HOUR - timedelta(days=k))
    return pid


def _until(clinic: Clinic, pid: int, rule_id: str, ends: object) -> None:
    """Make the patient's override of `rule_id` a temporary one ending at `ends`."""
    clinic.conn.execute("UPDATE thresholds SET ends_at = %s WHERE patient_id = %s "
                        "AND rule_id = %s", (ends, pid, rule_id))


def test_own_and_temporary_parameters_decide_at_the_passs_time(
        clinic: Clinic, scheduler: Scheduler) -> None:
    default = _silent_for(clinic, 8)
    own = _silent_for(clinic, 8)
    lasting = _silent_for(clinic, 8)
    ended = _silent_for(clinic, 8)
    for pid in (own, lasting, ended):
        set_threshold(clinic.conn, pid, "device-offline", {"hours": 6},
                      "Oxygen titration: the oximeter must stay on", "Dr Lee")
    _until(clinic, lasting, "device-offline", NOW + 2 * HOUR)
    _until(clinic, ended, "device-offline", NOW - HOUR)
    weighed = _weighed_ago(clinic, 40)
    weighed_own = _weighed_ago(clinic, 40)
    set_threshold(clinic.conn, weighed_own, "missing-readings", {"daily_hours": 24},
                  "Diuretics being changed: daily weights matter", "Dr Lee")
    clinic.conn.commit()
    result = scheduler.run_once(NOW)
    clinic.conn.commit()
    assert result is not None
    assert clinic.alert(default, "device-offline") is None
    assert clinic.alert(own, "device-offline") is not None
    assert clinic.alert(lasting, "device-offline") is not None     # in force at NOW
    assert clinic.alert(ended, "device-offline") is None           # ended before NOW
    assert clinic.alert(weighed, "missing-readings") is None       # 40 h: under 48 + 12
    alert = clinic.alert(weighed_own, "missing-readings")
    assert alert is not None and alert["severity"] == "amber"      # 40 h: over 24 + 12
