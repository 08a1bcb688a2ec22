"""Writing alerts: open or update the one active alert per (patient, episode), events, outbox."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.catalogue import severity_rank
from telehub.topics import alert_topic

SYSTEM = "system"

_ACTIVE_SQL = "SELECT * FROM alerts WHERE patient_id = ANY(%s) AND status <> 'resolved'"
_RESOLVED_SQL = """
SELECT DISTINCT ON (patient_id, rule_id) patient_id, rule_id, severity::text AS severity,
       resolved_at
FROM alerts
WHERE patient_id = ANY(%s) AND status = 'resolved' AND resolved_at > %s
ORDER BY patient_id, rule_id, resolved_at DESC
"""
_INSERT_SQL = """
INSERT INTO alerts (patient_id, team_id, rule_id, severity, message, metric, first_breach_at,
                    last_breach_at, occurrences, values, late)
VALUES (%(patient_id)s, %(team_id)s, %(rule_id)s, %(severity)s, %(message)s, %(metric)s,
        %(first)s, %(last)s, %(occurrences)s, %(values)s, %(late)s)
RETURNING *
"""
_UPDATE_SQL = """
UPDATE alerts SET severity = %(severity)s, message = %(message)s,
       first_breach_at = least(first_breach_at, %(first)s),
       last_breach_at = greatest(last_breach_at, %(last)s),
       occurrences = occurrences + %(occurrences)s, values = %(values)s,
       late = late AND %(late)s, condition_cleared_at = NULL, updated_at = now()
WHERE id = %(id)s
RETURNING *
"""
_EVENT_SQL = """
INSERT INTO alert_events (alert_id, at, kind, actor_id, actor, note, data)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
_OUTBOX_SQL = """
INSERT INTO outbox (alert_id, channel, destination, payload) VALUES (%s, 'mqtt', %s, %s)
"""
_TEAM_SQL = "SELECT t.code FROM teams t WHERE t.id = %s"
_DISPLAY_SQL = "SELECT display_id FROM patients WHERE id = %s"


@dataclass
class Raised:
    """What one batch (or one scheduler run) found for one patient and episode."""

    episode: str
    rule_id: str               # the rule that set the severity
    severity: str
    message: str
    metric: str | None
    first: datetime
    last: datetime
    occurrences: int = 1
    values: dict[str, Any] = field(default_factory=dict)
    late: bool = False
    suppress_hours: float = 0.0


def active_alerts(conn: psycopg.Connection, patient_ids: Iterable[int]
                  ) -> dict[tuple[int, str], dict[str, Any]]:
    """The active (not resolved) alerts of these patients by (patient, episode)."""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(_ACTIVE_SQL, (sorted(set(patient_ids)),)).fetchall()
    return {(r["patient_id"], r["rule_id"]): r for r in rows}


def recently_resolved(conn: psycopg.Connection, patient_ids: Iterable[int], since: datetime
                      ) -> dict[tuple[int, str], dict[str, Any]]:
    """The latest alert resolved since `since` per (patient, episode): for suppression."""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(_RESOLVED_SQL, (sorted(set(patient_ids)), since)).fetchall()
    return {(r["patient_id"], r["rule_id"]): r for r in rows}


def add_event(conn: psycopg.Connection, alert_id: int, kind: str, at: datetime, *,
              actor: str = SYSTEM, actor_id: int | None = None, note: str | None = None,
              data: Mapping[str, Any] | None = None) -> None:
    """One row of the alert's audit trail."""
    conn.execute(_EVENT_SQL, (alert_id, at, kind, actor_id, actor, note, Jsonb(dict(data or {}))))


def notification(alert: Mapping[str, Any], team_code: str, display_id: str, event: str
                 ) -> dict[str, Any]:
    """The message responders receive: no name, no NHS number, the alert id for de-duplication."""
    values = alert.get("values") or {}
    return {
        "alert_id": alert["id"], "event": event, "team": team_code, "patient": display_id,
        "rule": alert["rule_id"], "trigger_rule": values.get("rule"),
        "severity": alert["severity"], "status": alert["status"],
        "escalated": bool(alert["escalated"]), "late": bool(alert["late"]),
        "message": alert["message"], "metric": alert["metric"], "values": values,
        "reading_time": alert["last_breach_at"].isoformat(),
        "first_breach_at": alert["first_breach_at"].isoformat(),
        "occurrences": alert["occurrences"], "link": f"/alerts/{alert['id']}",
    }


