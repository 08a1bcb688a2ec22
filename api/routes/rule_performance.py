"""Rule-performance routes: per-rule figures of a team over a period, and per-patient
suggestions of individual thresholds that a clinician accepts or dismisses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from alerts.suggestion_decisions import accept_suggestion, dismiss_suggestion
from api.access import audit, check_patient, team_visible
from api.deps import Clinical, Conn, DbConn, Staff, Zone, client_addr, require
from api.errors import ApiError, not_found
from api.queries.rule_performance import noisy_rules, rule_performance
from api.schemas.common import Problem, SpanTime
from api.schemas.rule_performance import (
    NoisyRuleOut,
    RulePerformanceOut,
    SuggestionDecisionIn,
    SuggestionDecisionOut,
)
from telehub.domain import clock
from telehub.domain.codes import Role

router = APIRouter(tags=["rule performance"], responses={401: {"model": Problem},
                                                        404: {"model": Problem}})
PerformanceReader = Annotated[Staff, Depends(require(Role.ADMIN, Role.MATRON, Role.MANAGER))]


def _check_team(conn: DbConn, staff: Staff, team_id: int) -> None:
    if not team_visible(staff, team_id) or conn.execute(
            "SELECT 1 FROM teams WHERE id = %s", (team_id,)).fetchone() is None:
        raise not_found("team")


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@router.get("/teams/{team_id}/rule-performance", response_model=RulePerformanceOut,
            summary="Per rule: alerts, action against noise, time to acknowledge, admissions",
            responses={422: {"model": Problem}})
def get_rule_performance(
        team_id: int, staff: PerformanceReader, conn: Conn, zone: Zone,
        start: Annotated[SpanTime | None, Query(alias="from",
                                                description="Default: 30 days ago")] = None,
        end: Annotated[SpanTime | None, Query(alias="to", description="Default: now")] = None,
) -> RulePerformanceOut:
    """How each rule performed for the team over the period (counts only)."""
    _check_team(conn, staff, team_id)
    end = _utc(end) if end else clock.now()
    start = _utc(start) if start else end - timedelta(days=30)
    if start >= end:
        raise ApiError(422, "'from' must be before 'to'.", "bad-window")
    return rule_performance(conn, team_id, start, end, zone)


@router.get("/teams/{team_id}/threshold-suggestions", response_model=list[NoisyRuleOut],
            summary="Rules firing for a patient without action, with suggested thresholds")
def list_suggestions(team_id: int, staff: Clinical, conn: Conn,
                     request: Request) -> list[NoisyRuleOut]:
    """Each patient's rule with at least 5 alerts in 30 days and no action, with a suggested
    individual threshold for a clinician to accept or dismiss (never applied by itself)."""
    _check_team(conn, staff, team_id)
    out = noisy_rules(conn, team_id, clock.now())
    audit(conn, staff, "read", "threshold-suggestions", None, client_addr(request),
          {"team_id": team_id, "patient_ids": sorted({s.patient_id for s in out})})
    conn.commit()
    return out


def _current(conn: DbConn, staff: Staff, patient_id: int, rule_id: str) -> NoisyRuleOut:
    team = check_patient(conn, staff, patient_id)
    found = [s for s in noisy_rules(conn, team, clock.now(), patient_id)
             if s.rule_id == rule_id]
    if not found:
        raise not_found("suggestion")
    return found[0]


@router.post("/patients/{patient_id}/threshold-suggestions/{rule_id}/accept",
             response_model=SuggestionDecisionOut, status_code=201,
             summary="Accept a suggested threshold", responses={422: {"model": Problem}})
def accept(patient_id: int, rule_id: str, body: SuggestionDecisionIn, staff: Clinical,
           conn: Conn, request: Request) -> SuggestionDecisionOut:
    """Set the suggested limit as the patient's individual threshold, with the reason."""
    current = _current(conn, staff, patient_id, rule_id)
    if not current.suggested:
        raise ApiError(422, f"No limit is suggested for this rule: {current.explanation}",
                       "no-suggested-limit")
    row = accept_suggestion(conn, patient_id, rule_id, current.suggested, current.unit,
                            body.reason, staff.display_name, staff.id, clock.now())
    audit(conn, staff, "update", "thresholds", patient_id, client_addr(request),
          {"rule_id": rule_id, "params": current.suggested, "suggestion": "accepted"})
    conn.commit()
    return SuggestionDecisionOut.model_validate(row)


@router.post("/patients/{patient_id}/threshold-suggestions/{rule_id}/dismiss",
             response_model=SuggestionDecisionOut, status_code=201,
             summary="Dismiss a suggested threshold", responses={422: {"model": Problem}})
def dismiss(patient_id: int, rule_id: str, body: SuggestionDecisionIn, staff: Clinical,
            conn: Conn, request: Request) -> SuggestionDecisionOut:
    """Keep the current threshold; the suggestion stays quiet for 30 days."""
    current = _current(conn, staff, patient_id, rule_id)
    row = dismiss_suggestion(conn, patient_id, rule_id, current.suggested or {}, body.reason,
                             staff.display_name, staff.id, clock.now())
    audit(conn, staff, "update", "threshold-suggestions", patient_id, client_addr(request),
          {"rule_id": rule_id, "suggestion": "dismissed"})
    conn.commit()
    return SuggestionDecisionOut.model_validate(row)
