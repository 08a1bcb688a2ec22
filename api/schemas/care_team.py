"""Models of the care-team routes: the people around the patient and their contacts."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from api.schemas.common import _In, _Out


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

