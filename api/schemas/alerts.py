"""Models of the alert routes: alerts, their events and the lifecycle actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from alerts.telecare import episode_label
from api.schemas.common import SpanTime, _Out
from api.schemas.patients import PatientContextOut
from telehub.domain.codes import AlertStatus, Outcome, Severity
from telehub.domain.units import Metric


class WatchSoFar(BaseModel):
    """What a watch has seen so far: readings breaching the rule, the worst of them."""

    occurrences: int = 0
    worst: dict[str, Any] | None = None


class WatchSummary(WatchSoFar):
    """An ended watch: when, why, how it ended, and what happened meanwhile."""

    started_at: datetime | None = None
    until: datetime | None = None
    ended_at: datetime
    reason: str | None = None
    how: str = Field(description="ended (its time came), stopped (someone ended it), "
                     "higher-severity or new-rule (a worse reading re-raised it)")


class AlertOut(_Out):
    """An alert: what broke which rule, and where it is in its lifecycle."""

    id: int
    patient_id: int
    patient_display_id: str | None = None
    team_id: int
    rule_id: str
    severity: Severity
    status: AlertStatus
    escalated: bool
    escalated_at: datetime | None
    message: str
    metric: Metric | None
    first_breach_at: datetime
    last_breach_at: datetime
    occurrences: int
    values: dict[str, Any]
    late: bool
    condition_cleared_at: datetime | None
    assignee_id: int | None
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    resolved_at: datetime | None
    resolved_by: int | None
    outcome: Outcome | None
    created_at: datetime
    updated_at: datetime
    watch_until: datetime | None = Field(None, description="Watched until then: no reminder "
                                         "or escalation; a worse reading re-raises it.")
    watch_started_at: datetime | None = None
    watch_reason: str | None = None
    watch_by: int | None = None
    reminded_at: datetime | None = Field(None, description="The last reminder slot notified.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """The episode in words for headers, e.g. "Low oxygen saturation" (rule_id is its id)."""
        return episode_label(self.rule_id)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def watch(self) -> WatchSoFar | None:
        """While watched: what has happened since the watch began."""
        so_far = self.values.get("watch")
        return WatchSoFar.model_validate(so_far) if so_far and self.watch_until else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def last_watch(self) -> WatchSummary | None:
        """The latest watch that ended (its time came, someone stopped it, or a worse reading
        re-raised the alert) and what happened during it."""
        done = self.values.get("last_watch")
        return WatchSummary.model_validate(done) if done else None


class AlertEventOut(_Out):
    """One step in an alert's history."""

    id: int
    alert_id: int
    at: datetime
    kind: str
    actor_id: int | None
    actor: str
    note: str | None
    data: dict[str, Any]


class AlertDetailOut(AlertOut):
    """An alert with its history and the patient context the caller may see."""

    events: list[AlertEventOut]
    patient: PatientContextOut | None = None


class NoteIn(BaseModel):
    """A note added to an alert's history."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000)


class AcknowledgeIn(BaseModel):
    """Acknowledge an alert (someone is looking at it)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000)


class EscalateIn(AcknowledgeIn):
    """Escalate an alert to the responders / matron."""


class ResolveIn(BaseModel):
    """Close an alert with what was done about it."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    note: str | None = Field(None, max_length=2000)


class WatchIn(BaseModel):
    """Watch a reviewed alert until a time, with the reason (at most 14 days)."""

    model_config = ConfigDict(extra="forbid")

    until: SpanTime = Field(description="With its time zone; 15 minutes to 14 days from now.")
    reason: str = Field(min_length=3, max_length=1000)


class RemindersIn(BaseModel):
    """How often a red alert nobody has acknowledged reminds the team (null: never)."""

    model_config = ConfigDict(extra="forbid")

    red_reminder_minutes: int | None = Field(ge=5, le=240)


class RemindersOut(BaseModel):
    """A team's reminder setting."""

    team_id: int
    red_reminder_minutes: int | None


class AssignIn(BaseModel):
    """Give an alert to a member of staff."""

    model_config = ConfigDict(extra="forbid")

    assignee_id: int
    note: str | None = Field(None, max_length=2000)

