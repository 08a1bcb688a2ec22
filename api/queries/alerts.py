"""Reading alerts for the API: lists with filters, one alert, its events; who may see which."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.deps import DbConn, Staff
from api.errors import not_found
from telehub.domain.codes import Role

ALERT_COLUMNS = """a.id, a.patient_id, p.display_id AS patient_display_id, a.team_id, a.rule_id,
 a.severity::text AS severity, a.status::text AS status, a.escalated, a.escalated_at, a.message,
 a.metric::text AS metric, a.first_breach_at, a.last_breach_at, a.occurrences, a."values",
 a.late, a.condition_cleared_at, a.assignee_id, a.acknowledged_at, a.acknowledged_by,
 a.resolved_at, a.resolved_by, a.outcome::text AS outcome, a.created_at, a.updated_at"""

# Who sees an alert: clinical staff of its team (admins: all); a responder, the alerts
# routed to responders (red or escalated) and those assigned to them, in their team if
# they have one; managers see none (they get team statistics).
VISIBLE = """(
    %(role)s = 'admin'
    OR (%(role)s IN ('matron', 'nurse') AND a.team_id = %(team)s)
    OR (%(role)s = 'responder' AND (%(team)s::bigint IS NULL OR a.team_id = %(team)s)
        AND (a.severity = 'red' OR a.escalated OR a.assignee_id = %(staff)s))
)"""

LIST_SQL = f"""
SELECT {ALERT_COLUMNS}, count(*) OVER () AS total
FROM alerts a JOIN patients p ON p.id = a.patient_id
WHERE {VISIBLE}
  AND (%(statuses)s::alert_status[] IS NULL OR a.status = ANY(%(statuses)s))
  AND (%(severities)s::severity[] IS NULL OR a.severity = ANY(%(severities)s))
  AND (%(team_filter)s::bigint IS NULL OR a.team_id = %(team_filter)s)
  AND (%(patient)s::bigint IS NULL OR a.patient_id = %(patient)s)
  AND (%(assignee)s::bigint IS NULL OR a.assignee_id = %(assignee)s)
  AND (%(since)s::timestamptz IS NULL OR a.last_breach_at >= %(since)s)
ORDER BY (a.status = 'resolved'), CASE a.severity WHEN 'red' THEN 0 WHEN 'amber' THEN 1
         ELSE 2 END, a.escalated DESC, a.last_breach_at DESC, a.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""  # noqa: S608 (constant SQL fragments; every value is bound)

ONE_SQL = f"""
SELECT {ALERT_COLUMNS} FROM alerts a JOIN patients p ON p.id = a.patient_id
WHERE a.id = %(id)s AND {VISIBLE}
"""  # noqa: S608 (constant SQL fragments; every value is bound)

EVENTS_SQL = """
SELECT id, alert_id, at, kind, actor_id, actor, note, data FROM alert_events
WHERE alert_id = %s ORDER BY at, id
"""


def _who(staff: Staff) -> dict[str, Any]:
    return {"role": staff.role.value, "team": staff.team_id, "staff": staff.id}


def list_alerts(conn: DbConn, staff: Staff, *, statuses: list[str] | None,
                severities: list[str] | None, team_id: int | None, patient_id: int | None,
                assignee_id: int | None, since: datetime | None, limit: int,
                offset: int) -> list[dict[str, Any]]:
    """Alerts the caller may see, most urgent first, each row with the `total` count."""
    return conn.execute(LIST_SQL, {**_who(staff), "statuses": statuses or None,
                                   "severities": severities or None, "team_filter": team_id,
                                   "patient": patient_id, "assignee": assignee_id,
                                   "since": since, "limit": limit, "offset": offset}).fetchall()


def get_alert(conn: DbConn, staff: Staff, alert_id: int) -> dict[str, Any]:
    """One alert the caller may see, else a 404."""
    if staff.role == Role.MANAGER:
        raise not_found("alert")
    row = conn.execute(ONE_SQL, {**_who(staff), "id": alert_id}).fetchone()
    if row is None:
        raise not_found("alert")
    return dict(row)


def alert_events(conn: DbConn, alert_id: int) -> list[dict[str, Any]]:
    """An alert's history, oldest first."""
    return conn.execute(EVENTS_SQL, (alert_id,)).fetchall()
