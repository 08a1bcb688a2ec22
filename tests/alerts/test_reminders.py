"""Reminders: a red alert nobody has acknowledged notifies the team's red topic again every N
minutes (the team's setting, off when NULL), not before, until acknowledged, never watched."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from alerts import lifecycle
from alerts.lifecycle import Actor
from alerts.reminders import reminder_slot
from alerts.scheduler import run_alert_timers
from telehub.domain.clock import FixedClock, service_zone, use_clock
from telehub.domain.units import Metric
from tests.alerts.conftest import Clinic
from tests.clock_anchors import ANCHORS, anchor_id

MIN = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
ZONE = service_zone()


def _red(clinic: Clinic, at: datetime, minutes: int | None = 30) -> int:
    clinic.conn.execute("UPDATE teams SET red_reminder_minutes = %s WHERE id = %s",
                        (minutes, clinic.team_id))
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, 88, at)
    [alert] = clinic.alerts(pid)
    return int(alert["id"])


def _reminders(clinic: Clinic) -> list[dict]:
    return [o for o in clinic.outbox() if o["payload"]["event"] == "reminder"]


@pytest.mark.parametrize("at", ANCHORS, ids=anchor_id)
def test_a_reminder_comes_every_n_minutes_and_not_before(clinic: Clinic, at: datetime) -> None:
    alert_id = _red(clinic, at, minutes=20)
    assert run_alert_timers(clinic.conn, at + 20 * MIN - SECOND, ZONE)["reminders"] == 0
    assert run_alert_timers(clinic.conn, at + 20 * MIN, ZONE)["reminders"] == 1
    assert run_alert_timers(clinic.conn, at + 20 * MIN + SECOND, ZONE)["reminders"] == 0
    assert run_alert_timers(clinic.conn, at + 40 * MIN - SECOND, ZONE)["reminders"] == 0
    assert run_alert_timers(clinic.conn, at + 40 * MIN, ZONE)["reminders"] == 1
    first, second = _reminders(clinic)
    assert (first["team"], first["severity"]) == ("north", "red")
    assert (first["payload"]["reminder"], first["payload"]["minutes_unacknowledged"]) == (1, 20)
    assert (second["payload"]["reminder"], second["payload"]["minutes_unacknowledged"]) == (
        2, 40)
    assert first["payload"]["alert_id"] == alert_id and first["payload"]["status"] == "open"
    notes = [e["note"] for e in lifecycle.events(clinic.conn, alert_id) if e["kind"] == "reminded"]
    assert notes == ["Red alert not acknowledged for 20 minutes: reminder 1 to the team.",
                     "Red alert not acknowledged for 40 minutes: reminder 2 to the team."]
    # Acknowledged: no more reminders.
    with use_clock(FixedClock(at + 41 * MIN)):
        lifecycle.acknowledge(clinic.conn, alert_id, Actor(None, "matron.jones"))
    assert run_alert_timers(clinic.conn, at + 60 * MIN, ZONE)["reminders"] == 0
    assert len(_reminders(clinic)) == 2


def test_the_default_is_thirty_minutes_and_off_means_none(clinic: Clinic) -> None:
    at = ANCHORS[1]
    clinic.conn.execute("UPDATE teams SET red_reminder_minutes = DEFAULT WHERE id = %s",
                        (clinic.team_id,))
    row = clinic.conn.execute("SELECT red_reminder_minutes FROM teams WHERE id = %s",
                              (clinic.team_id,)).fetchone()
    assert row == {"red_reminder_minutes": 30}
    _red(clinic, at, minutes=30)
    assert run_alert_timers(clinic.conn, at + 29 * MIN, ZONE)["reminders"] == 0
    assert run_alert_timers(clinic.conn, at + 30 * MIN, ZONE)["reminders"] == 1
    clinic.conn.execute("UPDATE teams SET red_reminder_minutes = NULL WHERE id = %s",
                        (clinic.team_id,))
    assert run_alert_timers(clinic.conn, at + 3 * 60 * MIN, ZONE)["reminders"] == 0


def test_amber_is_never_reminded(clinic: Clinic) -> None:
    at = ANCHORS[2]
    clinic.conn.execute("UPDATE teams SET red_reminder_minutes = 5 WHERE id = %s",
                        (clinic.team_id,))
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, 93, at)
    assert run_alert_timers(clinic.conn, at + 60 * MIN, ZONE)["reminders"] == 0


def test_a_watched_alert_is_not_reminded_and_reminders_restart_after_its_watch(
        clinic: Clinic) -> None:
    at = ANCHORS[3]
    alert_id = _red(clinic, at, minutes=30)
    nurse = Actor(None, "nurse.watts")
    with use_clock(FixedClock(at + 5 * MIN)):
        lifecycle.acknowledge(clinic.conn, alert_id, nurse)
        lifecycle.watch(clinic.conn, alert_id, nurse, at + 2 * 60 * MIN, "Rescue pack started")
    assert run_alert_timers(clinic.conn, at + 90 * MIN, ZONE)["reminders"] == 0
    assert run_alert_timers(clinic.conn, at + 120 * MIN, ZONE)["watches_ended"] == 1
    assert run_alert_timers(clinic.conn, at + 149 * MIN, ZONE)["reminders"] == 0
    assert run_alert_timers(clinic.conn, at + 150 * MIN, ZONE)["reminders"] == 1


def test_after_a_pause_only_the_latest_slot_is_sent() -> None:
    since = ANCHORS[0]
    assert reminder_slot(since, None, 10, since + 9 * MIN) == 0
    assert reminder_slot(since, None, 10, since + 35 * MIN) == 3
    assert reminder_slot(since, since + 30 * MIN, 10, since + 35 * MIN) == 0
    assert reminder_slot(since, since + 20 * MIN, 10, since + 35 * MIN) == 3
