"""Models of the alert routes: alerts, their events and the lifecycle actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from alerts.telecare import episode_label
from api.schemas.common import _Out
from api.schemas.patients import PatientContextOut
from telehub.domain.codes import AlertStatus, Outcome, Severity
from telehub.domain.units import Metric


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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """The episode in words for headers, e.g. "Low oxygen saturation" (rule_id is its id)."""
        return episode_label(self.rule_id)


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


class AssignIn(BaseModel):
    """Give an alert to a member of staff."""

    model_config = ConfigDict(extra="forbid")

    assignee_id: int
    note: str | None = Field(None, max_length=2000)

