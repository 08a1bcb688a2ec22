"""Care-plan routes: the plan, its reviews and printable page, the care caseload."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from psycopg import sql
from psycopg.types.json import Jsonb

from alerts.catalogue import load_catalogue
from api.access import audit, check_patient, scope_team
from api.deps import Clinical, Conn, Zone, client_addr
from api.errors import ApiError
from api.queries.care_plans import (
    _SORTS,
    CARE_PATIENTS_SQL,
    REVIEW_DUE_SQL,
    load_care_plan,
    load_care_team,
)
from api.render.care_plan import render_care_plan
from api.schemas.care_plans import CarePatientOut, CarePlanIn, CarePlanOut, ReviewIn
from api.schemas.care_team import CareTeamOut
from api.schemas.common import Problem
from telehub.care.plan import (
    ensure_care_record,
    next_review_due,
    record_review,
    review_overdue,
    set_advice,
    set_review_due,
)
from telehub.domain import clock
from telehub.domain.units import parse_metric

router = APIRouter(tags=["care"], responses={401: {"model": Problem},
                                              404: {"model": Problem}})


@router.get("/patients/{patient_id}/care-plan", response_model=CarePlanOut,
            summary="The care plan: schedule, when to act, advice, review")
def get_care_plan(patient_id: int, staff: Clinical, conn: Conn, zone: Zone,
                  request: Request) -> CarePlanOut:
    """The measurement schedule, each trigger in words with the advice, and review dates."""
    check_patient(conn, staff, patient_id)
    out = load_care_plan(conn, patient_id, zone)
    audit(conn, staff, "read", "care-plan", patient_id, client_addr(request))
    conn.commit()
    return out


@router.put("/patients/{patient_id}/care-plan", response_model=CarePlanOut,
            summary="Change the schedule, advice or review date",
            responses={422: {"model": Problem}})
def put_care_plan(patient_id: int, body: CarePlanIn, staff: Clinical, conn: Conn, zone: Zone,
                  request: Request) -> CarePlanOut:
    """Fields left out are kept; advice merges per episode (empty text removes it)."""
    check_patient(conn, staff, patient_id)
    ensure_care_record(conn, patient_id, staff.username)
    if body.schedule is not None:
        plan: dict[str, Any] = {}
        for item in body.schedule:
            metric = parse_metric(item.metric).value
            plan[metric] = {"per_day": item.per_day, **({"window": item.window}
                                                        if item.window else {})}
        conn.execute("UPDATE patients SET care_plan = %s, updated_at = now() WHERE id = %s",
                     (Jsonb(plan), patient_id))
    if body.advice is not None:
        episodes = load_catalogue().episodes
        unknown = sorted(k for k in body.advice if k not in episodes)
        if unknown:
            raise ApiError(422, f"No such episode: {', '.join(unknown)}.", "bad-episode")
        row = conn.execute("SELECT advice FROM patient_care WHERE patient_id = %s",
                           (patient_id,)).fetchone()
        assert row is not None
        advice = {**row["advice"], **{k: v.strip() for k, v in body.advice.items()}}
        advice = {k: v[:1000] for k, v in advice.items() if v}
        set_advice(conn, patient_id, advice, staff.username)
    if body.review_due is not None:
        set_review_due(conn, patient_id, body.review_due, staff.username)
    audit(conn, staff, "update", "care-plan", patient_id, client_addr(request),
          {"fields": sorted(body.model_dump(exclude_unset=True))})
    out = load_care_plan(conn, patient_id, zone)
    conn.commit()
    return out


@router.post("/patients/{patient_id}/care-plan/reviews", response_model=CarePlanOut,
             status_code=201, summary="Record a care-plan review",
             responses={422: {"model": Problem}})
def review_care_plan(patient_id: int, body: ReviewIn, staff: Clinical, conn: Conn, zone: Zone,
                     request: Request) -> CarePlanOut:
    """Record a review; the next falls due in three months unless next_due says otherwise."""
    check_patient(conn, staff, patient_id)
    reviewed_on = body.reviewed_on or clock.today(zone)
    if reviewed_on > clock.today(zone):
        raise ApiError(422, "reviewed_on is in the future.", "bad-review-date")
    next_due = body.next_due or next_review_due(reviewed_on)
    if next_due <= reviewed_on:
        raise ApiError(422, "next_due must be after reviewed_on.", "bad-review-date")
    record_review(conn, patient_id, reviewed_on, next_due, reviewer_id=staff.id,
                  reviewer=staff.display_name, note=body.note, updated_by=staff.username)
    audit(conn, staff, "review", "care-plan", patient_id, client_addr(request),
          {"next_due": next_due.isoformat()})
    out = load_care_plan(conn, patient_id, zone)
    conn.commit()
    return out


@router.get("/patients/{patient_id}/care-plan.html", response_class=HTMLResponse,
            summary="The care plan as one printable page")
def care_plan_page(patient_id: int, staff: Clinical, conn: Conn, zone: Zone,
                   request: Request) -> HTMLResponse:
    """A print-ready page for the patient's fridge: who to call, what to measure, when to act
    and what to do."""
    check_patient(conn, staff, patient_id)
    plan = load_care_plan(conn, patient_id, zone)
    patient = conn.execute("SELECT given_name, family_name FROM patients WHERE id = %s",
                           (patient_id,)).fetchone()
    assert patient is not None
    team = CareTeamOut.model_validate(load_care_team(conn, patient_id))
    audit(conn, staff, "print", "care-plan", patient_id, client_addr(request))
    conn.commit()
    return HTMLResponse(render_care_plan(
        f"{patient['given_name']} {patient['family_name']}", plan, team))


@router.get("/care/patients", response_model=list[CarePatientOut],
            summary="The caseload by risk tier and review date")
def care_patients(staff: Clinical, conn: Conn, zone: Zone, request: Request,
                  team_id: int | None = None,
                  tier: Annotated[str | None, Query(max_length=40)] = None,
                  sort: Annotated[str, Query(pattern="^(risk|review|name)$")] = "risk",
                  overdue_only: bool = False) -> list[CarePatientOut]:
    """Monitored patients with their latest risk score and tier (rising or not), care-plan
    review date and overdue flag, filtered by tier and sorted by risk, review or name."""
    team = scope_team(staff, team_id)
    tier = tier.strip() if tier and tier.strip() else None
    today = clock.today(zone)
    overdue = (sql.SQL(" AND {} < %(today)s").format(sql.SQL(REVIEW_DUE_SQL)) if overdue_only
               else sql.SQL(""))
    query = sql.SQL("{}{} ORDER BY {}").format(sql.SQL(CARE_PATIENTS_SQL), overdue,
                                               sql.SQL(_SORTS[sort]))
    rows = conn.execute(query,
                        {"team": team, "tier": tier, "today": today, "zone": zone.key}).fetchall()
    out = [CarePatientOut(**r, review_overdue=review_overdue(r["review_due"], today))
           for r in rows]
    audit(conn, staff, "list", "care-patients", None, client_addr(request),
          {"patient_ids": [r.patient_id for r in out]})
    conn.commit()
    return out


@router.get("/care/overdue-reviews", response_model=list[CarePatientOut],
            summary="Patients whose care-plan review is overdue")
def overdue_reviews(staff: Clinical, conn: Conn, zone: Zone, request: Request,
                    team_id: int | None = None) -> list[CarePatientOut]:
    """Care plans past their review date, the longest overdue first."""
    return care_patients(staff, conn, zone, request, team_id=team_id, tier=None, sort="review",
                         overdue_only=True)

