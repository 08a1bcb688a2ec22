"""Reminders: a red alert nobody has acknowledged notifies its team's red topic again every
`teams.red_reminder_minutes` (NULL: off) until someone acknowledges it, besides escalating to
the responders; never while it is watched (a watched alert is acknowledged)."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from alerts import outbox, store
from alerts.escalation import SINCE_SQL

# Open red alerts of teams with reminders on, with when each last became news ("since").
_DUE_SQL = f"""
SELECT a.*, t.code AS team_code, p.display_id, t.red_reminder_minutes, s.since
FROM alerts a JOIN teams t ON t.id = a.team_id JOIN patients p ON p.id = a.patient_id
CROSS JOIN LATERAL (SELECT {SINCE_SQL} AS since) s
WHERE a.status = 'open' AND a.severity = 'red' AND a.watch_until IS NULL
  AND t.red_reminder_minutes IS NOT NULL
ORDER BY a.id
FOR UPDATE OF a SKIP LOCKED
"""  # noqa: S608 (constant SQL fragments; every value is bound)


def reminder_slot(since: datetime, reminded_at: datetime | None, minutes: int,
                  now: datetime) -> int:
    """Which reminder is due at `now` (1 at `since` + N minutes, 2 at + 2N …), or 0 when none
    is: too soon, or that slot was already notified. After a pause (a scheduler down) only
    the latest slot is sent, not every one missed."""
    step = timedelta(minutes=minutes)
    number = (now - since) // step
    if number < 1:
        return 0
    if reminded_at is not None and reminded_at >= since + number * step:
        return 0
    return int(number)


def remind_unacknowledged(conn: psycopg.Connection, now: datetime) -> int:
    """Queue the reminders due at `now` through the outbox (event "reminder"), each with a
    "reminded" event in the alert's trail; how many."""
    rows = conn.cursor(row_factory=dict_row).execute(_DUE_SQL).fetchall()
    slots: list[tuple[int, datetime]] = []
    for alert in rows:
        minutes = int(alert["red_reminder_minutes"])
        number = reminder_slot(alert["since"], alert["reminded_at"], minutes, now)
        if not number:
            continue
        slots.append((alert["id"], alert["since"] + number * timedelta(minutes=minutes)))
        waited = number * minutes
        store.add_event(conn, alert["id"], "reminded", now,
                        note=f"Red alert not acknowledged for {waited} minutes: "
                        f"reminder {number} to the team.",
                        data={"number": number, "minutes_unacknowledged": waited})
        outbox.enqueue(conn, alert, "reminder", team_code=alert["team_code"],
                      display_id=alert["display_id"],
                      extra={"reminder": number, "minutes_unacknowledged": waited})
    if slots:
        conn.execute("UPDATE alerts a SET reminded_at = v.slot FROM unnest(%s::bigint[], "
                     "%s::timestamptz[]) AS v(id, slot) WHERE a.id = v.id",
                     ([i for i, _ in slots], [t for _, t in slots]))
    return len(slots)
