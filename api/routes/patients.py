"""Patients: list, register, read, change, discharge (every access is audited)."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Query, Request
from psycopg import sql
from psycopg.types.json import Jsonb

from api.access import audit, check_patient, refuse_duplicate_registration, team_visible
from api.deps import Clinical, Conn, CurrentStaff, Pages, client_addr
from api.errors import ApiError, not_found
from api.queries.patients import LIST_SQL, load_patient
from api.schemas.common import Page, Problem
from api.schemas.patients import (
    DischargeIn,
    PatientContextOut,
    PatientCreate,
    PatientOut,
    PatientUpdate,
)
from telehub.care import registration as registry
from telehub.domain.codes import PatientStatus
from telehub.errors import DuplicatePatientError

router = APIRouter(tags=["patients"], responses={401: {"model": Problem},
                                                 404: {"model": Problem}})

@router.get("/patients", response_model=Page[PatientOut], summary="List patients")
def list_patients(staff: Clinical, conn: Conn, pages: Pages, request: Request,
                  team_id: int | None = None, status: PatientStatus | None = None,
                  named_nurse_id: int | None = None,
                  q: Annotated[str | None, Query(max_length=120,
                                                 description="Name, display id or NHS number"
                                                 )] = None) -> Page[PatientOut]:
    """Patients of the caller's team (admins: any team, or all)."""
    if not staff.spans_teams:
        if team_id is not None and team_id != staff.team_id:
            raise not_found("team")
        team_id = staff.team_id
    rows = conn.execute(LIST_SQL, {"team": team_id, "status": status.value if status else None,
                                   "nurse": named_nurse_id, "q": q.strip() if q else None,
                                   "limit": pages.limit, "offset": pages.offset}).fetchall()
    audit(conn, staff, "list", "patients", None, client_addr(request),
          {"patient_ids": [r["id"] for r in rows]})
    conn.commit()
    return Page[PatientOut](items=[PatientOut.model_validate(r) for r in rows],
                            total=rows[0]["total"] if rows else 0,
                            limit=pages.limit, offset=pages.offset)


@router.post("/patients", response_model=PatientOut, status_code=201,
             summary="Register a patient", responses={422: {"model": Problem}})
def create_patient(body: PatientCreate, staff: Clinical, conn: Conn,
                   request: Request) -> PatientOut:
    """Register a patient in the caller's team (admins name the team)."""
    team = body.team_id if body.team_id is not None else staff.team_id
    if team is None:
        raise ApiError(422, "Say which team the patient belongs to (team_id).", "team-required")
    if not team_visible(staff, team) or not _exists(conn, "teams", team):
        raise not_found("team")
    _check_nurse(conn, body.named_nurse_id, team)
    if body.care_plan is not None:
        _check_care_plan(body.care_plan)
    try:
        pid = registry.add_patient(
            conn, nhs_number=body.nhs_number, given_name=body.given_name,
            family_name=body.family_name, birth_date=body.birth_date, team=team,
            conditions=body.conditions, care_plan=body.care_plan,
            address_line=body.address_line, postcode=body.postcode, phone=body.phone,
            named_nurse_id=body.named_nurse_id)
    except DuplicatePatientError as err:
        raise refuse_duplicate_registration(conn, staff, err, team,
                                            client_addr(request)) from None
    if body.on_home_oxygen:
        conn.execute("UPDATE patients SET on_home_oxygen = true WHERE id = %s", (pid,))
    audit(conn, staff, "create", "patient", pid, client_addr(request))
    row = load_patient(conn, pid)
    conn.commit()
    return PatientOut.model_validate(row)


@router.get("/patients/{patient_id}", response_model=PatientOut, summary="A patient's record")
def get_patient(patient_id: int, staff: Clinical, conn: Conn, request: Request) -> PatientOut:
    """A patient's full record (clinical staff of the patient's team)."""
    check_patient(conn, staff, patient_id)
    row = load_patient(conn, patient_id)
    audit(conn, staff, "read", "patient", patient_id, client_addr(request))
    conn.commit()
    return PatientOut.model_validate(row)


@router.get("/patients/{patient_id}/context", response_model=PatientContextOut,
            summary="What a responder needs for a visit")
def get_patient_context(patient_id: int, staff: CurrentStaff, conn: Conn,
                        request: Request) -> PatientContextOut:
    """Display id, address and key contact; responders only for alerts routed to them."""
    check_patient(conn, staff, patient_id, responder_ok=True)
    row = load_patient(conn, patient_id)
    audit(conn, staff, "read", "patient-context", patient_id, client_addr(request))
    conn.commit()
    return PatientContextOut.model_validate(row)


