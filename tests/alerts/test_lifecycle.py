"""Alert lifecycle: acknowledge, assign, escalate, resolve with an outcome, notes; audit trail."""

from __future__ import annotations

import pytest

from alerts import lifecycle
from alerts.lifecycle import Actor, TransitionError
from telehub.care import registration as registry
from telehub.domain.units import Metric
from telehub.errors import NotFoundError, ValidationError
from tests.alerts.conftest import NOW, Clinic


def _red_alert(clinic: Clinic) -> int:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.SPO2, 89, NOW)
    [alert] = clinic.alerts(pid)
    return int(alert["id"])


def _kinds(clinic: Clinic, alert_id: int) -> list[str]:
    return [e["kind"] for e in lifecycle.events(clinic.conn, alert_id)]


def test_open_acknowledged_resolved_with_audit_trail(clinic: Clinic) -> None:
    nurse_id = registry.add_staff(clinic.conn, username="nurse.amy", display_name="Amy",
                                  role="nurse", team=clinic.team_id)
    nurse = Actor(nurse_id, "nurse.amy")
    alert_id = _red_alert(clinic)
    acked = lifecycle.acknowledge(clinic.conn, alert_id, nurse, "Phoning the patient now")
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == nurse_id
    lifecycle.add_note(clinic.conn, alert_id, nurse, "Breathless on exertion, no chest pain")
    done = lifecycle.resolve(clinic.conn, alert_id, nurse, "visit-arranged", "Matron visiting")
    assert done["status"] == "resolved" and done["outcome"] == "visit-arranged"
    trail = lifecycle.events(clinic.conn, alert_id)
    assert [e["kind"] for e in trail] == ["opened", "acknowledged", "note", "resolved"]
    assert trail[1]["actor"] == "nurse.amy" and trail[1]["actor_id"] == nurse_id
    assert trail[1]["note"] == "Phoning the patient now"
    assert trail[3]["data"] == {"outcome": "visit-arranged"}


def test_impossible_transitions_are_refused(clinic: Clinic) -> None:
    actor = Actor(None, "matron.jones")
    alert_id = _red_alert(clinic)
    lifecycle.acknowledge(clinic.conn, alert_id, actor)
    with pytest.raises(TransitionError):
        lifecycle.acknowledge(clinic.conn, alert_id, actor)
    lifecycle.resolve(clinic.conn, alert_id, actor, "false-alarm")
    for move in (lambda: lifecycle.resolve(clinic.conn, alert_id, actor, "admitted"),
                 lambda: lifecycle.acknowledge(clinic.conn, alert_id, actor),
                 lambda: lifecycle.escalate(clinic.conn, alert_id, actor)):
        with pytest.raises(TransitionError):
            move()
    # A note is still welcome after resolution.
    lifecycle.add_note(clinic.conn, alert_id, actor, "Oximeter replaced")
    assert issubclass(TransitionError, ValidationError)


def test_resolve_needs_a_known_outcome(clinic: Clinic) -> None:
    alert_id = _red_alert(clinic)
    with pytest.raises(ValidationError):
        lifecycle.resolve(clinic.conn, alert_id, Actor(None, "matron.jones"), "fixed-it")
    assert clinic.alerts()[0]["status"] == "open"


def test_unknown_alert_is_not_found(clinic: Clinic) -> None:
    with pytest.raises(NotFoundError):
        lifecycle.acknowledge(clinic.conn, 999_999, Actor(None, "matron.jones"))


def test_escalate_queues_a_notification_once(clinic: Clinic) -> None:
    actor = Actor(None, "matron.jones")
    alert_id = _red_alert(clinic)
    out = lifecycle.escalate(clinic.conn, alert_id, actor, "No answer at home")
    assert out["escalated"] and out["escalated_at"] is not None
    outbox = clinic.outbox()
    assert len(outbox) == 2 and outbox[1]["payload"]["escalated"] is True
    assert outbox[1]["payload"]["event"] == "escalated"
    with pytest.raises(TransitionError):
        lifecycle.escalate(clinic.conn, alert_id, actor)


def test_assign_to_staff(clinic: Clinic) -> None:
    staff_id = registry.add_staff(clinic.conn, username="nurse.ben", display_name="Ben",
                                  role="nurse", team=clinic.team_id)
    alert_id = _red_alert(clinic)
    out = lifecycle.assign(clinic.conn, alert_id, Actor(None, "matron.jones"), staff_id)
    assert out["assignee_id"] == staff_id
    with pytest.raises(NotFoundError):
        lifecycle.assign(clinic.conn, alert_id, Actor(None, "matron.jones"), 424242)
    assert _kinds(clinic, alert_id) == ["opened", "assigned"]


def test_empty_note_is_refused(clinic: Clinic) -> None:
    alert_id = _red_alert(clinic)
    with pytest.raises(ValidationError):
        lifecycle.add_note(clinic.conn, alert_id, Actor(None, "matron.jones"), "   ")
