"""Before/after outcome routes: rates in the 12 months before enrolment against the months
since (JSON and CSV), and the import of a comparison cohort as CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.access import audit, team_visible
from api.deps import Conn, DbConn, Staff, Zone, client_addr, require
from api.errors import not_found
from api.imports import CsvBody
from api.queries.before_after import CSV_COLUMNS, before_after, csv_rows
from api.schemas.before_after import BeforeAfterOut
from api.schemas.common import ImportResultOut, Problem, RowError
from telehub.care.comparison import parse_comparison_csv, store_comparison_rows
from telehub.care.csv_rows import write_csv
from telehub.domain import clock
from telehub.domain.codes import Role

router = APIRouter(tags=["outcomes"], responses={401: {"model": Problem},
                                              404: {"model": Problem}})
OutcomeReader = Annotated[Staff, Depends(require(Role.ADMIN, Role.MATRON, Role.MANAGER))]
CohortImporter = Annotated[Staff, Depends(require(Role.ADMIN, Role.MATRON))]


def _check_team(conn: DbConn, staff: Staff, team_id: int) -> None:
    if not team_visible(staff, team_id) or conn.execute(
            "SELECT 1 FROM teams WHERE id = %s", (team_id,)).fetchone() is None:
        raise not_found("team")


@router.get("/teams/{team_id}/before-after", response_model=BeforeAfterOut,
            summary="Admissions, A&E and bed days before enrolment against since")
def get_before_after(team_id: int, staff: OutcomeReader, conn: Conn,
                     zone: Zone) -> BeforeAfterOut:
    """Rates per 1,000 patient-years with exact 95 % intervals for the patients monitored
    at least 6 months, against a comparison cohort when one is imported (no identifiable
    data)."""
    _check_team(conn, staff, team_id)
    return before_after(conn, team_id, zone)


@router.get("/teams/{team_id}/before-after.csv", response_class=Response,
            summary="The before/after figures as CSV",
            responses={200: {"content": {"text/csv": {}}}})
def before_after_csv(team_id: int, staff: OutcomeReader, conn: Conn, zone: Zone) -> Response:
    """Each rate, change and difference in differences, one row each."""
    _check_team(conn, staff, team_id)
    out = before_after(conn, team_id, zone)
    return Response(write_csv(CSV_COLUMNS, csv_rows(out)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="before-after-'
                             f'{team_id}-{out.as_of.isoformat()}.csv"'})


@router.post("/teams/{team_id}/comparison-cohort", response_model=ImportResultOut,
             summary="Import a comparison cohort (CSV)",
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {
                 "type": "string"}}}}})
def import_comparison(team_id: int, text: CsvBody, staff: CohortImporter, conn: Conn,
                      zone: Zone, request: Request) -> ImportResultOut:
    """Columns nhs_number, index_date (the enrolment-equivalent date), kind, started_on,
    discharged_on: one row an episode, or a row with kind and started_on empty for a person
    without any. Bad rows are listed with the reason; good rows are kept; re-importing is
    harmless."""
    _check_team(conn, staff, team_id)
    good, bad = parse_comparison_csv(text, today=clock.today(zone))
    changed, unchanged, refused = store_comparison_rows(conn, team_id, good, staff.username)
    errors = sorted((RowError(row=p.row, code=p.code, message=p.message)
                     for p in (*bad, *refused)), key=lambda e: e.row)
    audit(conn, staff, "import", "comparison-cohort", None, client_addr(request),
          {"team_id": team_id, "rows": len(good) + len(bad), "imported": changed})
    conn.commit()
    return ImportResultOut(rows=len(good) + len([b for b in bad if b.row > 0]),
                           imported=changed, unchanged=unchanged, errors=errors)
