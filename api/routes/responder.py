"""Responder routes: the 24/7 queue of urgent alerts and the actions a responder records."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from alerts import lifecycle
from alerts.telecare import is_telecare
from api.access import alert_scope, audit
from api.deps import CLINICAL, Conn, Staff, client_addr, require
from api.errors import ApiError
from api.queries.alerts import get_alert, reload_alert
from api.queries.care_plans import care_triggers
from api.queries.responder import ACTIONS_SQL, CARERS_SQL, QUEUE_SQL, VITALS_SQL, _by_patient
from api.render.care_plan import trigger_line
from api.schemas.alerts import AlertOut
from api.schemas.common import Problem
from api.schemas.responder import (
    LatestVital,
    QueueActionOut,
    QueueContact,
    QueueItemOut,
    ResponderActionIn,
)
from telehub.domain.codes import Role

router = APIRouter(tags=["responder"], responses={401: {"model": Problem},
                                                  404: {"model": Problem}})


Responder = Annotated[Staff, Depends(require(Role.RESPONDER, Role.ADMIN))]
Actor = Annotated[Staff, Depends(require(Role.RESPONDER, *CLINICAL))]


@router.get("/responder/queue", response_model=list[QueueItemOut],
            summary="Urgent alerts across the teams the responder covers")
def responder_queue(staff: Responder, conn: Conn, request: Request) -> list[QueueItemOut]:
    """Active red, escalated or assigned alerts, unacknowledged first, each with the minimum
    context to act: name, address, access and key-safe notes, advance decision, carers, latest
    vital signs and the care plan's triggers. No NHS number, no record beyond this."""
    rows = conn.execute(QUEUE_SQL, alert_scope(conn, staff)).fetchall()
    patient_ids = sorted({r["patient_id"] for r in rows})
    carers = _by_patient(conn.execute(CARERS_SQL, (patient_ids,)).fetchall())
    vitals = _by_patient(conn.execute(VITALS_SQL, (patient_ids,)).fetchall())
    actions: dict[int, list[str]] = defaultdict(list)
    for e in conn.execute(ACTIONS_SQL, ([r["id"] for r in rows],)).fetchall():
        actions[e["alert_id"]].append(e["kind"])
    triggers = {pid: [trigger_line(t) for t in care_triggers(conn, pid)] for pid in patient_ids}
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


@router.post("/responder/alerts/{alert_id}/actions", response_model=QueueActionOut,
             summary="Record a responder action on an urgent alert",
             responses={409: {"model": Problem}, 422: {"model": Problem}})
def record_action(alert_id: int, body: ResponderActionIn, staff: Actor, conn: Conn,
                  request: Request) -> QueueActionOut:
    """acknowledge, call-logged, carer-contacted, visit-dispatched, ambulance-called,
    escalated-to-matron, or resolved (with an outcome). Any action on an open alert also
    acknowledges it, so its escalation timer stops once someone is acting."""
    alert = get_alert(conn, staff, alert_id)
    action = body.action
    try:
        kind = lifecycle.respond(conn, alert_id, lifecycle.Actor(staff.id, staff.username),
                                 action, note=body.note,
                                 outcome=body.outcome.value if body.outcome else None)
    except lifecycle.TransitionError as err:
        conn.rollback()
        raise ApiError(409, err.message, err.code) from err
    audit(conn, staff, f"responder-{action.value}", "alert", alert["patient_id"],
          client_addr(request), {"alert_id": alert_id})
    out = reload_alert(conn, alert_id)
    conn.commit()
    return QueueActionOut(alert=AlertOut.model_validate(out), event_kind=kind)


