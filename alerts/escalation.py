"""Escalation of unacknowledged alerts: one rule for every kind, one pass, one write (store)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from alerts import store
from alerts.telecare import is_telecare
from telehub.domain.codes import Severity

# When alert `a` last became news: opened, raised in severity, re-raised during a watch or
# back from one; for telecare, opened or repeated (a second fall restarts the responders'
# clock). Escalation and reminders count from it.
SINCE_SQL = """coalesce((SELECT max(e.at) FROM alert_events e
                 WHERE e.alert_id = a.id
                   AND e.kind = ANY(CASE WHEN a.rule_id LIKE 'telecare-%%'
                                         THEN ARRAY['opened', 'repeated']
                                         ELSE ARRAY['opened', 'severity-raised', 're-raised',
                                                    'watch-ended'] END)),
                a.created_at)"""
# Every open alert that can escalate and has not since it last came back from a watch (or was
# re-raised during one), with its team's windows and "since" (SINCE_SQL). A watched alert is
# acknowledged, so never here: its escalation holds until the watch ends or re-raises.
_OVERDUE_SQL = f"""
SELECT a.*, t.code AS team_code, t.red_escalation_minutes, t.working_day_end,
       t.telecare_escalation_minutes, s.since
FROM alerts a JOIN teams t ON t.id = a.team_id
CROSS JOIN LATERAL (
    SELECT {SINCE_SQL} AS since,
           (SELECT max(e.at) FROM alert_events e
            WHERE e.alert_id = a.id AND e.kind IN ('re-raised', 'watch-ended')) AS back) s
WHERE a.status = 'open' AND a.watch_until IS NULL
  AND (NOT a.escalated OR a.escalated_at < s.back)
  AND (a.severity IN ('amber', 'red') OR a.rule_id LIKE 'telecare-%%')
ORDER BY a.id
FOR UPDATE OF a SKIP LOCKED
"""  # noqa: S608 (constant SQL fragments; every value is bound)


@dataclass(frozen=True)
class TeamWindows:
    """A team's escalation settings (the `teams` columns of the same names)."""

    red_escalation_minutes: int = 15
    working_day_end: time = time(17, 0)
    telecare_escalation_minutes: int = 2

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> TeamWindows:
        """The windows carried on an overdue-alert row."""
        return cls(int(row["red_escalation_minutes"]), row["working_day_end"],
                   int(row["telecare_escalation_minutes"]))


def working_day_deadline(since: datetime, end: time, zone: ZoneInfo) -> datetime:
    """The end of the working day `since` falls in, or of the next one when it is after hours
    (wall-clock time in `zone`, so it stays 17:00 across a clock change)."""
    local = since.astimezone(zone)
    deadline = datetime.combine(local.date(), end, tzinfo=zone)
    if local >= deadline:
        deadline = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return deadline


def escalation_deadline(alert: Mapping[str, Any], zone: ZoneInfo) -> datetime:
    """When an unacknowledged alert escalates: telecare after the team's telecare window,
    red after the team's red window, amber at the end of the working day."""
    since: datetime = alert["since"]
    windows = TeamWindows.of(alert)
    if is_telecare(alert["rule_id"]):
        return since + timedelta(minutes=windows.telecare_escalation_minutes)
    if alert["severity"] == Severity.RED:
        return since + timedelta(minutes=windows.red_escalation_minutes)
    return working_day_deadline(since, windows.working_day_end, zone)


def escalation_due(alert: Mapping[str, Any], now: datetime, zone: ZoneInfo) -> bool:
    """Whether an open, unacknowledged amber, red or telecare alert's time is up at `now`."""
    if not is_telecare(alert["rule_id"]) and alert["severity"] == Severity.INFO:
        return False
    return now >= escalation_deadline(alert, zone)


def escalation_note(alert: Mapping[str, Any]) -> str:
    """Why it escalated, for the alert's trail."""
    windows = TeamWindows.of(alert)
    if is_telecare(alert["rule_id"]):
        return (f"Telecare alert not acknowledged within "
                f"{windows.telecare_escalation_minutes} minutes: "
                "escalated to the on-call responders and the matron.")
    if alert["severity"] == Severity.RED:
        return (f"Not acknowledged within {windows.red_escalation_minutes} minutes: "
                "escalated to telecare responders.")
    return "Not acknowledged by the end of the working day: escalated to the matron."


def escalate_overdue(conn: psycopg.Connection, now: datetime, zone: ZoneInfo) -> dict[str, int]:
    """Escalate every unacknowledged alert whose time is up, in the caller's transaction.

    Returns how many: {"escalated": clinical alerts, "telecare_escalated": telecare alerts}."""
    rows = conn.cursor(row_factory=dict_row).execute(_OVERDUE_SQL).fetchall()
    done = {"escalated": 0, "telecare_escalated": 0}
    for alert in rows:
        if not escalation_due(alert, now, zone):
            continue
        store.escalate(conn, alert, now, escalation_note(alert))
        done["telecare_escalated" if is_telecare(alert["rule_id"]) else "escalated"] += 1
    return done
