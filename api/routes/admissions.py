"""Admission routes: emergency admissions and A&E attendances, their discharge and review."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, Request

from api.access import audit, check_patient
from api.deps import Clinical, Conn, DbConn, Staff, Zone, client_addr
from api.errors import ApiError, not_found
from api.imports import CsvBody, RowConflict, import_rows
from api.schemas.admissions import DischargeEpisodeIn, EpisodeIn, EpisodeOut, EpisodeReviewIn
from api.schemas.common import ImportResultOut, Problem
from telehub.care import episodes
from telehub.care.episodes import EpisodeRow, parse_episode_csv
from telehub.domain import clock

router = APIRouter(tags=["outcomes"], responses={401: {"model": Problem},
                                              404: {"model": Problem}})


EPISODE_COLUMNS = """e.id, e.patient_id, e.kind, e.started_on, e.discharged_on, e.hospital,
 e.reason, e.source, e.recorded_by, e.avoidable, e.would_have_helped, e.reviewed_by,
 e.reviewed_at,
 (SELECT count(*) FROM alerts a WHERE a.patient_id = e.patient_id
    AND a.severity IN ('amber', 'red')
    AND (a.first_breach_at AT TIME ZONE %(zone)s)::date BETWEEN e.started_on - 14 AND e.started_on
 )::int AS alerts_before"""
EPISODE_SQL = (f"SELECT {EPISODE_COLUMNS} FROM hospital_episodes e "  # noqa: S608
               "WHERE e.id = %(id)s")
@router.get("/patients/{patient_id}/admissions", response_model=list[EpisodeOut],
            summary="A patient's admissions and A&E attendances")
def list_episodes(patient_id: int, staff: Clinical, conn: Conn, zone: Zone,
                  request: Request) -> list[EpisodeOut]:
    """Newest first, each with its review and the alerts in the 14 days before it."""
    check_patient(conn, staff, patient_id)
    rows = conn.execute(f"SELECT {EPISODE_COLUMNS} FROM hospital_episodes e "  # noqa: S608
                        "WHERE e.patient_id = %(pid)s ORDER BY e.started_on DESC, e.id DESC",
                        {"pid": patient_id, "zone": zone.key}).fetchall()
    audit(conn, staff, "read", "admissions", patient_id, client_addr(request))
    conn.commit()
    return [EpisodeOut.model_validate(r) for r in rows]


@router.post("/patients/{patient_id}/admissions", response_model=EpisodeOut, status_code=201,
             summary="Record an admission or A&E attendance",
             responses={409: {"model": Problem}, 422: {"model": Problem}})
def add_episode(patient_id: int, body: EpisodeIn, staff: Clinical, conn: Conn, zone: Zone,
                request: Request) -> EpisodeOut:
    """Record by hand; a discharge date creates the follow-up task."""
    check_patient(conn, staff, patient_id)
    today = clock.today(zone)
    if body.started_on > today or (body.discharged_on and body.discharged_on > today):
        raise ApiError(422, "A date is in the future.", "future-date")
    if body.discharged_on and body.discharged_on < body.started_on:
        raise ApiError(422, "discharged_on is before started_on.", "bad-discharged-on")
    if conn.execute("SELECT 1 FROM hospital_episodes WHERE patient_id = %s AND kind = %s AND "
                    "started_on = %s", (patient_id, body.kind.value, body.started_on)
                    ).fetchone() is not None:
        raise ApiError(409, "This episode is already recorded.", "duplicate-episode")
    episode_id, _ = episodes.record_episode(
        conn, patient_id, body.kind.value, body.started_on, body.discharged_on, body.hospital,
        body.reason, source="manual", who=staff.username)
    audit(conn, staff, "create", "admission", patient_id, client_addr(request),
          {"episode_id": episode_id})
    out = conn.execute(EPISODE_SQL, {"id": episode_id, "zone": zone.key}).fetchone()
    conn.commit()
    return EpisodeOut.model_validate(out)


def _episode(conn: DbConn, staff: Staff, episode_id: int, zone: ZoneInfo) -> dict[str, Any]:
    row = conn.execute(EPISODE_SQL, {"id": episode_id, "zone": zone.key}).fetchone()
    if row is None:
        raise not_found("admission")
    check_patient(conn, staff, row["patient_id"])
    return dict(row)


@router.post("/admissions/{episode_id}/discharge", response_model=EpisodeOut,
             summary="Record the discharge (and create the follow-up task)",
             responses={422: {"model": Problem}})
def discharge_episode(episode_id: int, body: DischargeEpisodeIn, staff: Clinical, conn: Conn,
                      zone: Zone, request: Request) -> EpisodeOut:
    """Set the discharge date; the follow-up task falls due `follow_up_days` later."""
    episode = _episode(conn, staff, episode_id, zone)
    if body.discharged_on < episode["started_on"] or body.discharged_on > clock.today(zone):
        raise ApiError(422, "The discharge date must be between the start and today.",
                       "bad-discharged-on")
    episodes.discharge(conn, episode, body.discharged_on, body.follow_up_days)
    audit(conn, staff, "discharge", "admission", episode["patient_id"], client_addr(request),
          {"episode_id": episode_id})
    out = conn.execute(EPISODE_SQL, {"id": episode_id, "zone": zone.key}).fetchone()
    conn.commit()
    return EpisodeOut.model_validate(out)


@router.post("/admissions/{episode_id}/review", response_model=EpisodeOut,
             summary="The post-admission review")
def review_episode(episode_id: int, body: EpisodeReviewIn, staff: Clinical, conn: Conn, zone: Zone,
                   request: Request) -> EpisodeOut:
    """Was it avoidable, and what would have helped."""
    episode = _episode(conn, staff, episode_id, zone)
    episodes.review(conn, episode_id, body.avoidable.value, body.would_have_helped,
                    staff.username)
    audit(conn, staff, "review", "admission", episode["patient_id"], client_addr(request),
          {"episode_id": episode_id})
    out = conn.execute(EPISODE_SQL, {"id": episode_id, "zone": zone.key}).fetchone()
    conn.commit()
    return EpisodeOut.model_validate(out)


@router.post("/admissions/import", response_model=ImportResultOut,
             summary="Import admissions and A&E attendances (CSV)",
             responses={422: {"model": Problem}},
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {
                 "type": "string"}}}, "required": True}})
def import_episodes(text: CsvBody, staff: Clinical, conn: Conn, zone: Zone,
                    request: Request) -> ImportResultOut:
    """`nhs_number,kind,started_on,discharged_on,hospital,reason` per row; refused rows are
    listed with the reason, good rows kept; re-importing is harmless."""
    good, bad = parse_episode_csv(text, today=clock.today(zone))

    def store(pid: int, r: EpisodeRow) -> bool:
        try:
            with conn.transaction():
                _, changed = episodes.record_episode(
                    conn, pid, r.kind, r.started_on, r.discharged_on, r.hospital, r.reason,
                    source="import", who=staff.username)
        except psycopg.errors.CheckViolation as err:
            raise RowConflict("conflicts-with-record", "The row contradicts the recorded "
                              "episode (e.g. a discharge before its start).") from err
        return changed is not None

    return import_rows(conn, staff, request, "admissions", good, bad, store)

