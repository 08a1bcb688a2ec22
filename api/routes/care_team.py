"""Care-team routes: the people around the patient (GP, coordinator, access) and contacts."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.access import audit, check_patient
from api.deps import Clinical, Conn, Zone, client_addr
from api.errors import ApiError, not_found
from api.queries.care_plans import load_care_team
from api.schemas.care_team import CareTeamIn, CareTeamOut, ContactIn, ContactOut
from api.schemas.common import Problem
from telehub.care import team as team_records
from telehub.domain import clock

router = APIRouter(tags=["care"], responses={401: {"model": Problem},
                                                  404: {"model": Problem}})




@router.get("/patients/{patient_id}/care-team", response_model=CareTeamOut,
            summary="The people around the patient")
def get_care_team(patient_id: int, staff: Clinical, conn: Conn, request: Request) -> CareTeamOut:
    """GP, care coordinator, single point of access, access notes, advance decisions,
    consent and enrolment criteria."""
    check_patient(conn, staff, patient_id)
    out = CareTeamOut.model_validate(load_care_team(conn, patient_id))
    audit(conn, staff, "read", "care-team", patient_id, client_addr(request))
    conn.commit()
    return out


@router.put("/patients/{patient_id}/care-team", response_model=CareTeamOut,
            summary="Record the people around the patient", responses={422: {"model": Problem}})
def put_care_team(patient_id: int, body: CareTeamIn, staff: Clinical, conn: Conn,
                  zone: Zone, request: Request) -> CareTeamOut:
    """Replace the care-team record (consent needs its date and who took it)."""
    team = check_patient(conn, staff, patient_id)
    if body.coordinator_id is not None and conn.execute(
            "SELECT 1 FROM staff WHERE id = %s AND active AND team_id = %s",
            (body.coordinator_id, team)).fetchone() is None:
        raise ApiError(422, "The care coordinator must be an active member of the patient's "
                       "team.", "bad-coordinator")
    consent_given = body.consent_monitoring is not None or body.consent_sharing is not None
    if consent_given and (body.consent_on is None or not body.consent_taken_by):
        raise ApiError(422, "Record consent with its date (consent_on) and who took it "
                       "(consent_taken_by).", "consent-incomplete")
    if body.consent_on is not None and body.consent_on > clock.today(zone):
        raise ApiError(422, "consent_on is in the future.", "bad-consent-date")
    team_records.save_care_team(conn, patient_id, body.model_dump(), staff.username)
    audit(conn, staff, "update", "care-team", patient_id, client_addr(request),
          {"fields": sorted(body.model_dump(exclude_unset=True))})
    out = CareTeamOut.model_validate(load_care_team(conn, patient_id))
    conn.commit()
    return out


@router.get("/patients/{patient_id}/contacts", response_model=list[ContactOut],
            summary="Carers and next of kin")
def list_contacts(patient_id: int, staff: Clinical, conn: Conn, request: Request,
                  include_removed: bool = False) -> list[ContactOut]:
    """The patient's carers and next of kin (current ones unless asked)."""
    check_patient(conn, staff, patient_id)
    rows = conn.execute(f"SELECT {team_records.CONTACT_COLUMNS} FROM patient_contacts "  # noqa: S608
                        "WHERE patient_id = %s AND (%s OR removed_at IS NULL) ORDER BY id",
                        (patient_id, include_removed)).fetchall()
    audit(conn, staff, "read", "contacts", patient_id, client_addr(request))
    conn.commit()
    return [ContactOut.model_validate(r) for r in rows]


@router.post("/patients/{patient_id}/contacts", response_model=ContactOut, status_code=201,
             summary="Add a carer or next of kin", responses={422: {"model": Problem}})
def add_contact(patient_id: int, body: ContactIn, staff: Clinical, conn: Conn,
                request: Request) -> ContactOut:
    """Add a carer or next of kin, with whether they want alert notifications."""
    check_patient(conn, staff, patient_id)
    row = team_records.add_contact(conn, patient_id, body.model_dump())
    audit(conn, staff, "create", "contact", patient_id, client_addr(request),
          {"contact_id": row["id"]})
    conn.commit()
    return ContactOut.model_validate(row)


@router.put("/patients/{patient_id}/contacts/{contact_id}", response_model=ContactOut,
            summary="Change a carer or next of kin", responses={422: {"model": Problem}})
def update_contact(patient_id: int, contact_id: int, body: ContactIn, staff: Clinical,
                   conn: Conn, request: Request) -> ContactOut:
    """Replace a contact's details."""
    check_patient(conn, staff, patient_id)
    row = team_records.update_contact(conn, patient_id, contact_id, body.model_dump())
    if row is None:
        raise not_found("contact")
    audit(conn, staff, "update", "contact", patient_id, client_addr(request),
          {"contact_id": contact_id})
    conn.commit()
    return ContactOut.model_validate(row)


@router.post("/patients/{patient_id}/contacts/{contact_id}/remove", response_model=ContactOut,
             summary="Remove a carer or next of kin (kept as history)")
def remove_contact(patient_id: int, contact_id: int, staff: Clinical, conn: Conn,
                   request: Request) -> ContactOut:
    """Mark a contact removed; the record stays."""
    check_patient(conn, staff, patient_id)
    row = team_records.remove_contact(conn, patient_id, contact_id)
    if row is None:
        raise not_found("contact")
    audit(conn, staff, "remove", "contact", patient_id, client_addr(request),
          {"contact_id": contact_id})
    conn.commit()
    return ContactOut.model_validate(row)

