"""The responder's 24/7 queue of urgent alerts, with the minimum context to act, and the
actions a responder records (call logged, carer contacted, visit dispatched, …)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from alerts import lifecycle, store
from alerts.telecare import is_telecare
from api.access import audit, team_visible
from api.alert_queries import ALERT_COLUMNS
from api.care_routes import care_triggers
from api.care_schemas import (
    LatestVital,
    QueueActionOut,
    QueueContact,
    QueueItemOut,
    ResponderAction,
    ResponderActionIn,
    TelecareSettingsIn,
    TelecareSettingsOut,
)
from api.deps import CLINICAL, Conn, DbConn, Staff, client_addr, require
from api.errors import ApiError, not_found
from api.schemas import AlertOut, Problem, Role

router = APIRouter(tags=["responder"], responses={401: {"model": Problem},
                                                  404: {"model": Problem}})

Responder = Annotated[Staff, Depends(require(Role.RESPONDER, Role.ADMIN))]
Actor = Annotated[Staff, Depends(require(Role.RESPONDER, *CLINICAL))]
TeamLead = Annotated[Staff, Depends(require(Role.ADMIN, Role.MATRON))]

# The teams a responder covers: those listed for them, else their own team, else every team.
COVERED_SQL = """
SELECT coalesce((SELECT array_agg(team_id) FROM responder_coverage WHERE staff_id = %(staff)s),
                CASE WHEN %(team)s::bigint IS NULL THEN NULL ELSE ARRAY[%(team)s::bigint] END)
       AS teams
"""
# Urgent: active and red or escalated (or assigned to this responder). Unacknowledged first,
# then red before escalated amber, then escalated, then the longest waiting.
QUEUE_SQL = f"""
SELECT {ALERT_COLUMNS}, p.given_name || ' ' || p.family_name AS display_name,
       p.address_line, p.postcode, p.phone, pc.key_safe_note, pc.access_note,
       coalesce(pc.advance_decision, false) AS advance_decision, pc.advance_decision_note,
       pc.spa_phone
FROM alerts a
JOIN patients p ON p.id = a.patient_id
LEFT JOIN patient_care pc ON pc.patient_id = a.patient_id
WHERE a.status <> 'resolved'
  AND (a.severity = 'red' OR a.escalated OR a.assignee_id = %(staff)s)
  AND (%(teams)s::bigint[] IS NULL OR a.team_id = ANY(%(teams)s))
ORDER BY (a.status = 'acknowledged'), (a.severity <> 'red'), a.escalated DESC,
         a.first_breach_at, a.id
LIMIT 200
"""  # noqa: S608 (constant SQL fragments; every value is bound)
ONE_SQL = f"""
SELECT {ALERT_COLUMNS} FROM alerts a JOIN patients p ON p.id = a.patient_id WHERE a.id = %s
"""  # noqa: S608 (constant columns)
CARERS_SQL = """
SELECT patient_id, name, relationship, phone, next_of_kin FROM patient_contacts
WHERE patient_id = ANY(%s) AND removed_at IS NULL
ORDER BY patient_id, next_of_kin DESC, notify_alerts DESC, id
"""
VITALS_SQL = """
SELECT m.patient_id, m.metric::text AS metric, r.value, r.unit::text AS unit, r.time
FROM (SELECT pid AS patient_id, metric FROM unnest(%s::bigint[]) AS pid
      CROSS JOIN unnest(enum_range(NULL::metric)) AS metric) m
JOIN LATERAL (SELECT value, unit, time FROM readings r
              WHERE r.patient_id = m.patient_id AND r.metric = m.metric
              ORDER BY r.time DESC LIMIT 1) r ON true
