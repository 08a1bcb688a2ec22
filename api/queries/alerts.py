"""Reading alerts for the API: lists with filters, one alert, its events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.access import ALERT_VISIBLE_SQL, alert_scope
from api.deps import DbConn, Staff
from api.errors import not_found

ALERT_COLUMNS = """a.id, a.patient_id, p.display_id AS patient_display_id, a.team_id, a.rule_id,
 a.severity::text AS severity, a.status::text AS status, a.escalated, a.escalated_at, a.message,
 a.metric::text AS metric, a.first_breach_at, a.last_breach_at, a.occurrences, a."values",
 a.late, a.condition_cleared_at, a.assignee_id, a.acknowledged_at, a.acknowledged_by,
 a.resolved_at, a.resolved_by, a.outcome::text AS outcome, a.created_at, a.updated_at,
 a.watch_until, a.watch_started_at, a.watch_reason, a.watch_by, a.reminded_at"""


LIST_SQL = f"""
SELECT {ALERT_COLUMNS}, count(*) OVER () AS total
FROM alerts a JOIN patients p ON p.id = a.patient_id
WHERE {ALERT_VISIBLE_SQL}
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
WHERE a.id = %(id)s AND {ALERT_VISIBLE_SQL}
"""  # noqa: S608 (constant SQL fragments; every value is bound)

# Without the visibility check: after an action the caller gets the result even when the
# action took the alert out of their view (e.g. assigning it away).
RELOAD_SQL = f"""SELECT {ALERT_COLUMNS} FROM alerts a JOIN patients p ON p.id = a.patient_id
WHERE a.id = %s"""  # noqa: S608 (constant columns)
EVENTS_SQL = """
SELECT id, alert_id, at, kind, actor_id, actor, note, data FROM alert_events
WHERE alert_id = %s ORDER BY at, id
"""


def list_alerts(conn: DbConn, staff: Staff, *, statuses: list[str] | None,
                severities: list[str] | None, team_id: int | None, patient_id: int | None,
                assignee_id: int | None, since: datetime | None, limit: int,
                offset: int) -> list[dict[str, Any]]:
    """Alerts the caller may see, most urgent first, each row with the `total` count."""
    return conn.execute(LIST_SQL, {**alert_scope(conn, staff), "statuses": statuses or None,
                                   "severities": severities or None, "team_filter": team_id,
                                   "patient": patient_id, "assignee": assignee_id,
                                   "since": since, "limit": limit, "offset": offset}).fetchall()


def get_alert(conn: DbConn, staff: Staff, alert_id: int) -> dict[str, Any]:
    """One alert the caller may see, else a 404."""
    row = conn.execute(ONE_SQL, {**alert_scope(conn, staff), "id": alert_id}).fetchone()
    if row is None:
        raise not_found("alert")
    return dict(row)


def reload_alert(conn: DbConn, alert_id: int) -> dict[str, Any]:
    """An alert as it stands after the caller's action on it."""
    row = conn.execute(RELOAD_SQL, (alert_id,)).fetchone()
    assert row is not None
    return dict(row)


def alert_events(conn: DbConn, alert_id: int) -> list[dict[str, Any]]:
    """An alert's history, oldest first."""
    return conn.execute(EVENTS_SQL, (alert_id,)).fetchall()
