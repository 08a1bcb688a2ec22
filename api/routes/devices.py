"""Devices: list, register, MQTT credentials (shown once), assign to and release from patients;
a device's sequence gaps and refused messages (admins)."""

from __future__ import annotations

import codecs
from typing import Any

from fastapi import APIRouter, Request

from api.access import audit, check_patient, team_visible
from api.deps import Admin, Clinical, Conn, DbConn, Pages, Staff, State, client_addr
from api.errors import ApiError, not_found
from api.schemas.common import Page, Problem, SpanTime
from api.schemas.devices import (
    DeviceAssign,
    DeviceCreate,
    DeviceCredentialsOut,
    DeviceOut,
    RejectedMessageOut,
    SeqGapOut,
)
from telehub.broker.access import issue_device_password
from telehub.care import registration as registry
from telehub.domain.codes import DeviceKind
from telehub.mqtt import topics

router = APIRouter(tags=["devices"], responses={401: {"model": Problem},
                                                404: {"model": Problem}})

COLUMNS = """d.id, d.device_id, d.kind::text AS kind, d.serial, d.patient_id,
 p.display_id AS patient_display_id, d.active, d.credential_hash IS NOT NULL AS has_credentials,
 d.online, d.status_at, d.last_seen_at, d.battery, d.firmware"""

# Clinical staff see their team's patients' devices and the unassigned stock.
LIST_SQL = f"""
SELECT {COLUMNS}, count(*) OVER () AS total
FROM devices d LEFT JOIN patients p ON p.id = d.patient_id
WHERE (%(team)s::bigint IS NULL OR p.team_id = %(team)s OR d.patient_id IS NULL)
  AND (%(patient)s::bigint IS NULL OR d.patient_id = %(patient)s)
  AND (%(kind)s::device_kind IS NULL OR d.kind = %(kind)s)
  AND (%(unassigned)s::boolean IS NULL OR (d.patient_id IS NULL) = %(unassigned)s)
ORDER BY d.device_id
LIMIT %(limit)s OFFSET %(offset)s
"""  # noqa: S608 (constant columns; every value is bound)

ONE_SQL = f"""SELECT {COLUMNS}, p.team_id FROM devices d
LEFT JOIN patients p ON p.id = d.patient_id WHERE d.device_id = %s
"""  # noqa: S608 (constant columns)

GAPS_SQL = """
SELECT g.id, g.expected_seq, g.received_seq, g.missing, g.detected_at,
       count(*) OVER () AS total
FROM device_seq_gaps g
WHERE g.device_id = %(device)s
  AND (%(since)s::timestamptz IS NULL OR g.detected_at >= %(since)s)
ORDER BY g.detected_at DESC, g.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

# Only the head of each payload leaves the database (payloads are kept up to 8 KiB).
REJECTED_SQL = """
SELECT m.id, m.received_at, m.topic, m.reason_code, m.reason, m.item_index, m.payload_size,
       substring(m.payload FROM 1 FOR %(head)s) AS head, count(*) OVER () AS total
FROM rejected_messages m
WHERE m.device_id = %(device)s
  AND (%(since)s::timestamptz IS NULL OR m.received_at >= %(since)s)
ORDER BY m.received_at DESC, m.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""

ANY_REJECTED_SQL = "SELECT 1 FROM rejected_messages WHERE device_id = %s LIMIT 1"

# Bytes of a refused payload shown in a list (enough to see what the device sent).
PREVIEW_BYTES = 240


def load_device(conn: DbConn, staff: Staff, device_id: str) -> dict[str, Any]:
    """A device the caller may see (their team's or unassigned), else a 404."""
    row = conn.execute(ONE_SQL, (device_id,)).fetchone()
    if row is None or (row["patient_id"] is not None and not team_visible(staff,
                                                                           row["team_id"])):
        raise not_found("device")
    return dict(row)