def enqueue(conn: psycopg.Connection, alert: Mapping[str, Any], event: str, *,
            team_code: str | None = None, display_id: str | None = None) -> None:
    """Queue the alert's notification in the caller's transaction (the notifier delivers it)."""
    if team_code is None:
        row = conn.execute(_TEAM_SQL, (alert["team_id"],)).fetchone()
        team_code = _first(row)
    if display_id is None:
        row = conn.execute(_DISPLAY_SQL, (alert["patient_id"],)).fetchone()
        display_id = _first(row)
    payload = notification(alert, str(team_code), str(display_id), event)
    conn.execute(_OUTBOX_SQL, (alert["id"], alert_topic(str(team_code), alert["severity"]),
                               Jsonb(payload)))


def _first(row: Any) -> Any:
    assert row is not None
    return row[0] if isinstance(row, tuple | list) else next(iter(row.values()))


def suppressed(raised: Raised, resolved: Mapping[str, Any] | None, now: datetime) -> bool:
    """A nurse resolved this episode recently and the new breach is no worse."""
    if resolved is None or raised.severity == "red" or raised.suppress_hours <= 0:
        return False
    if severity_rank(raised.severity) > severity_rank(resolved["severity"]):
        return False
    return now - resolved["resolved_at"] < timedelta(hours=raised.suppress_hours)


def _merge_values(old: Mapping[str, Any], raised: Raised) -> dict[str, Any]:
    values = {**old, **raised.values}
    worst_old = old.get("worst")
    if worst_old and severity_rank(worst_old.get("severity", "info")) > \
            severity_rank(raised.severity):
        values["worst"] = worst_old
    return values


def raise_alert(conn: psycopg.Connection, *, patient_id: int, team_id: int, team_code: str,
                display_id: str, raised: Raised, active: Mapping[str, Any] | None,
                resolved: Mapping[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """Open the episode's alert, or update the active one; None when suppressed."""
    cur = conn.cursor(row_factory=dict_row)
    data = {"rule": raised.rule_id, "severity": raised.severity}
    if active is None:
        if suppressed(raised, resolved, now):
            return None
        alert = cur.execute(_INSERT_SQL, {
            "patient_id": patient_id, "team_id": team_id, "rule_id": raised.episode,
            "severity": raised.severity, "message": raised.message, "metric": raised.metric,
            "first": raised.first, "last": raised.last, "occurrences": raised.occurrences,
            "values": Jsonb(raised.values), "late": raised.late,
        }).fetchone()
        assert alert is not None
        add_event(conn, alert["id"], "opened", now, data=data)
        if raised.severity != "info":
            enqueue(conn, alert, "opened", team_code=team_code, display_id=display_id)
        return dict(alert)
    worse = severity_rank(raised.severity) > severity_rank(active["severity"])
    alert = cur.execute(_UPDATE_SQL, {
        "id": active["id"],
        "severity": raised.severity if worse else active["severity"],
        "message": raised.message if worse or raised.severity == active["severity"]
        else active["message"],
        "first": raised.first, "last": raised.last, "occurrences": raised.occurrences,
        "values": Jsonb(_merge_values(active.get("values") or {}, raised)), "late": raised.late,
    }).fetchone()
    assert alert is not None
    if worse:
        add_event(conn, alert["id"], "severity-raised", now,
                  data={**data, "from": active["severity"]})
        if raised.severity != "info":
            enqueue(conn, alert, "severity-raised", team_code=team_code, display_id=display_id)
    else:
        add_event(conn, alert["id"], "repeated", now,
                  data={**data, "occurrences": raised.occurrences})
    return dict(alert)


def mark_cleared(conn: psycopg.Connection, alert: Mapping[str, Any], at: datetime,
                 note: str) -> bool:
    """Mark an active alert "condition cleared" (it stays open for the nurse to close)."""
    if alert.get("condition_cleared_at") is not None:
        return False
    conn.execute("UPDATE alerts SET condition_cleared_at = %s, updated_at = now() WHERE id = %s",
                 (at, alert["id"]))
    add_event(conn, alert["id"], "condition-cleared", at, note=note)
    return True
