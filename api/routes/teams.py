"""Teams, their staff (for assigning alerts) and team statistics (no identifiable data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.access import team_visible
from api.deps import CLINICAL, Conn, CurrentStaff, Staff, Zone, require
from api.errors import ApiError, not_found
from api.queries.stats import team_stats
from api.schemas.auth import StaffOut
from api.schemas.common import Problem, SpanTime
from api.schemas.teams import TeamOut, TeamStatsOut
from telehub.domain import clock
from telehub.domain.codes import Role

router = APIRouter(tags=["teams"], responses={401: {"model": Problem},
                                              404: {"model": Problem}})

StatsReader = Annotated[Staff, Depends(require(Role.ADMIN, Role.MATRON, Role.MANAGER))]
StaffReader = Annotated[Staff, Depends(require(*CLINICAL))]


@router.get("/teams", response_model=list[TeamOut], summary="Teams the caller works in")
def list_teams(staff: CurrentStaff, conn: Conn) -> list[TeamOut]:
    """All teams for admins and cross-team staff; otherwise the caller's own."""
    rows = conn.execute("SELECT id, code, name, red_escalation_minutes FROM teams "
                        "WHERE %s::bigint IS NULL OR id = %s ORDER BY name",
                        (None if staff.spans_teams else staff.team_id,
                         None if staff.spans_teams else staff.team_id)).fetchall()
    return [TeamOut.model_validate(r) for r in rows]


@router.get("/teams/{team_id}/staff", response_model=list[StaffOut],
            summary="Who an alert can be given to")
def team_staff(team_id: int, staff: StaffReader, conn: Conn) -> list[StaffOut]:
    """Active staff of the team, and the cross-team responders."""
    if not team_visible(staff, team_id):
        raise not_found("team")
    rows = conn.execute(
        "SELECT s.id, s.username, s.display_name, s.role::text AS role, s.team_id, "
        "t.code AS team_code, s.active FROM staff s LEFT JOIN teams t ON t.id = s.team_id "
        "WHERE s.active AND s.role <> 'manager' AND (s.team_id = %s OR "
        "(s.team_id IS NULL AND s.role = 'responder')) ORDER BY s.display_name",
        (team_id,)).fetchall()
    return [StaffOut.model_validate(r) for r in rows]


@router.get("/teams/{team_id}/stats", response_model=TeamStatsOut,
            summary="Team statistics", responses={422: {"model": Problem}})
def stats(team_id: int, staff: StatsReader, conn: Conn, zone: Zone,
          start: Annotated[SpanTime | None, Query(alias="from",
                                                  description="Default: 28 days ago")] = None,
          end: Annotated[SpanTime | None, Query(alias="to", description="Default: now")] = None,
          ) -> TeamStatsOut:
    """Patients monitored, adherence, alerts per 100 patient-days by rule, time to
    acknowledge (median, p90) by severity, and outcomes."""
    if not team_visible(staff, team_id):
        raise not_found("team")
    if conn.execute("SELECT 1 FROM teams WHERE id = %s", (team_id,)).fetchone() is None:
        raise not_found("team")
    end = _utc(end) if end else clock.now()
    start = _utc(start) if start else end - timedelta(days=28)
    if start >= end:
        raise ApiError(422, "'from' must be before 'to'.", "bad-window")
    return team_stats(conn, team_id, start, end, zone=zone.key)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)
