"""What the dashboard reads of care coordination: the people around the patient, the care
plan, risk, the responder queue, hospital episodes and team outcomes.

Like `dashboard.models`, these mirror the parts of the API's models the pages show and
ignore unknown fields, so the API may grow without breaking the dashboard.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from dashboard.models import Alert


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- people around the patient ----------------------------------------------------------------

# The fields of the care team a nurse edits (the API's PUT replaces all of them).
CARE_TEAM_FIELDS = (
    "gp_name", "gp_practice", "gp_phone", "coordinator_id", "coordinator_role", "spa_phone",
    "key_safe_note", "access_note", "advance_decision", "advance_decision_note",
    "consent_monitoring", "consent_sharing", "consent_on", "consent_taken_by",
    "enrolment_conditions", "enrolment_risk", "enrolment_judgement", "enrolment_note",
)


class CareTeam(_In):
    """The named team around a patient, access to the home, advance decisions and consent."""

    patient_id: int
    gp_name: str | None = None
    gp_practice: str | None = None
    gp_phone: str | None = None
    coordinator_id: int | None = None
    coordinator_name: str | None = None
    coordinator_role: str | None = None
    spa_phone: str | None = None
    key_safe_note: str | None = None
    access_note: str | None = None
    advance_decision: bool = False
    advance_decision_note: str | None = None
    consent_monitoring: bool | None = None
    consent_sharing: bool | None = None
    consent_on: date | None = None
    consent_taken_by: str | None = None
    enrolment_conditions: bool = False
    enrolment_risk: bool = False
    enrolment_judgement: bool = False
    enrolment_note: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


class Contact(_In):
    """A carer or next of kin."""

    id: int
    patient_id: int
    name: str
    relationship: str
    phone: str | None = None
    email: str | None = None
    next_of_kin: bool = False
    notify_alerts: bool = False
    removed_at: datetime | None = None


# --- care plan ---------------------------------------------------------------------------------

class Trigger(_In):
    """One "when to act" line of the care plan, with the patient's advice."""

    episode: str
    label: str
    severity: str
    rule_id: str
    metric: str | None = None
    when: str
    individual: bool = False
    advice: str | None = None


class ScheduleItem(_In):
    """One metric of the measurement schedule."""

    metric: str
    per_day: int
    window: str | None = None


class Review(_In):
    """A past care-plan review."""

    id: int
    reviewed_on: date
    reviewer: str
    note: str | None = None
    next_due: date


class CarePlan(_In):
    """The care plan: schedule, triggers with advice, review dates."""

    patient_id: int
    display_id: str
    schedule: list[ScheduleItem] = []
    triggers: list[Trigger] = []
    advice: dict[str, str] = {}
    review_due: date | None = None
    review_overdue: bool = False
    reviews: list[Review] = []


class CarePatient(_In):
    """A patient's risk tier and review date, for the caseload."""

    patient_id: int
    display_id: str
    name: str
    team_id: int
    status: str
    conditions: list[str] = []
    risk_score: float | None = None
    risk_tier: str | None = None
    risk_scored_on: date | None = None
    risk_rising: bool = False
    review_due: date | None = None
    review_overdue: bool = False
    coordinator_name: str | None = None


class RiskScore(_In):
    """One imported risk score."""

    score: float
    tier: str
    scored_on: date


class RowError(_In):
    """One refused CSV row."""

    row: int
    code: str
    message: str


class ImportResult(_In):
    """What a CSV import kept and refused."""

    rows: int
    imported: int
    unchanged: int = 0
    errors: list[RowError] = []


# --- responders --------------------------------------------------------------------------------

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


# --- admissions and outcomes -------------------------------------------------------------------

EPISODE_KINDS = {"emergency-admission": "Emergency admission", "ae-attendance": "A&E attendance"}


class Episode(_In):
    """An emergency admission or A&E attendance, with its review."""

    id: int
    patient_id: int
    kind: str
    started_on: date
    discharged_on: date | None = None
    hospital: str | None = None
    reason: str | None = None
    source: str = "manual"
    recorded_by: str = ""
    avoidable: str | None = None
    would_have_helped: str | None = None
    reviewed_by: str | None = None
    alerts_before: int = 0


class FollowUp(_In):
    """A task after discharge."""

    id: int
    patient_id: int
    display_id: str
    episode_id: int | None = None
    title: str
    due_on: date
    done_at: datetime | None = None
    done_by: str | None = None
    note: str | None = None


class OutcomeMonth(_In):
    """One calendar month of a team's outcomes."""

    month: str
    monitored_patients: int
    emergency_admissions: int
    ae_attendances: int
    admissions_per_1000: float | None = None
    ae_per_1000: float | None = None
    readmissions_30d: int = 0
    admissions_preceded_by_alert: int = 0
    alerts_preceding_admissions: int = 0
    red_alerts: int = 0
    red_alerts_actioned: int = 0
    minutes_to_first_action_median: float | None = None
    minutes_to_first_action_p90: float | None = None


class Outcomes(_In):
    """A team's outcome figures, month by month, with their definitions."""

    team_id: int
    months: list[OutcomeMonth] = []
    definitions: dict[str, str] = {}
