"""A patient as the dashboard reads it: the triaged caseload, the record, readings and the
thresholds that apply."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter

from dashboard.client.transport import Transport, iso


class _In(BaseModel):
    """The fields the dashboard shows; unknown ones are ignored, so the API may grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class TrendPoint(_In):
    """One day's mean of a metric."""

    day: date
    mean: float


class MetricSummary(_In):
    """A patient's latest value of one metric and its 7-day trend."""

    metric: str
    value: float
    unit: str
    time: datetime
    trend: list[TrendPoint] = []


class AlertCounts(_In):
    """Open alerts by severity."""

    red: int = 0
    amber: int = 0
    info: int = 0


class DeviceStatus(_In):
    """A device's last known state."""

    device_id: str
    kind: str
    online: bool | None = None
    last_seen_at: datetime | None = None
    battery: int | None = None


class TemporaryThreshold(_In):
    """An individual threshold in force until a time."""

    rule_id: str
    until: datetime


class CaseloadRow(_In):
    """One patient in a caseload."""

    patient_id: int
    display_id: str
    given_name: str
    family_name: str
    status: str
    conditions: list[str] = []
    named_nurse_id: int | None = None
    named_nurse: str | None = None
    age: int  # whole years on the service's date (the API works it out)
    adherence_7d: float | None = None  # share of the care plan's readings in the last 7 days
    triage: str
    open_alerts: AlertCounts = AlertCounts()
    overdue_metrics: list[str] = []
    last_reading_at: datetime | None = None
    latest: list[MetricSummary] = []
    devices: list[DeviceStatus] = []
    temporary_thresholds: list[TemporaryThreshold] = []

    @property
    def name(self) -> str:
        """'Given Family'."""
        return f"{self.given_name} {self.family_name}"

    def latest_of(self, metric: str) -> MetricSummary | None:
        """The latest summary of `metric`, if the patient has one."""
        return next((m for m in self.latest if m.metric == metric), None)


class Caseload(_In):
    """A team's or a nurse's patients, most urgent first."""

    team_id: int | None = None
    nurse_id: int | None = None
    generated_at: datetime
    total: int
    rows: list[CaseloadRow]


class Patient(_In):
    """A patient's record."""

    id: int
    display_id: str
    given_name: str
    family_name: str
    birth_date: date
    address_line: str | None = None
    postcode: str | None = None
    phone: str | None = None
    team_id: int
    named_nurse_id: int | None = None
    conditions: list[str] = []
    status: str
    care_plan: dict[str, Any] = {}
    on_home_oxygen: bool = False
    enrolled_at: datetime | None = None

    @property
    def name(self) -> str:
        """'Given Family'."""
        return f"{self.given_name} {self.family_name}"


class Reading(_In):
    """One stored reading."""

    time: datetime
    metric: str
    value: float
    unit: str
    raw_value: float | None = None
    raw_unit: str | None = None
    flags: list[str] = []
    device_id: str | None = None
    received_at: datetime | None = None


class Bucket(_In):
    """A metric's min/max/mean over one hour or day."""

    start: datetime
    metric: str
    min: float
    max: float
    mean: float
    n: int


class Readings(_In):
    """A patient's readings, raw or bucketed."""

    patient_id: int
    bucket: str
    start: datetime
    end: datetime
    raw: list[Reading] = []
    buckets: list[Bucket] = []


class Threshold(_In):
    """A rule as it applies to one patient: catalogue default, any override, the effect."""

    model_config = ConfigDict(extra="allow", frozen=True)

    rule_id: str
    params: dict[str, Any]
    units: dict[str, str | None] = {}       # the unit each parameter is compared in
    shown: str = ""                          # the effective parameters in words, with units
    default_shown: str = ""
    override_shown: str | None = None
    entry: dict[str, dict[str, Any]] = {}    # {"below": {"value": 3.5, "unit": "mmol/L"}}
    default: dict[str, Any] = {}
    individual: bool = False
    override: dict[str, Any] | None = None
    episode: str | None = None
    severity: str | None = None
    applies: bool = True
    reason: str | None = None
    set_by_name: str | None = None
    set_at: datetime | None = None
    until: datetime | None = None            # a temporary override's end
    after: dict[str, Any] | None = None      # the permanent override beneath it


class PatientCalls(Transport):
    """The caseload, a patient's record, readings and thresholds."""

    def caseload(self, nurse_id: int | None = None) -> Caseload:
        """The caller's team caseload, or one named nurse's, most urgent first."""
        return self._get("/caseload", Caseload, nurse_id=nurse_id)

    def patient(self, patient_id: int) -> Patient:
        """One patient's record."""
        return self._get(f"/patients/{patient_id}", Patient)

    def readings(self, patient_id: int, *, start: datetime, end: datetime,
                 bucket: str = "raw", metric: str | None = None) -> Readings:
        """A patient's readings in [start, end), raw or bucketed by 'hour' or 'day'."""
        return self._get(f"/patients/{patient_id}/readings", Readings, metric=metric,
                         bucket=bucket, **{"from": iso(start), "to": iso(end)})

    def thresholds(self, patient_id: int) -> list[Threshold]:
        """Every rule as it applies to the patient."""
        body = self._request("GET", f"/patients/{patient_id}/thresholds")
        return TypeAdapter(list[Threshold]).validate_python(body["thresholds"])

    def set_threshold(self, patient_id: int, rule_id: str, params: dict[str, Any],
                      reason: str, until: date | None = None) -> None:
        """Save an individual threshold with the clinical reason; each value with its unit
        ({"below": {"value": 3.5, "unit": "mmol/L"}}); temporary through `until` when given."""
        body: dict[str, Any] = {"rule_id": rule_id, "params": params, "reason": reason}
        if until is not None:
            body["until"] = until.isoformat()
        self._request("PUT", f"/patients/{patient_id}/thresholds", json=body)
