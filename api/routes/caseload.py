"""`GET /caseload`: the caller's team (or a named nurse's) patients, most urgent first."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.access import audit, team_visible
from api.deps import Clinical, Conn, State, client_addr
from api.errors import ApiError, not_found
from api.queries.caseload import caseload_rows
from api.render.caseload import caseload_json
from api.schemas.caseload import CaseloadOut
from api.schemas.common import Problem
from telehub.domain import clock

router = APIRouter(tags=["caseload"], responses={401: {"model": Problem},
                                                 404: {"model": Problem}})


@router.get("/caseload", response_model=CaseloadOut, summary="The triaged caseload")
def caseload(staff: Clinical, conn: Conn, state: State, request: Request,
             team_id: int | None = None,
             nurse_id: int | None = None) -> Response:
    """Red alerts first, then amber, then overdue readings, then the rest; each row has the
    latest value and time per metric, a 7-day daily trend, 7-day adherence to the care plan,
    age, open alert counts and devices."""
    team = team_id if team_id is not None else staff.team_id
    if team is None:
        raise ApiError(422, "Name the team (team_id).", "team-required")
    if not team_visible(staff, team):
        raise not_found("team")
    now = clock.now()
    rows = caseload_rows(conn, team, nurse_id, now, zone=state.settings.zone)
    audit(conn, staff, "list", "caseload", None, client_addr(request),
          {"team_id": team, "nurse_id": nurse_id,
           "patient_ids": sorted(r.patient_id for r in rows)})
    conn.commit()
    # Sent as the query wrote its nested lists, as `CaseloadOut` would serialise them
    # (tests/api/test_caseload_json.py holds the two equal): validating a 500-patient
    # caseload's nested models took longer than its query.
    return Response(caseload_json(team, nurse_id, now, rows), media_type="application/json")
