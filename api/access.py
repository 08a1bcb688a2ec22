"""Who may see which team, patient and alert (every role, every route), and the API's audit rows."""

from __future__ import annotations

from typing import Any

from api.deps import DbConn, Staff
from api.errors import ApiError, not_found
from telehub.care.audit import record_audit
from telehub.domain.codes import Role
from telehub.errors import DuplicatePatientError

# The teams a responder covers: those listed for them, else their own team, else every team.
COVERED_SQL = """
SELECT coalesce((SELECT array_agg(team_id) FROM responder_coverage WHERE staff_id = %(staff)s),
                CASE WHEN %(team)s::bigint IS NULL THEN NULL ELSE ARRAY[%(team)s::bigint] END)
       AS teams
"""
# Who sees an alert (bound with `alert_scope`): clinical staff, the alerts of their team;
# admins, every alert; a responder, the alerts routed to responders (red or escalated) and
# those assigned to them, in the teams they cover; managers none (they get team statistics).
ALERT_VISIBLE_SQL = """(
    %(sees_alerts)s
    AND (%(teams)s::bigint[] IS NULL OR a.team_id = ANY(%(teams)s))
    AND (NOT %(responder)s OR a.severity = 'red' OR a.escalated OR a.assignee_id = %(staff)s)
)"""
# A responder sees a patient only through an alert routed to them: an active alert that
# is red, escalated, or assigned to them.
RESPONDER_PATIENT_SQL = """
SELECT 1 FROM alerts a
WHERE a.patient_id = %(patient)s AND a.status <> 'resolved'
  AND (a.severity = 'red' OR a.escalated OR a.assignee_id = %(staff)s)
LIMIT 1
"""


def patient_team(conn: DbConn, patient_id: int) -> int | None:
    """The patient's team id, or None when there is no such patient."""
    row = conn.execute("SELECT team_id FROM patients WHERE id = %s", (patient_id,)).fetchone()
    return None if row is None else int(row["team_id"])


def team_visible(staff: Staff, team_id: int | None) -> bool:
    """True when `staff` may see records of team `team_id`."""
    return team_id is not None and (staff.spans_teams or staff.team_id == team_id)


def covered_teams(conn: DbConn, staff: Staff) -> list[int] | None:
    """The team ids a responder covers; None means every team."""
    row = conn.execute(COVERED_SQL, {"staff": staff.id, "team": staff.team_id}).fetchone()
    assert row is not None
    return None if row["teams"] is None else [int(t) for t in row["teams"]]


def visible_teams(conn: DbConn, staff: Staff) -> list[int] | None:
    """The teams whose patients and alerts `staff` may see; None means every team."""
    if staff.role == Role.ADMIN:
        return None
    if staff.role == Role.RESPONDER:
        return covered_teams(conn, staff)
    return None if staff.team_id is None else [staff.team_id]


def alert_scope(conn: DbConn, staff: Staff) -> dict[str, Any]:
    """The parameters `ALERT_VISIBLE_SQL` needs to decide which alerts `staff` sees."""
    return {"sees_alerts": staff.role != Role.MANAGER, "teams": visible_teams(conn, staff),
            "responder": staff.role == Role.RESPONDER, "staff": staff.id}


def check_patient(conn: DbConn, staff: Staff, patient_id: int, *,
                  responder_ok: bool = False) -> int:
    """The patient's team id when `staff` may see the patient; else a 404 (never a 403)."""
    team = patient_team(conn, patient_id)
    if team is None:
        raise not_found("patient")
    if staff.role in (Role.ADMIN, Role.MATRON, Role.NURSE) and team_visible(staff, team):
        return team
    if responder_ok and staff.role == Role.RESPONDER and _covers(conn, staff, team):
        hit = conn.execute(RESPONDER_PATIENT_SQL, {"patient": patient_id, "staff": staff.id})
        if hit.fetchone() is not None:
            return team
    raise not_found("patient")


def _covers(conn: DbConn, staff: Staff, team_id: int) -> bool:
    teams = visible_teams(conn, staff)
    return teams is None or team_id in teams


def check_team(conn: DbConn, staff: Staff, team_id: int) -> None:
    """A 404 unless `staff` may see team `team_id`: their own team (admins every team), or
    for a responder the teams they cover."""
    if staff.role == Role.RESPONDER:
        if not _covers(conn, staff, team_id):
            raise not_found("team")
    elif not team_visible(staff, team_id):
        raise not_found("team")


def audit(conn: DbConn, staff: Staff | None, action: str, resource: str,
          patient_id: int | None, addr: str | None, detail: dict[str, Any] | None = None,
          actor: str | None = None) -> None:
    """Record who did what to which patient's record (in the caller's transaction)."""
    record_audit(conn, actor=actor or (staff.username if staff else "system"), action=action,
                 resource=resource, staff_id=staff.id if staff else None,
                 patient_id=patient_id, detail=detail, client_addr=addr)


def refuse_duplicate_registration(conn: DbConn, staff: Staff, err: DuplicatePatientError,
                                  team_id: int, addr: str | None) -> ApiError:
    """The reply to registering an NHS number that is already registered.

    Whoever may see the existing record is told it is already registered. Anyone else gets
    the neutral refusal a shared clinical record gives: the number cannot be registered
    here, ask the service administrator, never that another team holds the patient. The
    attempt is audited (and committed) against the existing record, so the administrator
    the nurse contacts can see it and move the patient if that is right.
    """
    audit(conn, staff, "register-refused", "patient", err.patient_id, addr,
          {"team_id": team_id, "reason": "nhs-number-registered"})
    conn.commit()
    if team_visible(staff, err.team_id):
        return ApiError(422, err.message, err.code)
    return ApiError(422, "This NHS number cannot be registered here. Contact the service "
                    "administrator.", "cannot-register")


def scope_team(staff: Staff, team_id: int | None) -> int | None:
    """The team to list: the caller's own unless they span teams."""
    if staff.spans_teams:
        return team_id
    if team_id is not None and team_id != staff.team_id:
        raise not_found("team")
    return staff.team_id


def visible_patients(conn: DbConn, staff: Staff, nhs_numbers: list[str]) -> dict[str, int]:
    """NHS number -> patient id for the patients the caller's teams hold."""
    rows = conn.execute("SELECT id, nhs_number, team_id FROM patients "
                        "WHERE nhs_number = ANY(%s)", (sorted(set(nhs_numbers)),)).fetchall()
    return {r["nhs_number"]: r["id"] for r in rows if team_visible(staff, r["team_id"])}

