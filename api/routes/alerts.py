"""Alerts: the inbox with filters, one alert with its history, lifecycle actions (a watch
among them), and a team's reminder setting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from alerts import lifecycle
from api.access import audit, check_team, team_visible
from api.deps import CLINICAL, Conn, DbConn, Pages, Staff, client_addr, require
from api.errors import ApiError, not_found
from api.queries.alerts import alert_events, get_alert, list_alerts, reload_alert
from api.schemas.alerts import (
    AcknowledgeIn,
    AlertDetailOut,
    AlertEventOut,
    AlertOut,
    AssignIn,
    EscalateIn,
    NoteIn,
    RemindersIn,
    RemindersOut,
    ResolveIn,
    WatchIn,
)
from api.schemas.common import Page, Problem, SpanTime
from api.schemas.patients import PatientContextOut
from telehub.care.team import set_team_setting, team_setting
from telehub.domain.codes import AlertStatus, Role, Severity

router = APIRouter(tags=["alerts"], responses={401: {"model": Problem},
                                               404: {"model": Problem}})

Viewer = Annotated[Staff, Depends(require(*CLINICAL, Role.RESPONDER))]
Clinician = Annotated[Staff, Depends(require(*CLINICAL))]
TeamLead = Annotated[Staff, Depends(require(Role.ADMIN, Role.MATRON))]
_ACTION: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Not allowed in the alert's current state"},
    422: {"model": Problem},
}


@router.get("/alerts", response_model=Page[AlertOut], summary="The alert inbox")
def alerts_inbox(staff: Viewer, conn: Conn, pages: Pages, request: Request,
                 status: Annotated[list[AlertStatus] | None, Query()] = None,
                 severity: Annotated[list[Severity] | None, Query()] = None,
                 team_id: int | None = None, patient_id: int | None = None,
                 assignee_id: int | None = None,
                 since: Annotated[SpanTime | None, Query(
                     description="Only alerts breached since then")] = None) -> Page[AlertOut]:
    """Alerts the caller may see (their team's; a responder's: red, escalated or assigned to
    them), unresolved first, then red, amber, info, then the latest breach."""
    rows = list_alerts(conn, staff, statuses=[s.value for s in status or []],
                       severities=[s.value for s in severity or []], team_id=team_id,
                       patient_id=patient_id, assignee_id=assignee_id, since=since,
                       limit=pages.limit, offset=pages.offset)
    audit(conn, staff, "list", "alerts", None, client_addr(request),
          {"alert_ids": [r["id"] for r in rows],
           "patient_ids": sorted({r["patient_id"] for r in rows})})
    conn.commit()
    return Page[AlertOut](items=[AlertOut.model_validate(r) for r in rows],
                          total=rows[0]["total"] if rows else 0, limit=pages.limit,
                          offset=pages.offset)


@router.get("/alerts/{alert_id}", response_model=AlertDetailOut,
            summary="An alert with its history")
def alert_detail(alert_id: int, staff: Viewer, conn: Conn, request: Request) -> AlertDetailOut:
    """The alert, its events and the patient context (display id, address, key contact)."""
    alert = get_alert(conn, staff, alert_id)
    patient = conn.execute("SELECT id, display_id, address_line, postcode, phone FROM patients "
                           "WHERE id = %s", (alert["patient_id"],)).fetchone()
    audit(conn, staff, "read", "alert", alert["patient_id"], client_addr(request),
          {"alert_id": alert_id})
    conn.commit()
    return AlertDetailOut(**alert, events=[AlertEventOut.model_validate(e)
                                           for e in alert_events(conn, alert_id)],
                          patient=PatientContextOut.model_validate(patient))


@router.get("/alerts/{alert_id}/events", response_model=list[AlertEventOut],
            summary="An alert's history")
def alert_history(alert_id: int, staff: Viewer, conn: Conn,
                  request: Request) -> list[AlertEventOut]:
    """Every transition of the alert, oldest first, with who and their note."""
    alert = get_alert(conn, staff, alert_id)
    events = [AlertEventOut.model_validate(e) for e in alert_events(conn, alert_id)]
    audit(conn, staff, "read", "alert-events", alert["patient_id"], client_addr(request),
          {"alert_id": alert_id})
    conn.commit()
    return events


def _act(conn: DbConn, staff: Staff, alert_id: int, request: Request, action: str,
         call: Callable[[Any, Any], Any], detail: dict[str, Any] | None = None) -> AlertOut:
    """Run one lifecycle transition as `staff`; a refused transition is a 409."""
    alert = get_alert(conn, staff, alert_id)
    actor = lifecycle.Actor(staff.id, staff.username)
    try:
        call(lifecycle, actor)
    except lifecycle.TransitionError as err:
        conn.rollback()
        raise ApiError(409, err.message, err.code) from err
    audit(conn, staff, action, "alert", alert["patient_id"], client_addr(request),
          {"alert_id": alert_id, **(detail or {})})
    out = reload_alert(conn, alert_id)
    conn.commit()
    return AlertOut.model_validate(out)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut, responses=_ACTION,
             summary="Acknowledge: someone is on it")
def acknowledge(alert_id: int, body: AcknowledgeIn, staff: Viewer, conn: Conn,
                request: Request) -> AlertOut:
    """Mark the alert acknowledged (stops its escalation timer)."""
    return _act(conn, staff, alert_id, request, "acknowledge",
                lambda lc, actor: lc.acknowledge(conn, alert_id, actor, note=body.note))


@router.post("/alerts/{alert_id}/escalate", response_model=AlertOut, responses=_ACTION,
             summary="Escalate to the responders and matron")
def escalate(alert_id: int, body: EscalateIn, staff: Viewer, conn: Conn,
             request: Request) -> AlertOut:
    """Escalate the alert now (republished with escalated=true)."""
    return _act(conn, staff, alert_id, request, "escalate",
                lambda lc, actor: lc.escalate(conn, alert_id, actor, note=body.note))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut, responses=_ACTION,
             summary="Resolve with an outcome")
def resolve(alert_id: int, body: ResolveIn, staff: Clinician, conn: Conn,
            request: Request) -> AlertOut:
    """Close the alert, recording what was done (the outcome code)."""
    return _act(conn, staff, alert_id, request, "resolve",
                lambda lc, actor: lc.resolve(conn, alert_id, actor, body.outcome.value,
                                             note=body.note),
                {"outcome": body.outcome.value})


@router.post("/alerts/{alert_id}/assign", response_model=AlertOut, responses=_ACTION,
             summary="Give the alert to a member of staff")
def assign(alert_id: int, body: AssignIn, staff: Clinician, conn: Conn,
           request: Request) -> AlertOut:
    """Assign the alert to an active member of staff of its team (or a responder)."""
    alert = get_alert(conn, staff, alert_id)
    row = conn.execute(
        "SELECT 1 FROM staff WHERE id = %s AND active AND role <> 'manager' "
        "AND (team_id = %s OR (team_id IS NULL AND role IN ('responder', 'admin')))",
        (body.assignee_id, alert["team_id"])).fetchone()
    if row is None:
        raise ApiError(422, "The assignee must be an active member of the alert's team "
                       "or a responder.", "bad-assignee")
    return _act(conn, staff, alert_id, request, "assign",
                lambda lc, actor: lc.assign(conn, alert_id, actor, body.assignee_id,
                                            note=body.note),
                {"assignee_id": body.assignee_id})


@router.post("/alerts/{alert_id}/notes", response_model=AlertOut, responses=_ACTION,
             summary="Add a note to the alert's history")
def add_note(alert_id: int, body: NoteIn, staff: Viewer, conn: Conn,
             request: Request) -> AlertOut:
    """Add a note (a call made, advice given) without changing the alert's state."""
    return _act(conn, staff, alert_id, request, "note",
                lambda lc, actor: lc.add_note(conn, alert_id, actor, body.note))