# Columns PATCH may set, and how each value is bound.
_SETTABLE = ("given_name", "family_name", "address_line", "postcode", "phone",
             "named_nurse_id", "conditions", "care_plan", "on_home_oxygen", "status",
             "paused_until")


@router.patch("/patients/{patient_id}", response_model=PatientOut,
              summary="Change a patient's details", responses={422: {"model": Problem}})
def update_patient(patient_id: int, body: PatientUpdate, staff: Clinical, conn: Conn,
                   request: Request) -> PatientOut:
    """Change the fields given; others stay. Discharge has its own route."""
    changes = body.model_dump(exclude_unset=True)
    team = check_patient(conn, staff, patient_id)
    current = load_patient(conn, patient_id)
    if current["status"] == PatientStatus.DISCHARGED:
        raise ApiError(409, "The patient is discharged; their record is read-only.",
                       "discharged")
    if "named_nurse_id" in changes:
        _check_nurse(conn, changes["named_nurse_id"], team)
    if "conditions" in changes:
        changes["conditions"] = registry.parse_conditions(changes["conditions"] or [])
    for required in ("given_name", "family_name", "conditions", "care_plan", "on_home_oxygen",
                     "status"):
        if required in changes and changes[required] is None:
            raise ApiError(422, f"{required} cannot be empty.", "invalid-request")
    if "care_plan" in changes:
        changes["care_plan"] = Jsonb(_check_care_plan(changes["care_plan"]))
    if changes:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k))
            for k in changes if k in _SETTABLE)
        query = sql.SQL("UPDATE patients SET {}, updated_at = now() WHERE id = {}").format(
            assignments, sql.Placeholder("patient_id"))
        try:
            conn.execute(query, {**changes, "patient_id": patient_id})
        except psycopg.errors.CheckViolation as err:
            raise ApiError(422, "A value is outside what the record allows.",
                           "invalid-value") from err
    audit(conn, staff, "update", "patient", patient_id, client_addr(request),
          {"fields": sorted(changes)})
    row = load_patient(conn, patient_id)
    conn.commit()
    return PatientOut.model_validate(row)


@router.post("/patients/{patient_id}/discharge", response_model=PatientOut,
             summary="Discharge a patient from monitoring")
def discharge_patient(patient_id: int, body: DischargeIn, staff: Clinical, conn: Conn,
                      request: Request) -> PatientOut:
    """Stop monitoring: rules and missing-reading alerts stop, devices are released,
    history (readings, alerts, audit) is kept."""
    check_patient(conn, staff, patient_id)
    row = conn.execute(
        "UPDATE patients SET status = 'discharged', discharged_at = now(), updated_at = now() "
        "WHERE id = %s AND status <> 'discharged' RETURNING id", (patient_id,)).fetchone()
    if row is None:
        raise ApiError(409, "The patient is already discharged.", "discharged")
    released = conn.execute("UPDATE devices SET patient_id = NULL WHERE patient_id = %s "
                            "RETURNING device_id", (patient_id,)).fetchall()
    audit(conn, staff, "discharge", "patient", patient_id, client_addr(request),
          {"reason": body.reason, "devices_released": [r["device_id"] for r in released]})
    out = load_patient(conn, patient_id)
    conn.commit()
    return PatientOut.model_validate(out)


def _exists(conn: Conn, table: str, row_id: int) -> bool:
    query = sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(sql.Identifier(table))
    return conn.execute(query, (row_id,)).fetchone() is not None


def _check_nurse(conn: Conn, nurse_id: int | None, team: int) -> None:
    if nurse_id is None:
        return
    row = conn.execute("SELECT 1 FROM staff WHERE id = %s AND team_id = %s AND active "
                       "AND role IN ('nurse', 'matron')", (nurse_id, team)).fetchone()
    if row is None:
        raise ApiError(422, "The named nurse must be an active nurse or matron of the "
                       "patient's team.", "bad-named-nurse")


def _check_care_plan(plan: dict[str, Any]) -> dict[str, Any]:
    from telehub.domain.units import parse_metric

    for metric, slot in plan.items():
        parse_metric(metric)
        per_day = slot.get("per_day") if isinstance(slot, dict) else None
        if not isinstance(per_day, int) or not 0 <= per_day <= 24:
            raise ApiError(422, f"care_plan.{metric}.per_day must be a whole number 0–24.",
                           "bad-care-plan")
    return plan
