"""Models of the rule-performance routes: per-rule figures (no identifiable data) and the
per-patient threshold suggestions (clinical staff only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from api.schemas.common import _In


class RuleRowOut(BaseModel):
    """One rule's figures over the period (definitions in the response)."""

    rule_id: str
    alerts: int
    action: int
    noise: int
    unresolved: int
    acknowledged: int
    action_share: float | None
    median_minutes_to_acknowledge: float | None
    admissions_preceded: int


class RulePerformanceOut(BaseModel):
    """Per-rule performance of a team over a period."""

    team_id: int
    start: datetime
    end: datetime
    rules: list[RuleRowOut]
    definitions: dict[str, str]


class NoisyRuleOut(BaseModel):
    """A rule that keeps firing for one patient without action, and the suggested limit."""

    patient_id: int
    display_id: str
    rule_id: str
    alerts_without_action: int
    last_alert_at: datetime
    current: dict[str, Any]
    suggested: dict[str, float] | None   # None: no number (see explanation)
    unit: str | None
    explanation: str


class SuggestionDecisionIn(_In):
    """Accepting or dismissing a suggestion: the clinician's reason is required."""

    reason: str = Field(min_length=3, max_length=1000)


class SuggestionDecisionOut(BaseModel):
    """A recorded decision on a suggestion."""

    id: int
    patient_id: int
    rule_id: str
    decision: str
    params: dict[str, Any]
    reason: str
    threshold_id: int | None
    decided_by_name: str
    decided_at: datetime
    quiet_until: datetime | None
