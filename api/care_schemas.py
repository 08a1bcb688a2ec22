"""Request and response models of the care-coordination and telecare routes.

Routes (all JSON unless said otherwise; errors are problem details as everywhere):

People around the patient (clinical staff of the patient's team):
  GET  /patients/{id}/care-team                 -> CareTeamOut
  PUT  /patients/{id}/care-team                 CareTeamIn -> CareTeamOut
  GET  /patients/{id}/contacts                  -> list[ContactOut]
  POST /patients/{id}/contacts                  ContactIn -> ContactOut (201)
  PUT  /patients/{id}/contacts/{contact_id}     ContactIn -> ContactOut
  POST /patients/{id}/contacts/{contact_id}/remove  -> ContactOut (removed_at set)
Care plan:
  GET  /patients/{id}/care-plan                 -> CarePlanOut (schedule, triggers, advice, review)
  PUT  /patients/{id}/care-plan                 CarePlanIn -> CarePlanOut
  POST /patients/{id}/care-plan/reviews         ReviewIn -> CarePlanOut (next due: +3 months)
  GET  /patients/{id}/care-plan.html            text/html, one printable page
  GET  /care/overdue-reviews?team_id=           -> list[CarePatientOut] (review_due < today)
  GET  /care/patients?team_id=&tier=&sort=risk|review|name -> list[CarePatientOut]
Risk tiers (clinical staff; CSV body, header `nhs_number,score,tier,date`):
  POST /risk-tiers                              text/csv -> ImportResultOut
  GET  /patients/{id}/risk                      -> list[RiskScoreOut] (newest first)
Responders (role responder; admins too):
  GET  /responder/queue                         -> list[QueueItemOut] (urgent first, oldest first)
  POST /responder/alerts/{alert_id}/actions     ResponderActionIn -> QueueActionOut
  GET  /teams/{id}/telecare                     -> TelecareSettingsOut (clinical staff, responders)
  PUT  /teams/{id}/telecare                     TelecareSettingsIn -> TelecareSettingsOut
                                                (admin, matron of the team)
Admissions, A&E, discharges (clinical staff):
  GET  /patients/{id}/admissions                -> list[EpisodeOut]
  POST /patients/{id}/admissions                EpisodeIn -> EpisodeOut (201)
  POST /admissions/{episode_id}/discharge       DischargeEpisodeIn -> EpisodeOut (+ follow-up task)
  POST /admissions/{episode_id}/review          EpisodeReviewIn -> EpisodeOut
  POST /admissions/import                       text/csv -> ImportResultOut
       header `nhs_number,kind,started_on,discharged_on,hospital,reason`
  GET  /teams/{id}/follow-ups?open=true         -> list[FollowUpOut]
  POST /follow-ups/{task_id}/done               FollowUpDoneIn -> FollowUpOut
Team figures (admin, matron, manager of the team):
  GET  /teams/{id}/outcomes?from=YYYY-MM&to=YYYY-MM -> OutcomesOut (one row per month)
  GET  /teams/{id}/mdt.csv?week_ending=YYYY-MM-DD   text/csv (clinical staff)
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import AlertOut, Outcome


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- people around the patient ----------------------------------------------------------------

class CareTeamIn(_In):
    """The named team around a patient, access to the home, advance decisions, consent and
    enrolment criteria. PUT replaces every field (send the ones you keep)."""

    gp_name: str | None = Field(None, max_length=120)
    gp_practice: str | None = Field(None, max_length=200)
    gp_phone: str | None = Field(None, max_length=40)
    coordinator_id: int | None = Field(None, description="A staff member of the team (any "
                                       "role: community matron, district or practice nurse)")
    coordinator_role: str | None = Field(None, max_length=80,
                                         description="e.g. 'community matron'")
    spa_phone: str | None = Field(None, max_length=40, description="Single point of access: "
                                  "the number the patient calls instead of 999 when it is "
                                  "not an emergency")
    key_safe_note: str | None = Field(None, max_length=1000)
    access_note: str | None = Field(None, max_length=1000)
    advance_decision: bool = Field(False, description="ReSPECT / DNACPR or another advance "
                                   "decision is in place")
    advance_decision_note: str | None = Field(None, max_length=1000,
                                              description="What it is and where it is kept")
    consent_monitoring: bool | None = None
    consent_sharing: bool | None = None
    consent_on: date | None = None
    consent_taken_by: str | None = Field(None, max_length=120)
    enrolment_conditions: bool = Field(False, description="Enrolled for a long-term condition")
    enrolment_risk: bool = Field(False, description="Enrolled for risk score / tier")
    enrolment_judgement: bool = Field(False, description="Enrolled on clinical judgement")
    enrolment_note: str | None = Field(None, max_length=2000)


class CareTeamOut(_Out):
    """CareTeamIn as stored, with the coordinator's name and when it last changed."""

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


