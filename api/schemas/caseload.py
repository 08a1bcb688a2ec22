"""Models of the caseload route: one triaged row per patient."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from api.schemas.common import _Out
from telehub.domain.codes import DeviceKind, PatientStatus
from telehub.domain.units import Metric


class Triage(StrEnum):
    """A caseload row's triage band, most urgent first."""

    RED = "red"
    AMBER = "amber"
    OVERDUE = "overdue"
    OK = "ok"


class TrendPoint(BaseModel):
    """One UTC day's mean of a metric (sparkline point)."""

    day: date
    mean: float


class MetricSummary(BaseModel):
    """A patient's latest value of one metric and its 7-day daily trend."""

    metric: Metric
    value: float
    unit: str
    time: datetime
    trend: list[TrendPoint] = []


class AlertCounts(BaseModel):
    """Open (unresolved) alerts by severity."""

    red: int = 0
    amber: int = 0
    info: int = 0


class DeviceStatus(_Out):
    """A device's last known state."""

    device_id: str
    kind: DeviceKind
    online: bool | None
    last_seen_at: datetime | None
    battery: int | None


class TemporaryThreshold(BaseModel):
    """An individual threshold in force until a time, then reverting by itself."""

    rule_id: str
    until: datetime


class CaseloadRow(BaseModel):
    """One patient in a caseload, with what a nurse needs to triage them."""

    patient_id: int
    display_id: str
    given_name: str
    family_name: str
    status: PatientStatus
    conditions: list[str]
    named_nurse_id: int | None
    named_nurse: str | None
    age: int = Field(description="Age in whole years (today in the service's time zone).")
    adherence_7d: float | None = Field(
        None, description="Share (0-1) of the readings the care plan expects over the last 7 "
        "days (or since monitoring began) that arrived, each day counting at most the plan's "
        "readings for it, as the team statistics count adherence; null without a plan.")
    triage: Triage
    open_alerts: AlertCounts
    overdue_metrics: list[Metric] = Field(
        [], description="Metrics the care plan expects that have no reading in the last day.")
    last_reading_at: datetime | None
    latest: list[MetricSummary]
    devices: list[DeviceStatus]
    temporary_thresholds: list[TemporaryThreshold] = Field(
        [], description="Temporary individual thresholds in force, soonest end first.")


class CaseloadOut(BaseModel):
    """A team's (or a named nurse's) patients, most urgent first."""

    team_id: int | None
    nurse_id: int | None
    generated_at: datetime
    total: int
    rows: list[CaseloadRow]

