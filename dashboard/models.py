"""What the dashboard reads from the API: the fields it shows, parsed from the API's JSON.

The API's own models are its contract; these mirror the parts the dashboard uses and
ignore fields they do not know, so the API may add fields without breaking the dashboard.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Token(_In):
    """A bearer token from sign-in."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_at: datetime | None = None


class Staff(_In):
    """The signed-in member of staff (or a colleague)."""

    id: int
    username: str
    display_name: str
    role: str
    team_id: int | None = None
    team_code: str | None = None


class Team(_In):
    """A nursing team."""

    id: int
    code: str
    name: str


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
    age: int | None = None
    adherence_7d: float | None = None  # share of the care plan's readings in the last 7 days
    triage: str
    open_alerts: AlertCounts = AlertCounts()
    overdue_metrics: list[str] = []
    last_reading_at: datetime | None = None
    latest: list[MetricSummary] = []
    devices: list[DeviceStatus] = []

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
    default: dict[str, Any] = {}
    individual: bool = False
    override: dict[str, Any] | None = None
    episode: str | None = None
    severity: str | None = None
    applies: bool = True
    reason: str | None = None
    set_by_name: str | None = None
    set_at: datetime | None = None


class Alert(_In):
    """An alert and where it is in its lifecycle."""

    id: int
    patient_id: int
    patient_display_id: str | None = None
    team_id: int
    rule_id: str
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


class Device(_In):
    """A registered home device."""

    id: int
    device_id: str
    kind: str
    serial: str | None = None
    patient_id: int | None = None
    patient_display_id: str | None = None
    active: bool = True
    has_credentials: bool = False
    online: bool | None = None
    last_seen_at: datetime | None = None
    battery: int | None = None
    firmware: str | None = None


class SeqGap(_In):
    """Messages a device numbered that never arrived (its sequence counter skipped)."""

    id: int
    expected_seq: int
    received_seq: int
    missing: int
    detected_at: datetime


class RejectedMessage(_In):
    """A message (or one reading of a batch) the hub refused, with the reason."""

    id: int
    received_at: datetime
    topic: str
    reason_code: str
    reason: str
    item_index: int | None = None
    payload_size: int
    payload_preview: str = ""
    preview_truncated: bool = False


class DeviceCredentials(_In):
    """MQTT credentials for a device, shown once."""

    device_id: str
    username: str
    password: str
    readings_topic: str
    status_topic: str


class RuleRate(_In):
    """Alerts raised by one rule."""

    rule_id: str
    alerts: int
    per_100_patient_days: float


class AckTime(_In):
    """Time to acknowledge, by severity."""

    severity: str
    acknowledged: int
    median_minutes: float | None = None
    p90_minutes: float | None = None


class OutcomeCount(_In):
    """Resolved alerts with one outcome."""

    outcome: str
    alerts: int


class TeamStats(_In):
    """A team's monitoring figures over a period (no identifiable data)."""

    team_id: int
    start: datetime
    end: datetime
    patients_monitored: int
    patient_days: float = 0.0
    expected_readings: int = 0
    received_readings: int = 0
    adherence: float | None = None
    alerts_by_rule: list[RuleRate] = []
    time_to_acknowledge: list[AckTime] = []
    outcomes: list[OutcomeCount] = []


# Outcome codes an alert may be resolved with (the API validates them).
OUTCOMES = (
    "advice-given", "medication-changed", "visit-arranged", "referred-to-gp", "admitted",
    "false-alarm", "measurement-error", "no-action-needed", "condition-cleared",
)