@router.post("/alerts/{alert_id}/watch", response_model=AlertOut, responses=_ACTION,
             summary="Watch a reviewed alert until a time")
def watch(alert_id: int, body: WatchIn, staff: Clinician, conn: Conn,
          request: Request) -> AlertOut:
    """Hold reminders and escalation of an acknowledged alert until `until` (at most 14 days),
    with the reason. A worse reading (a higher severity, or a new rule of the episode)
    re-raises it at once; at `until` it returns to the inbox with what happened meanwhile.
    Watching a watched alert again moves its end."""
    return _act(conn, staff, alert_id, request, "watch",
                lambda lc, actor: lc.watch(conn, alert_id, actor, body.until, body.reason),
                {"until": body.until.isoformat()})


@router.delete("/alerts/{alert_id}/watch", response_model=AlertOut, responses=_ACTION,
               summary="Stop watching an alert")
def stop_watch(alert_id: int, staff: Clinician, conn: Conn, request: Request) -> AlertOut:
    """End the watch now: the alert returns to the inbox with what happened meanwhile."""
    return _act(conn, staff, alert_id, request, "stop-watch",
                lambda lc, actor: lc.stop_watch(conn, alert_id, actor))


@router.get("/teams/{team_id}/reminders", response_model=RemindersOut,
            summary="How often unacknowledged red alerts remind the team")
def reminders(team_id: int, staff: Clinician, conn: Conn) -> RemindersOut:
    """Minutes between reminders to the team's red topic (30 by default; null: off)."""
    check_team(conn, staff, team_id)
    return RemindersOut(team_id=team_id, red_reminder_minutes=team_setting(
        conn, team_id, "red_reminder_minutes"))


@router.put("/teams/{team_id}/reminders", response_model=RemindersOut,
            summary="Change how often unacknowledged red alerts remind the team",
            responses={422: {"model": Problem}})
def set_reminders(team_id: int, body: RemindersIn, staff: TeamLead, conn: Conn,
                  request: Request) -> RemindersOut:
    """Admins, and the matron of the team, set 5–240 minutes, or null for no reminders."""
    if not team_visible(staff, team_id):
        raise not_found("team")
    minutes = set_team_setting(conn, team_id, "red_reminder_minutes", body.red_reminder_minutes)
    audit(conn, staff, "update", "team-reminders", None, client_addr(request),
          {"team_id": team_id, "red_reminder_minutes": body.red_reminder_minutes})
    conn.commit()
    return RemindersOut(team_id=team_id, red_reminder_minutes=minutes)
