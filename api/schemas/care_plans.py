"""Models of the care-plan routes: schedule, triggers, advice, reviews, the care caseload."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from api.schemas.common import _In, _Out


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