@router.get("/devices", response_model=Page[DeviceOut], summary="List devices")
def list_devices(staff: Clinical, conn: Conn, pages: Pages, patient_id: int | None = None,
                 kind: DeviceKind | None = None,
                 unassigned: bool | None = None) -> Page[DeviceOut]:
    """Devices of the caller's team's patients and the unassigned stock (admins: all)."""
    rows = conn.execute(LIST_SQL, {
        "team": None if staff.spans_teams else staff.team_id, "patient": patient_id,
        "kind": kind.value if kind else None, "unassigned": unassigned,
        "limit": pages.limit, "offset": pages.offset}).fetchall()
    return Page[DeviceOut](items=[DeviceOut.model_validate(r) for r in rows],
                           total=rows[0]["total"] if rows else 0, limit=pages.limit,
                           offset=pages.offset)


@router.get("/devices/{device_id}", response_model=DeviceOut, summary="One device")
def get_device(device_id: str, staff: Clinical, conn: Conn) -> DeviceOut:
    """A device and its last known state."""
    return DeviceOut.model_validate(load_device(conn, staff, device_id))


@router.post("/devices", response_model=DeviceOut, status_code=201,
             summary="Register a device", responses={422: {"model": Problem}})
def create_device(body: DeviceCreate, staff: Admin, conn: Conn, request: Request) -> DeviceOut:
    """Register a device (admins), optionally assigned to a patient straight away."""
    if body.patient_id is not None:
        check_patient(conn, staff, body.patient_id)
    registry.add_device(conn, device_id=body.device_id, kind=body.kind.value,
                        patient=body.patient_id, serial=body.serial)
    audit(conn, staff, "register", "device", body.patient_id, client_addr(request),
          {"target": body.device_id, "kind": body.kind.value})
    if body.patient_id is not None:
        audit(conn, staff, "assign-device", "patient", body.patient_id, client_addr(request),
              {"device_id": body.device_id})
    out = load_device(conn, staff, body.device_id)
    conn.commit()
    return DeviceOut.model_validate(out)


@router.post("/devices/{device_id}/credentials", response_model=DeviceCredentialsOut,
             summary="Issue MQTT credentials (shown once)")
def issue_credentials(device_id: str, staff: Admin, conn: Conn, state: State,
                      request: Request) -> DeviceCredentialsOut:
    """Generate a new MQTT password for the device, store only its hash, and show it this
    once. Any earlier password stops working when the broker's users are regenerated."""
    device = load_device(conn, staff, device_id)
    issued = issue_device_password(conn, device_id)
    audit(conn, staff, "issue-credentials", "device", device["patient_id"],
          client_addr(request), {"target": device_id, "replaced": issued.replaced})
    conn.commit()
    root = state.settings.topic_root
    return DeviceCredentialsOut(device_id=device_id, username=device_id,
                                password=issued.password,
                                readings_topic=topics.readings_topic(device_id, root),
                                status_topic=topics.status_topic(device_id, root))


@router.post("/devices/{device_id}/assign", response_model=DeviceOut,
             summary="Give a device to a patient", responses={409: {"model": Problem}})
def assign_device(device_id: str, body: DeviceAssign, staff: Clinical, conn: Conn,
                  request: Request) -> DeviceOut:
    """Assign an unassigned device to a patient of the caller's team."""
    device = load_device(conn, staff, device_id)
    check_patient(conn, staff, body.patient_id)
    status = conn.execute("SELECT status::text AS status FROM patients WHERE id = %s",
                          (body.patient_id,)).fetchone()
    if status is not None and status["status"] == "discharged":
        raise ApiError(409, "The patient is discharged.", "discharged")
    if device["patient_id"] == body.patient_id:
        return DeviceOut.model_validate(device)
    if device["patient_id"] is not None:
        raise ApiError(409, "The device belongs to another patient; release it first.",
                       "device-in-use")
    conn.execute("UPDATE devices SET patient_id = %s WHERE device_id = %s",
                 (body.patient_id, device_id))
    audit(conn, staff, "assign-device", "patient", body.patient_id, client_addr(request),
          {"device_id": device_id})
    out = load_device(conn, staff, device_id)
    conn.commit()
    return DeviceOut.model_validate(out)


