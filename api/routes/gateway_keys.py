"""`PUT|GET|DELETE /devices/{device_id}/gateway-key`: the key a health gateway names the
device's patient by (a PHD IG Patient.identifier that is not the NHS number).

A FHIR upload whose Patient carries this key is taken as the device's patient. The key is
stored with the patient the device is assigned to now and counts only while it stays
assigned to them (api.device_auth), so a reassigned device never carries a key across.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.access import audit, check_patient
from api.deps import Clinical, Conn, DbConn, Staff, client_addr
from api.errors import ApiError, not_found
from api.schemas.common import Problem
from api.schemas.gateway_keys import GatewayKeyIn, GatewayKeyOut

router = APIRouter(tags=["devices"], responses={404: {"model": Problem}})

DEVICE_SQL = "SELECT id, device_id, patient_id FROM devices WHERE device_id = %s"
UPSERT_SQL = """
INSERT INTO device_gateway_keys (device_id, patient_id, system, value, set_by)
VALUES (%(device)s, %(patient)s, %(system)s, %(value)s, %(staff)s)
ON CONFLICT (device_id) DO UPDATE
   SET patient_id = EXCLUDED.patient_id, system = EXCLUDED.system, value = EXCLUDED.value,
       set_by = EXCLUDED.set_by, set_at = now()
RETURNING set_at
"""
KEY_SQL = """
SELECT d.device_id, k.patient_id, k.system, k.value, k.set_at
  FROM device_gateway_keys k JOIN devices d ON d.id = k.device_id AND d.patient_id = k.patient_id
 WHERE k.device_id = %s
"""


def _assigned_device(conn: DbConn, staff: Staff, device_id: str) -> dict[str, Any]:
    """The device, assigned to a patient the caller may see; else 404 or 409."""
    row = conn.execute(DEVICE_SQL, (device_id,)).fetchone()
    if row is None:
        raise not_found("device")
    if row["patient_id"] is None:
        raise ApiError(409, "The device is not assigned to a patient.", "unassigned-device")
    check_patient(conn, staff, row["patient_id"])
    return dict(row)


@router.put("/devices/{device_id}/gateway-key", response_model=GatewayKeyOut,
            summary="Map a health gateway's patient key to the device",
            responses={409: {"model": Problem}})
def put_gateway_key(device_id: str, body: GatewayKeyIn, staff: Clinical, conn: Conn,
                    request: Request) -> GatewayKeyOut:
    """Set (or replace) the key; it names the patient the device is assigned to now."""
    device = _assigned_device(conn, staff, device_id)
    row = conn.execute(UPSERT_SQL, {"device": device["id"], "patient": device["patient_id"],
                                    "system": body.system, "value": body.value,
                                    "staff": staff.id}).fetchone()
    assert row is not None
    audit(conn, staff, "set-gateway-key", "patient", device["patient_id"], client_addr(request),
          {"device_id": device_id})
    conn.commit()
    return GatewayKeyOut(device_id=device_id, patient_id=device["patient_id"],
                         system=body.system, value=body.value, set_at=row["set_at"])


@router.get("/devices/{device_id}/gateway-key", response_model=GatewayKeyOut,
            summary="The health gateway's patient key of the device",
            responses={409: {"model": Problem}})
def get_gateway_key(device_id: str, staff: Clinical, conn: Conn) -> GatewayKeyOut:
    """The key, while the device is still assigned to the patient it was set for."""
    device = _assigned_device(conn, staff, device_id)
    row = conn.execute(KEY_SQL, (device["id"],)).fetchone()
    if row is None:
        raise not_found("gateway key")
    return GatewayKeyOut.model_validate(row)


@router.delete("/devices/{device_id}/gateway-key", status_code=204,
               summary="Remove the health gateway's patient key of the device")
def delete_gateway_key(device_id: str, staff: Clinical, conn: Conn,
                       request: Request) -> Response:
    """Forget the key (uploads must then name the patient by NHS number or Telehub key)."""
    device = _assigned_device(conn, staff, device_id)
    conn.execute("DELETE FROM device_gateway_keys WHERE device_id = %s", (device["id"],))
    audit(conn, staff, "remove-gateway-key", "patient", device["patient_id"],
          client_addr(request), {"device_id": device_id})
    conn.commit()
    return Response(status_code=204)
