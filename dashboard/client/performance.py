"""Rule performance, threshold suggestions and before/after outcomes as the dashboard reads
them, and the calls that accept or dismiss a suggestion and import a comparison cohort."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from dashboard.client.care import ImportResult
from dashboard.client.transport import Transport, iso


class _In(BaseModel):
    """The fields the dashboard shows; unknown ones are ignored, so the API may grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class RuleRow(_In):
    """One rule's figures over the period."""

    rule_id: str
    alerts: int
    action: int
    noise: int
    unresolved: int = 0
    acknowledged: int = 0
    action_share: float | None = None
    median_minutes_to_acknowledge: float | None = None
    admissions_preceded: int = 0


class RulePerformance(_In):
    """Per-rule performance of a team over a period."""

    team_id: int
    start: datetime
    end: datetime
    rules: list[RuleRow] = []
    definitions: dict[str, str] = {}


class NoisyRule(_In):
    """A rule firing for one patient without action, with its suggested limit (or none)."""

    patient_id: int
    display_id: str
    rule_id: str
    alerts_without_action: int
    last_alert_at: datetime
    current: dict[str, Any] = {}
    suggested: dict[str, float] | None = None
    unit: str | None = None
    explanation: str = ""


class Decision(_In):
    """A recorded decision on a suggestion."""

    id: int
    decision: str
    threshold_id: int | None = None


class Rate(_In):
    """A rate per 1,000 patient-years with its 95 % interval."""

    events: int
    patient_years: float
    per_1000: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    too_small: bool = True


class Difference(_In):
    """A difference of rates per 1,000 patient-years with its interval."""

    per_1000: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    too_small: bool = True


class Group(_In):
    """Before enrolment against since, for one group."""

    before: Rate
    after: Rate
    change: Difference


class Measure(_In):
    """One outcome measure."""

    measure: str
    label: str
    monitored: Group
    comparison: Group | None = None
    difference_in_differences: Difference | None = None


class BeforeAfter(_In):
    """Before/after outcomes of a team's patients monitored at least 6 months."""

    team_id: int
    as_of: date
    monitored_patients: int
    comparison_members: int = 0
    measures: list[Measure] = []
    too_small: bool = True
    too_small_rule: str = ""
    definitions: dict[str, str] = {}


class PerformanceCalls(Transport):
    """Rule performance, suggestions and before/after outcomes."""

    def rule_performance(self, team_id: int, *, start: datetime | None = None,
                         end: datetime | None = None) -> RulePerformance:
        """Per-rule figures of the team over the period (counts only)."""
        return self._get(f"/teams/{team_id}/rule-performance", RulePerformance,
                         **{"from": iso(start), "to": iso(end)})

    def threshold_suggestions(self, team_id: int) -> list[NoisyRule]:
        """Rules firing for a patient without action, with their suggested limits."""
        return self._list(f"/teams/{team_id}/threshold-suggestions", NoisyRule)

    def decide_suggestion(self, patient_id: int, rule_id: str, decision: str,
                          reason: str) -> Decision:
        """Accept ('accept') or dismiss ('dismiss') a suggestion, with the reason."""
        return self._post(f"/patients/{patient_id}/threshold-suggestions/{rule_id}/{decision}",
                          Decision, reason=reason)

    def before_after(self, team_id: int) -> BeforeAfter:
        """Before/after outcomes, against the comparison cohort when imported."""
        return self._get(f"/teams/{team_id}/before-after", BeforeAfter)

    def before_after_csv(self, team_id: int) -> str:
        """The before/after figures as CSV."""
        return self._text(f"/teams/{team_id}/before-after.csv", accept="text/csv")

    def import_comparison(self, team_id: int, csv_text: str) -> ImportResult:
        """Import a comparison cohort (nhs_number,index_date,kind,started_on,discharged_on)."""
        return ImportResult.model_validate(self._request(
            "POST", f"/teams/{team_id}/comparison-cohort", content=csv_text.encode(),
            content_type="text/csv"))
