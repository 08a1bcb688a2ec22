"""Request and response models of every API route (the contract the dashboard codes against)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from telehub.domain.units import Metric

T = TypeVar("T")


class Role(StrEnum):
    """What a member of staff may do."""

    ADMIN = "admin"
    MATRON = "matron"
    NURSE = "nurse"
    RESPONDER = "responder"
    MANAGER = "manager"


class Severity(StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    AMBER = "amber"
    RED = "red"


class AlertStatus(StrEnum):
    """Where an alert is in its lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    """What was done about an alert (recorded when it is resolved)."""

    ADVICE_GIVEN = "advice-given"
    MEDICATION_CHANGED = "medication-changed"
    VISIT_ARRANGED = "visit-arranged"
    REFERRED_TO_GP = "referred-to-gp"
    ADMITTED = "admitted"
    FALSE_ALARM = "false-alarm"
    MEASUREMENT_ERROR = "measurement-error"
    NO_ACTION_NEEDED = "no-action-needed"
    CONDITION_CLEARED = "condition-cleared"


class PatientStatus(StrEnum):
    """Whether a patient is being monitored now."""

    ACTIVE = "active"
    PAUSED = "paused"
    IN_HOSPITAL = "in-hospital"
    DISCHARGED = "discharged"


class DeviceKind(StrEnum):
    """What a home device measures (telehealth) or watches for (telecare events)."""

    SCALE = "scale"
    OXIMETER = "oximeter"
    GLUCOMETER = "glucometer"
    PENDANT = "pendant"
    FALL_DETECTOR = "fall-detector"
    SMOKE = "smoke"
    HEAT = "heat"
    FLOOD = "flood"
    DOOR = "door"


class Bucket(StrEnum):
    """Readings as stored, or aggregated per hour or per UTC day."""

    RAW = "raw"
    HOUR = "hour"
    DAY = "day"


class Triage(StrEnum):
    """A caseload row's triage band, most urgent first."""

    RED = "red"
    AMBER = "amber"
    OVERDUE = "overdue"
    OK = "ok"


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(_Out, Generic[T]):
    """One page of a list: `items`, how many match in all, and the window asked for."""

    items: list[T]
    total: int
    limit: int
    offset: int


class Problem(BaseModel):
    """An error as RFC 9457 problem details (media type application/problem+json)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: str | None = Field(None, description="Machine-readable reason, e.g. 'bad-nhs-number'.")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Per-field problems of a request that failed validation.")


# --- auth and staff -------------------------------------------------------------------------

class TokenOut(BaseModel):
    """A bearer token (OAuth2 password flow); the token is shown only in this response."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth2 token type)
    expires_at: datetime


class StaffOut(_Out):
    """A member of staff, without credentials."""

    id: int
    username: str
    display_name: str
    role: Role
    team_id: int | None
    team_code: str | None = None
    active: bool = True


class TeamOut(_Out):
    """A nursing team."""

    id: int
    code: str
    name: str
    red_escalation_minutes: int


# --- caseload -------------------------------------------------------------------------------

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


class CaseloadOut(BaseModel):
    """A team's (or a named nurse's) patients, most urgent first."""

    team_id: int | None
    nurse_id: int | None
    generated_at: datetime
    total: int
    rows: list[CaseloadRow]


# --- patients -------------------------------------------------------------------------------

class PatientOut(_Out):
    """A patient's full record (clinical staff and admins)."""

    id: int
    display_id: str
    nhs_number: str
    given_name: str
    family_name: str
    birth_date: date
    address_line: str | None
    postcode: str | None
    phone: str | None
    team_id: int
    named_nurse_id: int | None
    conditions: list[str]
    status: PatientStatus
    paused_until: datetime | None
    care_plan: dict[str, Any]
    on_home_oxygen: bool
    enrolled_at: datetime
    discharged_at: datetime | None
    updated_at: datetime


class PatientContextOut(_Out):
    """The minimum a telecare responder needs for a visit."""

    id: int
    display_id: str
    address_line: str | None
    postcode: str | None
    phone: str | None = Field(None, description="The key contact number.")


class PatientCreate(BaseModel):
    """Register a patient. `team_id` defaults to the caller's team."""

    model_config = ConfigDict(extra="forbid")

    nhs_number: str = Field(examples=["9434765919"])
    given_name: str = Field(min_length=1, max_length=120)
    family_name: str = Field(min_length=1, max_length=120)
    birth_date: date
    team_id: int | None = None
    named_nurse_id: int | None = None
    conditions: list[str] = []
    care_plan: dict[str, Any] | None = Field(
        None, description='e.g. {"weight": {"per_day": 1, "window": "morning"}}; '
                          "default from the conditions.")
    address_line: str | None = Field(None, max_length=300)
    postcode: str | None = Field(None, max_length=10)
    phone: str | None = Field(None, max_length=40)
    on_home_oxygen: bool = False


class PatientUpdate(BaseModel):
    """Change some of a patient's details; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    given_name: str | None = Field(None, min_length=1, max_length=120)
    family_name: str | None = Field(None, min_length=1, max_length=120)
    address_line: str | None = Field(None, max_length=300)
    postcode: str | None = Field(None, max_length=10)
    phone: str | None = Field(None, max_length=40)
    named_nurse_id: int | None = None
    conditions: list[str] | None = None
    care_plan: dict[str, Any] | None = None
    on_home_oxygen: bool | None = None
    status: Literal["active", "paused", "in-hospital"] | None = Field(
        None, description="Discharge has its own route.")
    paused_until: datetime | None = None


class DischargeIn(BaseModel):
    """Why a patient leaves monitoring (history is kept)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=1000)


