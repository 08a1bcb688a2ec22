"""`GET/PUT /patients/{id}/thresholds` and their history: rules as they apply to a patient,
individual overrides, permanent or temporary."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from alerts.thresholds import (
    set_threshold,
    temporary_end,
    threshold_history,
    thresholds_for_patient,
)
from api.access import audit, check_patient
from api.deps import Clinical, Conn, DbConn, Zone, client_addr
from api.schemas.common import Problem
from api.schemas.thresholds import ThresholdHistoryOut, ThresholdIn, ThresholdOut, ThresholdsOut
from telehub.domain import clock

router = APIRouter(tags=["thresholds"], responses={401: {"model": Problem},
                                                   404: {"model": Problem}})


def _out(item: dict[str, Any]) -> ThresholdOut:
    shown = item.get("shown") or {}
    return ThresholdOut(
        rule_id=item["id"], params=item.get("effective") or {}, default=item.get("default") or {},
        units=item.get("units") or {}, shown=shown.get("effective") or "",
        default_shown=shown.get("default") or "", override_shown=shown.get("individual"),
        entry=item.get("entry") or {},
        individual=item.get("individual") is not None, override=item.get("individual"),
        episode=item.get("episode"), severity=item.get("severity"),
        applies=item.get("applies", True), reason=item.get("reason"),
        set_by_name=item.get("set_by_name"), set_at=item.get("set_at"),
        until=item.get("ends_at"), after=item.get("permanent"))


def _load(conn: DbConn, patient_id: int) -> ThresholdsOut:
    items = thresholds_for_patient(conn, patient_id)
    return ThresholdsOut(patient_id=patient_id, thresholds=[_out(i) for i in items])


@router.get("/patients/{patient_id}/thresholds", response_model=ThresholdsOut,
            summary="Rules and individual thresholds for a patient")
def get_thresholds(patient_id: int, staff: Clinical, conn: Conn,
                   request: Request) -> ThresholdsOut:
    """Every rule: the catalogue default, any individual override (who, when, why), the
    effective parameters, and whether it applies to this patient."""
    check_patient(conn, staff, patient_id)
    out = _load(conn, patient_id)
    audit(conn, staff, "read", "thresholds", patient_id, client_addr(request))
    conn.commit()
    return out


@router.put("/patients/{patient_id}/thresholds", response_model=ThresholdsOut,
            summary="Set an individual threshold", responses={422: {"model": Problem}})
def put_threshold(patient_id: int, body: ThresholdIn, staff: Clinical, conn: Conn,
                  request: Request, zone: Zone) -> ThresholdsOut:
    """Override one rule's parameters for this patient, with the clinical reason (checked
    against the catalogue; a glucose limit comes with its unit and is stored in the unit the
    rule compares in; earlier overrides stay as history). With `until` the override is
    temporary and reverts by itself at its end."""
    check_patient(conn, staff, patient_id)
    params = body.values()
    ends_at = temporary_end(body.until, clock.now(), zone) if body.until else None
    set_threshold(conn, patient_id, body.rule_id, params, body.reason,
                  set_by_name=staff.display_name, set_by=staff.id, ends_at=ends_at)
    audit(conn, staff, "update", "thresholds", patient_id, client_addr(request),
          {"rule_id": body.rule_id, "params": params,
           "until": ends_at.isoformat() if ends_at else None})
    out = _load(conn, patient_id)
    conn.commit()
    return out


@router.get("/patients/{patient_id}/thresholds/history",
            response_model=list[ThresholdHistoryOut],
            summary="Every individual threshold set for a patient")
def get_threshold_history(patient_id: int, staff: Clinical, conn: Conn,
                          request: Request) -> list[ThresholdHistoryOut]:
    """Newest first, with who set each, why, when, until when (temporary ones) and whether it
    is in force, ended or superseded."""
    check_patient(conn, staff, patient_id)
    rows = threshold_history(conn, patient_id)
    audit(conn, staff, "read", "threshold-history", patient_id, client_addr(request))
    conn.commit()
    return [ThresholdHistoryOut.model_validate(r) for r in rows]
