"""Models of the before/after outcome routes (counts and rates only, nothing identifiable)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel


class RateOut(BaseModel):
    """Events over patient-years: a rate per 1,000 patient-years with its exact 95 % interval."""

    events: int
    patient_years: float
    per_1000: float | None
    ci_low: float | None
    ci_high: float | None
    too_small: bool


class DifferenceOut(BaseModel):
    """A difference of rates per 1,000 patient-years with its Wald 95 % interval."""

    per_1000: float | None
    ci_low: float | None
    ci_high: float | None
    too_small: bool


class GroupOut(BaseModel):
    """One group's measure: the 12 months before enrolment against the months since."""

    before: RateOut
    after: RateOut
    change: DifferenceOut          # after − before


class MeasureOut(BaseModel):
    """One outcome measure for the monitored patients and, when imported, the comparison."""

    measure: str
    label: str
    monitored: GroupOut
    comparison: GroupOut | None
    difference_in_differences: DifferenceOut | None


class BeforeAfterOut(BaseModel):
    """Before/after outcomes of a team's patients monitored for at least 6 months."""

    team_id: int
    as_of: date
    monitored_patients: int
    comparison_members: int
    measures: list[MeasureOut]
    too_small: bool                # any figure shown is too small to mean anything
    too_small_rule: str
    definitions: dict[str, str]