class ContactIn(_In):
    """A carer or next of kin."""

    name: str = Field(min_length=1, max_length=120)
    relationship: str = Field(min_length=1, max_length=80, description="e.g. 'daughter'")
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)
    next_of_kin: bool = False
    notify_alerts: bool = Field(False, description="Wants to be told about alerts")


class ContactOut(_Out):
    """A carer or next of kin as stored."""

    id: int
    patient_id: int
    name: str
    relationship: str
    phone: str | None
    email: str | None
    next_of_kin: bool
    notify_alerts: bool
    created_at: datetime
    removed_at: datetime | None = None


# --- care plan ---------------------------------------------------------------------------------

class TriggerOut(BaseModel):
    """One "when to act" trigger: an alert episode the patient's thresholds raise."""

    episode: str                      # e.g. "spo2-low"
    label: str                        # e.g. "Low oxygen saturation"
    severity: str                     # info | amber | red
    rule_id: str
    metric: str | None
    when: str                         # e.g. "SpO2 at or below 91 %"
    individual: bool                  # an individual threshold overrides the default
    advice: str | None                # what the patient should do (per episode)


class ScheduleItem(BaseModel):
    """One metric of the measurement schedule."""

    metric: str
    per_day: int = Field(ge=1, le=24, description="Readings expected a day (leave a metric "
                         "out of the schedule to expect none)")
    window: str | None = Field(None, max_length=40, description="e.g. 'morning'")


class CarePlanIn(_In):
    """Change the schedule, the self-management advice (per episode) or the review date.
    Fields left out are kept."""

    schedule: list[ScheduleItem] | None = None
    advice: dict[str, str] | None = Field(None, description="episode -> advice, e.g. "
                                          "{'spo2-low': 'Start your rescue pack and call the "
                                          "single point of access.'}; empty text removes it")
    review_due: date | None = None


class ReviewIn(_In):
    """A care-plan review; the next one falls due in 3 months unless next_due is given."""

    reviewed_on: date | None = None   # default today
    note: str | None = Field(None, max_length=2000)
    next_due: date | None = None


class ReviewOut(_Out):
    """A past review."""

    id: int
    reviewed_on: date
    reviewer: str
    note: str | None
    next_due: date


class CarePlanOut(BaseModel):
    """The patient's care plan: schedule, triggers with advice, review dates."""

    patient_id: int
    display_id: str
    schedule: list[ScheduleItem]
    triggers: list[TriggerOut]
    advice: dict[str, str]
    review_due: date | None
    review_overdue: bool
    reviews: list[ReviewOut]


class CarePatientOut(BaseModel):
    """A caseload row for care coordination: risk and review."""

    patient_id: int
    display_id: str
    name: str
    team_id: int
    status: str
    conditions: list[str]
    risk_score: float | None
    risk_tier: str | None
    risk_scored_on: date | None
    risk_rising: bool                 # the latest score is above the one before
    review_due: date | None
    review_overdue: bool
    coordinator_name: str | None


# --- risk tiers --------------------------------------------------------------------------------

class RowError(BaseModel):
    """One CSV row that was refused (row 1 is the first row after the header)."""

    row: int
    code: str
    message: str


class ImportResultOut(BaseModel):
    """What a CSV import kept and what it refused; good rows are kept whatever the others."""

    rows: int
    imported: int
    unchanged: int = 0                # rows already present (re-import is harmless)
    errors: list[RowError]


class RiskScoreOut(_Out):
    """One imported risk score."""

    score: float
    tier: str
    scored_on: date
    imported_at: datetime
    imported_by: str


# --- responders --------------------------------------------------------------------------------

class ResponderAction(StrEnum):
    """What a responder records against an urgent alert."""

    ACKNOWLEDGE = "acknowledge"
    CALL_LOGGED = "call-logged"
    CARER_CONTACTED = "carer-contacted"
    VISIT_DISPATCHED = "visit-dispatched"
    AMBULANCE_CALLED = "ambulance-called"
    ESCALATED_TO_MATRON = "escalated-to-matron"
    RESOLVED = "resolved"


