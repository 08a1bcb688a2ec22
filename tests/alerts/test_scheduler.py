"""Scheduler: missing readings from the care plan, escalation timers, one run at a time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.lifecycle import Actor, acknowledge
from alerts.scheduler import SCHEDULER_LOCK_KEY, Scheduler
from telehub.config import Settings
from telehub.db.pool import open_pool
from telehub.domain.units import Metric
from tests.alerts.conftest import NOW, Clinic

# Other processes (hub, notifier, scheduler, CLI) read this module's data: it commits.
COMMITS = True

HOUR = timedelta(hours=1)


def _enrolled(clinic: Clinic, conditions: list[str], days: float = 20) -> int:
    pid = clinic.patient(conditions)
    clinic.conn.execute("UPDATE patients SET enrolled_at = %s WHERE id = %s",
                        (NOW - timedelta(days=days), pid))
    return pid


def _weights_until(clinic: Clinic, pid: int, last: datetime) -> None:
    for k in range(7, -1, -1):
        clinic.store(pid, Metric.WEIGHT, 80.0, last - timedelta(days=k))


def _run(clinic: Clinic, scheduler: Scheduler, now: datetime) -> dict[str, int] | None:
    clinic.conn.commit()
    result = scheduler.run_once(now)
    clinic.conn.commit()
    return result


def test_daily_weight_missing(clinic: Clinic, scheduler: Scheduler) -> None:
    # Two days (48 h) and three days (72 h) without a reading, plus 12 h of grace.
    cases = [(59, None), (60, "info"), (83, "info"), (84, "amber")]
    pids = []
    for hours, _ in cases:
        pid = _enrolled(clinic, ["heart-failure"])
        _weights_until(clinic, pid, NOW - hours * HOUR)
        pids.append(pid)
    _run(clinic, scheduler, NOW)
    for pid, (hours, expected) in zip(pids, cases, strict=True):
        alert = clinic.alert(pid, "missing-readings")
        assert (alert and alert["severity"]) == expected, hours
        if alert:
            assert "Weight" in alert["message"] and alert["values"]["metrics"] == ["weight"]


def test_twice_daily_oximetry_two_slots_missed(clinic: Clinic, scheduler: Scheduler) -> None:
    ok, missing = _enrolled(clinic, ["copd"]), _enrolled(clinic, ["copd"])
    for pid, last in ((ok, NOW - 35 * HOUR), (missing, NOW - 36 * HOUR)):
        for k in range(14):
            clinic.store(pid, Metric.SPO2, 96, last - k * 12 * HOUR)
            clinic.store(pid, Metric.PULSE, 70, last - k * 12 * HOUR)
    _run(clinic, scheduler, NOW)
    assert clinic.alert(ok, "missing-readings") is None
    alert = clinic.alert(missing, "missing-readings")
    assert alert is not None and alert["severity"] == "amber"
    assert alert["values"]["metrics"] == ["pulse", "spo2"]
    assert len(clinic.outbox()) == 1


def test_fewer_than_70_percent_over_a_week_is_info(clinic: Clinic, scheduler: Scheduler) -> None:
    # 2 a day: 14 expected; the 8 readings in the window are fewer than 9.8.
    pid = _enrolled(clinic, ["type2-diabetes"])
    for k in range(9):
        clinic.store(pid, Metric.GLUCOSE, 6.0, NOW - 2 * HOUR - k * 17 * HOUR)
    _run(clinic, scheduler, NOW)
    alert = clinic.alert(pid, "missing-readings")
    assert alert is not None and alert["severity"] == "info"
    assert "9 readings in the 7 days to 10:00 on 26 Nov" in alert["message"]


def test_paused_or_in_hospital_patients_are_not_chased(clinic: Clinic,
                                                       scheduler: Scheduler) -> None:
    paused, admitted = _enrolled(clinic, ["heart-failure"]), _enrolled(clinic, ["heart-failure"])
    clinic.conn.execute("UPDATE patients SET paused_until = %s WHERE id = %s",
                        (NOW + 48 * HOUR, paused))
    clinic.conn.execute("UPDATE patients SET status = 'in-hospital' WHERE id = %s", (admitted,))
    _run(clinic, scheduler, NOW)
    assert clinic.alerts() == []


def test_missing_alert_is_not_repeated_and_clears_when_readings_resume(
        clinic: Clinic, scheduler: Scheduler) -> None:
    pid = _enrolled(clinic, ["heart-failure"])
    _weights_until(clinic, pid, NOW - 90 * HOUR)
    _run(clinic, scheduler, NOW)
    _run(clinic, scheduler, NOW + timedelta(minutes=1))
    [alert] = clinic.alerts(pid)
    events = clinic.conn.execute("SELECT kind FROM alert_events WHERE alert_id = %s",
                                 (alert["id"],)).fetchall()
    assert [e["kind"] for e in events] == ["opened"]
    clinic.feed(pid, Metric.WEIGHT, 80.1, NOW + HOUR)
    alert = clinic.alert(pid, "missing-readings")
    assert alert is not None
    assert alert["condition_cleared_at"] is not None and alert["status"] == "open"


@pytest.mark.parametrize(("minutes", "escalated"), [(14, False), (15, True)])
def test_red_not_acknowledged_in_15_minutes_escalates(clinic: Clinic, scheduler: Scheduler,
                                                      minutes: int, escalated: bool) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.SPO2, 88, NOW)
    result = _run(clinic, scheduler, NOW + timedelta(minutes=minutes))
    assert result is not None and result["escalated"] == int(escalated)
    [alert] = clinic.alerts(pid)
    assert alert["escalated"] is escalated
    outbox = clinic.outbox()
    assert len(outbox) == 1 + escalated
    if escalated:
        assert outbox[-1]["payload"]["escalated"] is True
        assert (outbox[-1]["team"], outbox[-1]["severity"]) == ("north", "red")


def test_acknowledged_red_does_not_escalate(clinic: Clinic, scheduler: Scheduler) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.SPO2, 88, NOW)
    acknowledge(clinic.conn, clinic.alerts(pid)[0]["id"], Actor(None, "matron.jones"))
    _run(clinic, scheduler, NOW + HOUR)
    assert not clinic.alerts(pid)[0]["escalated"]


def test_amber_escalates_at_the_end_of_the_working_day(clinic: Clinic,
                                                       scheduler: Scheduler) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.SPO2, 93, NOW)                       # 10:00 London
    _run(clinic, scheduler, datetime(2026, 11, 26, 16, 59, tzinfo=UTC))
    assert not clinic.alerts(pid)[0]["escalated"]
    _run(clinic, scheduler, datetime(2026, 11, 26, 17, 0, tzinfo=UTC))
    assert clinic.alerts(pid)[0]["escalated"]


def test_amber_raised_after_hours_waits_for_the_next_working_day(
        clinic: Clinic, scheduler: Scheduler) -> None:
    pid = clinic.patient([])
    evening = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
    clinic.feed(pid, Metric.SPO2, 93, evening)
    _run(clinic, scheduler, evening + 3 * HOUR)
    assert not clinic.alerts(pid)[0]["escalated"]
    _run(clinic, scheduler, datetime(2026, 11, 27, 17, 0, tzinfo=UTC))
    assert clinic.alerts(pid)[0]["escalated"]


def test_only_one_scheduler_runs_at_a_time(clinic: Clinic, scheduler: Scheduler,
                                           db_url: str) -> None:
    clinic.conn.commit()
    with psycopg.connect(db_url) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEDULER_LOCK_KEY,))
        assert scheduler.run_once(NOW) is None
    assert scheduler.run_once(NOW) == {"missing": 0, "devices": 0, "escalated": 0,
                                       "telecare_escalated": 0, "reminders": 0,
                                       "watches_ended": 0}


def _device(clinic: Clinic, *, seen: datetime, online: bool | None = None,
            status_at: datetime | None = None) -> int:
    pid = clinic.patient(["copd"])
    dev = clinic.device(pid, Metric.SPO2)
    clinic.conn.execute("UPDATE devices SET last_seen_at = %s, online = %s, status_at = %s, "
                        "created_at = %s WHERE id = %s",
                        (seen, online, status_at, NOW - timedelta(days=30), dev))
    return pid


def test_device_offline_or_silent_is_info(clinic: Clinic, scheduler: Scheduler) -> None:
    silent = _device(clinic, seen=NOW - 25 * HOUR)
    said_offline = _device(clinic, seen=NOW - 2 * HOUR, online=False, status_at=NOW - 2 * HOUR)
    napping = _device(clinic, seen=NOW - 10 * timedelta(minutes=1), online=False,
                      status_at=NOW - timedelta(minutes=10))
    fine = _device(clinic, seen=NOW - 23 * HOUR, online=True, status_at=NOW - 23 * HOUR)
    result = _run(clinic, scheduler, NOW)
    assert result is not None and result["devices"] == 2
    for pid in (silent, said_offline):
        alert = clinic.alert(pid, "device-offline")
        assert alert is not None and alert["severity"] == "info"
        assert clinic.device_name(pid, Metric.SPO2) in alert["message"]
    assert clinic.alert(napping, "device-offline") is None
    assert clinic.alert(fine, "device-offline") is None
    assert clinic.outbox() == []
    _run(clinic, scheduler, NOW + timedelta(minutes=1))        # known: nothing repeated
    alert = clinic.alert(silent, "device-offline")
    assert alert is not None and alert["occurrences"] == 1
    clinic.conn.execute("UPDATE devices SET last_seen_at = %s, online = true WHERE id = %s",
                        (NOW + timedelta(minutes=2), clinic.device(silent, Metric.SPO2)))
    _run(clinic, scheduler, NOW + timedelta(minutes=3))
    alert = clinic.alert(silent, "device-offline")
    assert alert is not None and alert["condition_cleared_at"] is not None


def test_a_connected_device_that_sends_nothing_is_not_silent(
        clinic: Clinic, scheduler: Scheduler) -> None:
    """Pendants and smoke alarms rightly send nothing for days: while their retained status
    says connected (their last will would say otherwise) they are not offline; a status
    message also counts as being heard from."""
    connected = _device(clinic, seen=NOW - 72 * HOUR, online=True, status_at=NOW - 72 * HOUR)
    heard_lately = _device(clinic, seen=NOW - 72 * HOUR, online=None, status_at=NOW - 2 * HOUR)
    gone_quiet = _device(clinic, seen=NOW - 72 * HOUR, online=None, status_at=NOW - 30 * HOUR)
    result = _run(clinic, scheduler, NOW)
    assert result is not None and result["devices"] == 1
    assert clinic.alert(connected, "device-offline") is None
    assert clinic.alert(heard_lately, "device-offline") is None
    assert clinic.alert(gone_quiet, "device-offline") is not None


def test_sequence_gap_is_info_once_per_new_gap(clinic: Clinic, scheduler: Scheduler) -> None:
    pid = _device(clinic, seen=NOW - HOUR)
    dev = clinic.device(pid, Metric.SPO2)
    clinic.conn.execute("INSERT INTO device_seq_gaps (device_id, expected_seq, received_seq, "
                        "detected_at) VALUES (%s, 10, 13, %s)", (dev, NOW - HOUR))
    _run(clinic, scheduler, NOW)
    alert = clinic.alert(pid, "sequence-gap")
    assert alert is not None and alert["severity"] == "info"
    assert alert["message"].startswith("3 message(s)")
    _run(clinic, scheduler, NOW + timedelta(minutes=1))
    clinic.conn.execute("INSERT INTO device_seq_gaps (device_id, expected_seq, received_seq, "
                        "detected_at) VALUES (%s, 20, 21, %s)", (dev, NOW + timedelta(minutes=5)))
    _run(clinic, scheduler, NOW + timedelta(minutes=6))
    alert = clinic.alert(pid, "sequence-gap")
    assert alert is not None and alert["occurrences"] == 2


def test_started_scheduler_escalates_on_its_own(clinic: Clinic, settings: Settings) -> None:
    quick = settings.model_copy(update={"alerts": settings.alerts.model_copy(
        update={"scheduler_interval_s": 0.1})})
    pid = clinic.patient([])
    sixteen_minutes_ago = datetime.now(UTC) - timedelta(minutes=16)
    clinic.feed(pid, Metric.SPO2, 88, sixteen_minutes_ago)
    clinic.conn.commit()
    pool = open_pool(quick.require_database_url(), max_size=2, name="scheduler-thread-test")
    scheduler = Scheduler(quick, pool)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not clinic.alerts(pid)[0]["escalated"]:
            clinic.conn.commit()
            time.sleep(0.1)
    finally:
        scheduler.stop()
        pool.close()
    assert clinic.alerts(pid)[0]["escalated"]


def test_resumed_readings_are_not_chased_again_until_they_stop_again(
        clinic: Clinic, scheduler: Scheduler) -> None:
    pid = _enrolled(clinic, ["heart-failure"])
    _weights_until(clinic, pid, NOW - 80 * HOUR)
    _run(clinic, scheduler, NOW)
    clinic.feed(pid, Metric.WEIGHT, 80.1, NOW + HOUR)             # resumes: cleared
    _run(clinic, scheduler, NOW + 2 * HOUR)                        # week still thin: quiet
    alert = clinic.alert(pid, "missing-readings")
    assert alert is not None and alert["condition_cleared_at"] is not None
    assert alert["occurrences"] == 1
    _run(clinic, scheduler, NOW + HOUR + 61 * HOUR)                # stopped again: new
    alert = clinic.alert(pid, "missing-readings")
    assert alert is not None and alert["condition_cleared_at"] is None
    assert alert["occurrences"] == 2


def test_telecare_alerts_escalate_on_their_own_window(clinic: Clinic,
                                                      scheduler: Scheduler) -> None:
    from alerts.telecare import TelecareEvent, raise_telecare_alerts

    pid = clinic.patient([])
    raise_telecare_alerts(clinic.conn, [TelecareEvent(pid, "fall", NOW, "pendant-1")], NOW,
                          ZoneInfo("Europe/London"))
    result = _run(clinic, scheduler, NOW + timedelta(minutes=1))
    assert result is not None and result["telecare_escalated"] == 0
    result = _run(clinic, scheduler, NOW + timedelta(minutes=2))
    assert result is not None and result["telecare_escalated"] == 1
    assert result["escalated"] == 0                 # not escalated twice
    [alert] = clinic.alerts(pid)
    assert alert["escalated"] and alert["rule_id"] == "telecare-fall"
