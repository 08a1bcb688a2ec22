"""Telecare routes: a team's telecare escalation window."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.access import audit, check_team, team_visible
from api.deps import CLINICAL, Conn, Staff, client_addr, require
from api.errors import not_found
from api.schemas.common import Problem
from api.schemas.responder import TelecareSettingsIn, TelecareSettingsOut
from telehub.care.team import set_team_setting, team_setting
from telehub.domain.codes import Role

router = APIRouter(tags=["responder"], responses={401: {"model": Problem},
                                                  404: {"model": Problem}})

Actor = Annotated[Staff, Depends(require(Role.RESPONDER, *CLINICAL))]
TeamLead = Annotated[Staff, Depends(require(Role.ADMIN, Role.MATRON))]


@router.get("/teams/{team_id}/telecare", response_model=TelecareSettingsOut,
            summary="The team's telecare escalation window")
def telecare_settings(team_id: int, staff: Actor, conn: Conn) -> TelecareSettingsOut:
    """Minutes an unacknowledged telecare alert waits before it escalates (2 by default)."""
    check_team(conn, staff, team_id)
    return TelecareSettingsOut(team_id=team_id, escalation_minutes=team_setting(
        conn, team_id, "telecare_escalation_minutes"))


@router.put("/teams/{team_id}/telecare", response_model=TelecareSettingsOut,
            summary="Change the team's telecare escalation window",
            responses={422: {"model": Problem}})
def set_telecare_settings(team_id: int, body: TelecareSettingsIn, staff: TeamLead, conn: Conn,
                          request: Request) -> TelecareSettingsOut:
    """Admins, and the matron of the team, set the window (1–60 minutes)."""
    if not team_visible(staff, team_id):
        raise not_found("team")
    minutes = set_team_setting(conn, team_id, "telecare_escalation_minutes",
                               body.escalation_minutes)
    audit(conn, staff, "update", "team-telecare", None, client_addr(request),
          {"team_id": team_id, "escalation_minutes": body.escalation_minutes})
    conn.commit()
    return TelecareSettingsOut(team_id=team_id, escalation_minutes=minutes)


