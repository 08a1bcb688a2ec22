"""A team's figures as the dashboard reads them: monitoring statistics over a period, outcomes
month by month, and the weekly MDT review list."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from dashboard.client.transport import Transport, iso


class _In(BaseModel):
    """The fields the dashboard shows; unknown ones are ignored, so the API may grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)


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


class FigureCalls(Transport):
    """Team statistics, outcomes and the MDT list."""

    def team_stats(self, team_id: int, *, start: datetime | None = None,
                   end: datetime | None = None) -> TeamStats:
        """A team's monitoring figures over a period (counts only)."""
        return self._get(f"/teams/{team_id}/stats", TeamStats,
                         **{"from": iso(start), "to": iso(end)})

    def outcomes(self, team_id: int, start_month: str | None = None,
                 end_month: str | None = None) -> Outcomes:
        """Admissions and A&E per 1,000, readmissions, alerts before admission, response."""
        return self._get(f"/teams/{team_id}/outcomes", Outcomes,
                         **{"from": start_month, "to": end_month})

    def mdt_csv(self, team_id: int, week_ending: date | None = None) -> str:
        """The weekly MDT review list as CSV."""
        return self._text(f"/teams/{team_id}/mdt.csv", accept="text/csv",
                          week_ending=iso(week_ending))
