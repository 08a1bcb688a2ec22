"""Watch periods: only a reviewed alert, bounded, held from escalation, re-raised by a worse
reading, back in the inbox at its end with what happened meanwhile; at every clock anchor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts import lifecycle
from alerts.lifecycle import Actor, TransitionError
from alerts.scheduler import run_alert_timers
from telehub.care import registration as registry
from telehub.domain.clock import FixedClock, service_zone, use_clock
from telehub.domain.units import Metric
from telehub.errors import ValidationError
from tests.alerts.conftest import Clinic
from tests.clock_anchors import ANCHORS, LONDON, anchor_id

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
ZONE = service_zone()


def _nurse(clinic: Clinic) -> Actor:
    sid = registry.add_staff(clinic.conn, username="nurse.watch", display_name="Nia Watts",
                             role="nurse", team=clinic.team_id)
    return Actor(sid, "nurse.watch")


def _events(clinic: Clinic, alert_id: int) -> list[dict[str, Any]]:
    return lifecycle.events(clinic.conn, alert_id)


def _watched(clinic: Clinic, at: datetime, value: float, hours: float = 4
             ) -> tuple[int, int, Actor, FixedClock]:
    """A patient whose SpO2 `value` at `at` raised an alert, acknowledged and watched."""
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, value, at)
    [alert] = clinic.alerts(pid)
    nurse = _nurse(clinic)
    service = FixedClock(at + MIN)
    with use_clock(service):
        lifecycle.acknowledge(clinic.conn, alert["id"], nurse)
        lifecycle.watch(clinic.conn, alert["id"], nurse, at + hours * HOUR,
                        "Known COPD exacerbation, on rescue pack; recheck this afternoon")
    return pid, int(alert["id"]), nurse, service


def test_only_a_reviewed_alert_is_watched_within_bounds(clinic: Clinic) -> None:
    at = ANCHORS[1]
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, 93, at)
    [alert] = clinic.alerts(pid)
    nurse = _nurse(clinic)
    with use_clock(FixedClock(at)):
        with pytest.raises(TransitionError, match="Acknowledge"):
            lifecycle.watch(clinic.conn, alert["id"], nurse, at + HOUR, "Wait and see")
        lifecycle.acknowledge(clinic.conn, alert["id"], nurse)
        for until, code in [(at + 14 * MIN, "bad-watch"), (at + timedelta(days=14, seconds=1),
                                                            "bad-watch")]:
            with pytest.raises(ValidationError) as err:
                lifecycle.watch(clinic.conn, alert["id"], nurse, until, "Wait and see")
            assert err.value.code == code
        with pytest.raises(ValidationError) as err:
            lifecycle.watch(clinic.conn, alert["id"], nurse, at + HOUR, "  ")
        assert err.value.code == "reason-required"
        out = lifecycle.watch(clinic.conn, alert["id"], nurse, at + timedelta(days=14),
                              "Wait and see")
    assert out["watch_until"] == at + timedelta(days=14) and out["status"] == "acknowledged"
    [started] = [e for e in _events(clinic, alert["id"]) if e["kind"] == "watch-started"]
    assert started["actor"] == "nurse.watch" and started["note"] == "Wait and see"
    assert started["data"]["until"] == (at + timedelta(days=14)).isoformat()


@pytest.mark.parametrize("at", ANCHORS, ids=anchor_id)
def test_a_worse_reading_re_raises_a_watched_alert_at_once(clinic: Clinic, at: datetime
                                                            ) -> None:
    pid, alert_id, _, _ = _watched(clinic, at, 93)
    clinic.feed(pid, Metric.SPO2, 93, at + 20 * MIN)       # the same: counted, not notified
    assert [o["payload"]["event"] for o in clinic.outbox()] == ["opened"]
    clinic.feed(pid, Metric.SPO2, 88, at + 40 * MIN)       # red: re-raised
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None
    assert (alert["status"], alert["severity"], alert["watch_until"]) == ("open", "red", None)
    assert [o["payload"]["event"] for o in clinic.outbox()] == ["opened", "re-raised"]
    assert clinic.outbox()[-1]["severity"] == "red"
    kinds = [e["kind"] for e in _events(clinic, alert_id)]
    assert kinds == ["opened", "acknowledged", "watch-started", "repeated", "severity-raised",
                     "re-raised"]
    reraised = _events(clinic, alert_id)[-1]
    assert reraised["note"].startswith("Re-raised during watch: severity amber → red.")
    assert reraised["data"]["occurrences"] == 2
    assert reraised["data"]["worst"]["value"] == 88
    assert alert["values"]["last_watch"]["how"] == "higher-severity"
    assert "watch" not in alert["values"]


def test_a_milder_reading_during_a_red_watch_does_not_re_raise(clinic: Clinic) -> None:
    at = ANCHORS[2]
    pid, _, _, _ = _watched(clinic, at, 88)
    clinic.feed(pid, Metric.SPO2, 93, at + 30 * MIN)       # amber rule, milder than red
    clinic.feed(pid, Metric.SPO2, 90, at + 50 * MIN)
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None and alert["status"] == "acknowledged"
    assert alert["watch_until"] is not None
    assert len(clinic.outbox()) == 1
    watch = alert["values"]["watch"]
    assert watch["occurrences"] == 2 and watch["worst"]["value"] == 90


@pytest.mark.parametrize("at", ANCHORS, ids=anchor_id)
def test_escalation_holds_during_a_watch_and_resumes_after(clinic: Clinic, at: datetime
                                                           ) -> None:
    pid, alert_id, _, _ = _watched(clinic, at, 88, hours=2)
    clinic.feed(pid, Metric.SPO2, 89, at + 30 * MIN)
    for later in (16 * MIN, HOUR, 2 * HOUR - MIN):
        done = run_alert_timers(clinic.conn, at + later, ZONE)
        assert done == {"escalated": 0, "telecare_escalated": 0, "reminders": 0,
                        "watches_ended": 0}
    end = at + 2 * HOUR
    assert run_alert_timers(clinic.conn, end, ZONE)["watches_ended"] == 1
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None and (alert["status"], alert["watch_until"]) == ("open", None)
    ended = _events(clinic, alert_id)[-1]
    assert ended["kind"] == "watch-ended" and ended["actor"] == "system"
    assert ended["data"]["occurrences"] == 1 and ended["data"]["worst"]["value"] == 89
    assert ended["note"].startswith("Watch ended. 1 reading breached the rule meanwhile; "
                                    "worst 89 %")
    assert alert["values"]["last_watch"]["occurrences"] == 1
    # Back in the inbox: the red window counts from the end of the watch.
    assert run_alert_timers(clinic.conn, end + 14 * MIN, ZONE)["escalated"] == 0
    assert run_alert_timers(clinic.conn, end + 15 * MIN, ZONE)["escalated"] == 1
    assert [o["payload"]["event"] for o in clinic.outbox()] == ["opened", "escalated"]


def test_an_alert_escalated_before_its_watch_escalates_again_after(clinic: Clinic) -> None:
    at = ANCHORS[0]
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, 88, at)
    [alert] = clinic.alerts(pid)
    assert run_alert_timers(clinic.conn, at + 15 * MIN, ZONE)["escalated"] == 1
    nurse = _nurse(clinic)
    with use_clock(FixedClock(at + 20 * MIN)):
        lifecycle.acknowledge(clinic.conn, alert["id"], nurse)
        lifecycle.watch(clinic.conn, alert["id"], nurse, at + 3 * HOUR, "Seen at home")
    assert run_alert_timers(clinic.conn, at + 3 * HOUR, ZONE)["watches_ended"] == 1
    assert run_alert_timers(clinic.conn, at + 3 * HOUR + 15 * MIN, ZONE)["escalated"] == 1
    assert run_alert_timers(clinic.conn, at + 4 * HOUR, ZONE)["escalated"] == 0


def test_a_watch_ends_at_its_instant_across_the_autumn_clock_change(clinic: Clinic) -> None:
    # 20:00 BST on Saturday 24 October to 20:00 GMT on Sunday: 25 hours, not 24.
    start = datetime(2026, 10, 24, 20, 0, tzinfo=LONDON)
    until = datetime(2026, 10, 25, 20, 0, tzinfo=LONDON)
    assert until.astimezone(UTC) - start.astimezone(UTC) == 25 * HOUR
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, 93, start - MIN)
    [alert] = clinic.alerts(pid)
    nurse = _nurse(clinic)
    with use_clock(FixedClock(start)):
        lifecycle.acknowledge(clinic.conn, alert["id"], nurse)
        lifecycle.watch(clinic.conn, alert["id"], nurse, until, "Recheck tomorrow evening")
    assert run_alert_timers(clinic.conn, start.astimezone(UTC) + 24 * HOUR, ZONE)[
        "watches_ended"] == 0
    assert run_alert_timers(clinic.conn, until - timedelta(seconds=1), ZONE)[
        "watches_ended"] == 0
    assert run_alert_timers(clinic.conn, until, ZONE)["watches_ended"] == 1
    [ended] = [e for e in _events(clinic, alert["id"]) if e["kind"] == "watch-ended"]
    assert ended["at"] == until
    assert ended["data"]["occurrences"] == 0
    assert ended["note"] == "Watch ended. No reading breached the rule meanwhile."


def test_a_nurse_stops_a_watch_and_resolving_clears_it(clinic: Clinic) -> None:
    at = ANCHORS[1]
    _, alert_id, nurse, service = _watched(clinic, at, 93)
    with use_clock(service):
        out = lifecycle.stop_watch(clinic.conn, alert_id, nurse)
        assert out["status"] == "open" and out["watch_until"] is None
        assert _events(clinic, alert_id)[-1]["note"].startswith("Watch stopped.")
        with pytest.raises(TransitionError, match="not being watched"):
            lifecycle.stop_watch(clinic.conn, alert_id, nurse)
        lifecycle.acknowledge(clinic.conn, alert_id, nurse)
        lifecycle.watch(clinic.conn, alert_id, nurse, at + 2 * HOUR, "Again")
        done = lifecycle.resolve(clinic.conn, alert_id, nurse, "advice-given")
    assert done["watch_until"] is None
    assert run_alert_timers(clinic.conn, at + 3 * HOUR, ZONE)["watches_ended"] == 0


def test_a_telecare_call_is_answered_not_watched(clinic: Clinic) -> None:
    at = ANCHORS[1]
    pid = clinic.patient([])
    row = clinic.conn.execute(
        "INSERT INTO alerts (patient_id, team_id, rule_id, severity, status, message, "
        "first_breach_at, last_breach_at) VALUES (%s, %s, 'telecare-fall', 'red', "
        "'acknowledged', 'Fall detected', %s, %s) RETURNING id",
        (pid, clinic.team_id, at, at)).fetchone()
    assert row is not None
    with use_clock(FixedClock(at)), pytest.raises(TransitionError, match="telecare call"):
        lifecycle.watch(clinic.conn, row["id"], _nurse(clinic), at + HOUR, "Wait and see")


def test_acknowledging_again_after_a_watch_keeps_the_first_acknowledgement(
        clinic: Clinic) -> None:
    at = ANCHORS[1]
    _, alert_id, nurse, _ = _watched(clinic, at, 93, hours=1)
    run_alert_timers(clinic.conn, at + HOUR, ZONE)
    with use_clock(FixedClock(at + 2 * HOUR)):
        again = lifecycle.acknowledge(clinic.conn, alert_id, nurse, "Seen again")
    assert again["acknowledged_at"] == at + MIN          # time to acknowledge: the first
    kinds = [e["kind"] for e in _events(clinic, alert_id)]
    assert kinds == ["opened", "acknowledged", "watch-started", "watch-ended", "acknowledged"]


def test_watching_again_moves_the_end_and_keeps_what_the_watch_has_seen(
        clinic: Clinic) -> None:
    at = ANCHORS[0]
    pid, alert_id, nurse, service = _watched(clinic, at, 93, hours=2)
    clinic.feed(pid, Metric.SPO2, 92, at + 30 * MIN)
    service.set(at + HOUR)
    with use_clock(service):
        out = lifecycle.watch(clinic.conn, alert_id, nurse, at + 6 * HOUR, "Still settling")
    assert out["watch_until"] == at + 6 * HOUR and out["watch_started_at"] == at + MIN
    assert out["values"]["watch"]["occurrences"] == 1
    again = _events(clinic, alert_id)[-1]
    assert again["kind"] == "watch-started"
    assert again["data"]["previous_until"] == (at + 2 * HOUR).isoformat()
    assert run_alert_timers(clinic.conn, at + 2 * HOUR, ZONE)["watches_ended"] == 0
    assert run_alert_timers(clinic.conn, at + 6 * HOUR, ZONE)["watches_ended"] == 1