ORDER BY m.patient_id, m.metric
"""
ACTIONS_SQL = """
SELECT alert_id, kind FROM alert_events
WHERE alert_id = ANY(%s) AND actor_id IS NOT NULL ORDER BY alert_id, at, id
"""


def covered_teams(conn: DbConn, staff: Staff) -> list[int] | None:
    """The team ids a responder covers; None means every team."""
    if staff.role == Role.ADMIN:
        return None
    row = conn.execute(COVERED_SQL, {"staff": staff.id, "team": staff.team_id}).fetchone()
    assert row is not None
    return None if row["teams"] is None else [int(t) for t in row["teams"]]


def _by_patient(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["patient_id"]].append(r)
    return out


@router.get("/responder/queue", response_model=list[QueueItemOut],
            summary="Urgent alerts across the teams the responder covers")
def responder_queue(staff: Responder, conn: Conn, request: Request) -> list[QueueItemOut]:
    """Active red, escalated or assigned alerts, unacknowledged first, each with the minimum
    context to act: name, address, access and key-safe notes, advance decision, carers, latest
    vital signs and the care plan's triggers. No NHS number, no record beyond this."""
    teams = covered_teams(conn, staff)
    rows = conn.execute(QUEUE_SQL, {"staff": staff.id, "teams": teams}).fetchall()
    patient_ids = sorted({r["patient_id"] for r in rows})
    carers = _by_patient(conn.execute(CARERS_SQL, (patient_ids,)).fetchall())
    vitals = _by_patient(conn.execute(VITALS_SQL, (patient_ids,)).fetchall())
    actions: dict[int, list[str]] = defaultdict(list)
    for e in conn.execute(ACTIONS_SQL, ([r["id"] for r in rows],)).fetchall():
        actions[e["alert_id"]].append(e["kind"])
    triggers = {pid: [f"{t.severity}: {t.when}" for t in care_triggers(conn, pid, {})]
                for pid in patient_ids}
    out = []
    for r in rows:
        pid = r["patient_id"]
        out.append(QueueItemOut(
            alert=AlertOut.model_validate(r), display_id=r["patient_display_id"],
            display_name=r["display_name"], address_line=r["address_line"],
            postcode=r["postcode"], phone=r["phone"], key_safe_note=r["key_safe_note"],
            access_note=r["access_note"], advance_decision=r["advance_decision"],
            advance_decision_note=r["advance_decision_note"], spa_phone=r["spa_phone"],
            carers=[QueueContact.model_validate(c) for c in carers.get(pid, [])],
            latest_vitals=[LatestVital.model_validate(v) for v in vitals.get(pid, [])],
            triggers=triggers[pid],
            telecare_event=(r["values"].get("event") if is_telecare(r["rule_id"]) else None),
            actions=actions.get(r["id"], [])))
    audit(conn, staff, "list", "responder-queue", None, client_addr(request),
          {"alert_ids": [r["id"] for r in rows], "patient_ids": patient_ids})
    conn.commit()
    return out


def _visible_alert(conn: DbConn, staff: Staff, alert_id: int) -> dict[str, Any]:
    """The alert when the caller may act on it (a responder: urgent, in a covered team)."""
    row = conn.execute(ONE_SQL, (alert_id,)).fetchone()
    if row is None:
        raise not_found("alert")
    if staff.role == Role.RESPONDER:
        teams = covered_teams(conn, staff)
        urgent = row["severity"] == "red" or row["escalated"] or row["assignee_id"] == staff.id
        if not urgent or (teams is not None and row["team_id"] not in teams):
            raise not_found("alert")
    elif staff.role != Role.ADMIN and row["team_id"] != staff.team_id:
        raise not_found("alert")
    return dict(row)


@router.post("/responder/alerts/{alert_id}/actions", response_model=QueueActionOut,
             summary="Record a responder action on an urgent alert",
             responses={409: {"model": Problem}, 422: {"model": Problem}})
