"""Team-outcome routes: admissions, A&E and response times per month; the weekly MDT list."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.access import audit, team_visible
from api.deps import Clinical, Conn, DbConn, Staff, Zone, client_addr, require
from api.errors import ApiError, not_found
from api.queries.outcomes import DEFINITIONS, MDT_COLUMNS, mdt_rows, team_outcomes
from api.schemas.common import Problem, SpanDate
from api.schemas.outcomes import OutcomesOut
from telehub.care.csv_rows import write_csv
from telehub.care.plan import add_months
from telehub.domain import clock
from telehub.domain.codes import Role
from telehub.domain.record_ids import is_ascii_digits

router = APIRouter(tags=["outcomes"], responses={401: {"model": Problem},
                                              404: {"model": Problem}})


OutcomeReader = Annotated[Staff, Depends(require(Role.ADMIN, Role.MATRON, Role.MANAGER))]


def month_start(text: str) -> date:
    """'2026-10' -> 1 Oct 2026 (a 422 for anything else)."""
    parts = text.split("-")
    if len(parts) == 2 and all(is_ascii_digits(p) for p in parts):
        try:
            month = date(int(parts[0]), int(parts[1]), 1)
        except ValueError:
            pass  # month 13, year 0
        else:
            if clock.in_service_span(month) and clock.in_service_span(add_months(month, 1)):
                return month
            raise ApiError(422, f"A month must be {clock.service_span_text()}.", "bad-month")
    raise ApiError(422, f"'{text[:20]}' is not a month (YYYY-MM).", "bad-month")


def _check_team(conn: DbConn, staff: Staff, team_id: int) -> None:
    if not team_visible(staff, team_id) or conn.execute(
            "SELECT 1 FROM teams WHERE id = %s", (team_id,)).fetchone() is None:
        raise not_found("team")


@router.get("/teams/{team_id}/outcomes", response_model=OutcomesOut,
            summary="Emergency admissions, A&E, readmissions and response times per month",
            responses={422: {"model": Problem}})
def outcomes(team_id: int, staff: OutcomeReader, conn: Conn, zone: Zone,
             start: Annotated[str | None, Query(alias="from", pattern=r"^[0-9]{4}-[0-9]{2}$",
                                                description="YYYY-MM; default 5 months "
                                                "before 'to'")] = None,
             end: Annotated[str | None, Query(alias="to", pattern=r"^[0-9]{4}-[0-9]{2}$",
                                              description="YYYY-MM; default this month")] = None,
             ) -> OutcomesOut:
    """The team's outcome figures per calendar month (no identifiable data)."""
    _check_team(conn, staff, team_id)
    last = month_start(end) if end else clock.today(zone).replace(day=1)
    first = month_start(start) if start else add_months(last, -5)
    if first > last or add_months(first, 36) <= last:
        raise ApiError(422, "'from' must be on or before 'to', at most 36 months apart.",
                       "bad-window")
    return OutcomesOut(team_id=team_id, months=team_outcomes(conn, team_id, first, last, zone),
                       definitions=DEFINITIONS)


@router.get("/teams/{team_id}/mdt.csv", response_class=Response,
            summary="The weekly MDT review list as CSV",
            responses={200: {"content": {"text/csv": {}}}})
def mdt_csv(team_id: int, staff: Clinical, conn: Conn, zone: Zone, request: Request,
            week_ending: SpanDate | None = None) -> Response:
    """Patients with red alerts, admissions or A&E in the 7 days to `week_ending` (default
    today), overdue reviews, or rising risk."""
    _check_team(conn, staff, team_id)
    day = week_ending or clock.today(zone)
    rows = mdt_rows(conn, team_id, day, zone)
    audit(conn, staff, "export", "mdt-list", None, client_addr(request),
          {"team_id": team_id, "week_ending": day.isoformat(),
           "patient_ids": [r["id"] for r in rows]})
    conn.commit()
    return Response(write_csv(MDT_COLUMNS, rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="mdt-{team_id}-{day.isoformat()}.csv"'})

