"""An alert's notification: the payload responders receive, queued in the outbox.

The outbox row commits with the alert it tells of; the notifier (alerts.notifier) plans its
deliveries and sends them after that commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from alerts.wakeup import wake_notifiers

# One row per alert event; the notifier plans its deliveries (MQTT, each webhook) and builds
# the topic from the team and severity at send time.
OUTBOX_SQL = """
INSERT INTO outbox (alert_id, team, severity, payload) VALUES (%s, %s, %s, %s)
"""
_TEAM_SQL = "SELECT t.code FROM teams t WHERE t.id = %s"
_DISPLAY_SQL = "SELECT display_id FROM patients WHERE id = %s"


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
            team_code: str | None = None, display_id: str | None = None,
            extra: Mapping[str, Any] | None = None) -> None:
    """Queue the alert's notification in the caller's transaction (the notifier delivers it);
    `extra` adds fields to the payload (a reminder's number)."""
    if team_code is None:
        team_code = _scalar(conn, _TEAM_SQL, alert["team_id"])
    if display_id is None:
        display_id = _scalar(conn, _DISPLAY_SQL, alert["patient_id"])
    payload = {**notification(alert, str(team_code), str(display_id), event), **(extra or {})}
    conn.execute(OUTBOX_SQL, (alert["id"], str(team_code), alert["severity"], Jsonb(payload)))
    wake_notifiers(conn)


def _scalar(conn: psycopg.Connection, query: str, key: Any) -> Any:
    """The one value a lookup returns, whatever row factory the caller's connection has."""
    row = conn.cursor(row_factory=tuple_row).execute(query, (key,)).fetchone()
    assert row is not None
    return row[0]
