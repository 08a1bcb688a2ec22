"""Reading the responder's queue: urgent alerts with the minimum context to act."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from api.access import ALERT_VISIBLE_SQL
from api.queries.alerts import ALERT_COLUMNS

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
WHERE {ALERT_VISIBLE_SQL} AND a.status <> 'resolved'
  AND (a.severity = 'red' OR a.escalated OR a.assignee_id = %(staff)s)
ORDER BY (a.status = 'acknowledged'), (a.severity <> 'red'), a.escalated DESC,
         a.first_breach_at, a.id
LIMIT 200
"""  # noqa: S608 (constant SQL fragments; every value is bound)
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


def _by_patient(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["patient_id"]].append(r)
    return out

