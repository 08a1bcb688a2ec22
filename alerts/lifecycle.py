"""Alert lifecycle: acknowledge, assign, escalate, resolve with an outcome, notes and responders'
actions; each audited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from alerts import store
from telehub.domain import clock
from telehub.domain.codes import OUTCOMES, ResponderAction
from telehub.errors import NotFoundError, ValidationError

NOTE_MAX = 2000

_LOCK_SQL = "SELECT * FROM alerts WHERE id = %s FOR UPDATE"


class TransitionError(ValidationError):
    """The alert cannot make that move from where it is (e.g. resolving a resolved alert)."""

    def __init__(self, message: str) -> None:
        super().__init__("bad-transition", message)


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member (id and username), or a named person/system without an id."""

    staff_id: int | None
    name: str


def _lock(conn: psycopg.Connection, alert_id: int) -> dict[str, Any]:
    row = conn.cursor(row_factory=dict_row).execute(_LOCK_SQL, (alert_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"No alert with id {alert_id}.")
    return dict(row)


def _note(note: str | None) -> str | None:
    if note is None:
        return None
    text = note.strip()
    if len(text) > NOTE_MAX:
        raise ValidationError("note-too-long", f"A note is at most {NOTE_MAX} characters.")
    return text or None


def _update(conn: psycopg.Connection, alert_id: int, sets: str, params: tuple[Any, ...]
            ) -> dict[str, Any]:
    """Set `sets` (SQL written in this module, values bound) on the alert; the new row."""
    query = sql.SQL("UPDATE alerts SET {sets}, updated_at = now() WHERE id = %s RETURNING *"
                    ).format(sets=sql.SQL(sets))
    row = conn.cursor(row_factory=dict_row).execute(query, (*params, alert_id)).fetchone()
    assert row is not None
    return dict(row)


def _event(conn: psycopg.Connection, alert_id: int, kind: str, actor: Actor, note: str | None,
           data: dict[str, Any] | None = None) -> None:
    store.add_event(conn, alert_id, kind, clock.now(), actor=actor.name,
                    actor_id=actor.staff_id, note=note, data=data)


def _require_active(alert: dict[str, Any], action: str) -> None:
    if alert["status"] == "resolved":
        raise TransitionError(f"Alert {alert['id']} is already resolved; it cannot be {action}.")


def acknowledge(conn: psycopg.Connection, alert_id: int, actor: Actor,
                note: str | None = None) -> dict[str, Any]:
    """open → acknowledged: someone has seen it and owns the next step."""
    alert = _lock(conn, alert_id)
    _require_active(alert, "acknowledged")
    if alert["status"] == "acknowledged":
        raise TransitionError(f"Alert {alert_id} is already acknowledged.")
    text = _note(note)
    out = _update(conn, alert_id, "status = 'acknowledged', acknowledged_at = %s, "
                  "acknowledged_by = %s", (clock.now(), actor.staff_id))
    _event(conn, alert_id, "acknowledged", actor, text)
    return out


def resolve(conn: psycopg.Connection, alert_id: int, actor: Actor, outcome: str,
            note: str | None = None) -> dict[str, Any]:
    """open/acknowledged → resolved, with the outcome the team view reports on."""
    if outcome not in OUTCOMES:
        raise ValidationError("bad-outcome", f"'{outcome}' is not an outcome "
                              f"({', '.join(OUTCOMES)}).")
    alert = _lock(conn, alert_id)
    _require_active(alert, "resolved again")
    text = _note(note)
    out = _update(conn, alert_id, "status = 'resolved', resolved_at = %s, resolved_by = %s, "
                  "outcome = %s", (clock.now(), actor.staff_id, outcome))
    _event(conn, alert_id, "resolved", actor, text, {"outcome": outcome})
    return out


def escalate(conn: psycopg.Connection, alert_id: int, actor: Actor,
             note: str | None = None) -> dict[str, Any]:
    """Mark the alert escalated and notify again with "escalated": true."""
    alert = _lock(conn, alert_id)
    _require_active(alert, "escalated")
    if alert["escalated"]:
        raise TransitionError(f"Alert {alert_id} is already escalated.")
    return store.escalate(conn, alert, clock.now(), _note(note), actor=actor.name,
                          actor_id=actor.staff_id)


def assign(conn: psycopg.Connection, alert_id: int, actor: Actor, assignee_id: int,
           note: str | None = None) -> dict[str, Any]:
    """Give the alert to a named member of staff."""
    alert = _lock(conn, alert_id)
    _require_active(alert, "assigned")
    staff = conn.cursor(row_factory=dict_row).execute(
        "SELECT id, username, active FROM staff WHERE id = %s", (assignee_id,)).fetchone()
    if staff is None:
        raise NotFoundError(f"No staff member with id {assignee_id}.")
    if not staff["active"]:
        raise ValidationError("inactive-staff", f"{staff['username']} is no longer active.")
    text = _note(note)
    out = _update(conn, alert_id, "assignee_id = %s", (assignee_id,))
    _event(conn, alert_id, "assigned", actor, text,
           {"assignee_id": assignee_id, "assignee": staff["username"]})
    return out


def add_note(conn: psycopg.Connection, alert_id: int, actor: Actor, note: str) -> dict[str, Any]:
    """Add a note to the alert's trail (also after it is resolved)."""
    alert = _lock(conn, alert_id)
    text = _note(note)
    if not text:
        raise ValidationError("empty-note", "A note needs some text.")
    _event(conn, alert_id, "note", actor, text)
    return alert


def respond(conn: psycopg.Connection, alert_id: int, actor: Actor, action: ResponderAction,
            note: str | None = None, outcome: str | None = None) -> str:
    """A responder's action on an urgent alert (call logged, carer contacted, visit dispatched,
    …); the kind of event it recorded. Any action on an open alert also acknowledges it, so
    its escalation timer stops once someone is acting."""
    if action == ResponderAction.RESOLVED and outcome is None:
        raise ValidationError("outcome-required",
                              "Say what the outcome was (outcome) to resolve the alert.")
    alert = _lock(conn, alert_id)
    if alert["status"] == "resolved":
        raise TransitionError(f"Alert {alert_id} is already resolved.")
    if action == ResponderAction.ACKNOWLEDGE:
        acknowledge(conn, alert_id, actor, note=note)
        return "acknowledged"
    if alert["status"] == "open":
        acknowledge(conn, alert_id, actor, note=f"By {action.value}.")
    if action == ResponderAction.RESOLVED:
        assert outcome is not None
        resolve(conn, alert_id, actor, outcome, note=note)
        return action.value
    _event(conn, alert_id, action.value, actor, note.strip() if note and note.strip() else None)
    if action == ResponderAction.ESCALATED_TO_MATRON and not alert["escalated"]:
        escalate(conn, alert_id, actor, note="Escalated to the matron by the responder.")
    return action.value


def events(conn: psycopg.Connection, alert_id: int) -> list[dict[str, Any]]:
    """The alert's audit trail, oldest first."""
    cur = conn.cursor(row_factory=dict_row)
    if cur.execute("SELECT 1 FROM alerts WHERE id = %s", (alert_id,)).fetchone() is None:
        raise NotFoundError(f"No alert with id {alert_id}.")
    return cur.execute("SELECT id, at, kind, actor_id, actor, note, data FROM alert_events "
                       "WHERE alert_id = %s ORDER BY id", (alert_id,)).fetchall()
