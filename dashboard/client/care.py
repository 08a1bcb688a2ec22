"""The care around a patient as the dashboard reads it: GP, coordinator, access, advance
decisions and consent; carers; the care plan (schedule, triggers with advice, reviews); risk
tiers and the risk-stratification import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from dashboard.client.transport import Transport, iso


class _In(BaseModel):
    """The fields the dashboard shows; unknown ones are ignored, so the API may grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)

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


class CareCalls(Transport):
    """The people around the patient, the care plan and risk."""

    def care_team(self, patient_id: int) -> CareTeam:
        """GP, coordinator, single point of access, access notes, advance decision, consent."""
        return self._get(f"/patients/{patient_id}/care-team", CareTeam)

    def set_care_team(self, patient_id: int, fields: Mapping[str, Any]) -> CareTeam:
        """Replace the care team record (every field: send the ones kept)."""
        body = {k: (iso(v) if isinstance(v, date) else v) for k, v in fields.items()}
        return CareTeam.model_validate(
            self._request("PUT", f"/patients/{patient_id}/care-team", json=body))

    def contacts(self, patient_id: int) -> list[Contact]:
        """Carers and next of kin (current ones)."""
        return self._list(f"/patients/{patient_id}/contacts", Contact)

    def add_contact(self, patient_id: int, *, name: str, relationship: str,
                    phone: str | None = None, email: str | None = None,
                    next_of_kin: bool = False, notify_alerts: bool = False) -> Contact:
        """Add a carer or next of kin."""
        return self._post(f"/patients/{patient_id}/contacts", Contact, name=name,
                          relationship=relationship, phone=phone or None, email=email or None,
                          next_of_kin=next_of_kin, notify_alerts=notify_alerts)

    def remove_contact(self, patient_id: int, contact_id: int) -> None:
        """Take a carer off the patient's record (kept in history)."""
        self._request("POST", f"/patients/{patient_id}/contacts/{contact_id}/remove")

    def care_plan(self, patient_id: int) -> CarePlan:
        """Schedule, triggers with the patient's advice, review dates."""
        return self._get(f"/patients/{patient_id}/care-plan", CarePlan)

    def set_advice(self, patient_id: int, advice: Mapping[str, str]) -> CarePlan:
        """Change the self-management advice of some triggers (empty text removes it)."""
        return CarePlan.model_validate(self._request(
            "PUT", f"/patients/{patient_id}/care-plan", json={"advice": dict(advice)}))

    def set_schedule(self, patient_id: int, schedule: Sequence[ScheduleItem]) -> CarePlan:
        """Replace the measurement schedule (metrics left out are no longer expected)."""
        return CarePlan.model_validate(self._request(
            "PUT", f"/patients/{patient_id}/care-plan",
            json={"schedule": [item.model_dump() for item in schedule]}))

    def record_review(self, patient_id: int, note: str | None = None,
                      next_due: date | None = None) -> CarePlan:
        """Record a care-plan review today; the next falls due in 3 months unless given."""
        return self._post(f"/patients/{patient_id}/care-plan/reviews", CarePlan,
                          note=note or None, next_due=iso(next_due))

    def care_plan_html(self, patient_id: int) -> str:
        """The one-page printable plan the patient keeps."""
        return self._text(f"/patients/{patient_id}/care-plan.html", accept="text/html")

    def care_patients(self, team_id: int | None = None, tier: str | None = None,
                      sort: str | None = None) -> list[CarePatient]:
        """Risk tier and review date of every patient the caller may see."""
        return self._list("/care/patients", CarePatient, team_id=team_id, tier=tier, sort=sort)

    def risk_history(self, patient_id: int) -> list[RiskScore]:
        """The patient's imported risk scores, newest first."""
        return self._list(f"/patients/{patient_id}/risk", RiskScore)

    def import_risk_tiers(self, csv_text: str) -> ImportResult:
        """Import a risk-stratification CSV (nhs_number,score,tier,date)."""
        return ImportResult.model_validate(self._request(
            "POST", "/risk-tiers", content=csv_text.encode(), content_type="text/csv"))
