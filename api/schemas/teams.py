"""Models of the team routes: teams and team statistics (no identifiable data)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas.common import _Out
from telehub.domain.codes import Outcome, Severity


class TeamOut(_Out):
    """A nursing team."""

    id: int
    code: str
    name: str
    red_escalation_minutes: int


class RuleRate(BaseModel):
    """Alerts raised by one rule in the period."""

    rule_id: str
    alerts: int
    per_100_patient_days: float


class AckTime(BaseModel):
    """Time from an alert opening to its acknowledgement, by severity."""

    severity: Severity
    acknowledged: int
    median_minutes: float | None
    p90_minutes: float | None


class OutcomeCount(BaseModel):
    """How many resolved alerts ended with one outcome."""

    outcome: Outcome
    alerts: int


class TeamStatsOut(BaseModel):
    """A team's monitoring figures over a period; counts only, nothing identifiable."""

    team_id: int
    start: datetime
    end: datetime
    patients_monitored: int
    patient_days: float
    expected_readings: int
    received_readings: int
    adherence: float | None = Field(None, description="Share of expected readings received.")
    alerts_by_rule: list[RuleRate]
    time_to_acknowledge: list[AckTime]
    outcomes: list[OutcomeCount]