class ResponderActionIn(_In):
    """One responder action; `outcome` is required for `resolved`."""

    action: ResponderAction
    note: str | None = Field(None, max_length=2000)
    outcome: Outcome | None = None


class QueueContact(BaseModel):
    """A carer as the responder needs them."""

    name: str
    relationship: str
    phone: str | None
    next_of_kin: bool


class LatestVital(BaseModel):
    """The latest reading of one metric."""

    metric: str
    value: float
    unit: str
    time: datetime


class QueueItemOut(BaseModel):
    """An urgent alert with the minimum context to act (no NHS number, no history)."""

    alert: AlertOut
    display_id: str
    display_name: str                 # given name and family name, to greet the person
    address_line: str | None
    postcode: str | None
    phone: str | None
    key_safe_note: str | None
    access_note: str | None
    advance_decision: bool
    advance_decision_note: str | None
    spa_phone: str | None
    carers: list[QueueContact]
    latest_vitals: list[LatestVital]
    triggers: list[str]               # the care plan's "when to act", one line each
    telecare_event: str | None        # fall, pendant, smoke… when a telecare device raised it
    actions: list[str]                # responder actions recorded so far (event kinds)


class QueueActionOut(BaseModel):
    """The alert after the action, and the event recorded."""

    alert: AlertOut
    event_kind: str


class TelecareSettingsIn(_In):
    """How soon an unacknowledged telecare alert (fall, pendant, smoke…) escalates."""

    escalation_minutes: int = Field(ge=1, le=60)


class TelecareSettingsOut(BaseModel):
    """A team's telecare escalation window."""

    team_id: int
    escalation_minutes: int


# --- admissions and outcomes -------------------------------------------------------------------

class EpisodeKind(StrEnum):
    """A hospital episode."""

    EMERGENCY_ADMISSION = "emergency-admission"
    AE_ATTENDANCE = "ae-attendance"


class Avoidable(StrEnum):
    """The post-admission review's answer to "was it avoidable?"."""

    YES = "yes"
    NO = "no"
    UNSURE = "unsure"


class EpisodeIn(_In):
    """An emergency admission or A&E attendance recorded by hand."""

    kind: EpisodeKind
    started_on: date
    discharged_on: date | None = None
    hospital: str | None = Field(None, max_length=200)
    reason: str | None = Field(None, max_length=1000)


class DischargeEpisodeIn(_In):
    """Discharge from hospital: a follow-up task falls due `follow_up_days` later."""

    discharged_on: date
    follow_up_days: int = Field(2, ge=0, le=30)


class EpisodeReviewIn(_In):
    """The post-admission review."""

    avoidable: Avoidable
    would_have_helped: str | None = Field(None, max_length=2000)


class EpisodeOut(_Out):
    """A hospital episode with its review."""

    id: int
    patient_id: int
    kind: EpisodeKind
    started_on: date
    discharged_on: date | None
    hospital: str | None
    reason: str | None
    source: str
    recorded_by: str
    avoidable: Avoidable | None
    would_have_helped: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    alerts_before: int = 0            # amber/red alerts in the 14 days before it started


class FollowUpOut(_Out):
    """A task after discharge."""

    id: int
    patient_id: int
    display_id: str
    episode_id: int | None
    title: str
    due_on: date
    done_at: datetime | None
    done_by: str | None
    note: str | None


class FollowUpDoneIn(_In):
    """Close a follow-up task."""

    note: str | None = Field(None, max_length=2000)


class OutcomeMonth(BaseModel):
    """One calendar month of a team's outcomes (definitions in GET /teams/{id}/outcomes)."""

    month: str                        # "2026-10"
    monitored_patients: int
    emergency_admissions: int
    ae_attendances: int
    admissions_per_1000: float | None
    ae_per_1000: float | None
    readmissions_30d: int
    admissions_preceded_by_alert: int
    alerts_preceding_admissions: int
    red_alerts: int
    red_alerts_actioned: int
    minutes_to_first_action_median: float | None
    minutes_to_first_action_p90: float | None


class OutcomesOut(BaseModel):
    """A team's outcome figures per month."""

    team_id: int
    months: list[OutcomeMonth]
    definitions: dict[str, str]

