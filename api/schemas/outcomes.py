"""Models of the team-outcome routes (no identifiable data)."""

from __future__ import annotations

from pydantic import BaseModel


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