# --- devices --------------------------------------------------------------------------------

class DeviceOut(_Out):
    """A registered home device."""

    id: int
    device_id: str
    kind: DeviceKind
    serial: str | None
    patient_id: int | None
    patient_display_id: str | None
    active: bool
    has_credentials: bool
    online: bool | None
    status_at: datetime | None
    last_seen_at: datetime | None
    battery: int | None
    firmware: str | None


class SeqGapOut(_Out):
    """Messages a device numbered but that never arrived (its `seq` counter skipped)."""

    id: int
    expected_seq: int = Field(description="The first sequence number that did not arrive.")
    received_seq: int = Field(description="The sequence number that arrived instead.")
    missing: int = Field(description="How many messages are missing (received - expected).")
    detected_at: datetime


class RejectedMessageOut(_Out):
    """A message (or one reading of a batch) the hub refused, with the reason."""

    id: int
    received_at: datetime
    topic: str
    reason_code: str = Field(description="Machine-readable reason, e.g. 'implausible-value'.")
    reason: str = Field(description="The reason as a sentence.")
    item_index: int | None = Field(None, description="Position in a batch, when one reading "
                                   "of it was refused.")
    payload_size: int = Field(description="Bytes the device sent.")
    payload_preview: str = Field(description="The start of the payload as text (undecodable "
                                 "bytes replaced), for diagnosis.")
    preview_truncated: bool = Field(description="True when the preview is not the whole payload.")


class DeviceCreate(BaseModel):
    """Register a device, optionally assigned to a patient."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
    kind: DeviceKind
    serial: str | None = Field(None, max_length=120)
    patient_id: int | None = None


class DeviceAssign(BaseModel):
    """Give a device to a patient."""

    model_config = ConfigDict(extra="forbid")

    patient_id: int


class DeviceCredentialsOut(BaseModel):
    """MQTT credentials for a device; the password is shown here once and never again."""

    device_id: str
    username: str
    password: str
    readings_topic: str
    status_topic: str


# --- readings -------------------------------------------------------------------------------

class ReadingOut(_Out):
    """One stored reading (canonical unit, with what the device sent)."""

    time: datetime
    metric: Metric
    value: float
    unit: str
    raw_value: float
    raw_unit: str
    flags: list[str]
    device_id: str
    received_at: datetime


class BucketOut(_Out):
    """A metric's min/max/mean over one hour or UTC day."""

    start: datetime
    metric: Metric
    min: float
    max: float
    mean: float
    n: int


class ReadingsOut(BaseModel):
    """A patient's readings: `raw` when bucket=raw, else `buckets`."""

    patient_id: int
    bucket: Bucket
    start: datetime
    end: datetime
    raw: list[ReadingOut] = []
    buckets: list[BucketOut] = []


class ReadingIn(BaseModel):
    """One reading as a gateway sends it (the MQTT native payload)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, min_length=1, max_length=128,
                           description="Unique per device; the reading's time when omitted.")
    metric: Metric
    value: float
    unit: str | None = Field(None, description="Default: the metric's canonical unit.")
    time: datetime
    seq: int | None = None
    flags: list[str] = []
    pulse: float | None = Field(None, description="An oximeter's pulse with its SpO2.")


class ReadingsIn(BaseModel):
    """A gateway's upload: one or more readings of the device it authenticates as."""

    model_config = ConfigDict(extra="forbid")

    readings: list[ReadingIn] = Field(min_length=1, max_length=10_000)


class ReadingsAccepted(BaseModel):
    """Readings passed on to the hub (stored by it, idempotently, after validation)."""

    device_id: str
    accepted: int
    topic: str


# --- thresholds -----------------------------------------------------------------------------

class ThresholdOut(BaseModel):
    """A rule as it applies to one patient: catalogue defaults, any override, the effect."""

    rule_id: str
    params: dict[str, Any] = Field(description="The effective parameters.")
    default: dict[str, Any] = {}
    individual: bool = Field(False, description="An individual override is in force.")
    override: dict[str, Any] | None = Field(None, description="The override's parameters.")
    episode: str | None = None
    severity: Severity | None = None
    applies: bool = True
    reason: str | None = None
    set_by_name: str | None = None
    set_at: datetime | None = None


class ThresholdsOut(BaseModel):
    """Every rule that applies to a patient."""

    patient_id: int
    thresholds: list[ThresholdOut]


class ThresholdIn(BaseModel):
    """An individual threshold for one rule, with the clinical reason."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(min_length=1, max_length=64)
    params: dict[str, Any]
    reason: str = Field(min_length=3, max_length=1000)


# --- alerts ---------------------------------------------------------------------------------

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


# --- team statistics (no identifiable data) ---------------------------------------------------

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


# --- audit and health -----------------------------------------------------------------------

class AuditOut(_Out):
    """Who read or changed which patient's record, when, from where."""

    id: int
    at: datetime
    staff_id: int | None
    actor: str
    action: str
    resource: str
    patient_id: int | None
    detail: dict[str, Any]
    client_addr: str | None


class HealthOut(BaseModel):
    """The process is up."""

    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    """The API can serve requests (its database answers)."""

    status: Literal["ready", "unavailable"]
    database: bool
    reason: str | None = None