def record_action(alert_id: int, body: ResponderActionIn, staff: Actor, conn: Conn,
                  request: Request) -> QueueActionOut:
    """acknowledge, call-logged, carer-contacted, visit-dispatched, ambulance-called,
    escalated-to-matron, or resolved (with an outcome). Any action on an open alert also
    acknowledges it, so its escalation timer stops once someone is acting."""
    alert = _visible_alert(conn, staff, alert_id)
    actor = lifecycle.Actor(staff.id, staff.username)
    action = body.action
    if action == ResponderAction.RESOLVED and body.outcome is None:
        raise ApiError(422, "Say what the outcome was (outcome) to resolve the alert.",
                       "outcome-required")
    try:
        if alert["status"] == "resolved":
            raise lifecycle.TransitionError(f"Alert {alert_id} is already resolved.")
        if action == ResponderAction.ACKNOWLEDGE:
            lifecycle.acknowledge(conn, alert_id, actor, note=body.note)
        else:
            if alert["status"] == "open":
                lifecycle.acknowledge(conn, alert_id, actor, note=f"By {action.value}.")
            if action == ResponderAction.RESOLVED:
                assert body.outcome is not None
                lifecycle.resolve(conn, alert_id, actor, body.outcome.value, note=body.note)
            else:
                _record(conn, alert, actor, action, body.note)
    except lifecycle.TransitionError as err:
        conn.rollback()
        raise ApiError(409, err.message, err.code) from err
    audit(conn, staff, f"responder-{action.value}", "alert", alert["patient_id"],
          client_addr(request), {"alert_id": alert_id})
    out = conn.execute(ONE_SQL, (alert_id,)).fetchone()
    conn.commit()
    kind = "acknowledged" if action == ResponderAction.ACKNOWLEDGE else action.value
    return QueueActionOut(alert=AlertOut.model_validate(out), event_kind=kind)


def _record(conn: DbConn, alert: dict[str, Any], actor: lifecycle.Actor,
            action: ResponderAction, note: str | None) -> None:
    """One responder action on the alert's trail; escalating to the matron notifies again."""
    text = note.strip() if note and note.strip() else None
    store.add_event(conn, alert["id"], action.value, datetime.now(UTC), actor=actor.name,
                    actor_id=actor.staff_id, note=text)
    if action == ResponderAction.ESCALATED_TO_MATRON and not alert["escalated"]:
        lifecycle.escalate(conn, alert["id"], actor, note="Escalated to the matron by the "
                           "responder.")


@router.get("/teams/{team_id}/telecare", response_model=TelecareSettingsOut,
            summary="The team's telecare escalation window")
def telecare_settings(team_id: int, staff: Actor, conn: Conn) -> TelecareSettingsOut:
    """Minutes an unacknowledged telecare alert waits before it escalates (2 by default)."""
    row = conn.execute("SELECT telecare_escalation_minutes AS m FROM teams WHERE id = %s",
                       (team_id,)).fetchone()
    if row is None or not (team_visible(staff, team_id) or staff.role == Role.RESPONDER):
        raise not_found("team")
    return TelecareSettingsOut(team_id=team_id, escalation_minutes=row["m"])


@router.put("/teams/{team_id}/telecare", response_model=TelecareSettingsOut,
            summary="Change the team's telecare escalation window",
            responses={422: {"model": Problem}})
def set_telecare_settings(team_id: int, body: TelecareSettingsIn, staff: TeamLead, conn: Conn,
                          request: Request) -> TelecareSettingsOut:
    """Admins, and the matron of the team, set the window (1–60 minutes)."""
    if not team_visible(staff, team_id):
        raise not_found("team")
    row = conn.execute("UPDATE teams SET telecare_escalation_minutes = %s WHERE id = %s "
                       "RETURNING telecare_escalation_minutes AS m",
                       (body.escalation_minutes, team_id)).fetchone()
    if row is None:
        raise not_found("team")
    audit(conn, staff, "update", "team-telecare", None, client_addr(request),
          {"team_id": team_id, "escalation_minutes": body.escalation_minutes})
    conn.commit()
    return TelecareSettingsOut(team_id=team_id, escalation_minutes=row["m"])
