"""Alert lifecycle: acknowledge, watch, assign, escalate, resolve with an outcome, notes and
responders' actions; each audited. The end of a watch is a transition too (`end_watch`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts import store, watch_rules
from alerts.telecare import is_telecare
from telehub.domain import clock
from telehub.domain.codes import OUTCOMES, ResponderAction
from telehub.errors import NotFoundError, ValidationError

NOTE_MAX = 2000

_LOCK_SQL = "SELECT * FROM alerts WHERE id = %s FOR UPDATE"
# Clears a watch (its record stays in the alert's events and values.last_watch).
_NO_WATCH = ("watch_until = NULL, watch_started_at = NULL, watch_reason = NULL, "
             "watch_by = NULL")
# Watches whose time has come.
_DUE_WATCHES_SQL = """
SELECT id, patient_id FROM alerts WHERE watch_until <= %s AND status <> 'resolved' ORDER BY id
"""


class TransitionError(ValidationError):
    """The alert cannot make that move from where it is (e.g. resolving a resolved alert)."""

    def __init__(self, message: str) -> None:
        super().__init__("bad-transition", message)


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member (id and username), or a named person/system without an id."""

    staff_id: int | None
    name: str


def _lock_watched(conn: psycopg.Connection, alert_id: int) -> dict[str, Any]:
    """Lock the patient's alert writing (alerts.store, as the engine does: patient first), then
    the alert, so a reading evaluated meanwhile sees the watch whole or not at all."""
    row = conn.cursor(row_factory=dict_row).execute(
        "SELECT patient_id FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"No alert with id {alert_id}.")
    store.lock_patients(conn, [row["patient_id"]])
    return _lock(conn, alert_id)


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
    # The first acknowledgement stays (time to acknowledge is to the first response): an
    # alert back from a watch, or re-raised during one, is acknowledged again in its events.
    out = _update(conn, alert_id, "status = 'acknowledged', acknowledged_at = coalesce("
                  "acknowledged_at, %s), acknowledged_by = coalesce(acknowledged_by, %s)",
                  (clock.now(), actor.staff_id))
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
                  f"outcome = %s, {_NO_WATCH}", (clock.now(), actor.staff_id, outcome))
    _event(conn, alert_id, "resolved", actor, text, {"outcome": outcome})
    return out


def watch(conn: psycopg.Connection, alert_id: int, actor: Actor, until: datetime,
          reason: str) -> dict[str, Any]:
    """acknowledged → watched until `until`, with the reason: no reminder or escalation
    meanwhile, a worse reading re-raises it (alerts.store), and at `until` it returns to the
    inbox (`end_watch`). Watching a watched alert again moves its end."""
    alert = _lock_watched(conn, alert_id)
    refused = watch_rules.watchable(alert) or (
        "A telecare call is answered, not watched: acknowledge and resolve it."
        if is_telecare(alert["rule_id"]) else None)
    if refused:
        raise TransitionError(refused)
    now = clock.now()
    until, text = watch_rules.check_watch(until, reason, now)
    before = alert["watch_until"]
    out = _update(conn, alert_id, "watch_until = %s, watch_started_at = coalesce("
                  "watch_started_at, %s), watch_reason = %s, watch_by = %s, values = %s",
                  (until, now, text, actor.staff_id, Jsonb(watch_rules.started(alert))))
    data: dict[str, Any] = {"until": until.isoformat(), "severity": alert["severity"],
                            "occurrences": alert["occurrences"]}
    if before is not None:
        data["previous_until"] = before.isoformat()
    _event(conn, alert_id, "watch-started", actor, text, data)
    return out


def end_watch(conn: psycopg.Connection, alert: dict[str, Any], now: datetime,
              actor: Actor | None = None) -> dict[str, Any]:
    """watched → open (back in the inbox), recording what happened meanwhile in the event
    `watch-ended` and in values.last_watch; the escalation timer starts again from now.
    `actor` None: the watch's time came (the scheduler)."""
    values = dict(alert.get("values") or {})
    done = watch_rules.summary(alert, values.pop("watch", None), now,
                               "ended" if actor is None else "stopped")
    values["last_watch"] = done
    out = _update(conn, alert["id"], f"status = 'open', reminded_at = NULL, {_NO_WATCH}, "
                  "values = %s", (Jsonb(values),))
    store.add_event(conn, alert["id"], "watch-ended", now,
                    actor=actor.name if actor else store.SYSTEM,
                    actor_id=actor.staff_id if actor else None,
                    note=("Watch ended. " if actor is None else "Watch stopped. ")
                    + watch_rules.summary_text(done), data=done)
    return out


def stop_watch(conn: psycopg.Connection, alert_id: int, actor: Actor) -> dict[str, Any]:
    """End a watch early: the alert returns to the inbox now, with what happened meanwhile."""
    alert = _lock_watched(conn, alert_id)
    if not watch_rules.watching(alert):
        raise TransitionError(f"Alert {alert_id} is not being watched.")
    return end_watch(conn, alert, clock.now(), actor)


def end_due_watches(conn: psycopg.Connection, now: datetime) -> int:
    """Return every alert whose watch has ended by `now` to the inbox; how many."""
    cur = conn.cursor(row_factory=dict_row)
    due = cur.execute(_DUE_WATCHES_SQL, (now,)).fetchall()
    store.lock_patients(conn, [r["patient_id"] for r in due])
    ended = 0
    for row in due:
        alert = _lock(conn, row["id"])
        if watch_rules.watching(alert) and alert["watch_until"] <= now \
                and alert["status"] != "resolved":
            end_watch(conn, alert, now)
            ended += 1
    return ended


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
