"""Alerts as the dashboard reads them: the inbox, an alert's history and the visit context, the
responder queue, and the actions a nurse or a responder records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from dashboard.client.transport import Transport


class _In(BaseModel):
    """The fields the dashboard shows; unknown ones are ignored, so the API may grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Alert(_In):
    """An alert and where it is in its lifecycle."""

    id: int
    patient_id: int
    patient_display_id: str | None = None
    team_id: int
    rule_id: str
    label: str | None = None          # the episode in words, e.g. "Low oxygen saturation"
    severity: str
    status: str
    escalated: bool = False
    message: str
    metric: str | None = None
    first_breach_at: datetime
    last_breach_at: datetime
    occurrences: int = 1
    values: dict[str, Any] = {}
    late: bool = False
    assignee_id: int | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    outcome: str | None = None
    created_at: datetime
    watch_until: datetime | None = None     # watched until then (no reminder or escalation)
    watch_started_at: datetime | None = None
    watch_reason: str | None = None
    watch: dict[str, Any] | None = None     # so far: occurrences, worst
    last_watch: dict[str, Any] | None = None   # the latest watch that ended, and how

    @property
    def watched(self) -> bool:
        """True while a watch holds the alert's reminders and escalation."""
        return self.watch_until is not None

    @property
    def title(self) -> str:
        """What a header names the alert by: its episode's words (the id only if none came)."""
        return self.label or self.rule_id


class AlertEvent(_In):
    """One step in an alert's history."""

    id: int
    alert_id: int
    at: datetime
    kind: str
    actor: str
    note: str | None = None
    data: dict[str, Any] = {}


class PatientContext(_In):
    """What a telecare responder needs for a visit."""

    id: int
    display_id: str
    address_line: str | None = None
    postcode: str | None = None
    phone: str | None = None


class AlertDetail(Alert):
    """An alert with its history and the patient context the caller may see."""

    events: list[AlertEvent] = []
    patient: PatientContext | None = None


# Responder actions in the order a call usually goes, with the words on the button.
RESPONDER_ACTIONS = {
    "acknowledge": "Acknowledge",
    "call-logged": "Call logged",
    "carer-contacted": "Carer contacted",
    "visit-dispatched": "Visit dispatched",
    "ambulance-called": "Ambulance called",
    "escalated-to-matron": "Escalated to matron",
    "resolved": "Resolved (with outcome)",
}


class QueueContact(_In):
    """A carer as a responder needs them."""

    name: str
    relationship: str
    phone: str | None = None
    next_of_kin: bool = False


class LatestVital(_In):
    """The latest reading of one metric."""

    metric: str
    value: float
    unit: str
    time: datetime


class QueueItem(_In):
    """An urgent alert with the minimum context to act on it."""

    alert: Alert
    display_id: str
    display_name: str
    address_line: str | None = None
    postcode: str | None = None
    phone: str | None = None
    key_safe_note: str | None = None
    access_note: str | None = None
    advance_decision: bool = False
    advance_decision_note: str | None = None
    spa_phone: str | None = None
    carers: list[QueueContact] = []
    latest_vitals: list[LatestVital] = []
    triggers: list[str] = []
    telecare_event: str | None = None
    actions: list[str] = []


class AlertCalls(Transport):
    """The alert inbox and its actions; the responder queue and its actions."""

    def alerts(self, *, status: Sequence[str] = (), severity: Sequence[str] = (),
               patient_id: int | None = None, limit: int = 200) -> list[Alert]:
        """Alerts the caller may see, filtered (several statuses or severities may be given)."""
        return self._list("/alerts", Alert, status=list(status) or None,
                          severity=list(severity) or None, patient_id=patient_id, limit=limit)

    def alert_detail(self, alert_id: int) -> AlertDetail:
        """An alert, its history and the patient context for a visit."""
        return self._get(f"/alerts/{alert_id}", AlertDetail)

    def alert_events(self, alert_id: int) -> list[AlertEvent]:
        """An alert's history, oldest first."""
        return self._list(f"/alerts/{alert_id}/events", AlertEvent)

    def acknowledge(self, alert_id: int, note: str | None = None) -> None:
        """Acknowledge an alert: someone is looking at it."""
        self._request("POST", f"/alerts/{alert_id}/acknowledge", json={"note": note or None})

    def resolve(self, alert_id: int, outcome: str, note: str | None = None) -> None:
        """Close an alert with what was done about it."""
        self._request("POST", f"/alerts/{alert_id}/resolve",
                      json={"outcome": outcome, "note": note or None})

    def escalate(self, alert_id: int, note: str | None = None) -> None:
        """Escalate an alert to the matron and responders."""
        self._request("POST", f"/alerts/{alert_id}/escalate", json={"note": note or None})

    def watch(self, alert_id: int, until: datetime, reason: str) -> None:
        """Watch a reviewed alert until `until` (aware), with the reason."""
        self._request("POST", f"/alerts/{alert_id}/watch",
                      json={"until": until.isoformat(), "reason": reason})

    def stop_watch(self, alert_id: int) -> None:
        """End a watch now: the alert returns to the inbox."""
        self._request("DELETE", f"/alerts/{alert_id}/watch")

    def add_note(self, alert_id: int, note: str) -> None:
        """Add a note to an alert's history."""
        self._request("POST", f"/alerts/{alert_id}/notes", json={"note": note})

    def assign(self, alert_id: int, assignee_id: int, note: str | None = None) -> None:
        """Give an alert to a member of staff."""
        self._request("POST", f"/alerts/{alert_id}/assign",
                      json={"assignee_id": assignee_id, "note": note or None})

    def reminders(self, team_id: int) -> int | None:
        """Minutes between reminders of unacknowledged red alerts for the team (None: off)."""
        body = self._request("GET", f"/teams/{team_id}/reminders")
        return None if body["red_reminder_minutes"] is None else int(body["red_reminder_minutes"])

    def set_reminders(self, team_id: int, minutes: int | None) -> None:
        """Set the team's reminder interval (5–240 minutes), or None for no reminders."""
        self._request("PUT", f"/teams/{team_id}/reminders",
                      json={"red_reminder_minutes": minutes})

    def responder_queue(self) -> list[QueueItem]:
        """Urgent alerts across the teams the responder covers, with context to act."""
        return self._list("/responder/queue", QueueItem)

    def responder_action(self, alert_id: int, action: str, note: str | None = None,
                         outcome: str | None = None) -> None:
        """Record what the responder did (acknowledge, call logged, … resolved)."""
        self._request("POST", f"/responder/alerts/{alert_id}/actions",
                      json={"action": action, "note": note or None, "outcome": outcome})