@router.post("/devices/{device_id}/unassign", response_model=DeviceOut,
             summary="Release a device from its patient")
def unassign_device(device_id: str, staff: Clinical, conn: Conn, request: Request) -> DeviceOut:
    """Release the device (readings it sent stay with the patient)."""
    device = load_device(conn, staff, device_id)
    if device["patient_id"] is not None:
        conn.execute("UPDATE devices SET patient_id = NULL WHERE device_id = %s", (device_id,))
        audit(conn, staff, "release-device", "patient", device["patient_id"],
              client_addr(request), {"device_id": device_id})
    out = load_device(conn, staff, device_id)
    conn.commit()
    return DeviceOut.model_validate(out)


@router.get("/devices/{device_id}/gaps", response_model=Page[SeqGapOut],
            summary="A device's sequence gaps (admins)", responses={403: {"model": Problem}})
def device_gaps(device_id: str, staff: Admin, conn: Conn, pages: Pages, request: Request,
                since: SpanTime | None = None) -> Page[SeqGapOut]:
    """Where the device's message counter skipped (messages that never arrived), newest
    first; `since` keeps those detected from then on."""
    device = load_device(conn, staff, device_id)
    rows = conn.execute(GAPS_SQL, {"device": device["id"], "since": since,
                                   "limit": pages.limit, "offset": pages.offset}).fetchall()
    audit(conn, staff, "read", "device-gaps", device["patient_id"], client_addr(request),
          {"device_id": device_id})
    conn.commit()
    return Page[SeqGapOut](items=[SeqGapOut.model_validate(r) for r in rows],
                           total=rows[0]["total"] if rows else 0, limit=pages.limit,
                           offset=pages.offset)


@router.get("/devices/{device_id}/rejected", response_model=Page[RejectedMessageOut],
            summary="Messages refused from a device (admins)",
            responses={403: {"model": Problem}})
def device_rejected(device_id: str, staff: Admin, conn: Conn, pages: Pages, request: Request,
                    since: SpanTime | None = None) -> Page[RejectedMessageOut]:
    """Messages the hub refused from this device id, newest first, with the reason and the
    start of what was sent. An unregistered device id is answered too while the hub has
    refused messages from it (that is how an unknown device shows up); else 404."""
    row = conn.execute(ONE_SQL, (device_id,)).fetchone()
    if row is None and conn.execute(ANY_REJECTED_SQL, (device_id,)).fetchone() is None:
        raise not_found("device")
    rows = conn.execute(REJECTED_SQL, {"device": device_id, "since": since,
                                       "head": PREVIEW_BYTES, "limit": pages.limit,
                                       "offset": pages.offset}).fetchall()
    audit(conn, staff, "read", "device-rejections", row["patient_id"] if row else None,
          client_addr(request), {"device_id": device_id})
    conn.commit()
    return Page[RejectedMessageOut](items=[_rejected(r) for r in rows],
                                    total=rows[0]["total"] if rows else 0, limit=pages.limit,
                                    offset=pages.offset)


def _rejected(r: dict[str, Any]) -> RejectedMessageOut:
    """A refused message with its payload's head as readable text."""
    head: bytes = r["head"] or b""
    truncated = r["payload_size"] > len(head)
    return RejectedMessageOut(
        id=r["id"], received_at=r["received_at"], topic=r["topic"],
        reason_code=r["reason_code"], reason=r["reason"], item_index=r["item_index"],
        payload_size=r["payload_size"], payload_preview=payload_preview(head, cut=truncated),
        preview_truncated=truncated)


def payload_preview(head: bytes, *, cut: bool) -> str:
    """Bytes as text for a person: UTF-8, anything undecodable or unprintable shown as
    U+FFFD (when `cut`, a character split by the cut is dropped, not flagged)."""
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(head, final=not cut)
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)
