"""Risk-tier routes: import a risk-stratification export (CSV) and read a patient's scores."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.access import audit, check_patient
from api.deps import Clinical, Conn, Zone, client_addr
from api.imports import CsvBody, import_rows
from api.schemas.common import ImportResultOut, Problem
from api.schemas.risk import RiskScoreOut
from telehub.care.risk import RiskRow, parse_risk_csv, store_risk_score
from telehub.domain import clock

router = APIRouter(tags=["care"], responses={401: {"model": Problem},
                                              404: {"model": Problem}})


@router.post("/risk-tiers", response_model=ImportResultOut, summary="Import risk scores (CSV)",
             responses={422: {"model": Problem}},
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {
                 "type": "string"}}}, "required": True}})
def import_risk_tiers(text: CsvBody, request: Request, staff: Clinical,
                      conn: Conn, zone: Zone) -> ImportResultOut:
    """Import a risk-stratification tool's export: `nhs_number,score,tier,date` per row.
    Refused rows are listed with the reason; good rows are kept; re-importing is harmless."""
    good, bad = parse_risk_csv(text, today=clock.today(zone))

    def store(pid: int, r: RiskRow) -> bool:
        return store_risk_score(conn, pid, r.score, r.tier, r.scored_on, staff.username)

    return import_rows(conn, staff, request, "risk-scores", good, bad, store)


@router.get("/patients/{patient_id}/risk", response_model=list[RiskScoreOut],
            summary="A patient's risk scores, newest first")
def patient_risk(patient_id: int, staff: Clinical, conn: Conn,
                 request: Request) -> list[RiskScoreOut]:
    """Every imported score and tier of the patient."""
    check_patient(conn, staff, patient_id)
    rows = conn.execute("SELECT score, tier, scored_on, imported_at, imported_by FROM "
                        "risk_scores WHERE patient_id = %s ORDER BY scored_on DESC",
                        (patient_id,)).fetchall()
    audit(conn, staff, "read", "risk-scores", patient_id, client_addr(request))
    conn.commit()
    return [RiskScoreOut.model_validate(r) for r in rows]

